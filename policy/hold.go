package policy

import (
	"fmt"
	"strings"
	"time"
)

// LabelHold marks a hotfix pull request that is on hold (`/hold`).
const LabelHold = "hotfix-hold"

// HoldRecord is what the bot writes, hidden in its answer to `/hold` and
// `/hold cancel`: who put the pull request on hold or lifted it, why and
// when. The newest record of the bot's on a pull request says whether it
// is on hold; only the app's own comments are read for them.
type HoldRecord struct {
	Held bool `json:"held"`
	// By is who gave the command; ByID their account id (a login can be
	// renamed).
	By   string    `json:"by"`
	ByID int64     `json:"by_id,omitempty"`
	At   time.Time `json:"at"`
	// Reason is the hold's reason (Held only).
	Reason string `json:"reason,omitempty"`
	// Comment is the command's comment; Of, on a cancel, the hold's.
	Comment int64 `json:"comment"`
	Of      int64 `json:"of,omitempty"`
}

// Hold is whether a hotfix pull request is on hold, as GitHub has it.
type Hold struct {
	// Held: the newest record is a hold, or the pull request carries the
	// hold label (either is enough: a hold is never lost because its
	// label was removed by hand or its record is missing).
	Held bool
	// Record is the hold in force, when a record says so.
	Record HoldRecord
	// LabelOnly: held by the label alone (no record says who or why).
	LabelOnly bool
	// LabelRemoved: a record holds it, but its label is gone.
	LabelRemoved bool
	// Unknown says why the bot could not tell (the comments could not be
	// read): the pull request counts as held.
	Unknown string
}

// HoldNow decides the hold from the label and the bot's records, oldest
// first.
func HoldNow(labelOn bool, records []HoldRecord) Hold {
	var h Hold
	if n := len(records); n > 0 && records[n-1].Held {
		h.Held, h.Record, h.LabelRemoved = true, records[n-1], !labelOn
		return h
	}
	if labelOn {
		h.Held, h.LabelOnly = true, true
	}
	return h
}

// Blocks reports whether the hold stops a promotion: held, or unknown.
func (h Hold) Blocks() bool { return h.Held || h.Unknown != "" }

// Describe says who holds it and why, for people.
func (h Hold) Describe() string {
	switch {
	case h.Unknown != "":
		return "the bot cannot tell whether it is on hold: " + h.Unknown
	case h.LabelOnly:
		return fmt.Sprintf("the `%s` label is on it, with no `/hold` of the bot's record saying who put it there or why", LabelHold)
	case h.Held:
		s := fmt.Sprintf("on hold by @%s since %s: %s", h.Record.By, h.Record.At.UTC().Format("2006-01-02 15:04 UTC"), h.Record.Reason)
		if h.LabelRemoved {
			s += fmt.Sprintf(" (its `%s` label was removed, but only `/hold cancel` lifts a hold)", LabelHold)
		}
		return s
	}
	return "not on hold"
}

// Lift says who may lift it, for people.
func (h Hold) Lift() string {
	if h.LabelOnly || h.Record.By == "" {
		return "anyone with the command permission comments `/hold cancel` (or removes the label)"
	}
	return fmt.Sprintf("@%s, or someone with maintain permission, comments `/hold cancel`", h.Record.By)
}

// MayCancel reports whether a person may lift the hold: its holder (by
// account id, or login when an id is missing), anyone with maintain
// permission, and, for a label no record explains, anyone allowed
// commands. Permission to give commands at all is checked before.
func (h Hold) MayCancel(login string, id int64, perm Permission) bool {
	if perm.AtLeast(PermissionMaintain) || h.LabelOnly {
		return true
	}
	if h.Record.ByID != 0 && id != 0 {
		return h.Record.ByID == id
	}
	return strings.EqualFold(h.Record.By, login)
}

