package policy

import (
	"fmt"
	"strings"
	"time"
)

// LabelFact is what GitHub says about one approval label on a PR.
type LabelFact struct {
	Name string
	// Present: the pull request carries the label and the event log's
	// latest event for it is `labeled` (both must agree).
	Present bool
	// AddedBy is who added it last (the latest `labeled` event).
	AddedBy    string
	AddedByBot bool
	AddedAt    time.Time
	// Permission is AddedBy's repository permission, and Role the role
	// name GitHub reported.
	Permission Permission
	Role       string
	// Unknown says why the label's state could not be read (the event
	// log was cut short, or disagrees with the pull request). A label
	// whose state is unknown does not count.
	Unknown string
}

// ApprovalFacts is what the approval gate knows about a hotfix PR.
type ApprovalFacts struct {
	Author string
	Head   string
	// HeadPushedAt is when the head commit was pushed, in GitHub's time
	// (the later of what the activity log and the push's own event say);
	// zero when unknown, and then no approval counts.
	HeadPushedAt time.Time
	// PushedAtFrom names where HeadPushedAt came from, for people.
	PushedAtFrom string
	// Labels by lower-case name.
	Labels map[string]LabelFact
	// Unknown says why the label history could not be read at all. No
	// approval counts.
	Unknown string
}

// LabelVerdict says whether one required label counts, and why not.
type LabelVerdict struct {
	Label  string
	Valid  bool
	Reason string
	Fact   LabelFact
}

// ApprovalVerdict is the verdict on every required label.
type ApprovalVerdict []LabelVerdict

// Valid reports whether every label in the verdict counts.
func (v ApprovalVerdict) Valid() bool {
	for _, l := range v {
		if !l.Valid {
			return false
		}
	}
	return true
}

// For selects the verdicts of some labels.
func (v ApprovalVerdict) For(labels []string) ApprovalVerdict {
	var out ApprovalVerdict
	for _, want := range labels {
		for _, l := range v {
			if strings.EqualFold(l.Label, want) {
				out = append(out, l)
			}
		}
	}
	return out
}

// Describe lists valid approvals: "hotfix-approved by @bob (maintain)".
func (v ApprovalVerdict) Describe() string {
	var parts []string
	for _, l := range v {
		parts = append(parts, fmt.Sprintf("`%s` by @%s (%s)", l.Label, l.Fact.AddedBy, l.Fact.Role))
	}
	return strings.Join(parts, ", ")
}

