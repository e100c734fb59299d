package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// A commit status anyone with write access posts under CI's check name
// cannot hide CI's failing check run: checks are known by source and
// name, and a failing one of a name wins.
func TestStatusCannotShadowAFailingCheckRun(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	mallory := w.h.Sim.User("mallory")
	r.SetRole("mallory", "write")
	n, head := w.approvedHotfix("hotfix/shadow")
	r.ReportCheck(in.CI, head, "test", "completed", "failure")
	r.AddStatus(mallory, head, "test", "success")
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "/promote refused: required checks", "`test` (github-actions): failure")
	w.nothingDeployed(n, id)

	// Naming the check changes nothing: every match must pass.
	must[string](t)(r.Push(in.Rob, "main", "Require the tests", ghsim.Files{".github/hotfix-bot.yml": "promote:\n  required_checks: [test]\n"}))
	w.settle()
	id = w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "/promote refused: required checks", "`test` (github-actions): failure")
	w.nothingDeployed(n, id)
}

// With `all`, "nothing reported yet" is never a pass while CI may still
// start: /promote right after a push waits for promote.checks_grace; a
// repository without any CI promotes once it has passed.
func TestPromoteBeforeCIReported(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	r.SetCI(nil) // no CI has reported on anything pushed from here on
	n, head := w.approvedHotfix("hotfix/early-promote")
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "/promote refused: required checks", "CI has not reported on `"+policy.Short(head)+"` yet", "`promote.checks_grace` is 2m0s")
	w.nothingDeployed(n, id)

	// CI starts: a running check waits.
	r.ReportCheck(in.CI, head, "test", "in_progress", "")
	id = w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "/promote refused: required checks", "still running: `test` (github-actions)")
	w.nothingDeployed(n, id)

	// An app GitHub queued a suite for, and that never reports, is not
	// waited for once CI is done.
	other := must[*ghsim.App](t)(w.h.Sim.RegisterApp(ghsim.AppOptions{Slug: "codeowners-bot", Permissions: map[string]string{"checks": "write"}}))
	r.QueueCheckSuite(other, head)
	r.ReportCheck(in.CI, head, "test", "completed", "success")
	id = w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "Promoting #", "deploy `"+policy.Short(head)+"`")
}

// A repository without CI: nothing reported is a refusal within the grace
// after the push, and passes after it.
func TestPromoteWithoutCIPassesAfterTheGrace(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	r.SetCI(nil)
	n, head := w.approvedHotfix("hotfix/no-ci")
	w.h.Sim.Clock().Advance(2 * time.Minute)
	id := w.comment(in.Rob, n, "/promote")
	reply := w.reply(n, id, "Promoting #", "deploy `"+policy.Short(head)+"`")
	if !strings.Contains(reply.Body, "no other checks on the head, 2m0s after its push") {
		t.Errorf("the plan does not say why required checks passed:\n%s", reply.Body)
	}
}

// Pre-releases never define production or the next tag. CD deployed the
// release candidate v1.5.0-rc.1 to production: production is untagged,
// and the next hotfix is released as v1.4.3 (a bump of the newest release
// that is its ancestor), never as v1.5.1.
func TestReleaseCandidateInProductionIsNeverBumped(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	rc := must[string](t)(r.Tag(in.Rob, "v1.5.0-rc.1", "release/1.5"))
	must[int64](t)(r.SeedDeployment(in.CD, "v1.5.0-rc.1", "production", "success"))
	w.h.Sim.DiscardPending()
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/on-rc", rc))
	head := must[string](t)(r.Push(in.Dana, "hotfix/on-rc", "Fix on the rc", ghsim.Files{"payments/rc.go": "package payments\n"}))
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/on-rc", "main", "Fix on the rc"))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success, "untagged "+policy.Short(rc))
	id := w.comment(in.Rob, n, "/promote --dry-run")
	reply := w.reply(n, id, "Production runs **untagged "+policy.Short(rc)+"**; this hotfix would be released as **v1.4.3**")
	if strings.Contains(reply.Body, "v1.5.1") {
		t.Errorf("a pre-release was bumped into a release:\n%s", reply.Body)
	}
}

// Without any deployment, production is the newest release tag on the
// production branch: a v9.9.9 pushed on a feature branch, or a release
// candidate tagged on develop, is not production, and a branch cut from
// one fails the base gate.
func TestTagOffTheProductionBranchIsNotProduction(t *testing.T) {
	h, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	repo := must[*ghsim.Repo](t)(h.Sim.CreateRepo("acme", "fresh"))
	dev := h.Sim.User("dev")
	repo.SetRole("dev", "write")
	must[string](t)(repo.Push(dev, "main", "init", ghsim.Files{"a.go": "package a\n"}))
	must[string](t)(repo.Tag(dev, "v1.4.2", "main"))
	must[string](t)(repo.CreateBranch(dev, "develop", "main"))
	must[string](t)(repo.Push(dev, "develop", "Next", ghsim.Files{"b.go": "package a\n"}))
	must[string](t)(repo.Tag(dev, "v1.5.0-rc.1", "develop"))
	must[string](t)(repo.CreateBranch(dev, "feature/x", "develop"))
	must[string](t)(repo.Push(dev, "feature/x", "Anything", ghsim.Files{"c.go": "package a\n"}))
	must[string](t)(repo.Tag(dev, "v9.9.9", "feature/x"))
	h.Sim.Install(h.App, repo)
	must[string](t)(repo.CreateBranch(dev, "hotfix/from-v9", "v9.9.9"))
	head := must[string](t)(repo.Push(dev, "hotfix/from-v9", "fix", ghsim.Files{"d.go": "package a\n"}))
	if _, err := h.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	cr, ok := repo.CheckRun(head, policy.CheckBase)
	if !ok || cr.Conclusion != policy.Failure || !strings.Contains(cr.Summary, "v1.4.2") || !strings.Contains(cr.Summary, "git rebase --onto v1.4.2") {
		t.Errorf("base on a branch cut from v9.9.9 = %s %q\n%s", cr.Conclusion, cr.Title, cr.Summary)
	}
	for _, v := range h.Violations() {
		t.Errorf("GitHub would reject: %s", v)
	}
}
