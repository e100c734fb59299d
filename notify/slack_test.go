package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// receiver is a local Slack incoming webhook that fails the first
// `failures` posts.
type receiver struct {
	mu       sync.Mutex
	failures int
	status   int
	got      []Message
	posts    int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts++
	if req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad content type", http.StatusBadRequest)
		return
	}
	if r.failures > 0 {
		r.failures--
		http.Error(w, "try later", r.status)
		return
	}
	b, _ := io.ReadAll(req.Body)
	var m Message
	if err := json.Unmarshal(b, &m); err != nil || m.Text == "" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	r.got = append(r.got, m)
	_, _ = w.Write([]byte("ok"))
}

// instant is a clock whose waits take no time.
type instant struct{}

func (instant) Now() time.Time                                   { return time.Unix(0, 0) }
func (instant) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

var noWait = instant{}

func TestSlackRetriesAndDelivers(t *testing.T) {
	rec := &receiver{failures: 2, status: http.StatusInternalServerError}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	var logs bytes.Buffer
	s := NewSlack(srv.URL+"/services/T000/B000/SECRET", Options{Logger: zerolog.New(&logs), Clock: noWait})
	s.Notify(Message{Text: ":rocket: promoted"})
	s.Close(context.Background())
	if len(rec.got) != 1 || rec.got[0].Text != ":rocket: promoted" || rec.posts != 3 {
		t.Errorf("received %+v in %d posts, want the message after two failures", rec.got, rec.posts)
	}
	if sent, failed, dropped := s.Counts(); sent != 1 || failed != 0 || dropped != 0 {
		t.Errorf("counts = %d %d %d", sent, failed, dropped)
	}
}

func TestSlackGivesUpQuietlyAndNeverLogsTheURL(t *testing.T) {
	rec := &receiver{failures: 100, status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	var logs bytes.Buffer
	url := srv.URL + "/services/T000/B000/SECRET"
	s := NewSlack(url, Options{Logger: zerolog.New(&logs), Clock: noWait, Attempts: 3})
	s.Notify(Message{Text: "x"})
	s.Close(context.Background())
	if rec.posts != 3 {
		t.Errorf("%d posts, want 3 attempts", rec.posts)
	}
	if _, failed, _ := s.Counts(); failed != 1 {
		t.Errorf("failed = %d", failed)
	}
	if strings.Contains(logs.String(), "SECRET") || strings.Contains(logs.String(), srv.URL) {
		t.Errorf("the webhook URL was logged: %s", logs.String())
	}
	// A refusal (4xx other than 429) is not retried.
	rec2 := &receiver{failures: 100, status: http.StatusNotFound}
	srv2 := httptest.NewServer(rec2)
	defer srv2.Close()
	s2 := NewSlack(srv2.URL, Options{Clock: noWait})
	s2.Notify(Message{Text: "x"})
	s2.Close(context.Background())
	if rec2.posts != 1 {
		t.Errorf("%d posts after a 404, want 1", rec2.posts)
	}
}

func TestSlackNeverBlocks(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	s := NewSlack(srv.URL, Options{Queue: 2, Clock: noWait})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			s.Notify(Message{Text: "x"})
		}
		close(done)
	}()
	<-done // Notify returned although the receiver hangs and the queue is full
	if _, _, dropped := s.Counts(); dropped == 0 {
		t.Error("a full queue dropped nothing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Close(ctx)
}
