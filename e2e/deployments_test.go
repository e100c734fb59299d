package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

func TestSyncSkipsATargetThatHasTheFix(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	// While it deploys, someone merges the fix into develop by hand.
	must[string](t)(r.MergeBranches(in.Dana, "develop", head, "Merge the timeout fix early"))
	w.settle()
	w.report(d.ID, "success")
	if prs := w.pullsInto("develop", "hotfix-bot/sync/"); len(prs) != 0 {
		t.Errorf("a sync PR into develop, which has the fix: %+v", prs)
	}
	summary := w.botComments(n, "hotfix-bot:deployed:")
	if len(summary) != 1 || !strings.Contains(summary[0].Body, "already contains v1.4.3") {
		t.Errorf("summary = %v", summary)
	}
}

func TestResolvingASyncConflictTurnsItsCheckGreen(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	w.released("hotfix/payment-timeout")
	sync := w.pullsInto("release/1.5", "hotfix-bot/sync/")
	if len(sync) != 1 {
		t.Fatalf("%d sync PRs into release/1.5", len(sync))
	}
	branch := sync[0].PR.HeadRef
	// Dana merges release/1.5 into the sync branch and resolves the
	// conflict (the merge keeps release/1.5's version; she then sets 60).
	must[string](t)(r.MergeBranchesResolving(in.Dana, branch, "release/1.5", "Merge release/1.5", ghsim.Files{
		"payments/timeout.go": "package payments\n\nconst Timeout = 60 // seconds\n",
	}))
	w.settle()
	newHead := r.Branch(branch)
	w.expect(newHead, policy.CheckSync, policy.Success, "Conflicts resolved")
	if got := r.Labels(sync[0].Number); strings.Contains(strings.Join(got, ","), "sync-conflict") {
		t.Errorf("labels after the resolution = %v", got)
	}
	// Markers left in: the check says so.
	must[string](t)(r.Push(in.Dana, branch, "Oops", ghsim.Files{"payments/timeout.go": "<<<<<<< HEAD\nconst Timeout = 60\n=======\nconst Timeout = 45\n>>>>>>> release/1.5\n"}))
	w.settle()
	w.expect(r.Branch(branch), policy.CheckSync, policy.Failure, "Conflict markers left in", "payments/timeout.go")
	w.noHandlerErrors()
}

func TestStagedPromotion(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{
		".github/hotfix-bot.yml": "promote:\n  environments: [staging, production]\n",
	}))
	w.settle()
	n, head := w.approvedHotfix("hotfix/staged")
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "to `staging` created", "| 1 | `staging` |", "| 2 | **`production`** |")
	d, p := w.onlyDeployment()
	if d.Environment != "staging" || d.Production || strings.Join(p.Chain, ",") != "staging,production" || p.ChainIndex != 0 {
		t.Fatalf("first deployment %+v payload %+v", d, p)
	}
	w.report(d.ID, "success")
	ds := w.botDeployments()
	if len(ds) != 2 || ds[1].Environment != "production" || ds[1].SHA != head || !ds[1].Production || payloadOf(t, ds[1]).ChainIndex != 1 {
		t.Fatalf("after staging: %+v", ds)
	}
	if r.TagCommit("v1.4.3") != "" {
		t.Error("tagged after staging only")
	}
	plan := w.reply(n, id)
	if !strings.Contains(plan.Body, "✅ succeeded") || !strings.Contains(plan.Body, "⏳ waiting") {
		t.Errorf("plan not updated in place:\n%s", plan.Body)
	}
	w.report(ds[1].ID, "success")
	if r.TagCommit("v1.4.3") != head {
		t.Error("not tagged after production")
	}
	if len(w.replies(n, id)) != 1 {
		t.Error("the plan was posted twice instead of edited")
	}
	w.noHandlerErrors()
}

func TestStagingFailureStopsTheChain(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{
		".github/hotfix-bot.yml": "promote:\n  environments: [staging, production]\n",
	}))
	w.settle()
	n, _ := w.approvedHotfix("hotfix/staged")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "failure")
	if ds := w.botDeployments(); len(ds) != 1 {
		t.Errorf("%d deployments after a staging failure: no production step, no rollback", len(ds))
	}
	failed := w.botComments(n, "hotfix-bot:failed:")
	if len(failed) != 1 || !strings.Contains(failed[0].Body, "The chain stopped: production was not touched") || !strings.Contains(failed[0].Body, "https://ci.example.com/runs/") {
		t.Errorf("failure reply = %v", failed)
	}
	// The lock is free: the fix can be promoted again.
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "Promoting #")
	w.noHandlerErrors()
}

