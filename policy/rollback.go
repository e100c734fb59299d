package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// DeployedRef is a commit production ran: a deployment to the production
// environment that reached `success`.
type DeployedRef struct {
	SHA        string
	Tag        string
	Deployment int64
	At         time.Time
}

// Name is the tag, or "untagged <sha>".
func (d DeployedRef) Name() string {
	if d.Tag != "" {
		return d.Tag
	}
	return "untagged " + Short(d.SHA)
}

// RollbackFacts is what `/rollback` decides on.
type RollbackFacts struct {
	Production ProductionState
	// RequestedTag is the tag the command named (""), and RequestedSHA its
	// commit ("" when there is no such tag).
	RequestedTag string
	RequestedSHA string
	// History lists the commits production ran, newest first, one entry
	// per commit; HistoryIncomplete says the bot did not read all of it.
	History           []DeployedRef
	HistoryIncomplete bool
	// Promoted is the payload of the newest hotfix deployment to
	// production of the pull request the command was given on, if any.
	Promoted *DeploymentPayload
}

// RollbackTarget is what a rollback deploys, and why that.
type RollbackTarget struct {
	SHA string
	Tag string
	Why string
}

// Name is the tag, or "untagged <sha>".
func (t RollbackTarget) Name() string {
	if t.Tag != "" {
		return t.Tag
	}
	return "untagged " + Short(t.SHA)
}

// ChooseRollbackTarget picks what `/rollback` deploys: the named tag,
// which must have run in production before (looked up, never trusted by
// its name); on a promoted hotfix pull request, what production ran before
// it; otherwise the last commit production ran before the current one.
func (c Config) ChooseRollbackTarget(f RollbackFacts) (RollbackTarget, *Refusal) {
	prod := f.Production
	if !prod.Known {
		why := "the bot cannot tell what production runs"
		if prod.Unknown != "" {
			why += ": " + prod.Unknown
		}
		return RollbackTarget{}, &Refusal{Rule: "production known", Why: why, Next: "name the tag to roll back to once production is known, or deploy it through your CD system"}
	}
	if f.RequestedTag != "" {
		if f.RequestedSHA == "" {
			return RollbackTarget{}, &Refusal{Rule: "tag exists", Why: "there is no tag " + Code(f.RequestedTag),
				Next: "name a tag production ran before" + c.recent(f.History)}
		}
		if f.RequestedSHA == prod.SHA {
			return RollbackTarget{}, &Refusal{Rule: "not production already", Why: fmt.Sprintf("production already runs %s (`%s`)", Code(f.RequestedTag), Short(prod.SHA)),
				Next: "name an earlier tag" + c.recent(f.History)}
		}
		for _, d := range f.History {
			if d.SHA == f.RequestedSHA {
				return RollbackTarget{SHA: d.SHA, Tag: f.RequestedTag, Why: fmt.Sprintf("%s, as asked (it ran in production: deployment %d)", Code(f.RequestedTag), d.Deployment)}, nil
			}
		}
		why := fmt.Sprintf("%s (`%s`) never ran in production: no deployment of it to `%s` succeeded", Code(f.RequestedTag), Short(f.RequestedSHA), c.Production.Environment)
		if f.HistoryIncomplete {
			why = fmt.Sprintf("%s (`%s`) is not among the production deployments the bot read, so it cannot tell whether it ever ran", Code(f.RequestedTag), Short(f.RequestedSHA))
		}
		return RollbackTarget{}, &Refusal{Rule: "ran in production before", Why: why,
			Next: "roll back only to something production ran" + c.recent(f.History)}
	}
	if p := f.Promoted; p != nil && p.PreviousRef != "" && p.PreviousRef != prod.SHA {
		return RollbackTarget{SHA: p.PreviousRef, Tag: p.PreviousTag, Why: fmt.Sprintf("what production ran before #%d was promoted", p.PR)}, nil
	}
	for _, d := range f.History {
		if d.SHA != prod.SHA {
			return RollbackTarget{SHA: d.SHA, Tag: d.Tag, Why: fmt.Sprintf("the last release production ran before %s (deployment %d)", prod.Name(), d.Deployment)}, nil
		}
	}
	return RollbackTarget{}, &Refusal{Rule: "an earlier release", Why: "the bot knows of no earlier production deployment to roll back to",
		Next: "name the tag to roll back to: `/rollback v1.2.3`"}
}

// recent lists a few tags production ran, for a refusal's next step.
func (c Config) recent(history []DeployedRef) string {
	var names []string
	for _, d := range history {
		if d.Tag != "" && len(names) < 3 {
			names = append(names, Code(d.Tag))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ", such as " + strings.Join(names, ", ")
}

// RollbackSchemaFiles are the schema files that differ between the
// rollback target and production: migrations that may not reverse. An
// incomplete file list counts as a schema change (unknown is not "none").
func (c Config) RollbackSchemaFiles(files []string, complete bool) (schema []string, incomplete bool) {
	seen := map[string]bool{}
	for _, f := range files {
		if c.IsSchemaPath(f) && !seen[f] {
			seen[f] = true
			schema = append(schema, f)
		}
	}
	sort.Strings(schema)
	return schema, !complete
}
