package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Commands run on their comment as GitHub has it when the bot gets to
// it, and /rollback on production's lineage: the paths people see.

// commentLater posts a comment as who and holds its created event back,
// as GitHub delivering it late does; it returns the comment and the
// delivery's GUID (deliverLate sends it).
func (w *world) commentLater(who *ghsim.User, n int, body string) (int64, string) {
	w.t.Helper()
	id := must[int64](w.t)(w.in.Repo.Comment(who, n, body))
	guids := w.h.Sim.Postpone(func(d ghsim.Delivery) bool {
		var p deliveryFacts
		return d.Event == "issue_comment" && d.Action == "created" && json.Unmarshal(d.Payload, &p) == nil && p.Comment.ID == id
	})
	if len(guids) != 1 {
		w.t.Fatalf("%d created events for comment %d, want 1", len(guids), id)
	}
	return id, guids[0]
}

// deliverLate sends a held-back delivery after delay (simulated time),
// and lets the bots finish.
func (w *world) deliverLate(guid string, delay time.Duration) {
	w.t.Helper()
	noErr(w.t, w.h.Sim.DeliverLate(w.ctx, guid, delay))
	w.settle()
}

// productionNow is the commit of the newest production deployment whose
// newest status is success: what production runs.
func (w *world) productionNow() string {
	ds := w.in.Repo.Deployments()
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		if d.Environment == "production" && len(d.Statuses) > 0 && d.Statuses[len(d.Statuses)-1].State == "success" {
			return d.SHA
		}
	}
	return ""
}

// lockRecord is the production lock's record as the bot wrote it.
func (w *world) lockRecord() facts.Lock {
	w.t.Helper()
	r := w.in.Repo
	sha := r.Ref("refs/hotfix-bot/production-lock")
	if sha == "" {
		return facts.Lock{State: "free"}
	}
	_, body, _ := strings.Cut(r.CommitMessage(sha), "\n\n")
	var l facts.Lock
	if err := json.Unmarshal([]byte(strings.TrimSpace(body)), &l); err != nil {
		w.t.Fatalf("the lock's record: %v", err)
	}
	return l
}

// notRun is how many commands the bots set aside for a reason
// (hotfixbot_commands_not_run_total).
func (w *world) notRun(reason string) int {
	w.t.Helper()
	n := 0
	for _, b := range w.h.Bots {
		families, err := b.Metrics().Registry.Gather()
		noErr(w.t, err)
		for _, f := range families {
			if f.GetName() != "hotfixbot_commands_not_run_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "reason" && l.GetValue() == reason {
						n += int(m.GetCounter().GetValue())
					}
				}
			}
		}
	}
	return n
}

