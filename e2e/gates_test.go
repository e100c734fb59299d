package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/handlers"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

func TestHotfixCutFromDevelopFails(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/wrong-base", "develop"))
	head := must[string](t)(r.Push(in.Dana, "hotfix/wrong-base", "Raise the payment timeout", ghsim.Files{"payments/timeout.go": "const Timeout = 60\n"}))
	w.settle()
	// develop contains v1.4.2, so a naive merge-base check would pass.
	cr := w.expect(head, policy.CheckBase, policy.Failure,
		"Carries 3 unreleased commits", "3 commits from `develop` that production does not have",
		"Add the new checkout flow", "Drop the legacy card API", "Add loyalty points",
		"git rebase --onto v1.4.2 "+in.Unreleased[2]+" hotfix/wrong-base")
	if strings.Contains(cr.Summary, "behind production") {
		t.Error("a branch of develop, which contains production, is not behind it")
	}
	// The loyalty migration came along from develop: a schema change too.
	w.expect(head, policy.CheckSchema, policy.ActionRequired, "db/migrations/002_loyalty.sql")
	w.noHandlerErrors()
}

func TestHotfixCutFromOldTagFails(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/old", "v1.4.1"))
	head := must[string](t)(r.Push(in.Dana, "hotfix/old", "Raise the payment timeout", ghsim.Files{"payments/timeout.go": "const Timeout = 60\n"}))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Failure,
		"1 commit behind v1.4.2", "(v1.4.1)", "git rebase --onto v1.4.2 "+in.V141+" hotfix/old")
}

func TestSchemaChangeWithManyFiles(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/reindex", "v1.4.2"))
	files := ghsim.Files{}
	for i := 0; i < 310; i++ {
		files[fmt.Sprintf("services/s%03d/handler.go", i)] = "package s\n"
	}
	files["db/migrations/003_index.sql"] = "create index concurrently i on charges(id);\n"
	head := must[string](t)(r.Push(in.Dana, "hotfix/reindex", "Reindex charges", files))
	w.settle()
	// Compare lists only 300 files; the migration sorts after them. Without
	// a pull request the bot lists every commit's files.
	w.expect(head, policy.CheckSchema, policy.ActionRequired, "db/migrations/003_index.sql")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/reindex", "main", "Reindex charges"))
	w.settle()
	cr := w.expect(head, policy.CheckSchema, policy.ActionRequired, "1 changed file matches `schema.paths`", "`schema-approved`")
	if len(cr.Annotations) != 1 || cr.Annotations[0].Path != "db/migrations/003_index.sql" {
		t.Errorf("annotations = %+v", cr.Annotations)
	}
	if got := r.Labels(n); strings.Join(got, ",") != "hotfix,schema-change" {
		t.Errorf("labels = %v, want hotfix,schema-change", got)
	}
	// The approval gate now also wants the schema label.
	w.expect(head, policy.CheckApproval, policy.Failure, "`hotfix-approved` and `schema-approved`")

	noErr(t, r.AddLabel(in.Dora, n, "schema-approved"))
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckSchema, policy.Success, "Schema change approved", "`schema-approved` by @dora")
	w.expect(head, policy.CheckApproval, policy.Success)
	w.onePerName(head)
	w.noHandlerErrors()
}

func TestAnnotationsInBatches(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/migrations", "v1.4.2"))
	files := ghsim.Files{}
	for i := 0; i < 120; i++ {
		files[fmt.Sprintf("db/migrations/1%03d_fix.sql", i)] = "select 1;\n"
	}
	head := must[string](t)(r.Push(in.Dana, "hotfix/migrations", "Many migrations", files))
	w.settle()
	cr := w.expect(head, policy.CheckSchema, policy.ActionRequired, "120 changed files match", "… and 20 more")
	if len(cr.Annotations) != 120 {
		t.Errorf("annotations = %d, want 120 (in batches of 50)", len(cr.Annotations))
	}
	// Re-running must not append the annotations a second time.
	noErr(t, r.RerequestCheckRun(in.Dana, cr.ID))
	w.settle()
	if cr := w.check(head, policy.CheckSchema); len(cr.Annotations) != 120 {
		t.Errorf("after a re-run: %d annotations", len(cr.Annotations))
	}
}

