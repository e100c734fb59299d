package policy

import (
	"fmt"
	"strings"
)

// Check run names the gates report under.
const (
	CheckBase     = "hotfix-bot/base"
	CheckSchema   = "hotfix-bot/schema"
	CheckApproval = "hotfix-bot/approval"
)

// Gates are every gate, in the order they are shown.
var Gates = []string{CheckBase, CheckSchema, CheckApproval}

// Check run conclusions the gates reach.
const (
	Success        = "success"
	Failure        = "failure"
	ActionRequired = "action_required"
)

// MaxSummary is GitHub's limit on a check run summary.
const MaxSummary = 65535

// CheckResult is a gate's decision, ready to become a check run.
type CheckResult struct {
	Name        string
	Conclusion  string
	Title       string
	Summary     string
	Annotations []Annotation
}

// Passed reports whether the gate lets the hotfix through.
func (r CheckResult) Passed() bool { return r.Conclusion == Success }

// Annotation marks a file in a check run.
type Annotation struct {
	Path    string
	Title   string
	Message string
}

// GateFacts is everything the gates need to know about one head, as
// gathered from GitHub. Facts that could not be established carry the
// reason in their Unknown field, and the gates that need them fail.
type GateFacts struct {
	Branch string
	Head   string
	// Fork is "owner/name" when the head lives in a fork.
	Fork       string
	Production ProductionState
	Base       BaseFacts
	Schema     SchemaFacts
	// Approval is nil for a branch without a pull request.
	Approval *ApprovalFacts
	// Hold is the pull request's hold (zero without one).
	Hold Hold
}

// GateTable is the decision on every gate of one head: what the check
// runs show, what `/promote` re-checks, what `--dry-run` and `/help`
// print. It is computed by Decide and nothing else.
type GateTable struct {
	Head    string
	Results []CheckResult
	// SchemaFlagged: the hotfix changes the schema (or its changed files
	// could not all be seen).
	SchemaFlagged bool
	// Approval is the verdict on every required label (nil without a PR),
	// and ApprovalFacts what it was decided from.
	Approval      ApprovalVerdict
	ApprovalFacts ApprovalFacts
	// Hold is the pull request's hold: the approval check shows it.
	Hold Hold
}

// Decide evaluates the named gates (every gate when names is empty) on
// the facts. A fork gets only the base gate, which fails.
func (c Config) Decide(f GateFacts, names ...string) GateTable {
	if len(names) == 0 {
		names = Gates
	}
	t := GateTable{Head: f.Head, Hold: f.Hold}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	if f.Fork != "" {
		t.Results = []CheckResult{EvaluateBase(BaseFacts{Branch: f.Branch, Head: f.Head, ForkRepo: f.Fork})}
		return t
	}
	verdict := c.ReadSchema(f.Schema)
	// Without production nothing was compared: the schema gate says so,
	// and approvals do not pretend to know there is a schema change.
	t.SchemaFlagged = verdict.Flagged && f.Production.Known
	if f.Approval != nil {
		t.Approval = c.Approve(*f.Approval, c.RequiredLabels(t.SchemaFlagged))
		t.ApprovalFacts = *f.Approval
	}
	for _, name := range Gates {
		if !want[name] {
			continue
		}
		switch name {
		case CheckBase:
			t.Results = append(t.Results, EvaluateBase(f.Base))
		case CheckSchema:
			t.Results = append(t.Results, c.EvaluateSchema(f.Schema, verdict, t.Approval))
		case CheckApproval:
			if f.Approval != nil {
				t.Results = append(t.Results, f.Hold.WithHold(c.EvaluateApproval(t.Approval, *f.Approval)))
			}
		}
	}
	return t
}

// Result returns the decision on one gate.
func (t GateTable) Result(name string) (CheckResult, bool) {
	for _, r := range t.Results {
		if r.Name == name {
			return r, true
		}
	}
	return CheckResult{}, false
}

// Passed reports whether every decided gate passes.
func (t GateTable) Passed() bool {
	for _, r := range t.Results {
		if !r.Passed() {
			return false
		}
	}
	return len(t.Results) > 0
}

// Failed lists the gates that do not pass.
func (t GateTable) Failed() []CheckResult {
	var out []CheckResult
	for _, r := range t.Results {
		if !r.Passed() {
			out = append(out, r)
		}
	}
	return out
}

// Icon is how a conclusion looks in a comment.
func Icon(conclusion string) string {
	switch conclusion {
	case Success:
		return "✅"
	case ActionRequired:
		return "⚠️"
	}
	return "❌"
}

// Markdown renders the table for a comment: one row per gate with its
// verdict and title.
func (t GateTable) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| gate | on `%s` | |\n|---|---|---|\n", Short(t.Head))
	for _, r := range t.Results {
		fmt.Fprintf(&b, "| `%s` | %s %s | %s |\n", r.Name, Icon(r.Conclusion), r.Conclusion, escapeCell(r.Title))
	}
	return b.String()
}

func escapeCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

// BrokenPolicy is the result every check gets when the policy cannot be
// used (the file is invalid, or cannot be trusted): failure, titled and
// described by the caller (the problems with their lines, or why).
func BrokenPolicy(name, title, description string) CheckResult {
	return CheckResult{
		Name:       name,
		Conclusion: Failure,
		Title:      title,
		Summary:    description,
	}
}
