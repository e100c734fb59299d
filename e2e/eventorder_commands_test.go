package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// The event-order matrix, command rows: /promote, /rollback and /unlock,
// each delivered late after a newer deployment succeeded, replayed hours
// later by the redelivery sweep, out of order with the next step, posted
// by another actor, delivered to two replicas at once, and with its
// comment deleted or edited before delivery. Every cell asserts the end
// state a careful person expects: what production runs, the lock, the
// tags, the bot's deployments and its replies. RELIABILITY.md's
// event-order grid lists the cells; keep them in step.

// orderCell is one cell: a row (the command) and a column (what happened
// to its event).
type orderCell struct {
	row, column string
	opts        harness.Options
	run         func(w *world)
}

// endState is what a cell ends with.
type endState struct {
	// production is the commit production runs.
	production string
	// lockFor is the pull request the lock is held for; 0: free.
	lockFor int
	// tags must point at their commits; "" means the tag must not exist.
	tags map[string]string
	// deployments is how many deployments the bot created in all.
	deployments int
	// reply lists fragments of the one reply the command gets; nil: no
	// reply at all.
	reply []string
}

// endsWith asserts a cell's end state; n and id are the command's issue
// and comment.
func (w *world) endsWith(n int, id int64, want endState) {
	w.t.Helper()
	if got := w.productionNow(); got != want.production {
		w.t.Errorf("production runs %s, want %s", policy.Short(got), policy.Short(want.production))
	}
	l := w.lockRecord()
	switch {
	case want.lockFor == 0 && l.Held():
		w.t.Errorf("the lock is held (%+v), want it free", l)
	case want.lockFor != 0 && (!l.Held() || l.PR != want.lockFor):
		w.t.Errorf("the lock is %+v, want it held for #%d", l, want.lockFor)
	}
	for tag, sha := range want.tags {
		if got := w.in.Repo.TagCommit(tag); got != sha {
			w.t.Errorf("tag %s at %q, want %q", tag, policy.Short(got), policy.Short(sha))
		}
	}
	if got := len(w.botDeployments()); got != want.deployments {
		w.t.Errorf("the bot created %d deployments, want %d", got, want.deployments)
	}
	if want.reply == nil {
		if got := w.replies(n, id); len(got) != 0 {
			w.t.Errorf("replies %v, want none", got)
		}
	} else {
		w.reply(n, id, want.reply...)
	}
	w.noHandlerErrors()
}

// pipelineReleases is your release pipeline deploying release/1.5 as
// v1.5.0 to production, successfully: a newer deployment.
func (w *world) pipelineReleases() string {
	w.t.Helper()
	r, in := w.in.Repo, w.in
	sha := must[string](w.t)(r.AnnotatedTag(in.Dana, "v1.5.0", "release/1.5", "Release 1.5.0"))
	id := must[int64](w.t)(r.Deploy(in.CD, "v1.5.0", "production"))
	noErr(w.t, r.SetDeploymentStatusWithLog(in.CD, id, "success", "pipeline", "https://ci.example.com/runs/"+itoa(id)))
	w.settle()
	return sha
}

// commentWhileDown posts a comment while the bots are unreachable (its
// delivery fails, as GitHub records it), then brings them back.
func (w *world) commentWhileDown(who *ghsim.User, n int, body string) int64 {
	w.t.Helper()
	live := w.h.Targets()
	w.h.Sim.SetWebhookTargets(w.h.App, "http://127.0.0.1:1/unreachable")
	id := must[int64](w.t)(w.in.Repo.Comment(who, n, body))
	w.settle()
	w.h.Sim.SetWebhookTargets(w.h.App, live...)
	return id
}

// sweepAfter moves time on, then the redelivery sweep brings back the
// one failed delivery.
func (w *world) sweepAfter(d time.Duration) {
	w.t.Helper()
	w.h.Sim.Clock().Advance(d)
	res, err := w.h.SweepRedeliveries(w.ctx, 0)
	if err != nil || res.Redelivered != 1 {
		w.t.Fatalf("sweep = %+v, %v; want the failed comment redelivered", res, err)
	}
	w.settle()
}

