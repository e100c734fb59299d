package e2e

import (
	"sort"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/e2e/ghsim"
	"github.com/hotfix-bot/hotfix-bot/e2e/harness"
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
}
