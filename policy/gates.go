package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Check run names the gates report under.
const (
	CheckBase     = "hotfix-bot/base"
	CheckSchema   = "hotfix-bot/schema"
	CheckApproval = "hotfix-bot/approval"
)

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

// Annotation marks a file in a check run.
type Annotation struct {
	Path    string
	Title   string
	Message string
}

// Commit is a commit as shown to people.
type Commit struct {
	SHA   string
	Title string
}

// Production is what runs in production.
type ProductionState struct {
	// Known is false when the repository has neither a successful
	// production deployment nor a release tag.
	Known bool
	SHA   string
	// Tag is the newest release tag on SHA, "" when SHA is untagged.
	Tag string
	// Source says how SHA was found, for people.
	Source string
}

// Name is the tag, or "untagged <sha>".
func (p ProductionState) Name() string {
	if p.Tag != "" {
		return p.Tag
	}
	return "untagged " + Short(p.SHA)
}

// Ref is what a git command should name: the tag, or the sha.
func (p ProductionState) Ref() string {
	if p.Tag != "" {
		return p.Tag
	}
	return p.SHA
}

// Short abbreviates a sha for people.
func Short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// UnreleasedCommits are commits a hotfix carries that sit on a development
// branch (develop or a release branch) but not in production.
type UnreleasedCommits struct {
	Branch  string
	Count   int
	Commits []Commit // the first few, oldest first
	// ForkPoint is where the hotfix branched off Branch.
	ForkPoint string
}

// BaseFacts is what the base gate needs to know about a hotfix head.
type BaseFacts struct {
	Branch     string
	Head       string
	Production ProductionState
	// ForkRepo is set when the head lives in a fork ("owner/name").
	ForkRepo string
	// MergeBase is the merge base of Head with the production commit, and
	// MergeBaseTag a release tag on it, if any.
	MergeBase    string
	MergeBaseTag string
	// BehindBy counts production commits the head lacks.
	BehindBy int
	// Unreleased lists, per development branch, what the head carries
	// that production lacks.
	Unreleased []UnreleasedCommits
}

// ShownCommits is how many unreleased commits a failure lists by name.
const ShownCommits = 5

// EvaluateBase decides hotfix-bot/base: success only when the head's merge
// base with production is the production commit itself and the head
// carries no commit of develop or a release branch that production lacks.
func EvaluateBase(f BaseFacts) CheckResult {
	r := CheckResult{Name: CheckBase}
	switch {
	case f.ForkRepo != "":
		r.Conclusion = Failure
		r.Title = "Hotfix PRs must come from a branch of this repository"
		r.Summary = fmt.Sprintf("This pull request comes from the fork **%s**. hotfix PRs must come from a branch of this repository, "+
			"so that the bot can check, tag and merge exactly what was reviewed.\n\n"+
			"**What to do:** push the branch to this repository (someone with write access can do it) and open the pull request from there.", f.ForkRepo)
		return r
	case !f.Production.Known:
		r.Conclusion = Failure
		r.Title = "Production is unknown: nothing to compare with"
		r.Summary = "hotfix-bot cannot tell what runs in production: this repository has no successful deployment to the production environment and no release tag.\n\n" +
			"**What to do**, either:\n" +
			"- report your current production deployment to GitHub (a deployment with a `success` status in the production environment), or\n" +
			"- tag the commit production runs, e.g. `git tag v1.0.0 <sha> && git push origin v1.0.0` (the tag must match `production.tag_pattern`).\n\n" +
			"Then re-run this check."
		return r
	}

	prod := f.Production
	startsAtProduction := f.MergeBase == prod.SHA
	var unreleased []UnreleasedCommits
	total := 0
	for _, u := range f.Unreleased {
		if u.Count > 0 {
			unreleased = append(unreleased, u)
			total += u.Count
		}
	}
	if startsAtProduction && total == 0 {
		r.Conclusion = Success
		r.Title = fmt.Sprintf("Starts at production (%s)", prod.Name())
		r.Summary = fmt.Sprintf("`%s` branches from the production commit `%s` (%s) and carries nothing unreleased.\n\nProduction: %s.",
			f.Branch, Short(prod.SHA), prod.Name(), prod.Source)
		return r
	}

	r.Conclusion = Failure
	var b strings.Builder
	switch {
	case !startsAtProduction && total > 0:
		r.Title = fmt.Sprintf("Not cut from production: %d unreleased commit%s, %d behind %s", total, plural(total), f.BehindBy, prod.Name())
	case !startsAtProduction:
		r.Title = fmt.Sprintf("Not cut from production: %d commit%s behind %s", f.BehindBy, plural(f.BehindBy), prod.Name())
	default:
		r.Title = fmt.Sprintf("Carries %d unreleased commit%s", total, plural(total))
	}
	fmt.Fprintf(&b, "`%s` must start exactly at the production commit, and carry only the fix.\n\n", f.Branch)
	fmt.Fprintf(&b, "- Production: **%s** (`%s`), from %s.\n", prod.Name(), Short(prod.SHA), prod.Source)
	mb := "`" + Short(f.MergeBase) + "`"
	if f.MergeBaseTag != "" {
		mb += " (" + f.MergeBaseTag + ")"
	}
	if startsAtProduction {
		fmt.Fprintf(&b, "- Merge base with production: %s, the production commit.\n", mb)
	} else {
		fmt.Fprintf(&b, "- Merge base with production: %s, **%d commit%s behind production**: the branch lacks fixes that are live.\n", mb, f.BehindBy, plural(f.BehindBy))
	}
	for _, u := range unreleased {
		fmt.Fprintf(&b, "- **%d commit%s from `%s` that production does not have** (they would ship with this hotfix):\n", u.Count, plural(u.Count), u.Branch)
		for _, c := range u.Commits {
			fmt.Fprintf(&b, "  - `%s` %s\n", Short(c.SHA), c.Title)
		}
		if u.Count > len(u.Commits) {
			fmt.Fprintf(&b, "  - … and %d more\n", u.Count-len(u.Commits))
		}
	}

	// The hotfix's own commits start after the fork point: the merge base
	// with production, or where it left a development branch.
	forkPoint := f.MergeBase
	if len(unreleased) > 0 {
		forkPoint = unreleased[0].ForkPoint
	}
	fmt.Fprintf(&b, "\n### How to fix\n\nMove only your hotfix commits onto the production %s:\n\n", map[bool]string{true: "tag", false: "commit"}[prod.Tag != ""])
	fmt.Fprintf(&b, "```sh\ngit fetch origin --tags\ngit rebase --onto %s %s %s\ngit push --force-with-lease origin %s\n```\n\n", prod.Ref(), forkPoint, f.Branch, f.Branch)
	fmt.Fprintf(&b, "Or recreate the branch from production and cherry-pick the fix:\n\n```sh\ngit switch -c %s-2 %s\ngit cherry-pick <your fix commits>\n```\n\nThe checks re-run on the next push.", f.Branch, prod.Ref())
	r.Summary = b.String()
	return r
}

