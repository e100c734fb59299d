package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

func (w *world) hasLabel(n int, name string) bool {
	for _, l := range w.in.Repo.Labels(n) {
		if l == name {
			return true
		}
	}
	return false
}

// A hold, from the people's side: who holds and why is on the approval
// check and in every refusal; re-delivery records nothing twice; the
// label removed by hand does not lift it; only the holder or a
// maintainer does; an emergency passes it only in a maintainer's hands,
// and the audit issue says so.
func TestHold(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	w.usePolicy("commands:\n  emergency:\n    users: [dana, rob]\n")
	n, head := w.approvedHotfix("hotfix/payment-timeout")

	id := w.comment(in.Dora, n, "/hold the migration needs a DBA")
	w.reply(n, id, "#"+itoa(int64(n))+" is on hold: the migration needs a DBA.", "@dora, or someone with maintain permission, comments `/hold cancel`")
	if !w.hasLabel(n, policy.LabelHold) {
		t.Errorf("labels %v, want %s", r.Labels(n), policy.LabelHold)
	}
	w.expect(head, policy.CheckApproval, policy.Failure, "On hold by @dora: the migration needs a DBA", "added by @rob")
	if code, page := get(t, w.check(head, policy.CheckBase).DetailsURL); code != 200 || !strings.Contains(page, `<dd class="hold">on hold by @dora since`) ||
		!strings.Contains(page, "not frozen; the policy has no") {
		t.Errorf("the details page does not show the hold and the freeze (%d):\n%s", code, page)
	}

	t.Run("re-delivered, nothing twice", func(t *testing.T) {
		w.redeliverComment(id)
		w.reply(n, id)
		if got := w.botComments(n, "hotfix-bot:hold:"); len(got) != 1 {
			t.Errorf("%d hold records, want 1", len(got))
		}
	})
	// The hold lives in GitHub: new processes, with nothing remembered,
	// see it.
	noErr(t, w.h.Restart())
	t.Run("promote refused, naming who and why", func(t *testing.T) {
		id := w.comment(in.Rob, n, "/promote")
		w.reply(n, id, "/promote refused: not on hold.", "On hold by @dora since", "the migration needs a DBA", "`/hold cancel`")
		dry := w.comment(in.Ivan, n, "/promote --dry-run")
		w.reply(n, dry, "would refuse", "| not on hold | ❌ | on hold by @dora")
		if len(w.botDeployments()) != 0 {
			t.Fatal("a held hotfix was deployed")
		}
	})
	t.Run("the label removed by hand does not lift it", func(t *testing.T) {
		noErr(t, r.RemoveLabel(in.Rob, n, policy.LabelHold))
		w.settle()
		w.expect(head, policy.CheckApproval, policy.Failure, "label was removed, but only `/hold cancel` lifts a hold")
		id := w.comment(in.Rob, n, "/promote")
		w.reply(n, id, "/promote refused: not on hold.", "label was removed, but only `/hold cancel` lifts a hold")
	})
	t.Run("an emergency by a writer does not pass it", func(t *testing.T) {
		id := w.comment(in.Dana, n, "/promote --emergency checkout is down")
		w.reply(n, id, "/promote refused: not on hold.", "passes a hold only when the person promoting has maintain permission")
	})
	t.Run("only the holder or a maintainer lifts it", func(t *testing.T) {
		id := w.comment(in.Ivan, n, "/hold cancel")
		w.reply(n, id, "/hold refused: permission.")
		id = w.comment(in.Dana, n, "/hold cancel")
		w.reply(n, id, "/hold refused: the holder or a maintainer.", "only @dora or someone with maintain permission may lift it")
		if len(w.botDeployments()) != 0 {
			t.Fatal("deployed")
		}
	})
	lift := w.comment(in.Dora, n, "/hold cancel")
	w.reply(n, lift, "The hold on #"+itoa(int64(n))+" is lifted.", "@dora's hold (the migration needs a DBA)")
	if w.hasLabel(n, policy.LabelHold) {
		t.Error("the label stayed")
	}
	w.expect(head, policy.CheckApproval, policy.Success, "Approved")
	again := w.comment(in.Dora, n, "/hold cancel")
	w.reply(n, again, "is not on hold: nothing to cancel")

	// Held again, then a maintainer's emergency passes it, audited.
	w.comment(in.Dora, n, "/hold second thoughts")
	w.expect(head, policy.CheckApproval, policy.Failure, "On hold by @dora: second thoughts")
	em := w.comment(in.Rob, n, "/promote --emergency checkout is down for every EU customer")
	w.reply(n, em, "Promoting #")
	d, p := w.onlyDeployment()
	if d.SHA != head || !p.Emergency || !p.EmergencyMaintainer || p.AuditIssue == 0 {
		t.Fatalf("deployment %+v payload %+v", d, p)
	}
	audit, _ := r.PR(p.AuditIssue)
	for _, want := range []string{"A hold was overridden", "on hold by @dora", "second thoughts", "not on hold", "as @rob has"} {
		if !strings.Contains(audit.Body, want) {
			t.Errorf("the audit issue lacks %q:\n%s", want, audit.Body)
		}
	}
	w.noHandlerErrors()
}

// /hold is for open hotfix pull requests, and is a command that changes
// something: a late one is too old.
func TestHoldRefusals(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	issue := r.CreateIssue(in.Rob, "Card declines spike", "")
	w.settle()
	id := w.comment(in.Rob, issue, "/hold wait")
	w.reply(issue, id, "/hold refused: on a hotfix pull request.")
	must[string](t)(r.CreateBranch(in.Dana, "feature/x", "main"))
	must[string](t)(r.Push(in.Dana, "feature/x", "x", ghsim.Files{"x.go": "package x\n"}))
	n := must[int](t)(r.OpenPR(in.Dana, "feature/x", "main", "A feature"))
	w.settle()
	id = w.comment(in.Rob, n, "/hold wait")
	w.reply(n, id, "/hold refused: an open hotfix pull request.", "`feature/x` → `main`")
	usage := w.comment(in.Rob, n, "/hold")
	w.reply(n, usage, "Usage: `/hold REASON | /hold cancel`", "a hold needs a reason")

	hot, head := w.approvedHotfix("hotfix/late")
	late, guid := w.commentLater(in.Dora, hot, "/hold the migration needs a DBA")
	w.deliverLate(guid, 47*time.Minute)
	w.reply(hot, late, "this /hold is 47 minutes old and was not run")
	if w.hasLabel(hot, policy.LabelHold) || len(w.botComments(hot, "hotfix-bot:hold:")) != 0 {
		t.Error("a too old /hold held the pull request")
	}

	// The label put on by hand holds too; anyone allowed commands lifts it.
	noErr(t, r.AddLabel(in.Rob, hot, policy.LabelHold))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "On hold: the `hotfix-hold` label is on it")
	lift := w.comment(in.Dana, hot, "/hold cancel")
	w.reply(hot, lift, "is lifted", "Lifted the `hotfix-hold` label")
	w.expect(head, policy.CheckApproval, policy.Success)
	w.noHandlerErrors()
}
