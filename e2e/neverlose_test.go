package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Never lose a hotfix: the production environment's protection rule, the
// release check, and sync-back pull requests that finish themselves.

// guarded enables hotfix-bot as a custom deployment protection rule of the
// production environment, as a maintainer does in the environment's
// settings.
func (w *world) guarded() {
	w.t.Helper()
	noErr(w.t, w.in.Repo.EnableProtectionRule("production", w.h.App))
}

// deployJob is a workflow run whose job deploys ref to production: GitHub
// holds it for the bot. It returns the run once the bot answered.
func (w *world) deployJob(ref string) ghsim.WorkflowRun {
	w.t.Helper()
	run := must[ghsim.WorkflowRun](w.t)(w.in.Repo.RunDeploymentJob(w.in.CD, "push", ref, "production"))
	w.settle()
	got, _ := w.in.Repo.WorkflowRun(run.ID)
	return got
}

// answered asserts the bot answered a run exactly once, with state, and
// that its comment contains each fragment.
func (w *world) answered(run ghsim.WorkflowRun, state string, fragments ...string) string {
	w.t.Helper()
	if len(run.Reviews) != 1 || run.Reviews[0].App != "hotfix-bot" || run.Reviews[0].State != state {
		w.t.Fatalf("run %d reviews = %+v, want one %s by hotfix-bot", run.ID, run.Reviews, state)
	}
	c := run.Reviews[0].Comment
	for _, f := range fragments {
		if !strings.Contains(c, f) {
			w.t.Errorf("the answer lacks %q:\n%s", f, c)
		}
	}
	wantStatus := map[string]string{"approved": "in_progress", "rejected": "completed"}[state]
	if run.Status != wantStatus {
		w.t.Errorf("run %d is %s after %s, want %s", run.ID, run.Status, state, wantStatus)
	}
	return c
}

// syncInto is the open sync-back pull request into target.
func (w *world) syncInto(target string) ghsim.Issue {
	w.t.Helper()
	for _, is := range w.pullsInto(target, "hotfix-bot/sync/") {
		if is.State == "open" {
			return is
		}
	}
	w.t.Fatalf("no open sync-back pull request into %s", target)
	return ghsim.Issue{}
}

// resolveAndMerge is a person resolving the conflicting sync into
// release/1.5 (keeping the hotfix's timeout) and merging it.
func (w *world) resolveAndMerge(sync ghsim.Issue) {
	w.t.Helper()
	r, in := w.in.Repo, w.in
	must[string](w.t)(r.MergeBranchesResolving(in.Dana, sync.PR.HeadRef, "release/1.5", "Merge release/1.5, keep the 60s timeout",
		ghsim.Files{"payments/timeout.go": "package payments\n\nconst Timeout = 60 // seconds\n"}))
	w.settle()
	r.SetDraft(sync.Number, false)
	must[string](w.t)(r.MergePR(in.Rob, sync.Number))
	w.settle()
}

func TestProtectionRuleApprovesACompleteRelease(t *testing.T) {
	w := start(t, harness.Options{})
	w.guarded()
	run := w.deployJob("release/1.5")
	w.answered(run, "approved", "`release/1.5` (`"+policy.Short(w.in.Repo.Branch("release/1.5"))+"`) contains every release production shipped",
		"production runs v1.4.2")
	w.noHandlerErrors()
}

// The issue's scenario: release/1.5 is deployed before its conflicting
// sync is resolved: GitHub holds it because the bot rejects it, naming the
// hotfix, its pull request and the sync that brings it; once the sync is
// merged, deploying release/1.5 again is approved.
func TestProtectionRuleRejectsAReleaseThatLacksAHotfix(t *testing.T) {
	w := start(t, harness.Options{})
	n := w.released("hotfix/payment-timeout")
	w.guarded()
	sync := w.syncInto("release/1.5")
	head := w.in.Repo.Branch("release/1.5")
	run := w.deployJob("release/1.5")
	w.answered(run, "rejected",
		"v1.4.3 (#"+itoa(int64(n))+", Raise the payment timeout to 60s) is not in `"+policy.Short(head)+"`: merge #"+itoa(int64(sync.Number))+" into `release/1.5` first",
		"it conflicts", "production runs v1.4.3", "deploy `release/1.5` again with a new run", "administrator")
	// develop's pipeline is refused the same way, pointing at its own sync.
	dev := w.syncInto("develop")
	w.answered(w.deployJob("develop"), "rejected", "merge #"+itoa(int64(dev.Number))+" into `develop` first")

	w.resolveAndMerge(sync)
	w.answered(w.deployJob("release/1.5"), "approved", "contains every release production shipped")
	w.noHandlerErrors()
}