func TestFailureRollsBackAndOpensAnIncident(t *testing.T) {
	w := start(t, harness.Options{})
	in := w.in
	n, _ := w.approvedHotfix("hotfix/bad")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "failure")
	ds := w.botDeployments()
	if len(ds) != 2 {
		t.Fatalf("%d deployments, want the failed one and its rollback", len(ds))
	}
	rb := ds[1]
	p := payloadOf(t, rb)
	if rb.Task != policy.TaskRollback || rb.SHA != in.V142 || !p.Automatic || p.FailedDeployment != d.ID {
		t.Fatalf("rollback %+v payload %+v", rb, p)
	}
	failed := w.botComments(n, "hotfix-bot:failed:")
	if len(failed) != 1 || !strings.Contains(failed[0].Body, "Rolling production back to v1.4.2 automatically") {
		t.Errorf("failure reply = %v", failed)
	}
	w.report(rb.ID, "success")
	issues := w.incidentIssues()
	if len(issues) != 1 || !strings.Contains(issues[0].Body, "automatically") || !strings.Contains(issues[0].Body, "deployment "+itoa(d.ID)) {
		t.Fatalf("incident issues = %+v", issues)
	}
	if w.in.Repo.TagCommit("v1.4.3") != "" {
		t.Error("a failed deployment was tagged")
	}
	if pr, _ := w.in.Repo.PR(n); pr.PR.Merged {
		t.Error("a failed deployment was merged")
	}
	w.noHandlerErrors()
}

func TestSecondHotfixSupersedesTheFirstsSyncPRs(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	w.released("hotfix/payment-timeout")
	old := w.pullsInto("develop", "hotfix-bot/sync/v1.4.3-")
	if len(old) != 1 {
		t.Fatalf("%d v1.4.3 sync PRs into develop", len(old))
	}
	head := w.hotfixFromProduction2("hotfix/retry")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/retry", "main", "Retry once"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.comment(in.Rob, n, "/promote")
	ds := w.botDeployments()
	w.report(ds[len(ds)-1].ID, "success")
	if r.TagCommit("v1.4.4") != head {
		t.Fatal("v1.4.4 not released")
	}
	newer := w.pullsInto("develop", "hotfix-bot/sync/v1.4.4-")
	if len(newer) != 1 {
		t.Fatalf("%d v1.4.4 sync PRs into develop", len(newer))
	}
	if got, _ := r.PR(old[0].Number); got.State != "closed" {
		t.Errorf("the untouched v1.4.3 sync PR is %s, want closed as superseded", got.State)
	}
	if c := w.botComments(old[0].Number, "Superseded by #"+itoa(int64(newer[0].Number))); len(c) != 1 {
		t.Errorf("%d superseded comments", len(c))
	}
}

func TestSuccessDeliveredTwiceAndToTwoReplicas(t *testing.T) {
	w := start(t, harness.Options{Replicas: 2})
	w.h.Sim.SetDuplicateDelivery(w.h.App, true)
	r := w.in.Repo
	n, _ := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")
	var delivery string
	for _, dl := range w.h.Sim.Deliveries() {
		if dl.Event == "deployment_status" {
			delivery = dl.ID
		}
	}
	noErr(t, w.h.Sim.Redeliver(w.ctx, delivery))
	w.settle()
	if len(r.Tags()) != 4 { // v1.4.0, v1.4.1, v1.4.2, v1.4.3
		t.Errorf("tags = %v", r.Tags())
	}
	merges := 0
	for _, e := range r.Events(n) {
		if e.Event == "merged" {
			merges++
		}
	}
	if merges != 1 {
		t.Errorf("%d merges", merges)
	}
	for _, base := range []string{"develop", "release/1.5"} {
		if prs := w.pullsInto(base, "hotfix-bot/sync/"); len(prs) != 1 {
			t.Errorf("%d sync PRs into %s", len(prs), base)
		}
	}
	if got := w.botComments(n, "hotfix-bot:deployed:"); len(got) != 1 {
		t.Errorf("%d summaries", len(got))
	}
	w.noHandlerErrors()
}

