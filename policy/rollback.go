package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// ProductionDeployment is one deployment to the production environment,
// as the rollback lineage reads it.
type ProductionDeployment struct {
	ID  int64
	SHA string
	// Tag is the newest release tag on SHA, "" when it is untagged.
	Tag string
	// Statuses are the deployment's statuses, oldest first.
	Statuses []DeploymentStatus
	// Bot is the payload when this app created the deployment; nil for
	// everyone else's (your release pipeline's).
	Bot *DeploymentPayload
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	State string
	At    time.Time
}

// run is what became of a deployment, from its statuses: it ran
// (its newest final state is success; `inactive`, which GitHub adds to an
// earlier deployment when a newer one succeeds, says nothing against it),
// it ran and then failed (a failure or error after a success), or it
// never ran (no success yet: failed, or still in flight).
type run int

const (
	neverRan run = iota
	ran
	ranThenFailed
)

func (d ProductionDeployment) outcome() (r run, succeededAt time.Time) {
	final := ""
	for _, s := range d.Statuses {
		switch s.State {
		case "success":
			final, succeededAt = s.State, s.At
		case "failure", "error":
			final = s.State
		}
	}
	switch {
	case succeededAt.IsZero():
		return neverRan, succeededAt
	case final == "success":
		return ran, succeededAt
	}
	return ranThenFailed, succeededAt
}

// finalState is the deployment's newest final state ("" while in
// flight).
func (d ProductionDeployment) finalState() string {
	final := ""
	for _, s := range d.Statuses {
		if s.State == "success" || s.State == "failure" || s.State == "error" {
			final = s.State
		}
	}
	return final
}

func (d ProductionDeployment) name() string { return refName(d.Tag, d.SHA) }

func refName(tag, sha string) string {
	if tag != "" {
		return tag
	}
	return "untagged " + Short(sha)
}

// LineageEntry is a release production stands on.
type LineageEntry struct {
	SHA string
	Tag string
	// Deployment put production on it, the last time (a release, or a
	// rollback to it), and Since is when that deployment succeeded.
	Deployment int64
	Since      time.Time
}

// Name is the tag, or "untagged <sha>".
func (e LineageEntry) Name() string { return refName(e.Tag, e.SHA) }

// Departure is a release production ran and no longer stands on.
type Departure struct {
	SHA string
	Tag string
	// Deployment is the deployment that ran it.
	Deployment int64
	// RolledBackBy is the deployment that took production back below
	// it, and To where (its name); zero when it failed instead: its
	// deployment reported a failure after it had succeeded.
	RolledBackBy int64
	To           string
}

// Name is the tag, or "untagged <sha>".
func (d Departure) Name() string { return refName(d.Tag, d.SHA) }

// Reason says why production left it, for people.
func (d Departure) Reason() string {
	if d.RolledBackBy != 0 {
		return fmt.Sprintf("was rolled back: deployment %d took production back to %s", d.RolledBackBy, d.To)
	}
	return fmt.Sprintf("failed: deployment %d reported a failure after it had succeeded", d.Deployment)
}

// Lineage is production's lineage: the releases it ran and still stands
// on, oldest first (the last is what production runs now), and the ones
// it ran and left.
type Lineage struct {
	Entries []LineageEntry
	// Bottomless: the bot stopped reading at its bound, so there may be
	// releases below Entries[0] it does not know of.
	Bottomless bool
	// Left are the releases production ran and no longer stands on, by
	// commit: superseded by a rollback, or failed after success.
	Left map[string]Departure
	// Read is how many deployments the lineage was built from.
	Read int
}

// Top is what production runs by the lineage (zero when it is empty).
func (l Lineage) Top() LineageEntry {
	if len(l.Entries) == 0 {
		return LineageEntry{}
	}
	return l.Entries[len(l.Entries)-1]
}

func (l Lineage) index(sha string) int {
	for i := len(l.Entries) - 1; i >= 0; i-- {
		if l.Entries[i].SHA == sha {
			return i
		}
	}
	return -1
}

