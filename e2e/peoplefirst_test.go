package e2e

import (
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A /promote given during a burst of pushes writes its 👀 first, then
// stands aside for the push that came before it. Its author, who has seen
// the 👀, deletes the comment meanwhile: the command reads its comment
// again when it goes on, finds it gone, and deploys nothing.
func TestACommandThatStoodAsideReadsItsCommentAgain(t *testing.T) {
	w := start(t, harness.Options{Workers: 1})
	r, in := w.in.Repo, w.in
	w.hotfixFromProduction("hotfix/approved")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/approved", "main", "Fix"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()

	// The first push holds the installation's one place until every
	// delivery of the burst is in.
	busy := &ghsim.Fault{Op: "checks/create", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	// The command's first read of its comment, and the read it makes when
	// it goes on after standing aside.
	first := &ghsim.Fault{Op: "issues/get-comment", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	again := &ghsim.Fault{Op: "issues/get-comment", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	w.h.Sim.Inject(busy)
	w.h.Sim.Inject(first)
	w.h.Sim.Inject(again)
	for _, b := range []string{"hotfix/burst-1", "hotfix/burst-2"} {
		must[string](t)(r.CreateBranch(in.Dana, b, "v1.4.2"))
		must[string](t)(r.Push(in.Dana, b, "Fix", ghsim.Files{b[7:] + ".go": "package p\n"}))
	}
	id := must[int64](t)(r.Comment(in.Rob, n, "/promote"))
	if _, err := w.h.Sim.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	wait := func(c chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s never came", what)
		}
	}
	wait(busy.Holding, "the first push's check")
	close(busy.Hold)
	wait(first.Holding, "the command's read of its comment")
	close(first.Hold)
	wait(again.Holding, "the command's second read of its comment, after standing aside")
	noErr(t, r.DeleteComment(in.Rob, id))
	close(again.Hold)
	w.settle()

	if deps := w.botDeployments(); len(deps) != 0 {
		t.Errorf("deployed %d times for a comment deleted before the command went on", len(deps))
	}
	if got := testutil.ToFloat64(w.h.Bots[0].Metrics().CommandsNotRun.WithLabelValues("deleted")); got != 1 {
		t.Errorf("commands not run because their comment was deleted: %v, want 1", got)
	}
}
