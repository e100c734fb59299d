package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// One person must never ship alone: a second write user pushes a commit
// to someone else's hotfix branch, adds the approval after the push, and
// promotes. The pusher is an author; their approval never counts.
func TestPusherCannotApproveTheirOwnPush(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	eve := w.h.Sim.User("eve")
	r.SetRole("eve", "write")
	w.hotfixFromProduction("hotfix/two-users")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/two-users", "main", "Raise the payment timeout"))
	w.settle()
	head := must[string](t)(r.Push(eve, "hotfix/two-users", "Also skip the fraud check", ghsim.Files{"payments/fraud.go": "package payments\n\nconst SkipFraud = true\n"}))
	w.settle()
	noErr(t, r.AddLabel(eve, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure,
		"added by @eve, who pushed `"+policy.Short(head)+"`, authored and committed `"+policy.Short(head)+"`", "an author of this change",
		"**Authors** (they cannot approve): @dana (opened the pull request", "@eve (pushed `"+policy.Short(head)+"`")
	id := w.comment(eve, n, "/promote")
	w.reply(n, id, "/promote refused: hotfix-bot/approval")
	w.nothingDeployed(n, id)

	// Someone who wrote none of it approves: it counts.
	noErr(t, r.RemoveLabel(eve, n, "hotfix-approved"))
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Success, "`hotfix-approved` by @rob (maintain)")
	w.noHandlerErrors()
}

// Commit authors, committers and co-authors are authors too, mapped to
// accounts the way GitHub maps them; an identity GitHub maps to no
// account could be anyone, so no approval counts while it is in the
// change.
func TestCommitAuthorsAndCoAuthorsCannotApprove(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	w.hotfixFromProduction("hotfix/pair")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/pair", "main", "Fix"))
	w.settle()
	// Dana pushes a commit she paired on with Rob.
	paired := must[string](t)(r.PushCommit(in.Dana, "hotfix/pair", ghsim.Commit{
		Message: "Log the timeout\n\nCo-authored-by: Rob <" + in.Rob.NoreplyEmail() + ">\n",
		Files:   ghsim.Files{"payments/log.go": "package payments\n"},
	}))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.expect(paired, policy.CheckApproval, policy.Failure, "added by @rob, who co-authored `"+policy.Short(paired)+"`")

	// Dora approves instead: she wrote none of it.
	noErr(t, r.RemoveLabel(in.Rob, n, "hotfix-approved"))
	noErr(t, r.AddLabel(in.Dora, n, "hotfix-approved"))
	w.settle()
	w.expect(paired, policy.CheckApproval, policy.Success, "`hotfix-approved` by @dora")

	// A commit by an email GitHub maps to no account: Dora could be its
	// author, as far as anyone can tell. Her approval (given before) is
	// gone with the push, and a fresh one does not count either.
	stranger := must[string](t)(r.PushCommit(in.Dana, "hotfix/pair", ghsim.Commit{
		Message: "Tune retries", Author: &ghsim.Identity{Name: "Jo Contractor", Email: "jo@contractor.example"},
		Files: ghsim.Files{"payments/retry.go": "package payments\n"},
	}))
	w.settle()
	noErr(t, r.AddLabel(in.Dora, n, "hotfix-approved"))
	w.settle()
	w.expect(stranger, policy.CheckApproval, policy.Failure,
		"`Jo Contractor <jo@contractor.example>` (author of `"+policy.Short(stranger)+"`), which GitHub maps to no account, so the bot cannot rule out that @dora wrote it")

	// Once GitHub knows the email (Jo's account verified it), Jo is an
	// author like any other, and Dora's approval counts.
	w.h.Sim.AddEmail("jo", "jo@contractor.example")
	noErr(t, r.RerequestCheckRun(in.Dana, w.check(stranger, policy.CheckApproval).ID))
	w.settle()
	w.expect(stranger, policy.CheckApproval, policy.Success, "@jo (authored `"+policy.Short(stranger)+"`)")
	w.noHandlerErrors()
}