// redeliverComment sends a comment's created event again ("Redeliver").
func (w *world) redeliverComment(id int64) {
	w.t.Helper()
	var again []ghsim.Delivery
	for _, d := range w.h.Sim.Deliveries() {
		if d.Event == "issue_comment" && d.Action == "created" && strings.Contains(string(d.Payload), `"id":`+itoa(id)+`,`) {
			again = append(again, d)
		}
	}
	if len(again) != 1 {
		w.t.Fatalf("%d deliveries of comment %d, want 1", len(again), id)
	}
	w.redeliver(again)
}

// stuckPromotion is a promoted hotfix whose deployment CD has not
// reported on: the lock is held for it.
func (w *world) stuckPromotion() (int, ghsim.Deployment) {
	w.t.Helper()
	n, _ := w.approvedHotfix("hotfix/matrix")
	w.comment(w.in.Rob, n, "/promote")
	return n, w.lastDeployment()
}

func orderCells() []orderCell {
	rob := func(w *world) *ghsim.User { return w.in.Rob }
	return []orderCell{
		// /promote: an approved hotfix from v1.4.2, production v1.4.2.
		{row: "promote", column: "late-after-newer-deployment", run: func(w *world) {
			n, _ := w.approvedHotfix("hotfix/matrix")
			id, late := w.commentLater(rob(w), n, "/promote")
			v150 := w.pipelineReleases()
			w.deliverLate(late, 2*time.Minute)
			w.endsWith(n, id, endState{production: v150, tags: map[string]string{"v1.4.3": ""}, deployments: 0,
				reply: []string{"/promote refused", "hotfix-bot/base"}})
		}},
		{row: "promote", column: "replayed-hours-later", run: func(w *world) {
			n, _ := w.approvedHotfix("hotfix/matrix")
			id := w.commentWhileDown(rob(w), n, "/promote")
			w.sweepAfter(3 * time.Hour)
			w.endsWith(n, id, endState{production: w.in.V142, tags: map[string]string{"v1.4.3": ""}, deployments: 0,
				reply: []string{"/promote refused: too old", "this /promote is 3 hours", "old and was not run", "comment it again if you still want it"}})
		}},
		{row: "promote", column: "out-of-order-with-next-step", run: func(w *world) {
			// The /promote comes again after its deployment succeeded.
			n, head := w.approvedHotfix("hotfix/matrix")
			id := w.comment(rob(w), n, "/promote")
			w.report(w.lastDeployment().ID, "success")
			w.redeliverComment(id)
			w.endsWith(n, id, endState{production: head, tags: map[string]string{"v1.4.3": head, "v1.4.4": ""}, deployments: 1,
				reply: []string{"Promoting #" + itoa(int64(n))}})
			if pr, _ := w.in.Repo.PR(n); !pr.PR.Merged {
				w.t.Error("the hotfix is not merged")
			}
		}},
		{row: "promote", column: "other-actor", run: func(w *world) {
			// A bot (a workflow, another app) comments /promote.
			n, _ := w.approvedHotfix("hotfix/matrix")
			id := w.comment(w.h.Sim.Bot("github-actions[bot]"), n, "/promote")
			w.endsWith(n, id, endState{production: w.in.V142, deployments: 0})
			if got := w.reactions(n, id); len(got) != 0 {
				w.t.Errorf("reactions %v to a bot's comment", got)
			}
		}},
		{row: "promote", column: "two-replicas-at-once", opts: harness.Options{Replicas: 2}, run: func(w *world) {
			w.h.Sim.SetDuplicateDelivery(w.h.App, true)
			n, head := w.approvedHotfix("hotfix/matrix")
			id := w.comment(rob(w), n, "/promote")
			w.endsWith(n, id, endState{production: w.in.V142, lockFor: n, tags: map[string]string{"v1.4.3": ""}, deployments: 1,
				reply: []string{"Promoting #" + itoa(int64(n))}})
			if d := w.lastDeployment(); d.SHA != head {
				w.t.Errorf("deployed %s, want the head", policy.Short(d.SHA))
			}
		}},
		{row: "promote", column: "deleted-before-delivery", run: func(w *world) {
			n, _ := w.approvedHotfix("hotfix/matrix")
			id, late := w.commentLater(rob(w), n, "/promote")
			noErr(w.t, w.in.Repo.DeleteComment(w.in.Rob, id))
			w.deliverLate(late, time.Minute)
			w.endsWith(n, id, endState{production: w.in.V142, deployments: 0})
		}},
		{row: "promote", column: "edited-before-delivery", run: func(w *world) {
			n, _ := w.approvedHotfix("hotfix/matrix")
			id, late := w.commentLater(rob(w), n, "/promote")
			noErr(w.t, w.in.Repo.EditComment(w.in.Rob, id, "/promote --dry-run"))
			w.deliverLate(late, time.Minute)
			w.endsWith(n, id, endState{production: w.in.V142, deployments: 0})
		}},

		// /rollback: v1.4.3 released from v1.4.2; production v1.4.3.
		{row: "rollback", column: "late-after-newer-deployment", run: func(w *world) {
			n := w.released("hotfix/matrix")
			id, late := w.commentLater(rob(w), n, "/rollback")
			v150 := w.pipelineReleases()
			w.deliverLate(late, 2*time.Minute)
			w.endsWith(n, id, endState{production: v150, deployments: 1,
				reply: []string{"/rollback refused: production unchanged since the command", "it now runs v1.5.0", "comment `/rollback` again if you still want"}})
		}},
		{row: "rollback", column: "replayed-hours-later", run: func(w *world) {
			n := w.released("hotfix/matrix")
			v143 := w.in.Repo.TagCommit("v1.4.3")
			id := w.commentWhileDown(rob(w), n, "/rollback")
			w.sweepAfter(3 * time.Hour)
			w.endsWith(n, id, endState{production: v143, deployments: 1,
				reply: []string{"/rollback refused: too old", "this /rollback is 3 hours", "old and was not run", "comment it again if you still want it"}})
		}},
		{row: "rollback", column: "out-of-order-with-next-step", run: func(w *world) {
			// The /rollback comes again after its deployment succeeded.
			n := w.released("hotfix/matrix")
			id := w.comment(rob(w), n, "/rollback")
			w.report(w.lastDeployment().ID, "success")
			w.redeliverComment(id)
			w.endsWith(n, id, endState{production: w.in.V142, tags: map[string]string{"v1.4.3": w.in.Repo.TagCommit("v1.4.3")}, deployments: 2,
				reply: []string{"Rolling production back from v1.4.3 to v1.4.2"}})
			if got := w.incidentIssues(); len(got) != 1 {
				w.t.Errorf("%d incident issues, want 1", len(got))
			}
		}},
		{row: "rollback", column: "other-actor", run: func(w *world) {
			// Someone without access to the repository.
			n := w.released("hotfix/matrix")
			id := w.comment(w.h.Sim.User("mallory"), n, "/rollback")
			w.endsWith(n, id, endState{production: w.in.Repo.TagCommit("v1.4.3"), deployments: 1,
				reply: []string{"/rollback refused: permission", "@mallory"}})
		}},
		{row: "rollback", column: "two-replicas-at-once", opts: harness.Options{Replicas: 2}, run: func(w *world) {
			w.h.Sim.SetDuplicateDelivery(w.h.App, true)
			n := w.released("hotfix/matrix")
			id := w.comment(rob(w), n, "/rollback")
			w.endsWith(n, id, endState{production: w.in.Repo.TagCommit("v1.4.3"), lockFor: n, deployments: 2,
				reply: []string{"Rolling production back from v1.4.3 to v1.4.2"}})
			if rb := w.lastDeployment(); rb.Task != policy.TaskRollback || rb.SHA != w.in.V142 {
				w.t.Errorf("rollback = %+v", rb)
			}
		}},
		{row: "rollback", column: "deleted-before-delivery", run: func(w *world) {
			n := w.released("hotfix/matrix")
			id, late := w.commentLater(rob(w), n, "/rollback")
			noErr(w.t, w.in.Repo.DeleteComment(w.in.Rob, id))
			w.deliverLate(late, time.Minute)
			w.endsWith(n, id, endState{production: w.in.Repo.TagCommit("v1.4.3"), deployments: 1})
		}},
		{row: "rollback", column: "edited-before-delivery", run: func(w *world) {
			n := w.released("hotfix/matrix")
			id, late := w.commentLater(rob(w), n, "/rollback")
			noErr(w.t, w.in.Repo.EditComment(w.in.Rob, id, "/rollback v1.4.1"))
			w.deliverLate(late, time.Minute)
			w.endsWith(n, id, endState{production: w.in.Repo.TagCommit("v1.4.3"), deployments: 1})
		}},

		// /unlock: a promotion whose deployment CD has not reported on
		// holds the lock.
		{row: "unlock", column: "late-after-newer-deployment", run: func(w *world) {
			// The deployment succeeds and a newer promotion takes the
			// lock before the /unlock arrives.
			n, d := w.stuckPromotion()
			id, late := w.commentLater(rob(w), n, "/unlock")
			w.report(d.ID, "success")
			head2 := w.hotfixFromProduction2("hotfix/next")
			n2 := must[int](w.t)(w.in.Repo.OpenPR(w.in.Dana, "hotfix/next", "main", "Also retry once"))
			w.settle()
			noErr(w.t, w.in.Repo.AddLabel(w.in.Rob, n2, "hotfix-approved"))
			w.settle()
			w.comment(w.in.Rob, n2, "/promote")
			w.deliverLate(late, 2*time.Minute)
			w.endsWith(n, id, endState{production: d.SHA, lockFor: n2, tags: map[string]string{"v1.4.3": d.SHA}, deployments: 2,
				reply: []string{"/unlock refused: lock taken before this command", "held by @rob for a promote of #" + itoa(int64(n2))}})
			if w.lastDeployment().SHA != head2 {
				w.t.Error("the newer promotion did not deploy")
			}
		}},
		{row: "unlock", column: "replayed-hours-later", run: func(w *world) {
			n, _ := w.stuckPromotion()
			id := w.commentWhileDown(rob(w), n, "/unlock")
			w.sweepAfter(3 * time.Hour)
			w.endsWith(n, id, endState{production: w.in.V142, lockFor: n, deployments: 1,
				reply: []string{"/unlock refused: too old", "this /unlock is 3 hours", "comment it again if you still want it"}})
		}},
		{row: "unlock", column: "out-of-order-with-next-step", run: func(w *world) {
			// The deployment's success (which releases the lock) arrives
			// before the /unlock.
			n, d := w.stuckPromotion()
			id, late := w.commentLater(rob(w), n, "/unlock")
			w.report(d.ID, "success")
			w.deliverLate(late, time.Minute)
			w.endsWith(n, id, endState{production: d.SHA, tags: map[string]string{"v1.4.3": d.SHA}, deployments: 1,
				reply: []string{"No production lock is held: nothing to unlock."}})
		}},
		{row: "unlock", column: "other-actor", run: func(w *world) {
			// A developer with write permission, below maintain.
			n, _ := w.stuckPromotion()
			id := w.comment(w.in.Dana, n, "/unlock")
			w.endsWith(n, id, endState{production: w.in.V142, lockFor: n, deployments: 1,
				reply: []string{"/unlock refused: permission", "maintain"}})
		}},
		{row: "unlock", column: "two-replicas-at-once", opts: harness.Options{Replicas: 2}, run: func(w *world) {
			w.h.Sim.SetDuplicateDelivery(w.h.App, true)
			n, d := w.stuckPromotion()
			id := w.comment(rob(w), n, "/unlock")
			w.endsWith(n, id, endState{production: w.in.V142, deployments: 1,
				reply: []string{"Released the production lock held by @rob for a promote of #" + itoa(int64(n)) + " (deployment " + itoa(d.ID) + ")."}})
		}},
		{row: "unlock", column: "deleted-before-delivery", run: func(w *world) {
			n, _ := w.stuckPromotion()
			id, late := w.commentLater(rob(w), n, "/unlock")
			noErr(w.t, w.in.Repo.DeleteComment(w.in.Rob, id))
			w.deliverLate(late, time.Minute)
			w.endsWith(n, id, endState{production: w.in.V142, lockFor: n, deployments: 1})
		}},
		{row: "unlock", column: "edited-before-delivery", run: func(w *world) {
			n, _ := w.stuckPromotion()
			id, late := w.commentLater(rob(w), n, "/unlock")
			noErr(w.t, w.in.Repo.EditComment(w.in.Rob, id, "Never mind, CD is just slow today."))
			w.deliverLate(late, time.Minute)
			w.endsWith(n, id, endState{production: w.in.V142, lockFor: n, deployments: 1})
		}},
	}
}

func TestEventOrderCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("the event-order matrix runs every command under every delivery order")
	}
	for _, c := range orderCells() {
		t.Run(c.row+"/"+c.column, func(t *testing.T) {
			parallel(t)
			w := start(t, c.opts)
			c.run(w)
		})
	}
}