func TestApprovalsThatDoNotCount(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	head := w.hotfixFromProduction("hotfix/approvals")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/approvals", "main", "Fix"))
	w.settle()

	// The author approving their own hotfix.
	noErr(t, r.AddLabel(in.Dana, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "added by @dana, who opened the pull request, created the branch, pushed `"+policy.Short(head)+"`", "an author of this change; someone who wrote none of it must approve")

	// A read-only user.
	noErr(t, r.RemoveLabel(in.Dana, n, "hotfix-approved"))
	noErr(t, r.AddLabel(in.Ivan, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "added by @ivan, whose permission is read; approval needs write or more")

	// A valid approval, then a push: it no longer counts and is removed.
	noErr(t, r.RemoveLabel(in.Ivan, n, "hotfix-approved"))
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Success)
	newHead := must[string](t)(r.Push(in.Dana, "hotfix/approvals", "Also log the timeout", ghsim.Files{"payments/log.go": "package payments\n"}))
	w.settle()
	w.expect(newHead, policy.CheckApproval, policy.Failure, "missing")
	if got := r.Labels(n); strings.Join(got, ",") != "hotfix" {
		t.Errorf("labels after the push = %v, want the approval removed", got)
	}
	var reset []string
	for _, c := range r.Comments(n) {
		if strings.Contains(c.Body, "Approvals reset") {
			reset = append(reset, c.Body)
		}
	}
	if len(reset) != 1 || !strings.Contains(reset[0], "`hotfix-approved` (added by @rob") || !strings.Contains(reset[0], "**Next:**") {
		t.Errorf("reset comments = %q", reset)
	}
	// The old head keeps its own (now irrelevant) checks; the new head's
	// base and schema are green.
	w.expect(newHead, policy.CheckBase, policy.Success)
	_ = head
	w.noHandlerErrors()
}

func TestApprovalOfOtherCodeNeverCounts(t *testing.T) {
	// The bot never hears of the push (its synchronize event is lost), so
	// reset_on_push cannot remove the old approval; the gate still refuses
	// it: by the branch's push history it was given on other code.
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	old := w.hotfixFromProduction("hotfix/early")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/early", "main", "Fix"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	newHead := must[string](t)(r.Push(in.Dana, "hotfix/early", "More", ghsim.Files{"x.go": "package x\n"}))
	w.h.Sim.DiscardPending() // the push and synchronize deliveries are lost
	// A later approval event makes the bot look at the new head.
	noErr(t, r.AddLabel(in.Dora, n, "schema-approved"))
	w.settle()
	w.expect(newHead, policy.CheckApproval, policy.Failure, "added by @rob at", "on `"+policy.Short(old)+"`, whose content differs from the head `"+policy.Short(newHead)+"`")
	if got := r.Labels(n); !strings.Contains(strings.Join(got, ","), "hotfix-approved") {
		t.Errorf("a labeled event must not remove approvals (only a push does): %v", got)
	}
}

func TestForkPullRequestFails(t *testing.T) {
	w := start(t, harness.Options{})
	r := w.in.Repo
	fork := w.h.Sim.Fork(r, "mallory")
	mallory := w.h.Sim.User("mallory")
	head := must[string](t)(fork.Push(mallory, "hotfix/evil", "Totally a fix", ghsim.Files{"payments/charge.go": "steal()\n"}))
	n := must[int](t)(r.OpenPR(mallory, "mallory:hotfix/evil", "main", "Fix"))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Failure, "hotfix PRs must come from a branch of this repository", "mallory/payments")
	for _, name := range []string{policy.CheckSchema, policy.CheckApproval} {
		if _, ok := r.CheckRun(head, name); ok {
			t.Errorf("a fork PR got %s", name)
		}
	}
	if got := r.Labels(n); len(got) != 0 {
		t.Errorf("a fork PR was labelled %v", got)
	}
	w.noHandlerErrors()
}

