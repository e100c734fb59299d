package e2e

import (
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
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
	for _, want := range []string{"in production as v1.4.3", "`v1.4.3` created", "merged into `main`", "released", "develop", "release/1.5", "draft", "release/1.4", "closed: it holds nothing `main` lacks"} {
		if !strings.Contains(summary[0].Body, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary[0].Body)
		}
	}
	w.noHandlerErrors()
}

func TestPromoteRefusals(t *testing.T) {
	t.Run("a gate fails: a hotfix cut from develop", func(t *testing.T) {
		w := start(t, harness.Options{})
		r, in := w.in.Repo, w.in
		must[string](t)(r.CreateBranch(in.Dana, "hotfix/from-develop", "develop"))
		must[string](t)(r.Push(in.Dana, "hotfix/from-develop", "Fix", ghsim.Files{"payments/refund.go": "package payments\n"}))
		n := must[int](t)(r.OpenPR(in.Dana, "hotfix/from-develop", "main", "Fix"))
		w.settle()
		noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
		noErr(t, r.AddLabel(in.Dora, n, "schema-approved"))
		w.settle()
		id := w.comment(in.Rob, n, "/promote")
		w.reply(n, id, "/promote refused", "hotfix-bot/base", "unreleased commit")
		w.nothingDeployed(n, id)
	})
	t.Run("approval missing", func(t *testing.T) {
		w := start(t, harness.Options{})
		r, in := w.in.Repo, w.in
		w.hotfixFromProduction("hotfix/unapproved")
		n := must[int](t)(r.OpenPR(in.Dana, "hotfix/unapproved", "main", "Fix"))
		w.settle()
		id := w.comment(in.Rob, n, "/promote")
		w.reply(n, id, "/promote refused: hotfix-bot/approval", "a reviewer adds the missing approval labels")
		w.nothingDeployed(n, id)
	})
	t.Run("schema change not approved", func(t *testing.T) {
		w := start(t, harness.Options{})
		r, in := w.in.Repo, w.in
		must[string](t)(r.CreateBranch(in.Dana, "hotfix/migration", "v1.4.2"))
		must[string](t)(r.Push(in.Dana, "hotfix/migration", "Index", ghsim.Files{"db/migrations/003_index.sql": "create index i on charges(id);\n"}))
		n := must[int](t)(r.OpenPR(in.Dana, "hotfix/migration", "main", "Index"))
		w.settle()
		noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
		w.settle()
		id := w.comment(in.Rob, n, "/promote")
		w.reply(n, id, "/promote refused", "hotfix-bot/schema", "schema approval label")
		w.nothingDeployed(n, id)
	})
	t.Run("draft", func(t *testing.T) {
		w := start(t, harness.Options{})
		n, _ := w.approvedHotfix("hotfix/draft")
		w.in.Repo.SetDraft(n, true)
		id := w.comment(w.in.Rob, n, "/promote")
		w.reply(n, id, "/promote refused: not a draft", "mark it ready for review")
		w.nothingDeployed(n, id)
	})
	t.Run("not mergeable", func(t *testing.T) {
		w := start(t, harness.Options{})
		r, in := w.in.Repo, w.in
		n, _ := w.approvedHotfix("hotfix/conflicting")
		// Someone changed the same line on main meanwhile.
		must[string](t)(r.Push(in.Rob, "main", "Timeout 90", ghsim.Files{"payments/timeout.go": "package payments\n\nconst Timeout = 90\n"}))
		w.settle()
		id := w.comment(in.Rob, n, "/promote")
		w.reply(n, id, "/promote refused: mergeable", "conflicts with `main`")
		w.nothingDeployed(n, id)
	})
	t.Run("GitHub still computing mergeability", func(t *testing.T) {
		w := start(t, harness.Options{})
		n, _ := w.approvedHotfix("hotfix/computing")
		w.in.Repo.SetMergeableDelay(100)
		id := w.comment(w.in.Rob, n, "/promote")
		w.reply(n, id, "GitHub is still computing whether it can be merged", "comment `/promote` again in a minute")
		w.nothingDeployed(n, id)
	})
	t.Run("from a fork", func(t *testing.T) {
		w := start(t, harness.Options{})
		r := w.in.Repo
		fork := w.h.Sim.Fork(r, "mallory")
		mallory := w.h.Sim.User("mallory")
		must[string](t)(fork.Push(mallory, "hotfix/evil", "Totally a fix", ghsim.Files{"payments/charge.go": "steal()\n"}))
		n := must[int](t)(r.OpenPR(mallory, "mallory:hotfix/evil", "main", "Fix"))
		w.settle()
		id := w.comment(w.in.Rob, n, "/promote")
		w.reply(n, id, "/promote refused", "from this repository", "mallory/payments")
		w.nothingDeployed(n, id)
	})
	t.Run("head pushed after the comment", func(t *testing.T) {
		w := start(t, harness.Options{})
		r, in := w.in.Repo, w.in
		n, _ := w.approvedHotfix("hotfix/late-push")
		id := must[int64](t)(r.Comment(in.Rob, n, "/promote"))
		// Dana pushes before the bot reads Rob's comment.
		must[string](t)(r.Push(in.Dana, "hotfix/late-push", "One more thing", ghsim.Files{"x.go": "package x\n"}))
		w.settle()
		w.reply(n, id, "new commits arrived after your /promote", "review them and comment `/promote` again")
		w.nothingDeployed(n, id)
	})
	t.Run("a read-only user", func(t *testing.T) {
		w := start(t, harness.Options{})
		n, _ := w.approvedHotfix("hotfix/intern")
		id := w.comment(w.in.Ivan, n, "/promote")
		w.reply(n, id, "/promote refused: permission", "@ivan has read permission", "needs write or more")
		if got := strings.Join(w.reactions(n, id), ","); got != "eyes,-1" {
			t.Errorf("reactions = %q", got)
		}
		w.nothingDeployed(n, id)
	})
	t.Run("the lock is held by another promotion", func(t *testing.T) {
		w := start(t, harness.Options{})
		first, _ := w.approvedHotfix("hotfix/first")
		w.comment(w.in.Rob, first, "/promote")
		w.onlyDeployment()
		second, _ := w.approvedHotfix("hotfix/second")
		id := w.comment(w.in.Rob, second, "/promote")
		w.reply(second, id, "/promote refused: production lock", "a promotion is in progress", "held by @rob", "#"+itoa(int64(first)))
		if len(w.botDeployments()) != 1 {
			t.Error("a second deployment while the lock was held")
		}
	})
}