// An approval counts for the code it was given on: a reworded commit
// (the same tree, a new sha) keeps it, and the check says on what it was
// given; reset_on_push does not remove it.
func TestRewordedCommitKeepsItsApproval(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, approved := w.approvedHotfix("hotfix/reword")
	reworded := must[string](t)(r.Reword(in.Dana, "hotfix/reword", "Raise the payment timeout to 60s (PAY-123)"))
	w.settle()
	w.expect(reworded, policy.CheckApproval, policy.Success,
		"approved on `"+policy.Short(approved)+"`, same content as `"+policy.Short(reworded)+"`")
	if got := r.Labels(n); !strings.Contains(strings.Join(got, ","), "hotfix-approved") {
		t.Errorf("labels after a reword = %v: an approval of the same content was removed", got)
	}
	if cs := w.botComments(n, "Approvals reset"); len(cs) != 0 {
		t.Errorf("approvals reset by a reword: %s", cs[0].Body)
	}
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "Promoting #", "deploy `"+policy.Short(reworded)+"`")

	// Any change of content loses it.
	w2 := start(t, harness.Options{})
	n2, _ := w2.approvedHotfix("hotfix/amend")
	changed := must[string](t)(w2.in.Repo.Push(w2.in.Dana, "hotfix/amend", "One more thing", ghsim.Files{"payments/x.go": "package payments\n"}))
	w2.settle()
	w2.expect(changed, policy.CheckApproval, policy.Failure, "missing")
	if got := w2.botComments(n2, "Approvals reset"); len(got) != 1 || !strings.Contains(got[0].Body, "approvals count only for the code they were given on") {
		t.Errorf("reset comments = %v", got)
	}
	w.noHandlerErrors()
}

// The scenario end to end: Dana pushes B, then A; Rob approves
// A; Dana force-pushes B again and promotes before GitHub's activity log
// shows that push. The approval was given on A's code: it does not count
// for B, now or once the log catches up.
func TestRePushedCommitDoesNotKeepAnApproval(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	b := w.hotfixFromProduction("hotfix/repush")
	must[string](t)(r.CreateBranch(in.Dana, "scratch", "v1.4.2"))
	a := must[string](t)(r.Push(in.Dana, "scratch", "A different fix", ghsim.Files{"payments/timeout.go": "package payments\n\nconst Timeout = 45\n"}))
	noErr(t, r.ForcePush(in.Dana, "hotfix/repush", a))
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/repush", "main", "Fix"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.expect(a, policy.CheckApproval, policy.Success)

	r.SetActivityLag(time.Hour)
	noErr(t, r.ForcePush(in.Dana, "hotfix/repush", b))
	w.settle()
	w.expect(b, policy.CheckApproval, policy.Failure, "does not show the push of `"+policy.Short(b)+"`")
	id := w.comment(in.Dana, n, "/promote")
	w.reply(n, id, "/promote refused", "hotfix-bot/approval")
	w.nothingDeployed(n, id)

	// The log catches up: the approval is placed on A, other code.
	w.h.Sim.Clock().Advance(2 * time.Hour)
	noErr(t, r.RerequestCheckRun(in.Dana, w.check(b, policy.CheckApproval).ID))
	w.settle()
	w.expect(b, policy.CheckApproval, policy.Failure, "on `"+policy.Short(a)+"`, whose content differs from the head `"+policy.Short(b)+"`")
}

// Older GitHub Enterprise Server has no activity log: nothing can tell
// who pushed or what the head was when a label was added, so no approval
// counts, and the check says so; nor can /promote tell whether the head
// was pushed after the comment, so it refuses even an emergency.
func TestNoActivityLogNoApprovalCounts(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.Push(in.Rob, "main", "Emergencies", ghsim.Files{".github/hotfix-bot.yml": "commands:\n  emergency:\n    users: [rob]\n"}))
	w.settle()
	r.DisableActivity()
	head := w.hotfixFromProduction("hotfix/no-log")
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/no-log", "main", "Fix"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "this GitHub has no repository activity log", "the bot cannot tell who wrote this change")
	id := w.comment(in.Rob, n, "/promote --emergency checkout is down")
	w.reply(n, id, "/promote refused: head seen by you", "cannot tell when `"+policy.Short(head)+"` was pushed")
	w.nothingDeployed(n, id)
}

// reset_on_push only decides whether a push also removes the approvals it
// made stale: with it off they stay on the pull request, and still count
// only for the code they were given on.
func TestResetOnPushOffStillTiesApprovalsToContent(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{".github/hotfix-bot.yml": "approval:\n  reset_on_push: false\n"}))
	w.settle()
	n, approved := w.approvedHotfix("hotfix/keep-labels")
	head := must[string](t)(r.Push(in.Dana, "hotfix/keep-labels", "One more thing", ghsim.Files{"payments/x.go": "package payments\n"}))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Failure, "on `"+policy.Short(approved)+"`, whose content differs from the head `"+policy.Short(head)+"`")
	if got := r.Labels(n); !strings.Contains(strings.Join(got, ","), "hotfix-approved") {
		t.Errorf("labels = %v: reset_on_push is off, nothing is removed", got)
	}
	w.noHandlerErrors()
}
