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
	Head string
	// Opener opened the pull request; OpenerBot when a bot did (a
	// workflow), and then the pushers decide who the authors are.
	Opener    string
	OpenerBot bool
	// History is the hotfix branch's push history (GitHub's activity
	// log): who pushed, and what was the tip when.
	History PushHistory
	// Commits are the commits between production and the head;
	// CommitsUnknown says why they could not all be read.
	Commits        []ChangeCommit
	CommitsUnknown string
	// Trees maps commits to their trees: the head's, and those of the
	// heads the approval labels were added on. A commit missing here
	// could not be read (TreesUnknown says why).
	Trees        map[string]string
	TreesUnknown string
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
	// ApprovedOn is the head the label was added on, when known; Head
	// the head now. A valid label on another commit has the same tree.
	ApprovedOn, Head string
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

// Describe lists valid approvals: "`hotfix-approved` by @bob (maintain)",
// with the commit it was given on when that is not the head ("approved on
// `abc1234`, same content as `def5678`").
func (v ApprovalVerdict) Describe() string {
	var parts []string
	for _, l := range v {
		part := fmt.Sprintf("`%s` by @%s (%s)", l.Label, l.Fact.AddedBy, l.Fact.Role)
		if l.ApprovedOn != "" && l.ApprovedOn != l.Head {
			part += fmt.Sprintf(", approved on `%s`, same content as `%s`", Short(l.ApprovedOn), Short(l.Head))
		}
		parts = append(parts, part)
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
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", l.Label, mark, escapeCell(l.Reason))
	}
	return b.String()
}