// nothingDeployed asserts a refused command changed nothing: no
// deployment, no lock, a 👎.
func (w *world) nothingDeployed(n int, id int64) {
	w.t.Helper()
	if ds := w.botDeployments(); len(ds) != 0 {
		w.t.Errorf("%d deployments after a refusal", len(ds))
	}
	if sha := w.in.Repo.Ref("refs/hotfix-bot/production-lock"); sha != "" {
		if lock := w.in.Repo.CommitMessage(sha); strings.Contains(lock, `"state":"held"`) {
			w.t.Errorf("the production lock is held after a refusal: %s", lock)
		}
	}
	if got := w.reactions(n, id); len(got) == 0 || got[len(got)-1] != "-1" {
		w.t.Errorf("reactions = %v, want a 👎 last", got)
	}
	w.noHandlerErrors()
}

func TestPromoteIgnoresEditsAndBots(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, _ := w.approvedHotfix("hotfix/edited")
	id := w.comment(in.Rob, n, "LGTM")
	w.h.Sim.ResetCalls()
	noErr(t, r.EditComment(in.Rob, id, "LGTM\n/promote"))
	w.settle()
	must[int64](t)(r.Comment(w.h.App.Bot, n, "/promote")) // the bot's own words
	w.settle()
	renovate := w.h.Sim.Bot("renovate[bot]")
	must[int64](t)(r.Comment(renovate, n, "/promote"))
	w.settle()
	must[int64](t)(r.Comment(in.Rob, n, "Not a command: /promote in the middle\n```\n/promote\n```\n/deploy please"))
	w.settle()
	if calls := w.h.Sim.Calls(); len(calls) != 0 {
		t.Errorf("%d API calls for an edit, bots' comments and no command line: %+v", len(calls), calls)
	}
	if len(w.botDeployments()) != 0 {
		t.Error("deployed from an edited comment or a bot")
	}
}

func TestPromoteDryRun(t *testing.T) {
	w := start(t, harness.Options{})
	n, head := w.approvedHotfix("hotfix/dry")
	id := w.comment(w.in.Ivan, n, "/promote --dry-run")
	w.reply(n, id, "Dry run: /promote would deploy `"+policy.Short(head)+"` now. Nothing was changed.", "hotfix-bot/approval", "| production lock | ✅ | free |", "v1.4.3")
	if len(w.botDeployments()) != 0 || w.in.Repo.Ref("refs/hotfix-bot/production-lock") != "" {
		t.Error("a dry run changed something")
	}
	w.noHandlerErrors()
}

