package e2e

import (
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/e2e/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

func TestPromoteToProductionAndSyncBack(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, head := w.approvedHotfix("hotfix/payment-timeout")

	id := w.comment(in.Rob, n, "Looks good.\n/promote")
	w.reply(n, id, "Promoting #", "deploy `"+policy.Short(head)+"`", "**v1.4.3**", "production runs v1.4.2", "waiting for your CD system")
	if got := strings.Join(w.reactions(n, id), ","); got != "eyes,rocket" {
		t.Errorf("reactions = %q, want eyes then rocket", got)
	}
	d, p := w.onlyDeployment()
	if d.SHA != head || d.Environment != "production" || d.Task != policy.TaskHotfix || !d.Production {
		t.Errorf("deployment = %+v", d)
	}
	if p.PR != n || p.CommentID != id || p.RequestedBy != "rob" || p.PreviousRef != in.V142 || p.PreviousTag != "v1.4.2" ||
		p.NextTag != "v1.4.3" || strings.Join(p.Chain, ",") != "production" || p.ChainIndex != 0 {
		t.Errorf("payload = %+v", p)
	}

	w.report(d.ID, "success")
	if got := r.TagCommit("v1.4.3"); got != head {
		t.Errorf("v1.4.3 at %q, want the deployed %s", got, policy.Short(head))
	}
	pr, _ := r.PR(n)
	if !pr.PR.Merged {
		t.Error("the hotfix pull request was not merged")
	}
	devSync := w.pullsInto("develop", "hotfix-bot/sync/v1.4.3-to-develop")
	relSync := w.pullsInto("release/1.5", "hotfix-bot/sync/v1.4.3-to-release/1.5")
	if len(devSync) != 1 || len(relSync) != 1 {
		t.Fatalf("sync PRs: %d into develop, %d into release/1.5, want one each", len(devSync), len(relSync))
	}
	if len(w.pullsInto("release/1.4", "")) != 0 {
		t.Error("a sync PR into release/1.4, which was merged into main already")
	}
	if devSync[0].PR.Draft || !relSync[0].PR.Draft {
		t.Errorf("drafts: develop %v, release/1.5 %v; want only the conflicting release/1.5", devSync[0].PR.Draft, relSync[0].PR.Draft)
	}
	if got := r.Labels(relSync[0].Number); strings.Join(got, ",") != "sync-back,sync-conflict" {
		t.Errorf("release/1.5 sync labels = %v", got)
	}
	if got := r.Labels(devSync[0].Number); strings.Join(got, ",") != "sync-back" {
		t.Errorf("develop sync labels = %v", got)
	}
	w.expect(relSync[0].PR.HeadSHA, policy.CheckSync, policy.Failure, "Conflicts with release/1.5")
	if cs := w.botComments(relSync[0].Number, "git merge origin/release/1.5"); len(cs) != 1 {
		t.Errorf("%d conflict instructions on the release/1.5 sync", len(cs))
	}
	summary := w.botComments(n, "hotfix-bot:deployed:")
	if len(summary) != 1 {
		t.Fatalf("%d summaries", len(summary))
	}
	for _, want := range []string{"in production as v1.4.3", "`v1.4.3` created", "merged into `main`", "released", "develop", "release/1.5", "draft", "release/1.4", "merged into `main` already (closed)"} {
		if !strings.Contains(summary[0].Body, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary[0].Body)
		}
	}
	w.noHandlerErrors()
}
