package e2e

import (
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
)

// promoteAndRelease promotes an approved hotfix and reports its
// deployment a success; it returns the hotfix PR and the summary.
func (w *world) promoteAndRelease(branch string) (int, string) {
	w.t.Helper()
	n, _ := w.approvedHotfix(branch)
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")
	summary := w.botComments(n, "hotfix-bot:deployed:")
	if len(summary) != 1 {
		w.t.Fatalf("%d summaries", len(summary))
	}
	return n, summary[0].Body
}

// summaryRow is the summary's line about one sync target.
func summaryRow(t *testing.T, summary, target string) string {
	t.Helper()
	for _, line := range strings.Split(summary, "\n") {
		if strings.HasPrefix(line, "| sync → `"+target+"`") {
			return line
		}
	}
	t.Fatalf("no summary row for %s:\n%s", target, summary)
	return ""
}

// A release branch is open until production has absorbed it: one cut at
// production, with nothing of its own yet, gets the fix (the release
// would miss it otherwise); a squash-merged one, and one whose release
// shipped long ago, do not. The summary says why for each.
func TestSyncIntoOpenReleaseBranches(t *testing.T) {
	w := start(t, harness.Options{})
	r, dana := w.in.Repo, w.in.Dana
	must[string](t)(r.CreateBranch(dana, "release/1.6", "v1.4.2"))
	must[string](t)(r.CreateBranch(dana, "release/1.3", "main"))
	must[string](t)(r.Push(dana, "release/1.3", "Release notes for 1.3", ghsim.Files{"NOTES.md": "1.3\n"}))
	must[string](t)(r.Push(dana, "main", "Release 1.3 (squashed)", ghsim.Files{"NOTES.md": "1.3\n"}))
	w.settle()

	_, summary := w.promoteAndRelease("hotfix/payment-timeout")
	for target, want := range map[string][]string{
		"release/1.6": {"open: nothing of its own yet", "opened"},
		"release/1.5": {"open: 5 commits `main` lacks", "draft"},
		"release/1.3": {"skipped: closed: `main` already has its exact tree"},
		"release/1.4": {"skipped: closed: it holds nothing `main` lacks, and production had moved past its last release, `v1.4.1`"},
		"develop":     {"the development branch", "opened"},
	} {
		row := summaryRow(t, summary, target)
		for _, f := range want {
			if !strings.Contains(row, f) {
				t.Errorf("%s: row lacks %q: %s", target, f, row)
			}
		}
	}
	if got := w.pullsInto("release/1.6", "hotfix-bot/sync/v1.4.3-to-release/1.6"); len(got) != 1 || got[0].PR.Draft {
		t.Errorf("sync PRs into the release cut at production: %+v", got)
	}
	for _, closed := range []string{"release/1.3", "release/1.4"} {
		if got := w.pullsInto(closed, ""); len(got) != 0 {
			t.Errorf("a sync PR into %s, which production absorbed", closed)
		}
	}
	w.noHandlerErrors()
}

// sync.targets replaces discovery: the listed branches get the fix (even
// one the bot would call closed), the others none; a listed branch that
// does not exist is reported.
func TestSyncTargetsListed(t *testing.T) {
	w := start(t, harness.Options{})
	r := w.in.Repo
	must[string](t)(r.Push(w.in.Rob, "main", "Sync only into what we name", ghsim.Files{
		".github/hotfix-bot.yml": "sync:\n  targets: [release/1.4, release/9.9]\n",
	}))
	w.settle()
	_, summary := w.promoteAndRelease("hotfix/payment-timeout")
	if row := summaryRow(t, summary, "release/1.4"); !strings.Contains(row, "listed in `sync.targets`") || !strings.Contains(row, "opened") {
		t.Errorf("release/1.4: %s", row)
	}
	if row := summaryRow(t, summary, "release/9.9"); !strings.Contains(row, "❌ `sync.targets` names `release/9.9`, which does not exist") {
		t.Errorf("release/9.9: %s", row)
	}
	if strings.Contains(summary, "release/1.5") || len(w.pullsInto("release/1.5", "")) != 0 {
		t.Error("an unlisted release branch was synced into")
	}
	if len(w.pullsInto("release/1.4", "hotfix-bot/sync/")) != 1 || len(w.pullsInto("develop", "hotfix-bot/sync/")) != 1 {
		t.Error("the listed branch and develop did not get their sync PRs")
	}
}