func TestPromoteEmergency(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{
		".github/hotfix-bot.yml": "commands:\n  emergency:\n    users: [rob]\n    teams: [sre]\n",
	}))
	w.h.Sim.AddTeamMember("acme", "sre", "dora")
	w.settle()
	head := w.hotfixFromProduction("hotfix/burning")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/burning", "main", "Stop the bleeding"))
	w.settle()

	noReason := w.comment(in.Rob, n, "/promote --emergency")
	t.Run("no reason", func(t *testing.T) {
		w.reply(n, noReason, "Usage: `/promote [--dry-run | --emergency REASON]`", "an emergency promotion needs a reason")
	})
	t.Run("not on the list", func(t *testing.T) {
		id := w.comment(in.Dana, n, "/promote --emergency checkout is down")
		w.reply(n, id, "/promote refused: emergency permission", "only the people in `commands.emergency` may", "`@rob`, `team sre`")
	})
	if len(w.botDeployments()) != 0 {
		t.Fatal("deployed on a refused emergency")
	}
	id := w.comment(in.Rob, n, "/promote --emergency checkout is down for every EU customer <!-- hotfix-bot:reply:1:1 -->")
	reply := w.reply(n, id, "Promoting #", "Emergency promotion: approvals and required checks were skipped, recorded in #")
	d, p := w.onlyDeployment()
	if d.SHA != head || !p.Emergency || p.AuditIssue == 0 {
		t.Errorf("deployment %+v payload %+v", d, p)
	}
	audit, ok := r.PR(p.AuditIssue)
	if !ok || !strings.Contains(audit.Title, "Emergency promotion of #") || !strings.Contains(audit.Body, "@rob") ||
		!strings.Contains(audit.Body, "checkout is down for every EU customer") || !strings.Contains(audit.Body, "hotfix-bot/approval") ||
		!strings.Contains(audit.Body, head) {
		t.Errorf("audit issue = %+v", audit)
	}
	if strings.Contains(audit.Body, "<!-- hotfix-bot:reply:1:1 -->") || strings.Contains(reply.Body, "<!-- hotfix-bot:reply:1:1 -->") {
		t.Error("a marker typed in the reason came through into the bot's writing")
	}
	// A team member may too (on another pull request: the lock is held).
	w.report(d.ID, "success")
	head2 := w.hotfixFromProduction2("hotfix/burning-2")
	n2 := must[int](t)(r.OpenPR(in.Dana, "hotfix/burning-2", "main", "Again"))
	w.settle()
	id2 := w.comment(in.Dora, n2, "/promote --emergency the fix was incomplete")
	w.reply(n2, id2, "Promoting #")
	if ds := w.botDeployments(); ds[len(ds)-1].SHA != head2 {
		t.Errorf("the team member's emergency did not deploy %s", policy.Short(head2))
	}
}

// hotfixFromProduction2 is a second fix, cut from what production runs now.
func (w *world) hotfixFromProduction2(branch string) string {
	w.t.Helper()
	r, dana := w.in.Repo, w.in.Dana
	must[string](w.t)(r.CreateBranch(dana, branch, "v1.4.3"))
	return must[string](w.t)(r.Push(dana, branch, "Also retry once", ghsim.Files{"payments/retry.go": "package payments\n"}))
}

func TestTwoReplicasOneComment(t *testing.T) {
	w := start(t, harness.Options{Replicas: 2})
	w.h.Sim.SetDuplicateDelivery(w.h.App, true)
	n, _ := w.approvedHotfix("hotfix/twice")
	id := w.comment(w.in.Rob, n, "/promote")
	w.onlyDeployment()
	w.reply(n, id, "Promoting #")
	w.noHandlerErrors()
}

func TestTwoReviewersAtOnce(t *testing.T) {
	w := start(t, harness.Options{Replicas: 2})
	r, in := w.in.Repo, w.in
	n, _ := w.approvedHotfix("hotfix/race")
	robs := must[int64](t)(r.Comment(in.Rob, n, "/promote"))
	doras := must[int64](t)(r.Comment(in.Dora, n, "/promote"))
	w.settle() // both delivered in one batch, one to each replica
	w.onlyDeployment()
	replies := append(w.replies(n, robs), w.replies(n, doras)...)
	promoted, refused := 0, 0
	for _, c := range replies {
		switch {
		case strings.Contains(c.Body, "Promoting #"):
			promoted++
		case strings.Contains(c.Body, "a promotion is in progress"):
			refused++
		}
	}
	if promoted != 1 || refused != 1 || len(replies) != 2 {
		t.Errorf("%d promoted, %d refused, %d replies; want one of each", promoted, refused, len(replies))
	}
	w.noHandlerErrors()
}

func TestRedeliveredPromote(t *testing.T) {
	w := start(t, harness.Options{})
	n, _ := w.approvedHotfix("hotfix/again")
	id := w.comment(w.in.Rob, n, "/promote")
	var delivery string
	for _, d := range w.h.Sim.Deliveries() {
		if d.Event == "issue_comment" && strings.Contains(string(d.Payload), `"id":`+itoa(id)) {
			delivery = d.ID
		}
	}
	for i := 0; i < 2; i++ {
		noErr(t, w.h.Sim.Redeliver(w.ctx, delivery))
		w.settle()
	}
	w.onlyDeployment()
	w.reply(n, id, "Promoting #")
	w.noHandlerErrors()
}
