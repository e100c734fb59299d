package policy

import (
	"fmt"
	"sort"
	"strings"
)

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
	// Unknown says why the changed files could not be read at all (a
	// GitHub failure). The gate fails with it.
	Unknown string
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
// otherwise, with each schema file annotated. Facts it could not read
// fail it.
func (c Config) EvaluateSchema(f SchemaFacts, v SchemaVerdict, approval ApprovalVerdict) CheckResult {
	r := CheckResult{Name: CheckSchema}
	switch {
	case f.Production.Unknown != "":
		return unknownProduction(CheckSchema, f.Production)
	case !f.Production.Known:
		r.Conclusion = Failure
		r.Title = "Production is unknown: cannot list changed files"
		r.Summary = "Schema changes are found by comparing the hotfix with production, and production is unknown. See `hotfix-bot/base` for how to fix that."
		return r
	case f.Unknown != "":
		r.Conclusion = Failure
		r.Title = "Cannot list the changed files"
		r.Summary = "hotfix-bot could not read the files this hotfix changes:\n\n> " + f.Unknown +
			"\n\nThe gate fails rather than guess. **What to do:** re-run this check (\"Re-run\" on the check, or push)."
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
			fmt.Fprintf(&b, "- %s\n", Code(p))
		}
		b.WriteString("\n")
	}
	// Approved only with a counted verdict for every schema label: an
	// empty verdict list must not pass vacuously.
	schemaLabels := approval.For(c.Approval.SchemaLabels)
	approved := len(c.Approval.SchemaLabels) > 0 && len(schemaLabels) == len(c.Approval.SchemaLabels) && schemaLabels.Valid()
	switch {
	case !c.Approval.Required:
		r.Conclusion = Success
		r.Title = "Schema change (no approval required)"
		b.WriteString("`approval.required` is `false` in the policy, so the schema change is shipped without a schema approval. Review the migration for production safety (locks, backfills, rollback) before `/promote`.")
	case approved:
		r.Conclusion = Success
		r.Title = "Schema change approved"
		fmt.Fprintf(&b, "Approved: %s.", schemaLabels.Describe())
	default:
		r.Conclusion = ActionRequired
		r.Title = "Schema change needs approval"
		if len(c.Approval.SchemaLabels) == 0 {
			b.WriteString("No `approval.schema_labels` are configured, so a schema change cannot be approved by label; change the policy or drop the schema files from the hotfix.")
		} else {
			fmt.Fprintf(&b, "**What to do:** someone with %s permission or more (who wrote none of the change%s) reviews the migration for production safety "+
				"(locks, backfills, rollback) and adds %s. `/promote` refuses until then.\n\n",
				c.Approval.Permission, map[bool]string{true: " unless allowed", false: ""}[c.Approval.AllowAuthor], labelList(c.Approval.SchemaLabels))
			if len(schemaLabels) > 0 {
				b.WriteString(schemaLabels.Table())
			}
		}
	}
	r.Summary = b.String()
	note := fmt.Sprintf("This file matches schema.paths: the hotfix needs %s before /promote.", labelList(c.Approval.SchemaLabels))
	if !c.Approval.Required {
		note = "This file matches schema.paths: a schema change (approval.required is false, so no approval is asked)."
	}
	for _, p := range v.Files {
		r.Annotations = append(r.Annotations, Annotation{Path: p, Title: "Schema change", Message: note})
	}
	return r
}
