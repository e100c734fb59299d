package handlers

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/clock"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// laterClock is the real clock moved forward.
type laterClock struct{ ahead atomic.Int64 }

func (c *laterClock) Now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *laterClock) Sleep(ctx context.Context, d time.Duration) error {
	return clock.Real().Sleep(ctx, d)
}

// heldGitHub is the quiet GitHub behind a gate: while it is shut, the
// bot's requests wait.
type heldGitHub struct {
	*quietGitHub
	mu   sync.Mutex
	gate chan struct{}
}

func (h *heldGitHub) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return h.quietGitHub.RoundTrip(r)
}

func (h *heldGitHub) hold() {
	h.mu.Lock()
	h.gate = make(chan struct{})
	h.mu.Unlock()
}

func (h *heldGitHub) release() {
	h.mu.Lock()
	close(h.gate)
	h.gate = nil
	h.mu.Unlock()
}

// A busy installation does not queue every delivery each time its
// policy expires: past the TTL, the first delivery that needs the policy
// is queued and its handler reads the policy again, while the door judges
// the others with the expired policy; once DoorStale has passed, the
// expired policy counts for nothing.
func TestExpiredPolicyIsReadAgainWhileTheDoorJudges(t *testing.T) {
	gh := &heldGitHub{quietGitHub: &quietGitHub{}}
	clk := &laterClock{}
	srv := quietServerVia(t, gh.quietGitHub, gh, clk)

	intoDevelop := payload(t, "pull_request.opened.json", func(m map[string]any) {
		set(m, "pull_request.base.ref", "develop")
		set(m, "pull_request.head.ref", "feature/search")
	})
	n := 0
	send := func() {
		t.Helper()
		n++
		if w := deliver(srv, "pull_request", "d-"+string(rune('a'+n)), intoDevelop); w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	queued := func() float64 {
		return testutil.ToFloat64(srv.Metrics().Deliveries.WithLabelValues("pull_request", app.OutcomeQueued))
	}
	requests := func() int {
		gh.mu.Lock()
		defer gh.mu.Unlock()
		return gh.requests
	}

	send() // the policy is read
	<-srv.Idle()
	if queued() != 1 || requests() == 0 {
		t.Fatalf("the first delivery: %v queued, %d requests", queued(), requests())
	}
	send() // judged at the door with the fresh policy
	<-srv.Idle()
	if queued() != 1 {
		t.Fatalf("a pull request into develop with the policy cached was queued")
	}

	clk.ahead.Store(int64(PolicyTTL + time.Second))
	gh.hold()
	before := requests()
	send() // the policy expired: this one is queued, and reads it again
	send()
	send() // judged with the expired policy while it is read
	if queued() != 2 {
		t.Fatalf("after the TTL, %v deliveries were queued, want 1 more", queued()-1)
	}
	gh.release()
	<-srv.Idle()
	if requests() == before {
		t.Fatal("the delivery queued to read the policy again did not read it")
	}
	send() // fresh again
	<-srv.Idle()
	if queued() != 2 {
		t.Fatal("after the policy was read again, a delivery was queued")
	}

	clk.ahead.Store(int64(3*PolicyTTL + facts.DoorStale))
	gh.hold()
	send()
	send() // the expired policy no longer counts
	if queued() != 4 {
		t.Fatalf("DoorStale past the TTL, %v deliveries were queued, want 2 more", queued()-2)
	}
	gh.release()
	<-srv.Idle()
}