// SchemaFacts is what the schema gate knows about the files a hotfix
// changes relative to production.
type SchemaFacts struct {
	Production ProductionState
	// Files changed between the production commit and the head.
	Files []string
	// Complete is false when GitHub could not list every changed file;
	// Incomplete says why.
	Complete   bool
	Incomplete string
	// Source names where the list came from.
	Source string
}

// SchemaVerdict is the schema gate's reading of the changed files.
type SchemaVerdict struct {
	Flagged bool
	// Files are the changed files matching schema.paths.
	Files []string
	// Checked is how many changed files were matched.
	Checked int
	// Incomplete is set when the hotfix is flagged because the file list
	// was incomplete.
	Incomplete string
}

// ReadSchema matches the changed files against schema.paths. An
// incomplete list is flagged: the bot never passes what it could not see.
func (c Config) ReadSchema(f SchemaFacts) SchemaVerdict {
	v := SchemaVerdict{Checked: len(f.Files)}
	for _, p := range f.Files {
		if c.IsSchemaPath(p) {
			v.Files = append(v.Files, p)
		}
	}
	sort.Strings(v.Files)
	v.Flagged = len(v.Files) > 0
	if !f.Complete {
		v.Flagged = true
		v.Incomplete = f.Incomplete
	}
	return v
}

// shownFiles is how many schema files a summary lists by name.
const shownFiles = 100

// EvaluateSchema decides hotfix-bot/schema: success without schema
// changes, or when the schema approval labels are valid; action_required
// otherwise, with each schema file annotated.
func (c Config) EvaluateSchema(f SchemaFacts, v SchemaVerdict, approval ApprovalVerdict) CheckResult {
	r := CheckResult{Name: CheckSchema}
	if !f.Production.Known {
		r.Conclusion = Failure
		r.Title = "Production is unknown: cannot list changed files"
		r.Summary = "Schema changes are found by comparing the hotfix with production, and production is unknown. See `hotfix-bot/base` for how to fix that."
		return r
	}
	if !v.Flagged {
		r.Conclusion = Success
		r.Title = "No schema changes"
		r.Summary = fmt.Sprintf("No schema files changed (%d file%s checked against `schema.paths`, compared with production %s).", v.Checked, plural(v.Checked), f.Production.Name())
		return r
	}
	var b strings.Builder
	if v.Incomplete != "" {
		fmt.Fprintf(&b, "**Treated as a schema change:** %s The bot never passes a change it could not fully see.\n\n", v.Incomplete)
	}
	if len(v.Files) > 0 {
		verb := "match"
		if len(v.Files) == 1 {
			verb = "matches"
		}
		fmt.Fprintf(&b, "%d changed file%s %s `schema.paths`:\n\n", len(v.Files), plural(len(v.Files)), verb)
		for i, p := range v.Files {
			if i == shownFiles {
				fmt.Fprintf(&b, "- … and %d more (see the annotations)\n", len(v.Files)-shownFiles)
				break
			}
			fmt.Fprintf(&b, "- `%s`\n", p)
		}
		b.WriteString("\n")
	}
	// Approved only with a counted verdict for every schema label: an
	// empty verdict list must not pass vacuously.
	schemaLabels := approval.For(c.Approval.SchemaLabels)
	approved := len(c.Approval.SchemaLabels) > 0 && len(schemaLabels) == len(c.Approval.SchemaLabels) && schemaLabels.Valid()
	if approved {
		r.Conclusion = Success
		r.Title = "Schema change approved"
		fmt.Fprintf(&b, "Approved: %s.", schemaLabels.Describe())
	} else {
		r.Conclusion = ActionRequired
		r.Title = "Schema change needs approval"
		if len(c.Approval.SchemaLabels) == 0 {
			b.WriteString("No `approval.schema_labels` are configured, so a schema change cannot be approved by label; change the policy or drop the schema files from the hotfix.")
		} else {
			fmt.Fprintf(&b, "**What to do:** someone with %s permission or more (not the author%s) reviews the migration for production safety "+
				"(locks, backfills, rollback) and adds %s. `/promote` refuses until then.\n\n",
				c.Approval.Permission, map[bool]string{true: " unless allowed", false: ""}[c.Approval.AllowAuthor], labelList(c.Approval.SchemaLabels))
			if len(schemaLabels) > 0 {
				b.WriteString(schemaLabels.Table())
			}
		}
	}
	r.Summary = b.String()
	for _, p := range v.Files {
		r.Annotations = append(r.Annotations, Annotation{
			Path:    p,
			Title:   "Schema change",
			Message: fmt.Sprintf("This file matches schema.paths: the hotfix needs %s before /promote.", labelList(c.Approval.SchemaLabels)),
		})
	}
	return r
}

