package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
)

// fnHandler is an event handler made of a function.
type fnHandler func(ctx context.Context, payload []byte) error

func (fnHandler) Handles() []string { return []string{"push"} }
func (f fnHandler) Handle(ctx context.Context, _, _ string, payload []byte) error {
	return f(ctx, payload)
}

func dispatch(inst int64, h githubapp.EventHandler) githubapp.Dispatch {
	return githubapp.Dispatch{Handler: h, EventType: "push", DeliveryID: fmt.Sprint(inst), Payload: []byte(fmt.Sprintf(`{"installation":{"id":%d}}`, inst))}
}

func TestQueueIsFairBetweenInstallations(t *testing.T) {
	clock := &recordingClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMetrics()
	q := newQueue(10, 2, 1, time.Minute, nil, clock, newLimits(clock, m), m, nil)
	defer q.Close()
	release := make(chan struct{})
	started := make(chan int64, 10)
	h := fnHandler(func(ctx context.Context, _ []byte) error {
		inst := InstallationFrom(ctx)
		started <- inst
		if inst == 1 {
			<-release
		}
		return nil
	})
	// Installation 1 floods the queue; installation 2 must still run.
	for i := 0; i < 3; i++ {
		if err := q.Schedule(context.Background(), dispatch(1, h)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Schedule(context.Background(), dispatch(2, h)); err != nil {
		t.Fatal(err)
	}
	got := []int64{<-started, <-started}
	if !(got[0] == 2 || got[1] == 2) {
		t.Fatalf("started %v: installation 1 held every worker", got)
	}
	close(release)
	<-q.Idle()
}

func TestRateLimitedEventWaitsInTheQueue(t *testing.T) {
	clock := &recordingClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMetrics()
	l := newLimits(clock, m)
	q := newQueue(10, 1, 1, time.Minute, nil, clock, l, m, nil)
	defer q.Close()
	var mu sync.Mutex
	runs := map[int64]int{}
	h := fnHandler(func(ctx context.Context, _ []byte) error {
		inst := InstallationFrom(ctx)
		mu.Lock()
		runs[inst]++
		first := runs[inst] == 1
		mu.Unlock()
		if inst == 1 && first {
			// GitHub said: installation 1, stop for an hour.
			l.block(1, clock.Now().Add(time.Hour), "primary")
			return errors.New("rate limited")
		}
		return nil
	})
	for _, inst := range []int64{1, 2} {
		if err := q.Schedule(context.Background(), dispatch(inst, h)); err != nil {
			t.Fatal(err)
		}
	}
	<-q.Idle()
	mu.Lock()
	defer mu.Unlock()
	if runs[1] != 2 || runs[2] != 1 {
		t.Errorf("runs = %v, want installation 1 run again once its limit lifted, installation 2 once", runs)
	}
	if clock.Now().Before(time.Unix(1_700_000_000, 0).Add(time.Hour)) {
		t.Error("the event ran again before the limit lifted")
	}
}

// transient is an error a handler returns when GitHub failed it.
type transient struct{}

func (transient) Error() string   { return "GitHub answered 502" }
func (transient) Retryable() bool { return true }

func TestTransientFailureIsHandledAgainLater(t *testing.T) {
	clock := &recordingClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMetrics()
	var failed []error
	delays := []time.Duration{2 * time.Minute, 5 * time.Minute, 7 * time.Minute} // Options.RetryDelays
	q := newQueue(10, 1, 1, time.Minute, delays, clock, newLimits(clock, m), m, func(_ context.Context, _ githubapp.Dispatch, err error) { failed = append(failed, err) })
	defer q.Close()
	var mu sync.Mutex
	var promised []bool
	runs := map[string]int{}
	h := fnHandler(func(ctx context.Context, payload []byte) error {
		mu.Lock()
		defer mu.Unlock()
		key := string(payload)
		runs[key]++
		var err error = transient{}
		if key == `{"installation":{"id":2}}` {
			err = Final(err) // a command: reported, never run again unasked
		}
		if key == `{"installation":{"id":3}}` && runs[key] == 2 {
			return nil // GitHub recovered
		}
		if key == `{"installation":{"id":1}}` {
			promised = append(promised, WillRetry(ctx, err))
		}
		return fmt.Errorf("handler: %w", err)
	})
	for _, inst := range []int64{1, 2, 3} {
		if err := q.Schedule(context.Background(), dispatch(inst, h)); err != nil {
			t.Fatal(err)
		}
	}
	<-q.Idle()
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{`{"installation":{"id":1}}`: 1 + len(delays), `{"installation":{"id":2}}`: 1, `{"installation":{"id":3}}`: 2}
	for k, n := range want {
		if runs[k] != n {
			t.Errorf("%s ran %d times, want %d", k, runs[k], n)
		}
	}
	// The handler was told the truth: retried after every try but the last.
	if len(promised) != 4 || !promised[0] || !promised[1] || !promised[2] || promised[3] {
		t.Errorf("WillRetry answers %v, want true, true, true, false", promised)
	}
	if len(failed) != 2 { // installation 1 at the end, installation 2 at once
		t.Errorf("%d errors reported, want 2: %v", len(failed), failed)
	}
	if waited := clock.Now().Sub(time.Unix(1_700_000_000, 0)); waited < delays[0]+delays[1]+delays[2] {
		t.Errorf("the retries took %s of the clock, want at least the delays %v", waited, delays)
	}
}

// blockingClock's Sleep waits for its context: a delay that outlasts
// everything.
type blockingClock struct{ recordingClock }

func (c *blockingClock) Sleep(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestDrainAbandonsEventsWaitingToBeRetried(t *testing.T) {
	clock := &blockingClock{recordingClock{now: time.Unix(1_700_000_000, 0)}}
	m := NewMetrics()
	q := newQueue(10, 1, 1, time.Minute, nil, clock, newLimits(clock, m), m, nil)
	defer q.Close()
	ran := make(chan struct{}, 1)
	h := fnHandler(func(context.Context, []byte) error {
		ran <- struct{}{}
		return transient{}
	})
	if err := q.Schedule(context.Background(), dispatch(1, h)); err != nil {
		t.Fatal(err)
	}
	<-ran
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Drain(ctx); err != nil {
		t.Fatalf("drain waited for a retry ten minutes away: %v", err)
	}
	select {
	case <-ran:
		t.Error("the abandoned event ran again")
	default:
	}
}

func TestCommandHeldBackByALongRateLimitIsNotRunUnasked(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		runs int
	}{{30 * time.Second, 2}, {time.Hour, 1}} {
		clock := &recordingClock{now: time.Unix(1_700_000_000, 0)}
		m := NewMetrics()
		l := newLimits(clock, m)
		q := newQueue(10, 1, 1, time.Minute, nil, clock, l, m, nil)
		runs := 0
		h := fnHandler(func(ctx context.Context, _ []byte) error {
			runs++
			if runs == 1 {
				l.block(1, clock.Now().Add(tc.wait), "secondary")
				return Final(errors.New("rate limited"))
			}
			return nil
		})
		if err := q.Schedule(context.Background(), dispatch(1, h)); err != nil {
			t.Fatal(err)
		}
		<-q.Idle()
		q.Close()
		if runs != tc.runs {
			t.Errorf("limit of %s: the command ran %d times, want %d", tc.wait, runs, tc.runs)
		}
	}
}

func TestOneInstallationCannotFillTheQueueForTheOthers(t *testing.T) {
	clock := &recordingClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMetrics()
	q := newQueue(8, 1, 1, time.Minute, nil, clock, newLimits(clock, m), m, nil)
	defer q.Close()
	release := make(chan struct{})
	h := fnHandler(func(context.Context, []byte) error { <-release; return nil })
	// Installation 1 floods: one event runs, the others wait. It may fill
	// the queue while there is room, and no more than a quarter of it once
	// the queue is half full.
	accepted := 0
	for i := 0; i < 10; i++ {
		if q.Schedule(context.Background(), dispatch(1, h)) == nil {
			accepted++
		}
	}
	// Free admission until the queue is half full (4 waiting, one more
	// perhaps already running), then nothing more for installation 1.
	if accepted > 5 {
		t.Errorf("installation 1 got %d events into a queue of 8", accepted)
	}
	// Installation 2 still gets in.
	if err := q.Schedule(context.Background(), dispatch(2, h)); err != nil {
		t.Errorf("installation 2 was shut out by installation 1's flood: %v", err)
	}
	close(release)
	<-q.Idle()
}