func TestReplicaThatDidNotSeeThePromote(t *testing.T) {
	w := start(t, harness.Options{})
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	noErr(t, w.h.Restart()) // a new replica, with nothing in memory
	w.report(d.ID, "success")
	if w.in.Repo.TagCommit("v1.4.3") != head {
		t.Error("the new replica did not finish the story")
	}
	w.noHandlerErrors()
}

func TestReleasePipelineDeploymentRechecksHotfixes(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	head := w.hotfixFromProduction("hotfix/open")
	must[int](t)(r.OpenPR(in.Dana, "hotfix/open", "main", "Fix"))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success)
	// The normal release pipeline ships 1.5.
	must[string](t)(r.MergeBranches(in.Rob, "main", "release/1.5", "Release 1.5"))
	must[string](t)(r.Tag(in.Rob, "v1.5.0", "main"))
	w.settle()
	id := must[int64](t)(r.Deploy(in.CD, "v1.5.0", "production"))
	w.report(id, "success")
	w.expect(head, policy.CheckBase, policy.Failure, "behind v1.5.0")
	if len(w.botDeployments()) != 0 || r.TagCommit("v1.4.3") != "" {
		t.Error("the bot acted on a deployment it did not create")
	}
	w.noHandlerErrors()
}

func TestStaleLockIsTakenOver(t *testing.T) {
	w := start(t, harness.Options{})
	first, _ := w.approvedHotfix("hotfix/abandoned")
	w.comment(w.in.Rob, first, "/promote")
	d, _ := w.onlyDeployment()
	// A production deployment still waiting (for the environment's
	// required reviewers, for a CD system that has not picked it up) keeps
	// its lock however old.
	w.h.Sim.Clock().Advance(61 * time.Minute)
	second, _ := w.approvedHotfix2("hotfix/urgent")
	id := w.comment(w.in.Rob, second, "/promote")
	w.reply(second, id, "/promote refused: production lock", "no status yet")
	// CD reports the end, but the delivery is lost: the lock, an hour old
	// and waiting for nothing, is stale.
	noErr(t, w.in.Repo.SetDeploymentStatus(w.in.CD, d.ID, "failure", "deploy failed"))
	w.h.Sim.DiscardPending()
	w.h.Sim.Clock().Advance(61 * time.Minute)
	id = w.comment(w.in.Rob, second, "/promote")
	w.reply(second, id, "The production lock was stale", "took it over", "Promoting #")
	if len(w.botDeployments()) != 2 {
		t.Error("the stale lock was not taken over")
	}
}

// approvedHotfix2 is a second approved hotfix from production v1.4.2.
func (w *world) approvedHotfix2(branch string) (int, string) {
	w.t.Helper()
	r, in := w.in.Repo, w.in
	must[string](w.t)(r.CreateBranch(in.Dana, branch, "v1.4.2"))
	head := must[string](w.t)(r.Push(in.Dana, branch, "Another fix", ghsim.Files{"payments/other.go": "package payments\n"}))
	n := must[int](w.t)(r.OpenPR(in.Dana, branch, "main", "Another fix"))
	w.settle()
	noErr(w.t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	return n, head
}

func TestTagTakenMeanwhileStopsTheStory(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	// While it deploys, someone tags another commit v1.4.3 by hand.
	must[string](t)(r.Tag(in.Rob, "v1.4.3", "develop"))
	w.settle()
	w.report(d.ID, "success")
	summary := w.botComments(n, "hotfix-bot:deployed:")
	if len(summary) != 1 || !strings.Contains(summary[0].Body, "but the bot stopped") || !strings.Contains(summary[0].Body, "v1.4.3 exists already") {
		t.Fatalf("summary = %+v", summary)
	}
	if pr, _ := r.PR(n); pr.PR.Merged {
		t.Error("merged although the tag was taken")
	}
	if len(w.pullsInto("develop", "hotfix-bot/sync/")) != 0 {
		t.Error("synced although the tag was taken")
	}
	if r.TagCommit("v1.4.3") == head {
		t.Error("the hand-made tag was moved")
	}
	// The lock is free for the person who sorts it out.
	if lock := r.CommitMessage(r.Ref("refs/hotfix-bot/production-lock")); strings.Contains(lock, `"state":"held"`) {
		t.Errorf("lock still held: %s", lock)
	}
}

func TestMovingTagFollowsProduction(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{".github/hotfix-bot.yml": "production:\n  moving_tag: production\n"}))
	w.settle()
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")
	if got := r.TagCommit("production"); got != head {
		t.Errorf("production tag at %q after the hotfix, want %s", policy.Short(got), policy.Short(head))
	}
	w.comment(in.Rob, n, "/rollback")
	ds := w.botDeployments()
	w.report(ds[len(ds)-1].ID, "success")
	if got := r.TagCommit("production"); got != in.V142 {
		t.Errorf("production tag at %q after the rollback, want v1.4.2", policy.Short(got))
	}
	// The release pipeline's own deployment moves it too.
	id := must[int64](t)(r.Deploy(in.CD, "v1.4.3", "production"))
	w.report(id, "success")
	if got := r.TagCommit("production"); got != head {
		t.Errorf("production tag at %q after the pipeline's deployment", policy.Short(got))
	}
}