// ProductionLineage builds production's lineage from its deployments,
// newest first as GitHub lists them; complete says the list goes back to
// the first deployment. Walking from the oldest:
//   - a deployment that never succeeded changes nothing;
//   - one that succeeded and then reported a failure or an error is
//     skipped (production does not stand on it);
//   - one that succeeded puts its release on top, unless production ran
//     that release before and still stands on it: then the lineage goes
//     back to it, and what was above is superseded (a rollback, the bot's
//     or your pipeline's);
//   - a bot rollback to a release the lineage does not hold (older than
//     what was read, or from before the first deployment) supersedes
//     everything read: production stands on that release, and what lies
//     under it is unknown.
func ProductionLineage(deps []ProductionDeployment, complete bool) Lineage {
	l := Lineage{Bottomless: !complete, Left: map[string]Departure{}, Read: len(deps)}
	for i := len(deps) - 1; i >= 0; i-- {
		d := deps[i]
		outcome, at := d.outcome()
		switch outcome {
		case neverRan:
			continue
		case ranThenFailed:
			if l.index(d.SHA) < 0 {
				l.Left[d.SHA] = Departure{SHA: d.SHA, Tag: d.Tag, Deployment: d.ID}
			}
			continue
		}
		entry := LineageEntry{SHA: d.SHA, Tag: d.Tag, Deployment: d.ID, Since: at}
		keep := l.index(d.SHA)
		if keep < 0 && (d.Bot == nil || d.Bot.Kind != "rollback") {
			l.Entries = append(l.Entries, entry)
			delete(l.Left, d.SHA)
			continue
		}
		// Back to a release production stood on: what was above it (with
		// keep < 0, everything read) is superseded.
		for _, gone := range l.Entries[keep+1:] {
			l.Left[gone.SHA] = Departure{SHA: gone.SHA, Tag: gone.Tag, Deployment: gone.Deployment, RolledBackBy: d.ID, To: d.name()}
		}
		if keep < 0 {
			// Under a release the lineage never held, nothing is known.
			l.Entries, l.Bottomless = []LineageEntry{entry}, true
		} else {
			l.Entries = append(l.Entries[:keep], entry)
		}
		delete(l.Left, d.SHA)
	}
	return l
}

// RollbackFacts is what `/rollback` decides on.
type RollbackFacts struct {
	Production ProductionState
	// RequestedTag is the tag the command named (""), and RequestedSHA its
	// commit ("" when there is no such tag).
	RequestedTag string
	RequestedSHA string
	// Force is `--force`.
	Force bool
	// Deployments are production's deployments, newest first, with their
	// statuses; DeploymentsComplete is false when the bot stopped at its
	// bound with older ones unread.
	Deployments         []ProductionDeployment
	DeploymentsComplete bool
	// Promoted is the newest production deployment of the hotfix pull
	// request the command was given on (nil elsewhere, with a tag, or
	// when it was never promoted).
	Promoted *PromotedHotfix
	// WrittenAt is when the command's comment was written.
	WrittenAt time.Time
}

// PromotedHotfix is a hotfix pull request's production deployment.
type PromotedHotfix struct {
	Deployment int64
	SHA        string
	Payload    DeploymentPayload
}

// RollbackTarget is what a rollback deploys, and why that.
type RollbackTarget struct {
	SHA string
	Tag string
	Why string
}

// Name is the tag, or "untagged <sha>".
func (t RollbackTarget) Name() string { return refName(t.Tag, t.SHA) }