func TestBadlySignedWebhookIsIgnored(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/forged", "develop"))
	head := must[string](t)(r.Push(in.Dana, "hotfix/forged", "x", ghsim.Files{"x": "1"}))
	w.h.Sim.DiscardPending()
	payload := []byte(fmt.Sprintf(`{"ref":"refs/heads/hotfix/forged","after":%q,"repository":{"name":"payments","owner":{"login":"acme"},"default_branch":"main"},"installation":{"id":%d},"sender":{"login":"mallory","type":"User"}}`, head, in.Inst.ID))
	w.h.Sim.ResetCalls()
	for _, sig := range []string{"sha256=0000", "", w.h.App.Signature256([]byte("something else"))} {
		codes, err := w.h.Sim.DeliverRaw(w.ctx, w.h.App, "push", payload, sig)
		if err != nil {
			t.Fatal(err)
		}
		if codes[0] != http.StatusBadRequest {
			t.Errorf("signature %q: status %d, want 400", sig, codes[0])
		}
	}
	w.settle()
	if runs := w.botRuns(head); len(runs) != 0 {
		t.Errorf("a forged push produced check runs: %v", runs)
	}
	if calls := w.h.Sim.Calls(); len(calls) != 0 {
		t.Errorf("a forged push made %d API calls", len(calls))
	}
	// A correctly signed one is handled.
	codes, err := w.h.Sim.DeliverRaw(w.ctx, w.h.App, "push", payload, w.h.App.Signature256(payload))
	if err != nil || codes[0] != http.StatusOK {
		t.Fatalf("signed delivery: %v %v", codes, err)
	}
	w.settle()
	w.expect(head, policy.CheckBase, policy.Failure)
}

func TestBrokenPolicyFailsEveryCheck(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{
		".github/hotfix-bot.yml": "approval:\n  labels: [hotfix-approved]\n  permission: superuser\n",
	}))
	head := w.hotfixFromProduction("hotfix/policy")
	must[int](t)(r.OpenPR(in.Dana, "hotfix/policy", "main", "Fix"))
	w.settle()
	for _, name := range []string{policy.CheckBase, policy.CheckSchema, policy.CheckApproval} {
		w.expect(head, name, policy.Failure, "The hotfix-bot policy file is invalid",
			"acme/payments@"+r.Branch("main")+":.github/hotfix-bot.yml", `line 3: approval.permission: "superuser" is not a permission`, "hotfix-bot validate", "Fix the file on `main`")
	}
	// Fixing the file on the production branch takes effect on the next push.
	must[string](t)(r.Push(in.Rob, "main", "Fix the policy", ghsim.Files{".github/hotfix-bot.yml": "approval:\n  permission: maintain\n"}))
	w.settle()
	newHead := must[string](t)(r.Push(in.Dana, "hotfix/policy", "More", ghsim.Files{"y.go": "package y\n"}))
	w.settle()
	w.expect(newHead, policy.CheckApproval, policy.Failure, "maintain permission or more")
	w.noHandlerErrors()
}

func TestTransientFailureFailsClosedThenRerunCompletes(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	// The compare fails on every try (the retries included).
	fault := &ghsim.Fault{Op: "repos/compare-commits-with-basehead", Status: http.StatusBadGateway}
	w.h.Sim.Inject(fault)
	head := w.hotfixFromProduction("hotfix/flaky")
	w.settle()
	if n, _ := w.h.HandlerErrors(); n == 0 {
		t.Error("the GitHub failure was swallowed instead of returned")
	}
	// The gates could not establish their facts: they fail and say which
	// fact and what to do, never pass and never stay silent.
	w.expect(head, policy.CheckBase, policy.Failure, "Cannot check where the hotfix starts", "GitHub did not answer in time or failed", "502", "re-run this check")
	w.expect(head, policy.CheckSchema, policy.Failure, "Cannot list the changed files", "502")
	if hits := w.h.Sim.Hits(fault); hits < 4 {
		t.Errorf("compare answered %d times, want at least 4 (3 retries)", hits)
	}
	w.h.Sim.ClearFaults()
	noErr(t, r.RerequestCheckRun(in.Dana, w.check(head, policy.CheckBase).ID))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success)
	w.expect(head, policy.CheckSchema, policy.Success)
	w.onePerName(head)
}