// RequiredLabels are the labels a hotfix needs: approval.labels, plus
// approval.schema_labels when it changes the schema; none when
// approval.required is false.
func (c Config) RequiredLabels(schemaFlagged bool) []string {
	if !c.Approval.Required {
		return nil
	}
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

// contentVerdict places a label on the head it was added on and compares
// that head's tree with the current head's: an approval counts for the
// code it was given on. It returns the head the label was added on (""
// when it cannot be placed), whether the content is the head's, and why
// not.
func (f ApprovalFacts) contentVerdict(fact LabelFact) (on string, same bool, why string) {
	on, why = f.History.HeadAt(fact.AddedAt, f.Head)
	if why != "" {
		return "", false, why
	}
	if on == f.Head {
		return on, true, ""
	}
	tree, okOn := f.Trees[on]
	head, okHead := f.Trees[f.Head]
	if !okOn || !okHead {
		reason := f.TreesUnknown
		if reason == "" {
			reason = "not read"
		}
		return on, false, fmt.Sprintf("it was added on `%s`, and the bot cannot compare that commit's content with the head `%s`: %s", Short(on), Short(f.Head), reason)
	}
	return on, tree == head, ""
}

// Approve judges each required label: its state known, present, added
// (latest `labeled` event) by a person, not a bot, who wrote none of the
// change (the author set: opener, pushers, commit authors, committers,
// co-authors) unless allow_author, whose permission is at least
// approval.permission, on a head whose tree is the current head's. A head
// the push history cannot place, an author set that cannot be
// established, and identities GitHub maps to no account all count
// nothing: the gate never assumes in the approver's favour.
func (c Config) Approve(f ApprovalFacts, labels []string) ApprovalVerdict {
	authors := f.Authors()
	var out ApprovalVerdict
	for _, name := range labels {
		fact, ok := f.Labels[strings.ToLower(name)]
		v := LabelVerdict{Label: name, Fact: fact, Head: f.Head}
		isAuthor, how := authors.Is(fact.AddedBy)
		switch {
		case f.Unknown != "":
			v.Reason = "cannot tell: " + f.Unknown
		case fact.Unknown != "":
			v.Reason = "cannot tell: " + fact.Unknown
		case !ok || !fact.Present:
			v.Reason = fmt.Sprintf("missing: after reviewing, someone with %s permission or more%s adds it", c.Approval.Permission, map[bool]string{false: " who wrote none of the change", true: ""}[c.Approval.AllowAuthor])
		case fact.AddedBy == "":
			v.Reason = "present, but GitHub's event log does not say who added it: remove it and add it again"
		case fact.AddedByBot:
			v.Reason = fmt.Sprintf("added by the bot @%s; approvals come from people: remove it and have a reviewer add it", fact.AddedBy)
		case !c.Approval.AllowAuthor && authors.Unknown != "":
			v.Reason = fmt.Sprintf("added by @%s, but the bot cannot tell who wrote this change (%s), so no approval counts: re-run this check in a minute", fact.AddedBy, authors.Unknown)
		case !c.Approval.AllowAuthor && isAuthor:
			v.Reason = fmt.Sprintf("added by @%s, who %s: an author of this change; someone who wrote none of it must approve", fact.AddedBy, how)
		case !c.Approval.AllowAuthor && len(authors.Unmapped) > 0:
			v.Reason = fmt.Sprintf("added by @%s, but the change has code by %s, which GitHub maps to no account, so the bot cannot rule out that @%s wrote it: "+
				"have them add that email to their GitHub account (or rewrite the commits with their account's email) and re-run this check", fact.AddedBy, authors.UnmappedList(), fact.AddedBy)
		case !fact.Permission.AtLeast(c.Approval.Permission):
			v.Reason = fmt.Sprintf("added by @%s, whose permission is %s; approval needs %s or more", fact.AddedBy, describeRole(fact), c.Approval.Permission)
		default:
			on, same, why := f.contentVerdict(fact)
			v.ApprovedOn = on
			switch {
			case why != "":
				v.Reason = fmt.Sprintf("added by @%s at %s, but %s; it counts only for the code it was given on: re-run this check in a minute; if it stays, review the head and add the label again",
					fact.AddedBy, clock(fact.AddedAt), why)
			case !same:
				v.Reason = fmt.Sprintf("added by @%s at %s on `%s`, whose content differs from the head `%s`: review the new code and add it again",
					fact.AddedBy, clock(fact.AddedAt), Short(on), Short(f.Head))
			default:
				v.Valid = true
				v.Reason = fmt.Sprintf("added by @%s (%s) at %s on `%s`", fact.AddedBy, describeRole(fact), clock(fact.AddedAt), Short(on))
				if on != f.Head {
					v.Reason = fmt.Sprintf("added by @%s (%s) at %s: approved on `%s`, same content as `%s`", fact.AddedBy, describeRole(fact), clock(fact.AddedAt), Short(on), Short(f.Head))
				}
			}
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

// StaleApprovals are the approval labels that no longer count because
// the code changed since they were given (reset_on_push removes them):
// present, placed on a head whose tree differs from the current head's.
// An approval of identical content (a reworded or re-signed commit) is
// kept, and so is one the history cannot place yet: it counts nothing,
// and the check says why, until it can be placed.
func (c Config) StaleApprovals(f ApprovalFacts) []LabelFact {
	if !c.Approval.ResetOnPush {
		return nil
	}
	var out []LabelFact
	for _, name := range c.ApprovalLabels() {
		fact, ok := f.Labels[strings.ToLower(name)]
		if !ok || !fact.Present || fact.Unknown != "" {
			continue
		}
		on, same, why := f.contentVerdict(fact)
		if why == "" && !same && on != "" {
			fact.Name = name
			out = append(out, fact)
		}
	}
	return out
}

// EvaluateApproval decides hotfix-bot/approval.
func (c Config) EvaluateApproval(v ApprovalVerdict, f ApprovalFacts) CheckResult {
	r := CheckResult{Name: CheckApproval}
	if !c.Approval.Required {
		r.Conclusion = Success
		r.Title = "No approval required"
		r.Summary = "`approval.required` is `false` in the policy: this repository ships hotfixes without approval labels, " +
			"so one person can promote their own change. Set `approval.required: true` (the default) to require them."
		return r
	}
	authors := f.Authors()
	var who string
	switch {
	case c.Approval.AllowAuthor:
		who = "\n\n`approval.allow_author` is `true`: the authors of the change may approve it."
	case authors.Unknown != "":
		who = "\n\n**Authors:** cannot be established: " + authors.Unknown + "."
	default:
		who = "\n\n**Authors** (they cannot approve): " + authors.Describe() + "."
		if len(authors.Unmapped) > 0 {
			who += " **Unknown to GitHub** (no approval can be told apart from them): " + authors.UnmappedList() + "."
		}
	}
	if v.Valid() {
		r.Conclusion = Success
		r.Title = "Approved"
		r.Summary = "Every required label counts: " + v.Describe() + ".\n\n" + v.Table() + who
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
	r.Summary = fmt.Sprintf("A hotfix needs %s, each added by someone with %s permission or more%s, on code with the same content as the head `%s`.\n\n%s\n"+
		"Labels are counted from the pull request's event log (who added each one last, and when) and the branch's push history (GitHub's activity log: what the head was at that moment).%s",
		labelList(labelsOf(v)), c.Approval.Permission,
		map[bool]string{false: " who wrote none of the change", true: ""}[c.Approval.AllowAuthor], Short(f.Head), v.Table(), who)
	return r
}

func labelsOf(v ApprovalVerdict) []string {
	var out []string
	for _, l := range v {
		out = append(out, l.Label)
	}
	return out
}
