package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Production only changes on purpose: statuses and commands are hints,
// decisions come from GitHub as it is now.

func TestLateFailureAfterANewerReleaseRollsNothingBack(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	first := w.released("hotfix/payment-timeout")
	oldDeployment := w.botDeployments()[0]
	// A second hotfix, from v1.4.3, ships as v1.4.4.
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/refund", "v1.4.3"))
	must[string](t)(r.Push(in.Dana, "hotfix/refund", "Round refunds down", ghsim.Files{"payments/refund.go": "package payments\n\n// Refund rounds down.\nfunc Refund() {}\n"}))
	second := must[int](t)(r.OpenPR(in.Dana, "hotfix/refund", "main", "Round refunds down"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, second, "hotfix-approved"))
	w.settle()
	w.comment(in.Rob, second, "/promote")
	newer := w.botDeployments()[1]
	w.report(newer.ID, "success")
	if r.TagCommit("v1.4.4") != newer.SHA {
		t.Fatal("v1.4.4 was not released")
	}
	// An hour later the first hotfix's CD job is re-run, and fails.
	w.h.Sim.Clock().Advance(time.Hour)
	w.report(oldDeployment.ID, "failure")
	if ds := w.botDeployments(); len(ds) != 2 {
		t.Fatalf("%d deployments: a late failure rolled production back", len(ds))
	}
	if w.lockHeld() {
		t.Error("a late failure took the lock")
	}
	w.oneComment(first, "hotfix-bot:late:", "A late failure on deployment", "production now runs v1.4.4", "nothing was rolled back", "Nothing was changed")
	if len(w.botComments(first, "hotfix-bot:failed:")) != 0 {
		t.Error("the late failure was reported as a failure of production")
	}
	w.noHandlerErrors()
}

func TestAutomaticRollbackNeverCrossesASchemaChange(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/fee", "v1.4.2"))
	head := must[string](t)(r.Push(in.Dana, "hotfix/fee", "Add a fee column", ghsim.Files{
		"db/migrations/002_fee.sql": "alter table charges add column fee bigint;\n",
	}))
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/fee", "main", "Add a fee column"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	noErr(t, r.AddLabel(in.Dora, n, "schema-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Success)
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "failure")
	if ds := w.botDeployments(); len(ds) != 1 {
		t.Fatalf("%d deployments: the automatic rollback crossed a migration", len(ds))
	}
	if w.lockHeld() {
		t.Error("the lock is still held")
	}
	w.oneComment(n, "hotfix-bot:failed:", "Not rolled back automatically", "`db/migrations/002_fee.sql`", "@rob and @dana", "/rollback --force")
	w.noHandlerErrors()
}

func TestCDReportingAtOnceIsNeverDropped(t *testing.T) {
	for _, state := range []string{"failure", "success"} {
		t.Run(state, func(t *testing.T) {
			w := start(t, harness.Options{})
			r, in := w.in.Repo, w.in
			n, head := w.approvedHotfix("hotfix/payment-timeout")
			reported := make(chan error, 1)
			var reportAtOnce func(id int64)
			// The CD system reports within a second, while /promote is
			// still recording the deployment and writing its reply.
			var once sync.Once
			r.OnDeploymentCreated(func(id int64) { once.Do(func() { reportAtOnce(id) }) })
			reportAtOnce = func(id int64) {
				if err := r.SetDeploymentStatusWithLog(in.CD, id, state, "CD "+state, "https://ci.example.com/runs/1"); err != nil {
					reported <- err
					return
				}
				_, err := w.h.Sim.Deliver(w.ctx)
				reported <- err
			}
			id := w.comment(in.Rob, n, "/promote")
			noErr(t, <-reported)
			r.OnDeploymentCreated(nil)
			w.settle()
			w.reply(n, id, "Promoting #")
			switch state {
			case "failure":
				ds := w.botDeployments()
				if len(ds) != 2 || ds[1].Task != "deploy:rollback" || ds[1].SHA != in.V142 {
					t.Fatalf("deployments: %+v", ds)
				}
				if !w.lockHeld() {
					t.Error("the rollback does not hold the lock")
				}
				w.oneComment(n, "hotfix-bot:failed:", "Rolling production back to v1.4.2")
			default:
				if r.TagCommit("v1.4.3") != head {
					t.Error("a success reported at once was not tagged")
				}
				if w.lockHeld() {
					t.Error("the lock is still held")
				}
				w.oneComment(n, "hotfix-bot:deployed:", "is in production as v1.4.3")
			}
			w.noHandlerErrors()
		})
	}
}

func TestLostDeploymentAnswerIsFoundDespiteListingLag(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	r.SetDeploymentListLag(3 * time.Second)
	w.h.Sim.Inject(&ghsim.Fault{Op: "repos/create-deployment", Times: 1, Status: http.StatusBadGateway, AfterEffect: true})
	id := w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	if d.SHA != head {
		t.Errorf("deployed %s, want %s", d.SHA, head)
	}
	w.reply(n, id, "Promoting #")
	if !w.lockHeld() || !strings.Contains(r.CommitMessage(r.Ref("refs/hotfix-bot/production-lock")), `"deployment":`+itoa(d.ID)) {
		t.Error("the lock does not name the deployment whose answer was lost")
	}
	w.noHandlerErrors()
}