// While a promotion holds the production lock, another pipeline's
// deployment is rejected, naming it; the bot's own deployment holding the
// lock, carried out by an Actions job, is approved.
func TestProtectionRuleWhileAPromotionHoldsTheLock(t *testing.T) {
	w := start(t, harness.Options{})
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(w.in.Rob, n, "/promote")
	w.guarded()
	w.answered(w.deployJob("release/1.5"), "rejected", "the production lock is held by @rob for a promote of #"+itoa(int64(n)), "one deployment at a time", "`/unlock`")
	// The CD job carrying out the bot's deployment deploys its commit.
	run := must[ghsim.WorkflowRun](t)(w.in.Repo.RunDeploymentJob(w.in.CD, "deployment", head, "production"))
	w.settle()
	run, _ = w.in.Repo.WorkflowRun(run.ID)
	w.answered(run, "approved", "its own deployment of hotfix #"+itoa(int64(n))+" (promoted by @rob)")
	w.noHandlerErrors()
}

// A request GitHub delivers again, or to two replicas, is answered once:
// GitHub refuses the second answer, and that is done, not an error.
func TestProtectionRuleAnswersOnce(t *testing.T) {
	w := start(t, harness.Options{Replicas: 2})
	w.released("hotfix/payment-timeout")
	w.guarded()
	w.h.Sim.SetDuplicateDelivery(w.h.App, true)
	run := w.deployJob("release/1.5")
	w.answered(run, "rejected", "v1.4.3")
	var guid string
	for _, d := range w.h.Sim.Deliveries() {
		if d.Event == "deployment_protection_rule" {
			guid = d.ID
		}
	}
	noErr(t, w.h.Sim.ReplayAfter(w.ctx, guid, time.Hour))
	w.settle()
	run, _ = w.in.Repo.WorkflowRun(run.ID)
	w.answered(run, "rejected")
	w.noHandlerErrors()
}

// A fact the bot cannot read rejects, saying which and to re-run the
// job; it never approves by default.
func TestProtectionRuleFailsClosed(t *testing.T) {
	w := start(t, harness.Options{})
	w.released("hotfix/payment-timeout")
	w.guarded()
	w.h.Sim.Inject(&ghsim.Fault{Op: "repos/compare-commits-with-basehead", Status: 502})
	w.answered(w.deployJob("release/1.5"), "rejected", "could not check it", "never approves what it could not check", "502", "re-run this job in a minute")
	w.h.Sim.ClearFaults()
	w.answered(w.deployJob("release/1.5"), "rejected", "v1.4.3") // the job re-run: now it can tell
}

// hotfix-bot/release on a release branch: green while it holds what
// production runs, red listing the hotfix and its sync once one ships,
// green again once the sync is merged.
func TestReleaseCheckRedThenGreen(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	head := must[string](t)(r.Push(in.Dana, "release/1.5", "Changelog for 1.5", ghsim.Files{"CHANGELOG.md": "1.5.0\n"}))
	w.settle()
	w.expect(head, policy.CheckRelease, policy.Success, "Contains every release production shipped", "production runs v1.4.2")
	pr := must[int](t)(r.OpenPR(in.Dana, "release/1.5", "main", "Release 1.5"))
	w.settle()

	n := w.released("hotfix/payment-timeout")
	sync := w.syncInto("release/1.5")
	w.expect(head, policy.CheckRelease, policy.Failure, "Lacks 1 release production shipped: v1.4.3",
		"v1.4.3 (#"+itoa(int64(n))+", Raise the payment timeout to 60s)", "merge #"+itoa(int64(sync.Number))+" into `release/1.5` first")
	w.onePerName(head)
	// Its Details: the release ledger, where the hotfix has landed.
	dev := w.syncInto("develop")
	code, page := get(t, w.check(head, policy.CheckRelease).DetailsURL)
	for _, want := range []string{"Release ledger of <code>release/1.5</code>", "v1.4.3 (#" + itoa(int64(n)) + ", Raise the payment timeout to 60s)",
		"⏳ #" + itoa(int64(dev.Number)) + " open", "⏳ #" + itoa(int64(sync.Number)) + " open", "<code>release/1.4</code>"} {
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("the details page (%d) lacks %q", code, want)
		}
	}

	w.resolveAndMerge(sync)
	now := r.Branch("release/1.5")
	w.expect(now, policy.CheckRelease, policy.Success, "Contains every release production shipped", "production runs v1.4.3")
	if _, page := get(t, w.check(now, policy.CheckRelease).DetailsURL); strings.Count(page, `<tr class="ledger">`) != 1 || !strings.Contains(page, "✅ in") {
		t.Errorf("the ledger after the merge lacks v1.4.3 in release/1.5:\n%s", page)
	}
	if is, _ := r.PR(pr); is.PR.HeadSHA != now {
		t.Errorf("the release pull request's head %s, want %s", is.PR.HeadSHA, now)
	}
	w.noHandlerErrors()
}