// Table renders the verdicts as a markdown table.
func (v ApprovalVerdict) Table() string {
	var b strings.Builder
	b.WriteString("| label | counts | why |\n|---|---|---|\n")
	for _, l := range v {
		mark := "❌"
		if l.Valid {
			mark = "✅"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", l.Label, mark, l.Reason)
	}
	return b.String()
}

// RequiredLabels are the labels a hotfix needs: approval.labels, plus
// approval.schema_labels when it changes the schema.
func (c Config) RequiredLabels(schemaFlagged bool) []string {
	labels := append([]string{}, c.Approval.Labels...)
	if schemaFlagged {
		labels = append(labels, c.Approval.SchemaLabels...)
	}
	return labels
}

// ApprovalLabels are every label that approves something.
func (c Config) ApprovalLabels() []string {
	return append(append([]string{}, c.Approval.Labels...), c.Approval.SchemaLabels...)
}

// Approve judges each required label: its state known, present, added
// (latest `labeled` event) by a person, not a bot, who is not the author
// unless allowed, whose permission is at least approval.permission and,
// with reset_on_push, strictly after the head was pushed. When the push
// time is unknown no label counts: the gate never assumes a label came
// after a push it cannot date.
func (c Config) Approve(f ApprovalFacts, labels []string) ApprovalVerdict {
	var out ApprovalVerdict
	for _, name := range labels {
		fact, ok := f.Labels[strings.ToLower(name)]
		v := LabelVerdict{Label: name, Fact: fact}
		switch {
		case f.Unknown != "":
			v.Reason = "cannot tell: " + f.Unknown
		case fact.Unknown != "":
			v.Reason = "cannot tell: " + fact.Unknown
		case !ok || !fact.Present:
			v.Reason = fmt.Sprintf("missing: after reviewing, someone with %s permission or more%s adds it", c.Approval.Permission, map[bool]string{false: " other than the author", true: ""}[c.Approval.AllowAuthor])
		case fact.AddedBy == "":
			v.Reason = "present, but GitHub's event log does not say who added it: remove it and add it again"
		case fact.AddedByBot:
			v.Reason = fmt.Sprintf("added by the bot @%s; approvals come from people: remove it and have a reviewer add it", fact.AddedBy)
		case strings.EqualFold(fact.AddedBy, f.Author) && !c.Approval.AllowAuthor:
			v.Reason = fmt.Sprintf("added by @%s, the author of this pull request; someone else must approve", fact.AddedBy)
		case !fact.Permission.AtLeast(c.Approval.Permission):
			v.Reason = fmt.Sprintf("added by @%s, whose permission is %s; approval needs %s or more", fact.AddedBy, describeRole(fact), c.Approval.Permission)
		case c.Approval.ResetOnPush && f.HeadPushedAt.IsZero():
			v.Reason = fmt.Sprintf("added by @%s at %s, but the bot cannot tell yet when `%s` was pushed (GitHub's activity log can lag a push by a few seconds), "+
				"so no approval counts: re-run this check in a minute; if it stays, push again or add the label again",
				fact.AddedBy, clock(fact.AddedAt), Short(f.Head))
		case c.Approval.ResetOnPush && !fact.AddedAt.After(f.HeadPushedAt):
			v.Reason = fmt.Sprintf("added by @%s at %s, not after the latest push (`%s` at %s); review the new commits and add it again",
				fact.AddedBy, clock(fact.AddedAt), Short(f.Head), clock(f.HeadPushedAt))
		default:
			v.Valid = true
			v.Reason = fmt.Sprintf("added by @%s (%s) at %s", fact.AddedBy, describeRole(fact), clock(fact.AddedAt))
		}
		out = append(out, v)
	}
	return out
}

func describeRole(f LabelFact) string {
	if f.Role != "" && f.Role != string(f.Permission) {
		return fmt.Sprintf("%s (role %s)", f.Permission, f.Role)
	}
	return string(f.Permission)
}

// StaleApprovals are the approval labels a new push invalidates: present,
// and added at or before the push (a label in the same second as the push
// cannot be told apart from one before it). When the push time is unknown
// every present approval is stale. Labels added after the push (a reviewer
// who was quicker than the bot) stay.
func (c Config) StaleApprovals(f ApprovalFacts) []LabelFact {
	if !c.Approval.ResetOnPush {
		return nil
	}
	var out []LabelFact
	for _, name := range c.ApprovalLabels() {
		fact, ok := f.Labels[strings.ToLower(name)]
		if !ok || !fact.Present {
			continue
		}
		if f.HeadPushedAt.IsZero() || !fact.AddedAt.After(f.HeadPushedAt) {
			fact.Name = name
			out = append(out, fact)
		}
	}
	return out
}

// EvaluateApproval decides hotfix-bot/approval.
func (c Config) EvaluateApproval(v ApprovalVerdict) CheckResult {
	r := CheckResult{Name: CheckApproval}
	if len(v) == 0 {
		r.Conclusion = Success
		r.Title = "No approval labels required"
		r.Summary = "`approval.labels` is empty in the policy, so no label is required."
		return r
	}
	if v.Valid() {
		r.Conclusion = Success
		r.Title = "Approved"
		r.Summary = "Every required label counts: " + v.Describe() + ".\n\n" + v.Table()
		return r
	}
	missing := 0
	for _, l := range v {
		if !l.Valid {
			missing++
		}
	}
	r.Conclusion = Failure
	r.Title = fmt.Sprintf("%d of %d approval label%s missing or not counted", missing, len(v), plural(len(v)))
	after := ", after the latest push"
	if !c.Approval.ResetOnPush {
		after = ""
	}
	r.Summary = fmt.Sprintf("A hotfix needs %s, each added by someone with %s permission or more%s%s.\n\n%s\n"+
		"Labels are counted from the pull request's event log: who added each one last, and when.",
		labelList(labelsOf(v)), c.Approval.Permission,
		map[bool]string{false: " who is not the author", true: ""}[c.Approval.AllowAuthor], after, v.Table())
	return r
}

func labelsOf(v ApprovalVerdict) []string {
	var out []string
	for _, l := range v {
		out = append(out, l.Label)
	}
	return out
}