// releasedAgain ships a second hotfix, cut from v1.4.3: v1.4.4 is
// production. It returns the pull request.
func (w *world) releasedAgain(branch string) int {
	w.t.Helper()
	r, in := w.in.Repo, w.in
	w.hotfixFromProduction2(branch)
	n := must[int](w.t)(r.OpenPR(in.Dana, branch, "main", "Also retry once"))
	w.settle()
	noErr(w.t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.comment(in.Rob, n, "/promote")
	ds := w.botDeployments()
	w.report(ds[len(ds)-1].ID, "success")
	if r.TagCommit("v1.4.4") == "" || w.productionNow() != r.TagCommit("v1.4.4") {
		w.t.Fatal("v1.4.4 was not released")
	}
	return n
}

// lastDeployment is the newest deployment the bot created.
func (w *world) lastDeployment() ghsim.Deployment {
	w.t.Helper()
	ds := w.botDeployments()
	if len(ds) == 0 {
		w.t.Fatal("the bot created no deployment")
	}
	return ds[len(ds)-1]
}

func TestDeletedCommandIsNotRun(t *testing.T) {
	w := start(t, harness.Options{})
	in := w.in
	n := w.released("hotfix/payment-timeout")
	v143 := in.Repo.TagCommit("v1.4.3")
	id, late := w.commentLater(in.Rob, n, "/rollback")
	noErr(t, in.Repo.DeleteComment(in.Rob, id))
	w.settle() // the deleted event itself changes nothing
	w.deliverLate(late, time.Minute)
	if got := w.replies(n, id); len(got) != 0 {
		t.Errorf("replies to a deleted comment: %v", got)
	}
	if len(w.botDeployments()) != 1 || w.productionNow() != v143 || w.lockHeld() {
		t.Errorf("a deleted /rollback changed production: %d deployments, production %s, lock held %v",
			len(w.botDeployments()), policy.Short(w.productionNow()), w.lockHeld())
	}
	if got := w.notRun("deleted"); got != 1 {
		t.Errorf("counted %d deleted commands, want 1", got)
	}
	w.noHandlerErrors()
}

func TestEditedCommandIsNotRun(t *testing.T) {
	w := start(t, harness.Options{})
	in := w.in
	n := w.released("hotfix/payment-timeout")
	v143 := in.Repo.TagCommit("v1.4.3")
	t.Run("the command line edited away", func(t *testing.T) {
		id, late := w.commentLater(in.Rob, n, "/rollback")
		noErr(t, in.Repo.EditComment(in.Rob, id, "Never mind: it recovered by itself."))
		w.settle()
		w.deliverLate(late, time.Minute)
		if got := w.replies(n, id); len(got) != 0 {
			t.Errorf("replies: %v", got)
		}
		if got := w.reactions(n, id); strings.Join(got, ",") != "eyes" {
			t.Errorf("reactions = %v, want only 👀", got)
		}
		if len(w.botDeployments()) != 1 || w.productionNow() != v143 {
			t.Error("an edited-away /rollback rolled back")
		}
	})
	t.Run("the command line changed", func(t *testing.T) {
		id, late := w.commentLater(in.Rob, n, "/rollback")
		noErr(t, in.Repo.EditComment(in.Rob, id, "/rollback v1.4.1"))
		w.settle()
		w.deliverLate(late, time.Minute)
		if got := w.replies(n, id); len(got) != 0 {
			t.Errorf("replies: %v", got)
		}
		if len(w.botDeployments()) != 1 {
			t.Error("a changed /rollback ran as first written")
		}
	})
	if got := w.notRun("edited"); got != 2 {
		t.Errorf("counted %d edited commands, want 2", got)
	}
	t.Run("another line edited: the command stands", func(t *testing.T) {
		id, late := w.commentLater(in.Rob, n, "/rollback\nCheckout times out since v1.4.3.")
		noErr(t, in.Repo.EditComment(in.Rob, id, "/rollback\nCheckout times out since v1.4.3 (see the incident channel)."))
		w.settle()
		w.deliverLate(late, time.Minute)
		w.reply(n, id, "Rolling production back from v1.4.3 to v1.4.2")
		if rb := w.lastDeployment(); rb.Task != policy.TaskRollback || rb.SHA != in.V142 {
			t.Errorf("rollback deployment = %+v", rb)
		}
	})
	w.noHandlerErrors()
}

func TestTooOldRollbackIsAnsweredNotRun(t *testing.T) {
	w := start(t, harness.Options{})
	in := w.in
	n := w.released("hotfix/payment-timeout")
	id, late := w.commentLater(in.Rob, n, "/rollback")
	w.deliverLate(late, 47*time.Minute)
	w.reply(n, id, "👎 **/rollback refused: too old.**", "this /rollback is 47 minutes old and was not run",
		"`commands.max_age` (10 minutes)", "comment it again if you still want it")
	if got := strings.Join(w.reactions(n, id), ","); got != "eyes,-1" {
		t.Errorf("reactions = %q, want 👀 then 👎", got)
	}
	if len(w.botDeployments()) != 1 || w.lockHeld() {
		t.Fatal("a too old /rollback changed something")
	}
	if got := w.notRun("too_old"); got != 1 {
		t.Errorf("counted %d too old commands, want 1", got)
	}
	// Given again, it runs.
	id = w.comment(in.Rob, n, "/rollback")
	w.reply(n, id, "Rolling production back from v1.4.3 to v1.4.2")
	w.noHandlerErrors()
}

func TestReplayedUnlockNeverFreesANewerLock(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	stuck, _ := w.approvedHotfix("hotfix/stuck")
	w.comment(in.Rob, stuck, "/promote")
	d1 := w.lastDeployment() // CD never reports on it
	// The bot is unreachable while Rob asks to unlock: the delivery fails.
	live := w.h.Targets()
	w.h.Sim.SetWebhookTargets(w.h.App, "http://127.0.0.1:1/unreachable")
	first := must[int64](t)(r.Comment(in.Rob, stuck, "/unlock"))
	w.settle()
	w.h.Sim.SetWebhookTargets(w.h.App, live...)
	// Meanwhile the lock is released another way, and a new promotion
	// takes it.
	id := w.comment(in.Rob, stuck, "/unlock")
	w.reply(stuck, id, "Released the production lock held by @rob for a promote of #"+itoa(int64(stuck))+" (deployment "+itoa(d1.ID)+").")
	urgent, _ := w.approvedHotfix2("hotfix/urgent")
	w.comment(in.Rob, urgent, "/promote")
	if l := w.lockRecord(); !l.Held() || l.PR != urgent {
		t.Fatalf("lock = %+v, want held for #%d", l, urgent)
	}
	// Two minutes later the sweep brings the first /unlock back.
	w.h.Sim.Clock().Advance(2 * time.Minute)
	res, err := w.h.SweepRedeliveries(w.ctx, 0)
	if err != nil || res.Redelivered != 1 {
		t.Fatalf("sweep = %+v, %v; want the failed /unlock redelivered", res, err)
	}
	w.settle()
	w.reply(stuck, first, "/unlock refused: lock taken before this command", "held by @rob for a promote of #"+itoa(int64(urgent)),
		"taken after this `/unlock` was written", "comment `/unlock` again")
	if l := w.lockRecord(); !l.Held() || l.PR != urgent {
		t.Errorf("lock = %+v: the replayed /unlock freed the newer lock", l)
	}
	w.noHandlerErrors()
}

func TestRollbackAfterARollbackGoesFurtherBack(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	w.released("hotfix/payment-timeout")
	w.releasedAgain("hotfix/retry")
	v143 := r.TagCommit("v1.4.3")
	issue := r.CreateIssue(in.Rob, "Declines are retried too often", "")
	w.settle()
	id := w.comment(in.Rob, issue, "/rollback")
	w.reply(issue, id, "Rolling production back from v1.4.4 to v1.4.3")
	w.report(w.lastDeployment().ID, "success")
	if w.productionNow() != v143 {
		t.Fatal("production is not back on v1.4.3")
	}
	// Again: one release further back, never forward to v1.4.4.
	id = w.comment(in.Rob, issue, "/rollback")
	w.reply(issue, id, "Rolling production back from v1.4.3 to v1.4.2", "skipped: v1.4.4, which was rolled back")
	rb := w.lastDeployment()
	if rb.SHA != in.V142 || payloadOf(t, rb).Target != "v1.4.2" {
		t.Fatalf("second rollback = %+v, want v1.4.2", rb)
	}
	w.report(rb.ID, "success")
	// The rolled-back release needs --force to come back.
	id = w.comment(in.Rob, issue, "/rollback v1.4.4")
	w.reply(issue, id, "/rollback refused: in production's lineage", "v1.4.4", "was rolled back", "`/rollback v1.4.4 --force`")
	if w.productionNow() != in.V142 || len(w.botDeployments()) != 4 {
		t.Errorf("production %s after %d deployments", policy.Short(w.productionNow()), len(w.botDeployments()))
	}
	w.noHandlerErrors()
}

func TestRollbackOnAPullRequestProductionLeft(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	t.Run("rolled back", func(t *testing.T) {
		n := w.released("hotfix/payment-timeout")
		w.comment(in.Rob, n, "/rollback")
		w.report(w.lastDeployment().ID, "success")
		id := w.comment(in.Rob, n, "/rollback")
		w.reply(n, id, "/rollback refused: promotion still in production",
			"production already runs what ran before #"+itoa(int64(n))+" (v1.4.2)", "v1.4.3 was rolled back")
		if len(w.botDeployments()) != 2 || w.productionNow() != in.V142 {
			t.Errorf("%d deployments, production %s", len(w.botDeployments()), policy.Short(w.productionNow()))
		}
	})
	t.Run("failed and rolled back automatically", func(t *testing.T) {
		n, _ := w.approvedHotfix2("hotfix/declines")
		w.comment(in.Rob, n, "/promote")
		failed := w.lastDeployment()
		w.report(failed.ID, "failure")
		auto := w.lastDeployment()
		if auto.Task != policy.TaskRollback || auto.SHA != in.V142 {
			t.Fatalf("automatic rollback = %+v", auto)
		}
		w.report(auto.ID, "success")
		id := w.comment(in.Rob, n, "/rollback")
		w.reply(n, id, "/rollback refused: promotion still in production",
			"production already runs what ran before #"+itoa(int64(n))+" (v1.4.2)", "never ran: deployment "+itoa(failed.ID)+" reported failure")
		if w.lastDeployment().ID != auto.ID || w.productionNow() != in.V142 || r.TagCommit("v1.4.1") == w.productionNow() {
			t.Error("/rollback on the failed pull request deployed something")
		}
	})
	w.noHandlerErrors()
}