// WithHold is the approval check as a hold shows it: while a pull
// request is on hold (or the bot cannot tell) the check fails, naming who
// holds it, why and how to lift it, above what the labels say.
func (h Hold) WithHold(r CheckResult) CheckResult {
	if !h.Blocks() {
		return r
	}
	labels := r.Summary
	r.Conclusion = Failure
	switch {
	case h.Unknown != "":
		r.Title = "Cannot tell whether the pull request is on hold"
		r.Summary = fmt.Sprintf("The bot could not read its `/hold` records on this pull request: %s. Until it can, the pull request counts as on hold. Re-run this check in a minute.", h.Unknown)
	case h.LabelOnly:
		r.Title = fmt.Sprintf("On hold: the `%s` label is on it", LabelHold)
		r.Summary = fmt.Sprintf("⏸️ The pull request carries the `%s` label, and no `/hold` of the bot's says who put it there or why. `/promote` is refused while it is there. **To lift it:** %s.", LabelHold, h.Lift())
	default:
		r.Title = fmt.Sprintf("On hold by @%s: %s", h.Record.By, h.Record.Reason)
		r.Summary = fmt.Sprintf("⏸️ **%s.** `/promote` is refused while it is on hold. **To lift it:** %s.", capitalise(h.Describe()), h.Lift())
	}
	r.Summary += "\n\n**The approval labels, once the hold is lifted:**\n\n" + labels
	return r
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Holdable refuses a pull request `/hold` cannot hold: a closed one, one
// from a fork, or one that is not a hotfix pull request (from a
// branches.hotfix branch into branches.production).
func (c Config) Holdable(pr PullRequestState) *Refusal {
	const rule = "an open hotfix pull request"
	switch {
	case !pr.Open:
		return &Refusal{Rule: rule, Why: "it is closed: nothing can be promoted from it", Next: "hold the pull request that replaced it"}
	case pr.Fork != "" || !c.IsHotfixBranch(pr.HeadRef) || pr.BaseRef != c.Branches.Production:
		return &Refusal{Rule: rule,
			Why:  fmt.Sprintf("`/hold` holds hotfix pull requests (from a `%s` branch of this repository into `%s`), and this one is `%s` → `%s`", c.Branches.Hotfix, c.Branches.Production, pr.HeadRef, pr.BaseRef),
			Next: "comment it on the hotfix pull request"}
	}
	return nil
}

// holdRow is `/promote`'s "not on hold" row. An emergency passes a hold
// only when its actor has maintain permission, and then says so (the
// audit issue lists it).
func holdRow(h Hold, emergency, maintainer bool) (Row, *Refusal) {
	const rule = "not on hold"
	switch {
	case !h.Blocks():
		return Row{Rule: rule, Verdict: "pass", Details: "not on hold"}, nil
	case emergency && maintainer:
		return Row{Rule: rule, Verdict: "skip", Details: "overridden (emergency by a maintainer): " + h.Describe()}, nil
	case h.Unknown != "":
		return Row{Rule: rule, Verdict: "fail", Details: "cannot tell"}, &Refusal{Why: h.Describe(),
			Next: "comment `/promote` again in a minute"}
	case emergency:
		return Row{Rule: rule, Verdict: "fail", Details: h.Describe()}, &Refusal{
			Why:  capitalise(h.Describe()) + "; an emergency promotion passes a hold only when the person promoting has maintain permission",
			Next: h.Lift() + ", or someone on the emergency list with maintain permission promotes"}
	}
	return Row{Rule: rule, Verdict: "fail", Details: h.Describe()}, &Refusal{Why: capitalise(h.Describe()),
		Next: h.Lift() + " once the hotfix may ship, then comment `/promote` again"}
}

// freezeRow is `/promote`'s "not frozen" row: during a freeze window
// only an emergency promotes (audited); outside one the row names the
// next window.
func (c Config) freezeRow(now time.Time, emergency bool) (Row, *Refusal) {
	const rule = "not frozen"
	f, frozen := c.FreezeAt(now)
	switch {
	case !frozen:
		return Row{Rule: rule, Verdict: "pass", Details: c.FreezeText(now)}, nil
	case emergency:
		return Row{Rule: rule, Verdict: "skip", Details: "overridden (emergency): " + c.FreezeText(now)}, nil
	}
	return Row{Rule: rule, Verdict: "fail", Details: "frozen until " + f.UntilText()}, &Refusal{
		Why: fmt.Sprintf("production is frozen: %s; it opens again %s (in %s)", f.Describe(), f.UntilText(), Age(f.Until.Sub(now))),
		Next: "wait until the freeze ends and comment `/promote` again; if production cannot wait, someone on the emergency list comments " +
			"`/promote --emergency REASON` (audited), or a maintainer changes `freeze:` in the policy"}
}