// ChooseRollbackTarget picks what `/rollback` deploys, from production's
// lineage (ProductionLineage), never from what merely ran once:
//   - a named tag must be a release production still stands on, below
//     what it runs now; a release production ran and left (rolled back,
//     or failed after success) only with --force; one that never ran, not
//     at all (that is /promote's work);
//   - on a hotfix pull request whose release production runs, what ran
//     before it; on one whose release production no longer runs, nothing
//     (it says where production is);
//   - otherwise the release production ran before the current one.
//
// It refuses when production moved after the command was written (the
// person asked about another production), and when the lineage cannot
// answer (it disagrees with production, or its bottom was not read).
func (c Config) ChooseRollbackTarget(f RollbackFacts) (RollbackTarget, *Refusal) {
	prod := f.Production
	if !prod.Known {
		why := "the bot cannot tell what production runs"
		if prod.Unknown != "" {
			why += ": " + prod.Unknown
		}
		return RollbackTarget{}, &Refusal{Rule: "production known", Why: why, Next: "name the tag to roll back to once production is known, or deploy it through your CD system"}
	}
	l := ProductionLineage(f.Deployments, f.DeploymentsComplete)
	top := l.Top()
	if len(l.Entries) > 0 && top.SHA != prod.SHA {
		return RollbackTarget{}, &Refusal{Rule: "production lineage known",
			Why: fmt.Sprintf("production's deployments say it stands on %s (deployment %d), but its newest successful deployment runs %s (`%s`); a deployment may have reported meanwhile",
				top.Name(), top.Deployment, prod.Name(), Short(prod.SHA)),
			Next: "comment the command again in a minute; if this stays, name the tag to roll back to"}
	}
	if len(l.Entries) > 0 && !f.WrittenAt.IsZero() && top.Since.After(f.WrittenAt) {
		return RollbackTarget{}, &Refusal{Rule: "production unchanged since the command",
			Why: fmt.Sprintf("production moved after this command was written (%s): it now runs %s, since deployment %d succeeded at %s",
				stamp(f.WrittenAt), top.Name(), top.Deployment, stamp(top.Since)),
			Next: fmt.Sprintf("check what runs now; comment `/rollback` again if you still want to roll back from %s", top.Name())}
	}
	if f.RequestedTag != "" {
		return c.namedRollback(f, l)
	}
	if p := f.Promoted; p != nil {
		if target, refusal, decided := c.rollbackOfPromotion(f, l, p); decided {
			return target, refusal
		}
	}
	if len(l.Entries) >= 2 {
		prev := l.Entries[len(l.Entries)-2]
		return RollbackTarget{SHA: prev.SHA, Tag: prev.Tag, Why: fmt.Sprintf("the release production ran before %s (deployment %d)%s",
			top.Name(), prev.Deployment, l.skipped(prev))}, nil
	}
	if len(l.Entries) == 1 && l.Bottomless {
		return RollbackTarget{}, &Refusal{Rule: "production lineage known",
			Why:  fmt.Sprintf("the newest %d production deployments the bot read do not say what production ran before %s", l.Read, top.Name()),
			Next: "name the tag to roll back to: `/rollback v1.2.3`"}
	}
	return RollbackTarget{}, &Refusal{Rule: "an earlier release", Why: "the bot knows of no earlier production deployment to roll back to",
		Next: "name the tag to roll back to: `/rollback v1.2.3`"}
}

// namedRollback is `/rollback TAG`.
func (c Config) namedRollback(f RollbackFacts, l Lineage) (RollbackTarget, *Refusal) {
	prod, tag := f.Production, f.RequestedTag
	name := Code(tag) // the command's argument, shown inert
	if f.RequestedSHA == "" {
		return RollbackTarget{}, &Refusal{Rule: "tag exists", Why: "there is no tag " + name,
			Next: "name a tag production ran before" + l.recent()}
	}
	if f.RequestedSHA == prod.SHA {
		return RollbackTarget{}, &Refusal{Rule: "not production already", Why: fmt.Sprintf("production already runs %s (`%s`)", name, Short(prod.SHA)),
			Next: "name an earlier tag" + l.recent()}
	}
	if i := l.index(f.RequestedSHA); i >= 0 {
		e := l.Entries[i]
		return RollbackTarget{SHA: e.SHA, Tag: tag, Why: fmt.Sprintf("%s, as asked (production ran it, deployment %d, and still stands on it)%s", name, e.Deployment, l.skipped(e))}, nil
	}
	if left, ok := l.Left[f.RequestedSHA]; ok {
		if f.Force {
			return RollbackTarget{SHA: f.RequestedSHA, Tag: tag, Why: fmt.Sprintf("%s, as asked with `--force`, although it %s", name, left.Reason())}, nil
		}
		return RollbackTarget{}, &Refusal{Rule: "in production's lineage",
			Why: fmt.Sprintf("%s (`%s`) ran in production (deployment %d), and it %s: production does not stand on it any more",
				name, Short(f.RequestedSHA), left.Deployment, left.Reason()),
			Next: "roll back to a release production still stands on" + l.recent() +
				"; if you mean to deploy " + name + " again anyway, someone with maintain permission comments `/rollback " + tag + " --force`"}
	}
	why := fmt.Sprintf("%s (`%s`) never ran in production: no deployment of it to `%s` succeeded", name, Short(f.RequestedSHA), c.Production.Environment)
	if l.Bottomless {
		why = fmt.Sprintf("%s (`%s`) is not among the newest %d production deployments the bot read, so it cannot tell whether it ever ran", name, Short(f.RequestedSHA), l.Read)
	}
	return RollbackTarget{}, &Refusal{Rule: "ran in production before", Why: why,
		Next: "roll back only to something production ran" + l.recent() + "; to ship " + name + " for the first time, `/promote` its pull request"}
}

