package e2e

import (
	"sort"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
)

func logBudget(t *testing.T, step string, b harness.Budget) {
	t.Helper()
	var ops []string
	for op := range b.ByOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	t.Logf("%s: %d calls, %d charged (%d writes), %d conditional, %d wasted", step, b.Calls, b.Charged, b.Writes, b.Conditional, b.Wasted)
	for _, op := range ops {
		t.Logf("    %3d %s", b.ByOp[op], op)
	}
}

// The budget: a warm replica spends no rate limit on reads whose answers
// did not change; everything it is charged for is a write or news.
func TestAPIBudget(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	// The figures are for one open release branch (BENCHMARKS.md); each
	// further release branch costs one comparison per new head.
	noErr(t, r.DeleteBranch(in.Dana, "release/1.4"))
	w.h.Sim.DiscardPending()
	w.hotfixFromProduction("hotfix/budget")
	w.settle()

	w.h.Sim.ResetCalls()
	must[string](t)(r.Push(in.Dana, "hotfix/budget", "Second commit", ghsim.Files{"b.go": "package b\n"}))
	w.settle()
	push := w.h.Account()
	logBudget(t, "warm push to a hotfix branch", push)

	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/budget", "main", "Fix"))
	w.settle()
	w.h.Sim.ResetCalls()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	label := w.h.Account()
	logBudget(t, "warm labeled event", label)

	for name, b := range map[string]harness.Budget{"push": push, "labeled": label} {
		if b.Wasted != 0 {
			t.Errorf("%s: %d charged reads returned what the bot already had", name, b.Wasted)
		}
		if b.Charged > b.Calls || b.Writes > b.Charged {
			t.Errorf("%s: inconsistent accounting %+v", name, b)
		}
	}
	// The warm push: two check runs, created complete (no "in progress"
	// first on a commit that has none), the claim on creating them taken
	// and released (two ref writes), and four reads whose answers are new
	// (the new commit's check runs and its three comparisons).
	if push.Charged > 8 || push.Writes != 4 || push.ByOp["checks/create"] != 2 || push.ByOp["checks/update"] != 0 ||
		push.ByOp["git/create-ref"] != 1 || push.ByOp["git/delete-ref"] != 1 {
		t.Errorf("warm push: %d charged, %d writes (%v), want at most 8 charged: the two creates and the claim taken and released", push.Charged, push.Writes, push.ByOp)
	}
	// The approval label: the approval written once; the schema result,
	// which no label decides here, not rewritten.
	if label.Charged > 6 || label.Writes != 1 || label.ByOp["checks/update"] != 1 {
		t.Errorf("warm labeled event: %d charged, %d writes (%v), want at most 6 charged and one write", label.Charged, label.Writes, label.ByOp)
	}
}
