package e2e

import (
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// git-flow: develop is the default branch, less protected than main. A
// write user merges a weaker policy into develop only; it changes
// nothing, because the policy is read from the production branch. When
// develop's file tries to make develop production, nothing is trusted
// for the events the hint decides, and the real hotfix pull requests
// keep main's rules.
func TestPolicyChangedOnDevelopOnly(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	r.SetDefaultBranch("develop")
	r.Protect("main", ghsim.Protection{})
	must[string](t)(r.Push(in.Dana, "develop", "Let anyone approve", ghsim.Files{
		".github/hotfix-bot.yml": "approval:\n  permission: read\ncommands:\n  emergency:\n    users: [dana]\n",
	}))
	w.settle()
	head := w.hotfixFromProduction("hotfix/weak")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/weak", "main", "Fix"))
	w.settle()
	noErr(t, r.AddLabel(in.Ivan, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "added by @ivan, whose permission is read; approval needs write or more",
		"Decided under the defaults (`main` at `"+policy.Short(r.Branch("main"))+"` has no `.github/hotfix-bot.yml`)")
	id := w.comment(in.Dana, n, "/promote --emergency nobody is around")
	w.reply(n, id, "/promote refused: emergency permission")
	w.nothingDeployed(n, id)

	// develop's file now names develop as production.
	must[string](t)(r.Push(in.Dana, "develop", "Make develop production", ghsim.Files{
		".github/hotfix-bot.yml": "branches:\n  production: develop\napproval:\n  permission: read\n",
	}))
	w.settle()
	// A hotfix pull request into develop is not gated as one: /promote
	// refuses, saying why nothing is trusted.
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/sneaky", "v1.4.2"))
	sneaky := must[string](t)(r.Push(in.Dana, "hotfix/sneaky", "Sneak", ghsim.Files{"payments/x.go": "package payments\n"}))
	n2 := must[int](t)(r.OpenPR(in.Dana, "hotfix/sneaky", "develop", "Sneak"))
	w.settle()
	noErr(t, r.AddLabel(in.Ivan, n2, "hotfix-approved"))
	w.settle()
	id = w.comment(in.Dana, n2, "/promote")
	w.reply(n2, id, "/promote refused", "The production branch `develop`", "is not protected, while this repository protects other branches")
	w.nothingDeployed(n2, id)
	if cr, ok := r.CheckRun(sneaky, policy.CheckApproval); ok && cr.Conclusion == policy.Success {
		t.Errorf("the pull request into develop was approved under develop's rules: %s", cr.Summary)
	}
	// A push to a hotfix branch without a pull request is judged by the
	// hint: its checks fail, saying why.
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/lonely", "v1.4.2"))
	lonely := must[string](t)(r.Push(in.Dana, "hotfix/lonely", "Fix", ghsim.Files{"payments/y.go": "package payments\n"}))
	w.settle()
	w.expect(lonely, policy.CheckBase, policy.Failure, "The hotfix-bot policy cannot be trusted", "Protect `develop`")
	// The hotfix pull request into main keeps main's rules.
	noErr(t, r.RerequestCheckRun(in.Dana, w.check(head, policy.CheckApproval).ID))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "approval needs write or more")
	w.noHandlerErrors()
}
