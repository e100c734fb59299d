package e2e

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

func TestFailedDeliveriesAreRedelivered(t *testing.T) {
	w := start(t, harness.Options{Replicas: 2})
	// The bot is unreachable while Dana pushes: GitHub records failed
	// deliveries and never tries again by itself.
	live := w.h.Targets()
	w.h.Sim.SetWebhookTargets(w.h.App, "http://127.0.0.1:1/unreachable")
	head := w.hotfixFromProduction("hotfix/while-down")
	w.settle()
	if _, ok := w.in.Repo.CheckRun(head, policy.CheckBase); ok {
		t.Fatal("a check run although the bot was down")
	}
	w.h.Sim.SetWebhookTargets(w.h.App, live...)
	res, err := w.h.SweepRedeliveries(w.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Redelivered != 2 { // the branch creation and the push
		t.Errorf("sweep = %+v, want the 2 failed deliveries redelivered", res)
	}
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success)
	w.expect(head, policy.CheckSchema, policy.Success)

	// The other replica's sweep (and this one's again) finds them
	// delivered: nothing is asked twice.
	for replica := 0; replica < 2; replica++ {
		res, err := w.h.SweepRedeliveries(w.ctx, replica)
		if err != nil || res.Redelivered != 0 {
			t.Errorf("sweep %d = %+v, %v; want nothing redelivered", replica, res, err)
		}
	}
	w.onePerName(head)
	w.noHandlerErrors()
}

// Deliveries refused because the queue was full are fetched back by the
// replica that refused them as soon as its queue has room: no sweep runs
// (the harness turns it off), and every push is checked.
func TestQueueFullDeliveriesAreFetchedBack(t *testing.T) {
	w := start(t, harness.Options{QueueSize: 1, Workers: 1})
	r, in := w.in.Repo, w.in
	// Hold the only worker, so the burst overflows the queue.
	hold := &ghsim.Fault{Op: "pulls/list", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	w.h.Sim.Inject(hold)
	var heads []string
	for _, b := range []string{"hotfix/a", "hotfix/b", "hotfix/c", "hotfix/d"} {
		must[string](t)(r.CreateBranch(in.Dana, b, "v1.4.2"))
		heads = append(heads, must[string](t)(r.Push(in.Dana, b, "fix "+b, ghsim.Files{b + ".go": "package p\n"})))
	}
	// Deliver posts them one after another; the first holds the worker,
	// the second waits, the others are refused.
	n, err := w.h.Sim.Deliver(w.ctx)
	if err != nil || n == 0 {
		t.Fatal(err)
	}
	refused := 0
	for _, d := range w.h.Sim.Deliveries() {
		if d.Attempts[0].Status == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no delivery was refused with 503 by a full queue")
	}
	close(hold.Hold)
	w.settle()
	for _, h := range heads {
		w.expect(h, policy.CheckBase, policy.Success)
		w.onePerName(h)
	}
	fetched := testutil.ToFloat64(w.h.Bots[0].Metrics().Refused.WithLabelValues("fetched_back"))
	if int(fetched) < refused {
		t.Errorf("%v deliveries fetched back, want the %d refused", fetched, refused)
	}
	for _, d := range w.h.Sim.Deliveries() {
		if !d.Succeeded() {
			t.Errorf("delivery %s (%s) never got in", d.ID, d.Event)
		}
	}
	// Nothing is left for a sweep.
	res, err := w.h.SweepRedeliveries(w.ctx, 0)
	if err != nil || res.Failed != 0 {
		t.Errorf("sweep after the fetch-back = %+v, %v; want nothing failed", res, err)
	}
	w.noHandlerErrors()
}