// "Re-run all checks" on the bot's checks of a hotfix pull request
// (check_suite rerequested) evaluates every gate of its head again, once:
// the way to complete all the checks a GitHub failure left failed.
func TestRerunAllChecksEvaluatesTheGatesAgain(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	fault := &ghsim.Fault{Op: "repos/compare-commits-with-basehead", Status: http.StatusBadGateway}
	w.h.Sim.Inject(fault)
	head := w.hotfixFromProduction("hotfix/rerun-all")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/rerun-all", "main", "Fix"))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Failure, "Cannot check where the hotfix starts", "502")
	w.expect(head, policy.CheckSchema, policy.Failure, "502")
	w.h.Sim.ClearFaults()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	failed, _ := w.h.HandlerErrors() // the evaluations the fault failed
	suite := w.check(head, policy.CheckBase).SuiteID
	noErr(t, r.RerequestCheckSuite(in.Dana, suite))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success)
	w.expect(head, policy.CheckSchema, policy.Success)
	w.expect(head, policy.CheckApproval, policy.Success)
	w.onePerName(head)
	if n, err := w.h.HandlerErrors(); n != failed {
		t.Errorf("the re-run failed: %v", err)
	}
}

// "Re-run" and "Re-run all checks" on an older commit of a hotfix branch
// change nothing, not even a check GitHub's failure left failed there:
// the branch's head has its own checks.
func TestRerunOnAnOlderCommitChangesNothing(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	w.h.Sim.Inject(&ghsim.Fault{Op: "repos/compare-commits-with-basehead", Status: http.StatusBadGateway})
	old := w.hotfixFromProduction("hotfix/moved-on")
	w.settle()
	w.expect(old, policy.CheckBase, policy.Failure, "502")
	w.h.Sim.ClearFaults()
	failed, _ := w.h.HandlerErrors()
	head := must[string](t)(r.Push(in.Dana, "hotfix/moved-on", "More", ghsim.Files{"more.go": "package p\n"}))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success)
	mark := len(w.h.Sim.Calls())
	cr := w.check(old, policy.CheckBase)
	noErr(t, r.RerequestCheckRun(in.Dana, cr.ID))
	noErr(t, r.RerequestCheckSuite(in.Dana, cr.SuiteID))
	w.settle()
	for _, c := range w.h.Sim.Calls()[mark:] {
		if c.Write {
			t.Errorf("a re-run on an older commit wrote %s %s", c.Method, c.Path)
		}
	}
	if n, err := w.h.HandlerErrors(); n != failed {
		t.Errorf("a re-run failed: %v", err)
	}
}

func TestSecondaryRateLimitIsWaitedOut(t *testing.T) {
	// 429 with Retry-After, GitHub's other way of saying it (403 with
	// Retry-After is every fault-matrix step's "secondary rate limit").
	w := start(t, harness.Options{})
	fault := &ghsim.Fault{Op: "repos/list-deployments", Times: 1, Status: http.StatusTooManyRequests, RetryAfter: 10 * time.Second}
	w.h.Sim.Inject(fault)
	before := w.h.Sim.Clock().Now()
	head := w.hotfixFromProduction("hotfix/limited")
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success)
	w.expect(head, policy.CheckSchema, policy.Success)
	if w.h.Sim.Hits(fault) != 1 {
		t.Error("the rate limit was never hit")
	}
	if waited := w.h.Sim.Clock().Now().Sub(before); waited < 10*time.Second {
		t.Errorf("simulated time moved %s; the bot did not wait out Retry-After", waited)
	}
	w.onePerName(head)
	w.noHandlerErrors()
}

