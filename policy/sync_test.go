package policy

import (
	"strings"
	"testing"
)

func TestChooseSyncBranch(t *testing.T) {
	for _, c := range []struct {
		name string
		f    SyncBranchFacts
		want SyncBranchUse
		why  string
	}{
		{"nothing there", SyncBranchFacts{}, SyncCreate, ""},
		{"the bot's branch, no pull request yet (a re-run after a crash)", SyncBranchFacts{Head: "h", HeadIsRelease: true}, SyncOpenPR, ""},
		{"a prepared branch with other commits", SyncBranchFacts{Head: "abcdef1234"}, SyncForeign, "`abcdef1` is neither the release"},
		{"the app's open pull request", SyncBranchFacts{Head: "h", OwnPR: &SyncPR{Number: 3, State: "open", ContainsRelease: true, Extra: 1}}, SyncReuse, ""},
		{"the app's pull request with a person's conflict resolution", SyncBranchFacts{Head: "h", OwnPR: &SyncPR{Number: 3, State: "open", ContainsRelease: true, Extra: 3}}, SyncReuse, ""},
		{"the app's merged pull request, branch deleted", SyncBranchFacts{OwnPR: &SyncPR{Number: 3, State: "merged"}}, SyncReuse, ""},
		{"the app's pull request, its branch rewritten", SyncBranchFacts{Head: "h", OwnPR: &SyncPR{Number: 3, State: "open"}}, SyncForeign, "the bot's #3 from it no longer carries the release"},
		{"someone's pull request, opened and closed", SyncBranchFacts{Head: "h", HeadIsRelease: true, ForeignPRs: []SyncPR{{Number: 9, Author: "mallory", State: "closed"}}}, SyncForeign, "#9 (closed, by `mallory`)"},
		{"someone's pull request beside the app's", SyncBranchFacts{Head: "h", OwnPR: &SyncPR{Number: 3, State: "open", ContainsRelease: true}, ForeignPRs: []SyncPR{{Number: 9}}}, SyncReuse, ""},
	} {
		got := ChooseSyncBranch(c.f)
		if got.Use != c.want || !strings.Contains(got.Why, c.why) || (c.want == SyncForeign) != (got.Why != "") {
			t.Errorf("%s: %+v, want %v with %q", c.name, got, c.want, c.why)
		}
	}
}

func TestSyncBranchNames(t *testing.T) {
	if got := SyncBranchNameN("v1.4.3", "release/1.5", 1); got != "hotfix-bot/sync/v1.4.3-to-release/1.5" {
		t.Errorf("first name %q", got)
	}
	if got := SyncBranchNameN("v1.4.3", "develop", 2); got != "hotfix-bot/sync/v1.4.3-to-develop-2" || !IsSyncBranch(got) {
		t.Errorf("second name %q", got)
	}
}

// A release branch is open until production has absorbed it: its tree,
// or its last release. Each decision says why.
func TestSyncTargets(t *testing.T) {
	c := Default()
	got := c.SyncTargets("v1.4.3", []SyncCandidate{
		{Branch: "develop", Develop: true, Exists: true},
		{Branch: "release/1.4", Exists: true, Shipped: true, LastTag: "v1.4.1"},
		{Branch: "release/1.5", Exists: true, OwnCommits: 4},
		{Branch: "release/1.6", Exists: true},
		{Branch: "release/1.3", Exists: true, OwnCommits: 7, TreeInProduction: true},
		{Branch: "release/1.2", Exists: true, OwnCommits: 2, TreesUnchecked: true},
		{Branch: "release/1.7", Exists: true, OwnCommits: 2, ContainsTag: true},
		{Branch: "release/1.8", Exists: true, OwnCommits: 1, Unknown: "GitHub answered 502"},
	})
	want := map[string]struct{ skip, why string }{
		"develop":     {"", "the development branch"},
		"release/1.4": {"closed: it holds nothing `main` lacks, and production had moved past its last release, `v1.4.1`", ""},
		"release/1.5": {"", "open: 4 commits `main` lacks"},
		"release/1.6": {"", "open: nothing of its own yet, cut at or after what production ran"},
		"release/1.3": {"closed: `main` already has its exact tree", ""},
		"release/1.2": {"", "too many to read"},
		"release/1.7": {"already contains v1.4.3", ""},
		"release/1.8": {"not synced: GitHub answered 502", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d decisions, want %d", len(got), len(want))
	}
	for _, g := range got {
		w := want[g.Branch]
		if (w.skip == "") != (g.Skip == "") || !strings.Contains(g.Skip, w.skip) || !strings.Contains(g.Why, w.why) || (g.Skip == "") == (g.Why == "") {
			t.Errorf("%s: skip %q why %q; want %q, %q", g.Branch, g.Skip, g.Why, w.skip, w.why)
		}
		if g.Problem != (g.Branch == "release/1.8") {
			t.Errorf("%s: problem %v", g.Branch, g.Problem)
		}
	}
	missing := c.SyncTargets("v1.4.3", []SyncCandidate{{Branch: "develop", Develop: true}})
	if !missing[0].Problem || !strings.Contains(missing[0].Skip, "branches.develop") {
		t.Errorf("a missing develop: %+v", missing[0])
	}

	// sync.targets: the listed branches are open by the team's word, even
	// one that looks absorbed; one that does not exist is a problem.
	c.Sync.Targets = []string{"release/1.4", "release/2.0"}
	listed := c.SyncTargets("v1.4.3", []SyncCandidate{
		{Branch: "release/1.4", Listed: true, Exists: true, Shipped: true},
		{Branch: "release/2.0", Listed: true},
	})
	if listed[0].Skip != "" || listed[0].Why != "listed in `sync.targets`" {
		t.Errorf("a listed branch: %+v", listed[0])
	}
	if !listed[1].Problem || !strings.Contains(listed[1].Skip, "`sync.targets` names `release/2.0`, which does not exist") {
		t.Errorf("a listed branch that does not exist: %+v", listed[1])
	}
}

func TestSyncTargetsValidation(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"sync:\n  targets: [release/1.5, release/1.6]\n", ""},
		{"sync:\n  targets: []\n", ""},
		{"sync:\n  targets: [main]\n", "line 2: sync.targets[0]: \"main\" is the production branch"},
		{"sync:\n  targets: [develop]\n", "always gets a sync-back pull request"},
		{"sync:\n  targets: [stable]\n", "does not match branches.release"},
		{"sync:\n  targets: [release/1.5, release/1.5]\n", "listed twice"},
		{"sync:\n  targets: [\"release/a..b\"]\n", "must not contain .."},
	} {
		cfg, err := Parse([]byte(c.yaml))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.yaml, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
		if c.yaml == "sync:\n  targets: []\n" && cfg.Sync.Targets != nil {
			t.Errorf("an empty list is not the default (find the open release branches): %#v", cfg.Sync.Targets)
		}
	}
}