const autoMergePolicy = "sync:\n  auto_merge: true\n"

// sync.auto_merge: the bot merges its own conflict-free sync once CI
// passed, with a merge commit; a sync that conflicted, or that someone
// committed to, waits for a person; with auto_merge off (the default)
// nothing is merged.
func TestSyncAutoMerge(t *testing.T) {
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "on", false: "off"}[on]
		t.Run(name, func(t *testing.T) {
			w := start(t, harness.Options{})
			r := w.in.Repo
			if on {
				w.usePolicy(autoMergePolicy)
			}
			w.released("hotfix/payment-timeout")
			dev, rel := w.syncInto("develop"), w.syncInto("release/1.5")
			ci := must[int64](t)(r.ReportCheckRun(dev.PR.HeadSHA, "ci/test", ""))
			w.settle()
			if is, _ := r.PR(dev.Number); is.PR.Merged {
				t.Fatal("merged while CI was still running")
			}
			noErr(t, r.CompleteCheckRun(ci, "success"))
			must[int64](t)(r.ReportCheckRun(rel.PR.HeadSHA, "ci/test", "success"))
			w.settle()
			is, _ := r.PR(dev.Number)
			if is.PR.Merged != on {
				t.Fatalf("develop's sync merged = %v with auto_merge %s", is.PR.Merged, name)
			}
			if on {
				if is.PR.MergedBy.Login != "hotfix-bot[bot]" || len(w.botComments(dev.Number, "Merged by hotfix-bot")) != 1 {
					t.Errorf("merged by %s, comments %v", is.PR.MergedBy.Login, w.botComments(dev.Number, ""))
				}
				if parents := r.CommitMessage(is.PR.MergeCommitSHA); parents == "" {
					t.Error("no merge commit")
				}
			}
			if is, _ := r.PR(rel.Number); is.PR.Merged {
				t.Error("the conflicting sync into release/1.5 was merged by the bot")
			}
			// A person resolves it and CI passes: still theirs to merge.
			must[string](t)(r.MergeBranchesResolving(w.in.Dana, rel.PR.HeadRef, "release/1.5", "Merge release/1.5",
				ghsim.Files{"payments/timeout.go": "package payments\n\nconst Timeout = 60 // seconds\n"}))
			w.settle()
			r.SetDraft(rel.Number, false)
			resolved, _ := r.PR(rel.Number)
			must[int64](t)(r.ReportCheckRun(resolved.PR.HeadSHA, "ci/test", "success"))
			w.settle()
			if is, _ := r.PR(rel.Number); is.PR.Merged {
				t.Error("a sync someone committed to was merged by the bot")
			}
			w.noHandlerErrors()
		})
	}
}

// reminders are the bot's reminder comments on a pull request.
func (w *world) reminders(n int) []ghsim.Comment { return w.botComments(n, "hotfix-bot:remind:") }