// Two replicas handling the same delivery at the same moment: GitHub has
// no conditional create for check runs, so each may create one; the
// older is then closed as superseded (README "Decisions"). What people
// rely on must hold: one run of every name counts and it is right, and
// nothing is said or done twice.
func TestDuplicateDeliveryToTwoReplicas(t *testing.T) {
	w := start(t, harness.Options{Replicas: 2})
	w.h.Sim.SetDuplicateDelivery(w.h.App, true)
	r, in := w.in.Repo, w.in
	w.hotfixFromProduction("hotfix/twice")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/twice", "main", "Fix"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	head := must[string](t)(r.Push(in.Dana, "hotfix/twice", "Also log it", ghsim.Files{"log.go": "package p\n"}))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success)
	w.expect(head, policy.CheckSchema, policy.Success)
	w.expect(head, policy.CheckApproval, policy.Failure, "missing")
	w.onePerName(head) // a duplicate run is closed as superseded
	if got := r.Labels(n); strings.Join(got, ",") != "hotfix" {
		t.Errorf("labels = %v, want the approval reset once", got)
	}
	resets := 0
	for _, c := range r.Comments(n) {
		if strings.Contains(c.Body, "Approvals reset") {
			resets++
		}
	}
	if resets != 1 {
		t.Errorf("%d reset comments from two replicas, want exactly 1", resets)
	}
	w.noHandlerErrors()
}

func TestProductionMovingRechecksOpenHotfixes(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	head := w.hotfixFromProduction("hotfix/stale")
	must[int](t)(r.OpenPR(in.Dana, "hotfix/stale", "main", "Fix"))
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success)

	// Another hotfix ships: v1.4.3 goes to production.
	other := w.hotfixFromProduction("hotfix/other")
	must[string](t)(r.Tag(in.Rob, "v1.4.3", other))
	must[int64](t)(r.SeedDeployment(in.CD, "v1.4.3", "production", "success"))
	w.settle()
	// The deployments feature calls this on a successful deployment_status.
	g := handlers.NewBot(w.h.Bots[0].Deps())
	if err := g.RecheckOpenHotfixPRs(w.ctx, in.Inst.ID, "acme", "payments", "main"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	w.expect(head, policy.CheckBase, policy.Failure, "1 commit behind v1.4.3", "git rebase --onto v1.4.3")
}

func TestEventsThatCannotMatterCostNothing(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	// Warm the policy cache with one hotfix push.
	w.hotfixFromProduction("hotfix/warm")
	w.settle()

	w.h.Sim.ResetCalls()
	must[string](t)(r.Push(in.Dana, "feature/search", "Search", ghsim.Files{"search.go": "package s\n"}))
	must[string](t)(r.Tag(in.Rob, "v9.9.9-test", "main"))
	noErr(t, r.DeleteBranch(in.Dana, "feature/search"))
	if n, err := w.h.Settle(w.ctx); err != nil || n != 3 {
		t.Fatalf("delivered %d (%v), want 3", n, err)
	}
	if calls := w.h.Sim.Calls(); len(calls) != 0 {
		t.Errorf("%d API calls for a feature push, a tag push and a deletion: %+v", len(calls), calls)
	}
	w.noHandlerErrors()
}

func TestNoProductionYetExplainsBootstrap(t *testing.T) {
	parallel(t)
	h, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	repo := must[*ghsim.Repo](t)(h.Sim.CreateRepo("acme", "greenfield"))
	dev := h.Sim.User("dev")
	repo.SetRole("dev", "write")
	must[string](t)(repo.Push(dev, "main", "init", ghsim.Files{"a.go": "package a\n"}))
	h.Sim.Install(h.App, repo)
	must[string](t)(repo.CreateBranch(dev, "hotfix/first", "main"))
	head := must[string](t)(repo.Push(dev, "hotfix/first", "fix", ghsim.Files{"b.go": "package a\n"}))
	ctx := t.Context()
	if _, err := h.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	cr, ok := repo.CheckRun(head, policy.CheckBase)
	if !ok || cr.Conclusion != policy.Failure || !strings.Contains(cr.Summary, "no successful deployment to the production environment and no release tag") {
		t.Fatalf("base = %+v", cr)
	}
	for _, v := range h.Violations() {
		t.Errorf("GitHub would reject: %s", v)
	}
}