// rollbackOfPromotion is `/rollback` on a promoted hotfix pull request;
// decided is false when the general rule applies.
func (c Config) rollbackOfPromotion(f RollbackFacts, l Lineage, p *PromotedHotfix) (RollbackTarget, *Refusal, bool) {
	prod, top := f.Production, l.Top()
	pr := fmt.Sprintf("#%d", p.Payload.PR)
	release := refName(p.Payload.NextTag, p.SHA)
	before := refName(p.Payload.PreviousTag, p.Payload.PreviousRef)
	i := l.index(p.SHA)
	switch {
	case i >= 0 && i == len(l.Entries)-1 && i > 0:
		prev := l.Entries[i-1]
		return RollbackTarget{SHA: prev.SHA, Tag: prev.Tag, Why: fmt.Sprintf("what production ran before %s was promoted (deployment %d)%s", pr, prev.Deployment, l.skipped(prev))}, nil, true
	case i >= 0 && i == len(l.Entries)-1:
		if !l.Bottomless && p.Payload.PreviousRef != "" && p.Payload.PreviousRef != p.SHA {
			return RollbackTarget{SHA: p.Payload.PreviousRef, Tag: p.Payload.PreviousTag, Why: fmt.Sprintf("what production ran before %s was promoted", pr)}, nil, true
		}
		return RollbackTarget{}, nil, false
	case i >= 0:
		return RollbackTarget{}, &Refusal{Rule: "promotion still in production",
			Why: fmt.Sprintf("production moved on since %s: it still stands on %s's %s, but runs %s now (deployment %d)", pr, pr, release, top.Name(), top.Deployment),
			Next: fmt.Sprintf("to roll back %s, comment `/rollback` on an issue (it goes back to what ran before it); to go back to what ran before %s, name it: `/rollback %s`",
				top.Name(), pr, l.Entries[max(i-1, 0)].Name())}, true
	}
	// The promotion is not in production's lineage: say what became of it.
	var fate, next string
	d, read := deploymentByID(f.Deployments, p.Deployment)
	left, isLeft := l.Left[p.SHA]
	switch {
	case isLeft:
		fate = fmt.Sprintf("%s's %s %s", pr, release, left.Reason())
	case !read:
		fate = fmt.Sprintf("%s's deployment %d is older than the newest %d production deployments the bot read", pr, p.Deployment, l.Read)
	case d.finalState() == "":
		fate = fmt.Sprintf("%s's deployment %d of %s has not finished (no final status yet)", pr, p.Deployment, release)
		next = fmt.Sprintf("wait for deployment %d to report; if it fails, the bot rolls production back by itself (`rollback.on_failure`)", p.Deployment)
	default:
		fate = fmt.Sprintf("%s's %s never ran: deployment %d reported %s", pr, release, p.Deployment, d.finalState())
	}
	if prod.SHA == p.Payload.PreviousRef {
		if next == "" {
			next = fmt.Sprintf("nothing of %s is left to roll back", pr)
			if len(l.Entries) >= 2 {
				next += "; to roll production back further, name the tag: `/rollback " + l.Entries[len(l.Entries)-2].Name() + "`"
			} else {
				next += "; to roll production back further, name the tag to go back to"
			}
		}
		return RollbackTarget{}, &Refusal{Rule: "promotion still in production",
			Why:  fmt.Sprintf("production already runs what ran before %s (%s): %s", pr, before, fate),
			Next: next}, true
	}
	return RollbackTarget{}, &Refusal{Rule: "promotion still in production",
		Why: fmt.Sprintf("%s, and production moved on since: it runs %s now", fate, prod.Name()),
		Next: fmt.Sprintf("to roll back %s, comment `/rollback` on an issue (it goes back to what ran before it), or name the tag to go back to%s",
			prod.Name(), l.recent())}, true
}

func deploymentByID(deps []ProductionDeployment, id int64) (ProductionDeployment, bool) {
	for _, d := range deps {
		if d.ID == id {
			return d, true
		}
	}
	return ProductionDeployment{}, false
}

// skipped names the releases production ran after the target and left,
// for the target's "why".
func (l Lineage) skipped(target LineageEntry) string {
	var gone []Departure
	for _, d := range l.Left {
		if d.Deployment > target.Deployment {
			gone = append(gone, d)
		}
	}
	if len(gone) == 0 {
		return ""
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].Deployment > gone[j].Deployment })
	var names []string
	for i, d := range gone {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(gone)-3))
			break
		}
		names = append(names, d.Name()+", which "+d.Reason())
	}
	return "; skipped: " + strings.Join(names, "; ")
}

// recent lists a few releases production stands on below what it runs,
// for a refusal's next step.
func (l Lineage) recent() string {
	var names []string
	for i := len(l.Entries) - 2; i >= 0 && len(names) < 3; i-- {
		if t := l.Entries[i].Tag; t != "" {
			names = append(names, "`"+t+"`")
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ", such as " + strings.Join(names, ", ")
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

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
