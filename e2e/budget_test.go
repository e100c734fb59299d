package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
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

// labelWrites are the writes that make or colour the repository's labels:
// background work, off the path of any check.
var labelWrites = map[string]bool{"issues/create-label": true, "issues/update-label": true}

// TestAPIBudget holds the bot to its write budget per event, on a warm
// replica (BENCHMARKS.md has the figures, before and after):
//
//	| event                                   | writes                                   |
//	| first push of a new hotfix commit       | 2: the two check runs                    |
//	| pull request opened                     | at most 4: three check runs, `hotfix`    |
//	| approval label added or removed         | at most 1; 0 when the verdict is the same |
//	| the bot's own label write               | no evaluation at all                     |
//
// and spends no rate limit on reads whose answers did not change.
func TestAPIBudget(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	// The figures are for one open release branch (BENCHMARKS.md); each
	// further release branch costs one comparison per new head.
	noErr(t, r.DeleteBranch(in.Dana, "release/1.4"))
	w.h.Sim.DiscardPending()
	w.hotfixFromProduction("hotfix/budget") // the policy cached, production read once
	w.settle()

	type step struct {
		name         string
		budget       harness.Budget
		interactive  int // writes but the labels' background ones
		labelWrites  int
		lastCheckAt  int // index of the last check-run write among the calls
		firstLabelAt int
	}
	var steps []step
	measure := func(name string, act func()) step {
		t.Helper()
		w.h.Sim.ResetCalls()
		act()
		w.settle()
		s := step{name: name, budget: w.h.Account(), lastCheckAt: -1, firstLabelAt: -1}
		for i, c := range w.h.Sim.Calls() {
			switch {
			case !c.Write:
			case labelWrites[c.Op]:
				s.labelWrites++
				if s.firstLabelAt < 0 {
					s.firstLabelAt = i
				}
			default:
				s.interactive++
				if strings.HasPrefix(c.Op, "checks/") {
					s.lastCheckAt = i
				}
			}
		}
		logBudget(t, name, s.budget)
		steps = append(steps, s)
		return s
	}

	// A new commit on a hotfix branch without a pull request: its two
	// check runs, created complete, and nothing else written.
	push := measure("first push of a new hotfix commit", func() {
		must[string](t)(r.Push(in.Dana, "hotfix/budget", "Second commit", ghsim.Files{"b.go": "package b\n"}))
	})
	if push.budget.Writes != 2 || push.budget.ByOp["checks/create"] != 2 || push.budget.Charged > 8 {
		t.Errorf("first push: %d writes, %d charged (%v); want the two check runs only, at most 8 charged", push.budget.Writes, push.budget.Charged, push.budget.ByOp)
	}

	// The repository's first hotfix pull request, opened right after its
	// first push (the push leaves the gates to the pull request): three
	// check runs and the `hotfix` label; the labels the repository lacks
	// are made afterwards, in the background.
	var n int
	opened := measure("pull request opened (the repository's first)", func() {
		must[string](t)(r.CreateBranch(in.Dana, "hotfix/opened", "v1.4.2"))
		must[string](t)(r.Push(in.Dana, "hotfix/opened", "Fix", ghsim.Files{"o.go": "package o\n"}))
		n = must[int](t)(r.OpenPR(in.Dana, "hotfix/opened", "main", "Fix"))
	})
	if opened.interactive > 4 || opened.budget.ByOp["checks/create"] != 3 || opened.budget.ByOp["issues/add-labels"] != 1 {
		t.Errorf("pull request opened: %d writes besides the labels' (%v); want at most 4: three check runs and `hotfix`", opened.interactive, opened.budget.ByOp)
	}
	if opened.labelWrites == 0 || opened.firstLabelAt < opened.lastCheckAt {
		t.Errorf("the repository's labels: %d writes, the first at call %d, the last check at %d; want them made after the checks", opened.labelWrites, opened.firstLabelAt, opened.lastCheckAt)
	}
	if got := labelColor(r, "hotfix"); got != "d93f0b" {
		t.Errorf("the hotfix label GitHub created when the bot added it is %q, want the bot's colour", got)
	}
	// A repository that has its labels: the event's writes only.
	second := measure("pull request opened", func() {
		must[string](t)(r.CreateBranch(in.Dana, "hotfix/second", "v1.4.2"))
		must[string](t)(r.Push(in.Dana, "hotfix/second", "Fix", ghsim.Files{"s.go": "package s\n"}))
		must[int](t)(r.OpenPR(in.Dana, "hotfix/second", "main", "Fix"))
	})
	if second.budget.Writes > 4 {
		t.Errorf("second pull request opened: %d writes (%v), want at most 4", second.budget.Writes, second.budget.ByOp)
	}

	// Approval labels: one write when the verdict changes, none when it
	// does not; never "in progress" first.
	added := measure("approval label added", func() { noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved")) })
	removed := measure("approval label removed", func() { noErr(t, r.RemoveLabel(in.Rob, n, "hotfix-approved")) })
	for _, s := range []step{added, removed} {
		if s.budget.Writes != 1 || s.budget.ByOp["checks/update"] != 1 || s.budget.Charged > 6 {
			t.Errorf("%s: %d writes, %d charged (%v); want the approval written once, at most 6 charged", s.name, s.budget.Writes, s.budget.Charged, s.budget.ByOp)
		}
	}
	same := measure("approval label that changes no verdict", func() { noErr(t, r.AddLabel(in.Rob, n, "schema-approved")) })
	if same.budget.Writes != 0 {
		t.Errorf("%s: %d writes (%v), want none", same.name, same.budget.Writes, same.budget.ByOp)
	}

	// The bot's own label write (`schema-change`, after an approved
	// pull request gets a migration) is not news to it: one evaluation,
	// whose verification of the approval finds nothing new.
	must[string](t)(r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{".github/hotfix-bot.yml": "approval:\n  reset_on_push: false\n"}))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	mark := len(w.log.String())
	own := measure("the bot's own label write", func() {
		must[string](t)(r.Push(in.Dana, "hotfix/opened", "Add a column", ghsim.Files{"db/migrations/002_add.sql": "ALTER TABLE t ADD c int;\n"}))
	})
	if !strings.Contains(strings.Join(r.Labels(n), ","), policy.LabelSchemaChange) {
		t.Fatalf("labels %v: the bot did not add %s", r.Labels(n), policy.LabelSchemaChange)
	}
	if strings.Contains(w.log.String()[mark:], "evaluating again") || own.budget.ByOp["checks/update"] != 0 || own.budget.ByOp["issues/list-events"] > 2 {
		t.Errorf("the bot's own label write caused another evaluation (%v)", own.budget.ByOp)
	}

	for _, s := range steps {
		if s.budget.Wasted != 0 {
			t.Errorf("%s: %d charged reads returned what the bot already had", s.name, s.budget.Wasted)
		}
		if s.budget.Charged > s.budget.Calls || s.budget.Writes > s.budget.Charged {
			t.Errorf("%s: inconsistent accounting %+v", s.name, s.budget)
		}
	}
	// BENCHMARKS.md's table.
	var b strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", s.name, s.interactive, s.labelWrites, s.budget.Charged, s.budget.Calls)
	}
	t.Logf("event | writes | label writes (background) | charged | calls\n%s", b.String())
}

func labelColor(r *ghsim.Repo, name string) string {
	for _, l := range r.RepoLabels() {
		if l.Name == name {
			return l.Color
		}
	}
	return ""
}