// nudge is an event on the repository some time later (a push to a
// feature branch): when the bot looks over its sync-back pull requests.
func (w *world) nudge(after time.Duration) {
	w.t.Helper()
	w.h.Sim.Clock().Advance(after)
	must[string](w.t)(w.in.Repo.Push(w.in.Dana, "develop", "Some work", ghsim.Files{"work-" + w.h.Sim.Clock().Now().Format("150405") + ".go": "package work\n"}))
	w.settle()
}

// A sync open longer than sync.remind_after gets one reminder a day,
// naming the release it blocks, never more, even with two replicas
// looking at once.
func TestSyncRemindersOncePerDay(t *testing.T) {
	w := start(t, harness.Options{Replicas: 2})
	w.h.Sim.SetDuplicateDelivery(w.h.App, true)
	w.released("hotfix/payment-timeout")
	rel := w.syncInto("release/1.5")
	w.nudge(2 * time.Hour)
	if got := w.reminders(rel.Number); len(got) != 0 {
		t.Fatalf("reminded after 2 hours: %v", got)
	}
	// Both replicas look at once: each reads the comments (no reminder
	// yet) before either posts; the day's claim lets one through.
	hold, holding := make(chan struct{}), make(chan struct{}, 2)
	w.h.Sim.Inject(&ghsim.Fault{Op: "issues/list-comments", Times: 2, Hold: hold, Holding: holding})
	go func() { <-holding; <-holding; close(hold) }()
	w.nudge(23 * time.Hour) // 25 hours open
	w.h.Sim.ClearFaults()
	got := w.reminders(rel.Number)
	if len(got) != 1 {
		t.Fatalf("%d reminders after 25 hours, want 1", len(got))
	}
	for _, f := range []string{"open for 25 hours", "brings v1.4.3", "blocks the release of `release/1.5`", "@dana", "resolve the conflict"} {
		if !strings.Contains(got[0].Body, f) {
			t.Errorf("reminder lacks %q:\n%s", f, got[0].Body)
		}
	}
	w.nudge(2 * time.Hour) // the same day
	w.nudge(90 * time.Minute)
	if got := w.reminders(rel.Number); len(got) != 1 {
		t.Fatalf("%d reminders the same day, want 1", len(got))
	}
	w.nudge(20 * time.Hour) // the next day
	if got := w.reminders(rel.Number); len(got) != 2 {
		t.Fatalf("%d reminders on the second day, want 2", len(got))
	}
	if dev := w.syncInto("develop"); len(w.reminders(dev.Number)) != 2 {
		t.Errorf("develop's sync: %d reminders, want 2", len(w.reminders(dev.Number)))
	}
	if left := w.in.Repo.Refs("refs/hotfix-bot/reminders/"); len(left) != 2 {
		t.Errorf("reminder claims left: %v, want one per open sync", left)
	}
	// The metrics: one hotfix not yet in each target, the oldest 2 days old.
	var seen float64
	for _, b := range w.h.Bots {
		seen += testutil.ToFloat64(b.Metrics().HotfixesNotInTarget.WithLabelValues("acme/payments", "release/1.5"))
	}
	if seen < 1 {
		t.Errorf("hotfix_bot_hotfixes_not_in_target{target=release/1.5} = %v on every replica", seen)
	}
	w.noHandlerErrors()
}

// During a freeze window of the policy the protection rule rejects
// another pipeline's production deployment, naming the window, its reason
// and when production opens again; once the window has passed, the same
// deployment is approved.
func TestProtectionRuleDuringAFreeze(t *testing.T) {
	w := start(t, harness.Options{Start: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}) // a Friday
	w.usePolicy(`freeze:
  - {from: "Fri 16:00", to: "Mon 08:00", zone: Europe/Berlin, reason: "the weekend: nobody watches production"}
`)
	w.guarded()
	w.answered(w.deployJob("release/1.5"), "approved", "contains every release production shipped")

	w.advanceTo(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)) // Saturday
	w.answered(w.deployJob("release/1.5"), "rejected", "production is frozen", "the weekend: nobody watches production",
		"production opens again Mon 2026-11-30 08:00 CET", "`/promote --emergency REASON`")

	w.advanceTo(time.Date(2026, 11, 30, 7, 30, 0, 0, time.UTC)) // Monday 08:30 CET
	w.answered(w.deployJob("release/1.5"), "approved", "contains every release production shipped")
	w.noHandlerErrors()
}