func TestStagedChainDecidesAgainBeforeProduction(t *testing.T) {
	t.Run("approval removed during the soak", func(t *testing.T) {
		w := start(t, harness.Options{})
		d, n := w.promoted(stagedPolicy)
		noErr(t, w.in.Repo.RemoveLabel(w.in.Rob, n, "hotfix-approved"))
		w.settle()
		w.report(d, "success")
		if ds := w.botDeployments(); len(ds) != 1 {
			t.Fatalf("%d deployments: production deployed without the approval", len(ds))
		}
		if w.lockHeld() {
			t.Error("the lock is still held")
		}
		w.oneComment(n, "hotfix-bot:stopped:", "The chain stopped before `production`", "hotfix-bot/approval", "/promote` again")
		w.noHandlerErrors()
	})
	t.Run("a release reached production during the soak", func(t *testing.T) {
		w := start(t, harness.Options{})
		d, n := w.promoted(stagedPolicy)
		rel := must[int64](t)(w.in.Repo.Deploy(w.in.CD, "release/1.5", "production"))
		w.settle()
		w.report(rel, "success")
		w.report(d, "success")
		if ds := w.botDeployments(); len(ds) != 1 {
			t.Fatalf("%d deployments: production deployed over a newer release", len(ds))
		}
		w.oneComment(n, "hotfix-bot:stopped:", "production unchanged", "production now runs")
		w.noHandlerErrors()
	})
}

func TestMergeRefusedByBranchProtectionSaysHowToLetTheAppThrough(t *testing.T) {
	w := start(t, harness.Options{})
	r := w.in.Repo
	r.Protect("main", ghsim.Protection{RequiredReviews: 1})
	n := w.released("hotfix/payment-timeout")
	if is, _ := r.PR(n); is.PR.Merged {
		t.Fatal("merged past the branch protection")
	}
	w.oneComment(n, "hotfix-bot:deployed:", "At least 1 approving review is required", "bypass list", "merge #")
	if got := w.pullsInto("develop", "hotfix-bot/sync/"); len(got) != 1 {
		t.Errorf("%d sync PRs into develop: the fix must still be synced back", len(got))
	}

	w2 := start(t, harness.Options{})
	w2.in.Repo.Protect("main", ghsim.Protection{RequiredReviews: 1, Bypass: []string{"hotfix-bot"}})
	n2 := w2.released("hotfix/payment-timeout")
	if is, _ := w2.in.Repo.PR(n2); !is.PR.Merged {
		t.Error("not merged although the app is on the bypass list")
	}
}

func TestLockWrittenByAnotherIsNeverParsed(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, _ := w.approvedHotfix("hotfix/payment-timeout")
	// Someone with write access pushes a "free" record onto the lock ref.
	must[string](t)(r.ForgeRef("refs/hotfix-bot/production-lock", "hotfix-bot production lock: free\n\n{\"state\":\"free\"}\n",
		ghsim.Identity{Name: "mallory", Email: "mallory@example.com"}))
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "/promote refused: production lock", "an unknown writer")
	if len(w.botDeployments()) != 0 {
		t.Fatal("deployed past a lock the app did not write")
	}
	ops := r.CreateIssue(in.Rob, "Production", "")
	w.comment(in.Rob, ops, "/unlock")
	id = w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "Promoting #")
	w.noHandlerErrors()
}

func TestLateStagingFailureLeavesTheProductionStepsLock(t *testing.T) {
	w := start(t, harness.Options{})
	staging, n := w.promoted(stagedPolicy)
	w.report(staging, "success")
	ds := w.botDeployments()
	if len(ds) != 2 {
		t.Fatalf("%d deployments after staging succeeded", len(ds))
	}
	// The staging job is re-run while production deploys, and fails.
	w.report(staging, "failure")
	if !w.lockHeld() || !strings.Contains(w.in.Repo.CommitMessage(w.in.Repo.Ref("refs/hotfix-bot/production-lock")), `"deployment":`+itoa(ds[1].ID)) {
		t.Fatal("a late staging failure moved the production step's lock")
	}
	w.oneComment(n, "hotfix-bot:late:", "A late failure on deployment "+itoa(staging), "moved on", "Nothing was changed")
	// Production's own success still finishes the story.
	w.report(ds[1].ID, "success")
	if w.in.Repo.TagCommit("v1.4.3") != ds[1].SHA || w.lockHeld() {
		t.Error("the production step did not finish after a late staging failure")
	}
	w.noHandlerErrors()
}

func TestStatusPostedByAnotherAppIsJudgedLikeAnyOther(t *testing.T) {
	w := start(t, harness.Options{})
	n, _ := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	// Another app with deployments: write (a monitoring integration)
	// reports the deployment failed.
	monitor := w.h.Sim.Bot("canary-monitor[bot]")
	w.post(d.ID, "failure", monitor)
	w.settle()
	ds := w.botDeployments()
	if len(ds) != 2 || ds[1].Task != "deploy:rollback" {
		t.Fatalf("deployments after another app's failure: %+v", ds)
	}
	w.oneComment(n, "hotfix-bot:failed:", "Reported by @canary-monitor[bot]", "Rolling production back to v1.4.2")
	// Hours later it reports the same failure again: the deployment is no
	// longer the newest (its rollback is), so nothing more happens.
	w.h.Sim.Clock().Advance(2 * time.Hour)
	w.h.Sim.ResetCalls()
	w.post(d.ID, "failure", monitor)
	w.settle()
	if b := w.h.Account(); b.Writes > b.ByOp["issues/create-comment"] {
		t.Errorf("a repeated failure wrote %v", b.ByOp)
	}
	if len(w.botDeployments()) != 2 {
		t.Error("a repeated failure deployed again")
	}
	w.noHandlerErrors()
}
