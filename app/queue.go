package app

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// ErrShuttingDown is returned for events that arrive while the server
// drains its queue; GitHub sees a 503 and the delivery can be redelivered.
var ErrShuttingDown = errors.New("server is shutting down")

// queue schedules events on go-githubapp's bounded QueueAsyncScheduler
// (a full queue is ErrCapacityExceeded: a 503, counted as dropped) and adds
// what that scheduler lacks: a deadline per handler, panics turned into
// errors, per-event metrics, and a drain that lets shutdown finish every
// queued event.
type queue struct {
	inner   githubapp.Scheduler
	timeout time.Duration
	metrics *Metrics

	mu       sync.Mutex
	closed   bool
	inflight int           // scheduled and not yet finished
	idle     chan struct{} // closed while inflight == 0
}

func newQueue(size, workers int, timeout time.Duration, m *Metrics, onError githubapp.AsyncErrorCallback) *queue {
	q := &queue{timeout: timeout, metrics: m, idle: make(chan struct{})}
	close(q.idle)
	q.inner = githubapp.QueueAsyncScheduler(size, workers,
		githubapp.WithSchedulingMetrics(m.GitHub),
		githubapp.WithAsyncErrorCallback(onError),
	)
	return q
}

// Schedule implements githubapp.Scheduler.
func (q *queue) Schedule(ctx context.Context, d githubapp.Dispatch) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrShuttingDown
	}
	q.begin()
	q.mu.Unlock()

	d.Handler = tracked{q: q, next: d.Handler}
	if err := q.inner.Schedule(ctx, d); err != nil {
		q.finish()
		return err
	}
	return nil
}

func (q *queue) begin() {
	if q.inflight == 0 {
		q.idle = make(chan struct{})
	}
	q.inflight++
}

func (q *queue) finish() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight--
	if q.inflight == 0 {
		close(q.idle)
	}
}

// Idle returns a channel that is closed once no event is queued or being
// handled. Tests and the demo wait on it instead of sleeping.
func (q *queue) Idle() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.idle
}

// Drain stops accepting events and waits until every accepted one is
// handled, or ctx ends.
func (q *queue) Drain(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	idle := q.idle
	q.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue not drained: %w", ctx.Err())
	}
}

// tracked runs one dispatch under the handler deadline and records it.
type tracked struct {
	q    *queue
	next githubapp.EventHandler
}

func (t tracked) Handles() []string { return t.next.Handles() }

func (t tracked) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) (err error) {
	defer t.q.finish()
	ctx, cancel := context.WithTimeout(ctx, t.q.timeout)
	defer cancel()
	start := time.Now()
	outcome := "success"
	defer func() {
		if r := recover(); r != nil {
			outcome = "panic"
			err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
		}
		if err != nil && outcome == "success" {
			outcome = "error"
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
				outcome = "timeout"
			}
		}
		t.q.metrics.HandlerRuns.WithLabelValues(eventType, outcome).Inc()
		t.q.metrics.HandlerDuration.WithLabelValues(eventType).Observe(time.Since(start).Seconds())
		zerolog.Ctx(ctx).Debug().Str("outcome", outcome).Dur("took", time.Since(start)).Msg("Handled webhook event")
	}()
	return t.next.Handle(ctx, eventType, deliveryID, payload)
}