func TestHeadMovedBeforeSuccessIsNotMerged(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	must[string](t)(r.Push(in.Dana, "hotfix/payment-timeout", "Sneaky extra", ghsim.Files{"extra.go": "package x\n"}))
	w.settle()
	w.report(d.ID, "success")
	if pr, _ := r.PR(n); pr.PR.Merged {
		t.Fatal("merged a head that was never deployed")
	}
	if r.TagCommit("v1.4.3") != head {
		t.Error("the deployed commit was not tagged")
	}
	summary := w.botComments(n, "hotfix-bot:deployed:")
	if len(summary) != 1 || !strings.Contains(summary[0].Body, "not merged: the head of #") {
		t.Errorf("summary = %v", summary)
	}
}

func TestSyncBackLeavesTargetsAloneAndCopiesReviewers(t *testing.T) {
	w := start(t, harness.Options{})
	r := w.in.Repo
	develop, release := r.Branch("develop"), r.Branch("release/1.5")
	n := w.released("hotfix/payment-timeout")
	if r.Branch("develop") != develop || r.Branch("release/1.5") != release {
		t.Error("the bot wrote to develop or a release branch")
	}
	for _, base := range []string{"develop", "release/1.5"} {
		prs := w.pullsInto(base, "hotfix-bot/sync/")
		if len(prs) != 1 {
			t.Fatalf("%d sync PRs into %s", len(prs), base)
		}
		pr := prs[0]
		if pr.Title != "Sync v1.4.3 into "+base || !strings.Contains(pr.Body, "#"+itoa(int64(n))) || !strings.Contains(pr.Body, "merge commit") {
			t.Errorf("sync PR into %s: %q\n%s", base, pr.Title, pr.Body)
		}
		if len(pr.Assignees) != 1 || pr.Assignees[0].Login != "dana" {
			t.Errorf("sync PR into %s assigned to %v, want the hotfix author", base, pr.Assignees)
		}
		reviewers := ""
		for _, u := range pr.PR.Reviewers {
			reviewers += u.Login
		}
		if reviewers != "rob" {
			t.Errorf("sync PR into %s asks %q to review, want rob (who approved the hotfix)", base, reviewers)
		}
		// Its head is the bot's own commit on top of the tag.
		if msg := r.CommitMessage(pr.PR.HeadSHA); !strings.Contains(msg, "hotfix-bot sync commit") {
			t.Errorf("sync head message %q", msg)
		}
	}
	for _, b := range r.Branches() {
		if strings.HasPrefix(b, "hotfix-bot/trial/") {
			t.Errorf("scratch branch %s left behind", b)
		}
	}
}

func TestWorkflowChangesNeedThePermissionTheAppLacks(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/ci", "v1.4.2"))
	must[string](t)(r.Push(in.Dana, "hotfix/ci", "Fix the deploy workflow", ghsim.Files{".github/workflows/deploy.yml": "on: push\n"}))
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/ci", "main", "Fix the deploy workflow"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")
	summary := w.botComments(n, "hotfix-bot:deployed:")
	if len(summary) != 1 || !strings.Contains(summary[0].Body, "`workflows` permission") || !strings.Contains(summary[0].Body, "Merge #"+itoa(int64(n))+" yourself") {
		t.Fatalf("summary = %v", summary)
	}
	if !strings.Contains(summary[0].Body, "could not check it for conflicts") {
		t.Errorf("the sync rows do not say the trial merge was refused:\n%s", summary[0].Body)
	}
	if r.TagCommit("v1.4.3") == "" {
		t.Error("not tagged")
	}
}
