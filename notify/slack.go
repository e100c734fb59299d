// Package notify posts hotfix-bot's chat notifications (Slack incoming
// webhooks): promote started, deployed, failed, rolled back, sync
// conflict. Notifications never block or fail the GitHub side: they are
// queued, sent in the background with a few retries, and dropped (and
// counted) when the queue is full. The webhook URL is a secret: it is
// never logged or returned in errors.
//
// It knows nothing of GitHub or of hotfix rules.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotfix-bot/hotfix-bot/clock"
	"github.com/rs/zerolog"
)

// Notifier sends chat notifications.
type Notifier interface {
	Notify(m Message)
}

// Message is one notification: Slack mrkdwn text (links as <url|text>).
type Message struct {
	Text string `json:"text"`
}

// Discard is a notifier that sends nothing (no URL configured).
type Discard struct{}

// Notify does nothing.
func (Discard) Notify(Message) {}

// Options tune a Slack notifier; zero values take the defaults.
type Options struct {
	Client   *http.Client
	Logger   zerolog.Logger
	Queue    int           // messages waiting (default 100)
	Attempts int           // tries per message (default 4)
	Backoff  time.Duration // before the second try, doubling (default 1s)
	// Clock waits between tries (default the wall clock; the server's,
	// the simulator's in tests).
	Clock clock.Clock
}

// Slack posts to a Slack incoming webhook from one background worker.
type Slack struct {
	url   string
	opts  Options
	queue chan item

	mu     sync.Mutex // guards closed against Notify
	closed bool

	sent, failed, dropped atomic.Int64

	stop context.CancelFunc
	done chan struct{}
}

// item is a queued message, or (flushed set) a marker that closes
// flushed once everything queued before it was handled.
type item struct {
	msg     Message
	flushed chan struct{}
}

// NewSlack starts a notifier posting to url.
func NewSlack(url string, opts Options) *Slack {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Queue <= 0 {
		opts.Queue = 100
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Slack{url: url, opts: opts, queue: make(chan item, opts.Queue), stop: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// Notify queues a message; it never blocks. A full queue (or a closed
// notifier) drops it.
func (s *Slack) Notify(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	select {
	case s.queue <- item{msg: m}:
	default:
		s.dropped.Add(1)
		s.opts.Logger.Warn().Msg("Chat notification dropped: the queue is full")
	}
}

// Flush waits until every message queued before it was sent or given up
// on (tests and shutdown), or ctx ends.
func (s *Slack) Flush(ctx context.Context) error {
	done := make(chan struct{})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	select {
	case s.queue <- item{flushed: done}:
	case <-ctx.Done():
		s.mu.Unlock()
		return ctx.Err()
	}
	s.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Counts reports messages sent, given up on and dropped.
func (s *Slack) Counts() (sent, failed, dropped int64) {
	return s.sent.Load(), s.failed.Load(), s.dropped.Load()
}

// Close sends what is queued (bounded by ctx), then stops the worker.
func (s *Slack) Close(ctx context.Context) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.stop()
		<-s.done
	}
}

func (s *Slack) run(ctx context.Context) {
	defer close(s.done)
	for it := range s.queue {
		if it.flushed != nil {
			close(it.flushed)
			continue
		}
		if err := s.send(ctx, it.msg); err != nil {
			s.failed.Add(1)
			s.opts.Logger.Warn().Str("error", err.Error()).Msg("Chat notification not delivered")
			continue
		}
		s.sent.Add(1)
	}
}

// send posts one message, retrying server errors and rate limits.
func (s *Slack) send(ctx context.Context, m Message) error {
	body, _ := json.Marshal(m)
	wait := s.opts.Backoff
	var last error
	for attempt := 1; attempt <= s.opts.Attempts; attempt++ {
		if attempt > 1 {
			if err := s.opts.Clock.Sleep(ctx, wait); err != nil {
				return err
			}
			wait *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("build the request") // never the URL: it is the secret
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.opts.Client.Do(req)
		if err != nil {
			last = fmt.Errorf("post to the chat webhook: network error")
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<14))
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("the chat webhook answered %d", resp.StatusCode)
		default:
			return fmt.Errorf("the chat webhook refused the message (%d)", resp.StatusCode)
		}
	}
	return last
}
