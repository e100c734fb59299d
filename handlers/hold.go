package handlers

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// holdLabel is the label of a pull request on hold.
var holdLabel = facts.LabelSpec{Name: policy.LabelHold, Color: "e99695", Description: "Hotfix on hold: /promote is refused until /hold cancel (hotfix-bot)"}

// hold is `/hold REASON` and `/hold cancel` on a hotfix pull request. The
// hold lives in GitHub: the answer to the command is its record (who,
// why, when, hidden in a marker, found again by any replica), and the
// pull request carries the hold label while it is held. The answer is
// posted first, so a hold is in force as soon as it is announced; the
// label and the approval check follow. A re-delivered command finds its
// answer and does nothing twice.
func (c *commandRun) hold(ctx context.Context) outcome {
	cfg, cmd := c.cfg, c.cmd
	perm, o := c.authorize(ctx, cfg.Commands.Permission)
	if o != nil {
		return *o
	}
	if !c.ev.onPR() {
		return refuse(cmd, []policy.Refusal{{Rule: "on a hotfix pull request", Why: "`/hold` holds a hotfix pull request, and this is an issue",
			Next: "comment it on the hotfix pull request"}}, "")
	}
	pr, err := c.r.PullRequestNow(ctx, c.ev.Issue.Number)
	if err != nil {
		return c.failed("read the pull request", err)
	}
	fork := ""
	if full := pr.GetHead().GetRepo().GetFullName(); full != c.r.FullName() {
		fork = full
		if fork == "" {
			fork = "a deleted fork"
		}
	}
	if r := cfg.Holdable(policy.PullRequestState{Number: pr.GetNumber(), Open: pr.GetState() == "open", Fork: fork,
		HeadRef: pr.GetHead().GetRef(), BaseRef: pr.GetBase().GetRef()}); r != nil {
		return refuse(cmd, []policy.Refusal{*r}, "")
	}
	h, err := c.r.Hold(ctx, pr.GetNumber(), pr.Labels)
	if err != nil {
		return c.failed("read the hold", err)
	}
	if cmd.Cancel {
		return c.cancelHold(ctx, pr, h, perm)
	}
	if h.Held && !h.LabelOnly {
		return refuse(cmd, []policy.Refusal{{Rule: "not on hold already", Why: "#" + fmt.Sprint(pr.GetNumber()) + " is " + h.Describe(),
			Next: "to change the reason, " + h.Lift() + " first, then `/hold NEW REASON`"}}, "")
	}
	who := c.ev.Comment.User
	rec := policy.HoldRecord{Held: true, By: who.Login, ByID: who.ID, At: c.writtenAt, Reason: cmd.Reason, Comment: c.ev.Comment.ID}
	out := done(fmt.Sprintf("#%d is on hold: %s.", pr.GetNumber(), policy.UserText(cmd.Reason, policy.MaxReason)),
		fmt.Sprintf("`/promote` is refused until the hold is lifted: @%s, or someone with maintain permission, comments `/hold cancel`. "+
			"An emergency promotion passes a hold only when the person promoting has maintain permission (and the audit issue says so).\n\n%s",
			who.Login, facts.HoldMarker(rec)))
	if err := c.answerNow(ctx, &out); err != nil {
		return c.failed("record the hold", err)
	}
	// The hold is in force (its record is posted); the label and the
	// approval check show it.
	if err := c.r.EnsureLabels(ctx, []facts.LabelSpec{holdLabel}); err != nil {
		out.err = err
		return out
	}
	if err := c.r.AddLabels(ctx, pr.GetNumber(), policy.LabelHold); err != nil {
		out.err = err
		return out
	}
	out.err = c.recheckApproval(ctx, pr)
	return out
}

// cancelHold lifts a hold: its holder or a maintainer (a label no record
// explains: anyone allowed commands). The record goes first, then the
// label is removed.
func (c *commandRun) cancelHold(ctx context.Context, pr *github.PullRequest, h policy.Hold, perm facts.Permission) outcome {
	n := pr.GetNumber()
	if !h.Held {
		return done(fmt.Sprintf("#%d is not on hold: nothing to cancel.", n), "`/promote` is not held back by a hold.")
	}
	who := c.ev.Comment.User
	if !h.MayCancel(who.Login, who.ID, perm.Level) {
		return refuse(c.cmd, []policy.Refusal{{Rule: "the holder or a maintainer",
			Why:  fmt.Sprintf("#%d is %s, and only @%s or someone with maintain permission may lift it (@%s has %s)", n, h.Describe(), h.Record.By, who.Login, describePermission(perm)),
			Next: fmt.Sprintf("ask @%s or a maintainer to comment `/hold cancel`", h.Record.By)}}, "")
	}
	was := "the `" + policy.LabelHold + "` label"
	if !h.LabelOnly {
		was = fmt.Sprintf("@%s's hold (%s)", h.Record.By, policy.UserText(h.Record.Reason, policy.MaxReason))
	}
	rec := policy.HoldRecord{Held: false, By: who.Login, ByID: who.ID, At: c.writtenAt, Comment: c.ev.Comment.ID, Of: h.Record.Comment}
	out := done(fmt.Sprintf("The hold on #%d is lifted.", n),
		fmt.Sprintf("Lifted %s. `/promote` runs again once every gate passes.\n\n%s", was, facts.HoldMarker(rec)))
	if err := c.answerNow(ctx, &out); err != nil {
		return c.failed("record that the hold is lifted", err)
	}
	if _, err := c.r.RemoveLabel(ctx, n, policy.LabelHold); err != nil {
		out.err = err
		return out
	}
	out.err = c.recheckApproval(ctx, pr)
	return out
}

// recheckApproval evaluates the approval check again with fresh facts
// (the bot's own label events are not news to it), so it shows the hold.
func (c *commandRun) recheckApproval(ctx context.Context, pr *github.PullRequest) error {
	r, err := c.g.fresh(c.installation, c.r)
	if err != nil {
		return err
	}
	e, ok := c.g.prEvaluation(c.installation, r, c.pol, pr)
	if !ok || e.fork != "" {
		return nil
	}
	e.refreshPR, e.labelsOnly = true, true
	e.checks = []string{policy.CheckSchema, policy.CheckApproval}
	return c.g.evaluate(ctx, e)
}
