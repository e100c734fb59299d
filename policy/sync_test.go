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
