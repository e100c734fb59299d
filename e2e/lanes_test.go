package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// observed is a fault that changes nothing: each of the first `times`
// matching calls goes through at once and is announced on Holding.
func observed(op string, times int) *ghsim.Fault {
	open := make(chan struct{})
	close(open)
	return &ghsim.Fault{Op: op, Times: times, Hold: open, Holding: make(chan struct{}, times)}
}

// arrived waits until a held or observed call reached GitHub.
func (w *world) arrived(f *ghsim.Fault, what string) {
	w.t.Helper()
	select {
	case <-f.Holding:
	case <-w.ctx.Done():
		w.t.Fatalf("%s never reached GitHub", what)
	}
}

// People first: while background work holds what it may of an
// installation (the success path of a released hotfix, stuck at its first
// sync-back pull request, and the re-checks after a deployment by the
// release pipeline, waiting behind it), a push to another hotfix gets
// both its checks, and a command its 👀 and its answer, without waiting
// for either. Without lanes the two background events would hold both of
// the installation's places, and the push and the command would wait.
func TestPeopleGoFirstWhileTheSuccessPathRuns(t *testing.T) {
	// Held calls stay held (the client does not give up on them) until
	// the test lets them go.
	w := start(t, harness.Options{ClientTimeout: 10 * time.Minute})
	r, in := w.in.Repo, w.in
	n, _ := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	// Another hotfix is under review.
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/refunds", "v1.4.2"))
	must[string](t)(r.Push(in.Dana, "hotfix/refunds", "Round refunds down", ghsim.Files{"payments/round.go": "package payments\n"}))
	other := must[int](t)(r.OpenPR(in.Dana, "hotfix/refunds", "main", "Round refunds down"))
	w.settle()

	syncBack := &ghsim.Fault{Op: "pulls/create", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	recheck := &ghsim.Fault{Op: "checks/update", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	w.h.Sim.Inject(syncBack)
	w.h.Sim.Inject(recheck)
	noErr(t, r.SetDeploymentStatusWithLog(in.CD, d.ID, "success", "deployed", "https://ci.example.com/runs/1"))
	_, err := w.h.Sim.Deliver(w.ctx)
	noErr(t, err)
	w.arrived(syncBack, "the first sync-back pull request")
	// The release pipeline deploys production too: more background work.
	pipeline := must[int64](t)(r.Deploy(in.CD, d.SHA, "production"))
	noErr(t, r.SetDeploymentStatus(in.CD, pipeline, "success", "deployed"))
	_, err = w.h.Sim.Deliver(w.ctx)
	noErr(t, err)

	// People come.
	checks, eyes, reply := observed("checks/create", 2), observed("reactions/create-for-issue-comment", 1), observed("issues/create-comment", 1)
	for _, f := range []*ghsim.Fault{checks, eyes, reply} {
		w.h.Sim.Inject(f)
	}
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/cache", "v1.4.2"))
	head := must[string](t)(r.Push(in.Dana, "hotfix/cache", "Cache the rates", ghsim.Files{"payments/rates.go": "package payments\n"}))
	id := must[int64](t)(r.Comment(in.Rob, other, "/promote --dry-run"))
	_, err = w.h.Sim.Deliver(w.ctx)
	noErr(t, err)
	w.arrived(checks, "the push's first check run")
	w.arrived(checks, "the push's second check run")
	w.arrived(eyes, "the dry run's 👀")
	w.arrived(reply, "the dry run's answer")
	if got := w.reactions(other, id); len(got) == 0 || got[0] != "eyes" {
		t.Errorf("reactions %v: the 👀 is not the command's first write", got)
	}

	close(syncBack.Hold)
	close(recheck.Hold)
	w.settle()
	// Production moved under the new branch (it starts at v1.4.2), and
	// its base check says so.
	w.expect(head, policy.CheckBase, policy.Failure, "v1.4.3")
	w.expect(head, policy.CheckSchema, policy.Success)
	w.reply(other, id)
	if syncs := w.pullsInto("develop", "hotfix-bot/sync/"); len(syncs) != 1 {
		t.Errorf("%d sync-back pull requests into develop, want 1: the success path finished", len(syncs))
	}
	if s := w.botComments(n, "hotfix-bot:deployed:"+itoa(d.ID)); len(s) != 1 || !strings.Contains(s[0].Body, "is in production as v1.4.3") {
		t.Errorf("%d summaries of the release, want 1", len(s))
	}
	w.noHandlerErrors()
	if !strings.Contains(w.log.String(), `"lane":"background"`) {
		t.Error("no event ran in the background lane")
	}
}
