package e2e

import (
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Scenarios where the gates once said "success" without knowing enough:
// each must now fail closed and say which fact is missing.

func TestMissingDevelopBranchFailsTheBaseGate(t *testing.T) {
	// The team calls its development branch `dev`; the policy still says
	// the default, `develop`, which does not exist.
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "dev", "develop"))
	noErr(t, r.DeleteBranch(in.Dana, "develop"))
	noErr(t, r.DeleteBranch(in.Dana, "release/1.5"))
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/from-dev", "dev"))
	head := must[string](t)(r.Push(in.Dana, "hotfix/from-dev", "Fix", ghsim.Files{"payments/timeout.go": "const Timeout = 60\n"}))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Failure, `The develop branch "develop" does not exist`, "`branches.develop`", "dev")

	// Told the right name, the gate finds dev's unreleased commits.
	must[string](t)(r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{".github/hotfix-bot.yml": "branches:\n  develop: dev\n"}))
	w.settle()
	newHead := must[string](t)(r.Push(in.Dana, "hotfix/from-dev", "More", ghsim.Files{"y.go": "package y\n"}))
	w.settle()
	w.expect(newHead, policy.CheckBase, policy.Failure, "3 commits from `dev` that production does not have", "Add loyalty points")
	w.noHandlerErrors()
}

func TestProductionIsFoundPastManyFailedDeployments(t *testing.T) {
	// CD has failed 60 times in a row since v1.4.2 went out; v1.4.3 was
	// tagged but never ran. Production is still v1.4.2.
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	undeployed := must[string](t)(r.Push(in.Dana, "main", "Unshipped", ghsim.Files{"u.go": "package u\n"}))
	must[string](t)(r.Tag(in.Rob, "v1.4.3", undeployed))
	for i := 0; i < 60; i++ {
		must[int64](t)(r.SeedDeployment(in.CD, "v1.4.3", "production", "failure"))
	}
	w.h.Sim.DiscardPending()
	head := w.hotfixFromProduction("hotfix/after-failures")
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success, "Starts at production (v1.4.2)")
}

func TestNoSuccessfulDeploymentFailsClosed(t *testing.T) {
	parallel(t)
	// A repository whose every production deployment failed: the newest
	// tag was never shown to run, so it is not taken for production.
	h, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	repo := must[*ghsim.Repo](t)(h.Sim.CreateRepo("acme", "broken-cd"))
	dev := h.Sim.User("dev")
	repo.SetRole("dev", "write")
	must[string](t)(repo.Push(dev, "main", "init", ghsim.Files{"a.go": "package a\n"}))
	must[string](t)(repo.CreateBranch(dev, "develop", "main"))
	must[string](t)(repo.Tag(dev, "v2.0.0", "main"))
	must[int64](t)(repo.SeedDeployment(dev, "v2.0.0", "production", "failure"))
	must[int64](t)(repo.SeedDeployment(dev, "v2.0.0", "production", "error"))
	h.Sim.Install(h.App, repo)
	must[string](t)(repo.CreateBranch(dev, "hotfix/first", "v2.0.0"))
	head := must[string](t)(repo.Push(dev, "hotfix/first", "fix", ghsim.Files{"b.go": "package a\n"}))
	if _, err := h.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{policy.CheckBase, policy.CheckSchema} {
		cr, ok := repo.CheckRun(head, name)
		if !ok || cr.Conclusion != policy.Failure || cr.Title != "Cannot tell what production runs" ||
			!strings.Contains(cr.Summary, "none of them has a `success` status") {
			t.Errorf("%s = %s %q\n%s", name, cr.Conclusion, cr.Title, cr.Summary)
		}
	}
	for _, v := range h.Violations() {
		t.Errorf("GitHub would reject: %s", v)
	}
}

func TestTwoReplicasRaceALabelAddAndRemove(t *testing.T) {
	// Rob adds the approval and removes it seconds later; the replica
	// handling the add is slow and writes its success after the other
	// replica wrote the failure. The last word must be the failure.
	w := start(t, harness.Options{Replicas: 2})
	r, in := w.in.Repo, w.in
	head := w.hotfixFromProduction("hotfix/race")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/race", "main", "Fix"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "missing")

	hold := &ghsim.Fault{Op: "checks/update", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	w.h.Sim.Inject(hold)
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	if _, err := w.h.Sim.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	<-hold.Holding // the slow replica is writing its success

	noErr(t, r.RemoveLabel(in.Rob, n, "hotfix-approved"))
	if _, err := w.h.Sim.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	select { // the other replica handles the removal
	case <-w.h.Bots[0].Idle():
	case <-w.h.Bots[1].Idle():
	case <-w.ctx.Done():
		t.Fatal(w.ctx.Err())
	}
	w.expect(head, policy.CheckApproval, policy.Failure, "missing")

	close(hold.Hold) // the slow replica's stale success lands
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "missing")
	w.onePerName(head)
	w.noHandlerErrors()
}