// LabelFact is what GitHub says about one approval label on a PR.
type LabelFact struct {
	Name    string
	Present bool
	// AddedBy is who added it last (the latest `labeled` event).
	AddedBy    string
	AddedByBot bool
	AddedAt    time.Time
	// Permission is AddedBy's repository permission, and Role the role
	// name GitHub reported.
	Permission Permission
	Role       string
}

// ApprovalFacts is what the approval gate knows about a hotfix PR.
type ApprovalFacts struct {
	Author string
	Head   string
	// HeadPushedAt is when the head commit was pushed (zero: unknown).
	HeadPushedAt time.Time
	// Labels by lower-case name.
	Labels map[string]LabelFact
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

// Approve judges each required label: present, added (latest `labeled`
// event) by a person, not a bot, who is not the author unless allowed,
// whose permission is at least approval.permission, after the head was
// pushed (with reset_on_push).
func (c Config) Approve(f ApprovalFacts, labels []string) ApprovalVerdict {
	var out ApprovalVerdict
	for _, name := range labels {
		fact, ok := f.Labels[strings.ToLower(name)]
		v := LabelVerdict{Label: name, Fact: fact}
		switch {
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
		case c.Approval.ResetOnPush && !f.HeadPushedAt.IsZero() && fact.AddedAt.Before(f.HeadPushedAt):
			v.Reason = fmt.Sprintf("added by @%s at %s, before the latest push (`%s` at %s); review the new commits and add it again",
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

func clock(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }

// StaleApprovals are the approval labels a new push invalidates: present,
// and added before the head was pushed. Labels added after the push (a
// reviewer who was quicker than the bot) stay.
func (c Config) StaleApprovals(f ApprovalFacts) []LabelFact {
	if !c.Approval.ResetOnPush || f.HeadPushedAt.IsZero() {
		return nil
	}
	var out []LabelFact
	for _, name := range append(append([]string{}, c.Approval.Labels...), c.Approval.SchemaLabels...) {
		fact, ok := f.Labels[strings.ToLower(name)]
		if ok && fact.Present && fact.AddedAt.Before(f.HeadPushedAt) {
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
	r.Summary = fmt.Sprintf("A hotfix needs %s, each added by someone with %s permission or more%s, after the latest push.\n\n%s\n"+
		"Labels are counted from the pull request's event log: who added each one last, and when.",
		labelList(labelsOf(v)), c.Approval.Permission,
		map[bool]string{false: " who is not the author", true: ""}[c.Approval.AllowAuthor], v.Table())
	return r
}

func labelsOf(v ApprovalVerdict) []string {
	var out []string
	for _, l := range v {
		out = append(out, l.Label)
	}
	return out
}

func labelList(labels []string) string {
	quoted := make([]string, len(labels))
	for i, l := range labels {
		quoted[i] = "`" + l + "`"
	}
	return strings.Join(quoted, " and ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// BrokenPolicy is the result every check gets when the policy file is
// invalid: failure, quoting the problems with their lines.
func BrokenPolicy(name, description string) CheckResult {
	return CheckResult{
		Name:       name,
		Conclusion: Failure,
		Title:      "The hotfix-bot policy file is invalid",
		Summary:    description,
	}
}

// Fit shortens a summary to GitHub's limit, saying so.
func Fit(s string) string {
	if len(s) <= MaxSummary {
		return s
	}
	const note = "\n\n… (truncated: the full text exceeds GitHub's 65535-character limit)"
	cut := MaxSummary - len(note)
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
