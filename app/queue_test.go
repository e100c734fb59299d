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
	q := newQueue(10, 2, 1, time.Minute, clock, newLimits(clock, m), m, nil)
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
	q := newQueue(10, 1, 1, time.Minute, clock, l, m, nil)
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
