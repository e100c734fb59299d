package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The refusals a replica remembers: fetched back oldest first, as many as
// there is room for; forgotten once a delivery gets in; given up on (the
// sweep's) after being refused again too often.
func TestRefusalsAreFetchedBackOnce(t *testing.T) {
	m := NewMetrics()
	r := newRefusals(m)
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 3; i++ {
		r.add(fmt.Sprint("guid-", i), t0.Add(time.Duration(i)*time.Second))
	}
	if got := r.due(t0, 2); fmt.Sprint(got) != "[guid-0 guid-1]" {
		t.Fatalf("due with room for 2 = %v, want the two oldest", got)
	}
	r.asked("guid-0", t0.Add(time.Minute))
	if got := r.due(t0.Add(time.Minute), 10); fmt.Sprint(got) != "[guid-1 guid-2]" {
		t.Errorf("due after fetching back guid-0 = %v, want it not asked for twice", got)
	}
	r.accepted("guid-1")
	if got := r.due(t0.Add(time.Minute), 10); fmt.Sprint(got) != "[guid-2]" {
		t.Errorf("due after guid-1 got in = %v", got)
	}
	// Refused again after each fetch-back: after maxFetchBacks, the sweep's.
	for i := 0; i < maxFetchBacks; i++ {
		r.add("guid-2", t0.Add(time.Duration(2+i)*time.Minute))
		r.asked("guid-2", t0.Add(time.Duration(2+i)*time.Minute+time.Second))
	}
	r.add("guid-2", t0.Add(time.Hour))
	if r.pending() && fmt.Sprint(r.due(t0.Add(time.Hour), 10)) != "[]" {
		t.Errorf("guid-2 still due after %d fetch-backs: %v", maxFetchBacks, r.due(t0.Add(time.Hour), 10))
	}
	if got := testutil.ToFloat64(m.Refused.WithLabelValues("left_to_sweep")); got != 1 {
		t.Errorf("%v left to the sweep, want 1", got)
	}
	// One fetched back long ago that never arrived is forgotten.
	if got := r.due(t0.Add(time.Hour+fetchBackForget), 10); len(got) != 0 {
		t.Errorf("due = %v", got)
	}
	if _, ok := r.guids["guid-0"]; ok {
		t.Error("a delivery fetched back an hour ago and never seen again is still remembered")
	}
}
