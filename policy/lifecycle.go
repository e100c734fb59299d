package policy

import "fmt"

// LockRelation is how the production lock stands to one of the bot's
// deployments, as read from GitHub when its status arrives.
type LockRelation int

// How the lock can stand to a deployment.
const (
	// LockFree: nobody holds the lock.
	LockFree LockRelation = iota
	// LockNamesThis: held for this deployment's request (the same
	// /promote or /rollback comment, or the same automatic rollback), and
	// naming this deployment, or naming none of this step yet while nobody
	// works on it (its creator died after creating it).
	LockNamesThis
	// LockCreating: held for this deployment's request while a live
	// handler is still creating this step's deployment (a CD system that
	// reports within a second of the deployment's creation): wait for it.
	LockCreating
	// LockMovedOn: held for this deployment's request at another step
	// (the chain moved on to the next environment).
	LockMovedOn
	// LockOther: held for another request, or by an unknown writer.
	LockOther
)

// StatusFacts is what GitHub says now about one final status (success,
// failure, error) of one of the bot's deployments: the event only names
// the deployment and the state; every other field is re-read.
type StatusFacts struct {
	Payload    DeploymentPayload
	Deployment int64
	SHA        string
	// State is the event's: success, failure or error.
	State string
	// Superseded: the deployment has a newer status than the event's, so
	// the event no longer describes it (its own event tells the rest).
	Superseded bool
	// SucceededBefore: a failure that follows a success of the same
	// deployment (a re-run CD job, a post-deploy check).
	SucceededBefore bool
	// NewerDeployment is the newest deployment to the same environment
	// created after this one (0 when none): this one is no longer what
	// the environment is about to run. The automatic rollback of this
	// very failure does not count.
	NewerDeployment int64
	// Production is what production runs now.
	Production ProductionState
	// Lock is how the production lock stands to the deployment, and
	// LockView the lock for people.
	Lock     LockRelation
	LockView LockState
	// Claimed: another handler is working on this deployment's story
	// right now (a live claim on the lock): wait for it.
	Claimed bool
}

// StatusAction is what the bot does with a final deployment status.
type StatusAction int

// The actions a final deployment status can lead to.
const (
	// StatusIgnore: the event no longer describes GitHub and its story is
	// told elsewhere: nothing is done or written.
	StatusIgnore StatusAction = iota
	// StatusWait: another handler is at work on this story; wait for it,
	// then decide again.
	StatusWait
	// StatusLate: the status is real but no longer current (a newer
	// deployment, a lock taken by someone else): the bot reports it on the
	// pull request and changes nothing.
	StatusLate
	// StatusAdvance: a chain step succeeded; after re-checking the
	// promotion, deploy the next environment.
	StatusAdvance
	// StatusStopChain: a chain step before production failed; the chain
	// stops.
	StatusStopChain
	// StatusFinishHotfix: the hotfix runs in production: tag, merge, sync.
	StatusFinishHotfix
	// StatusFailHotfix: production failed and is not rolled back
	// automatically (NoRollback says why).
	StatusFailHotfix
	// StatusRollback: production failed; roll back automatically.
	StatusRollback
	// StatusFinishRollback: the rollback runs in production.
	StatusFinishRollback
	// StatusFailRollback: the rollback failed; production needs a person.
	StatusFailRollback
)

var statusActionNames = map[StatusAction]string{
	StatusIgnore: "ignore", StatusWait: "wait", StatusLate: "late", StatusAdvance: "advance", StatusStopChain: "stop-chain",
	StatusFinishHotfix: "finish-hotfix", StatusFailHotfix: "fail-hotfix", StatusRollback: "rollback",
	StatusFinishRollback: "finish-rollback", StatusFailRollback: "fail-rollback",
}

func (a StatusAction) String() string { return statusActionNames[a] }

// StatusDecision is the verdict on a final deployment status.
type StatusDecision struct {
	Action StatusAction
	// Why says, for people, why a late status changed nothing, or (for
	// StatusFailHotfix) why production was not rolled back.
	Why string
	// ReleaseLock: the lock is this deployment's to release.
	ReleaseLock bool
}

// DecideStatus decides what a final status of one of the bot's
// deployments changes, from GitHub as it is now (the event is a hint):
//
//   - a status the deployment has since replaced changes nothing;
//   - while another handler is creating this deployment or working on its
//     story, wait for it;
//   - a chain step acts only while the lock names it;
//   - a hotfix or rollback is finished (tag, merge, sync; incident issue)
//     only while it is what production runs now;
//   - a production failure rolls back automatically only when it is the
//     newest deployment to production, nothing newer was created since,
//     the lock is held for it (or free), it never succeeded, and
//     production still runs what it replaced.
//
// Everything else is reported on the pull request and changes nothing.
// The schema guard of an automatic rollback needs the files between the
// two commits: see AutomaticRollbackSchema.
func (c Config) DecideStatus(f StatusFacts) StatusDecision {
	p := f.Payload
	if f.Superseded {
		return StatusDecision{Action: StatusIgnore, Why: fmt.Sprintf("deployment %d has a newer status than this one", f.Deployment)}
	}
	if f.Claimed || f.Lock == LockCreating {
		return StatusDecision{Action: StatusWait}
	}
	names := f.Lock == LockNamesThis
	late := func(why string) StatusDecision { return StatusDecision{Action: StatusLate, Why: why} }
	switch {
	case p.Kind == "hotfix" && !p.Final():
		if names && f.State == "success" {
			return StatusDecision{Action: StatusAdvance, ReleaseLock: true}
		}
		if names {
			return StatusDecision{Action: StatusStopChain, ReleaseLock: true}
		}
		if f.Lock == LockMovedOn && f.State == "success" {
			// The chain moved on past this step, as this success asked.
			return StatusDecision{Action: StatusIgnore, Why: "the chain moved on to its next step already"}
		}
		return late(fmt.Sprintf("the promotion of #%d is not waiting on this deployment: %s", p.PR, c.lockWords(f)))
	case p.Kind == "hotfix" && f.State == "success":
		if f.Production.Known && f.Production.Deployment == f.Deployment {
			return StatusDecision{Action: StatusFinishHotfix, ReleaseLock: names}
		}
		return late(productionWords(f) + ": nothing was tagged, merged, moved or synced for it")
	case p.Kind == "hotfix":
		switch {
		case f.NewerDeployment != 0:
			return late(fmt.Sprintf("deployment %d to `%s` was created after it; %s: nothing was rolled back", f.NewerDeployment, p.Environment(), productionWords(f)))
		case f.Lock == LockOther || f.Lock == LockMovedOn:
			return late(fmt.Sprintf("the production lock is %s; %s: nothing was rolled back", f.LockView.Describe(), productionWords(f)))
		}
		fail := func(why string) StatusDecision {
			return StatusDecision{Action: StatusFailHotfix, ReleaseLock: names, Why: why}
		}
		switch {
		case f.SucceededBefore:
			return fail(fmt.Sprintf("deployment %d reported success before this %s, so the bot cannot tell whether production is broken; it rolls back only a deployment that never succeeded", f.Deployment, f.State))
		case !c.Rollback.OnFailure:
			return fail("automatic rollback is off (`rollback.on_failure: false`)")
		case p.PreviousRef == "" || p.PreviousRef == f.SHA:
			return fail("production ran nothing else before it, so there is nothing to roll back to")
		case !f.Production.Known:
			why := "the bot cannot tell what production ran last"
			if f.Production.Unknown != "" {
				why += ": " + f.Production.Unknown
			}
			return fail(why)
		case f.Production.SHA != p.PreviousRef:
			return fail(fmt.Sprintf("production's last successful deployment is %s (deployment %d), not `%s`, which #%d replaced: the bot does not guess which one to go back to",
				f.Production.Name(), f.Production.Deployment, Short(p.PreviousRef), p.PR))
		}
		return StatusDecision{Action: StatusRollback, ReleaseLock: names}
	case f.State == "success":
		if f.Production.Known && f.Production.Deployment == f.Deployment {
			return StatusDecision{Action: StatusFinishRollback, ReleaseLock: names}
		}
		return late(productionWords(f) + ": no incident issue, nothing moved")
	}
	switch {
	case f.NewerDeployment != 0:
		return late(fmt.Sprintf("deployment %d to `%s` was created after it; %s", f.NewerDeployment, p.Environment(), productionWords(f)))
	case f.Lock == LockOther || f.Lock == LockMovedOn:
		return late(fmt.Sprintf("the production lock is %s; %s", f.LockView.Describe(), productionWords(f)))
	}
	return StatusDecision{Action: StatusFailRollback, ReleaseLock: names}
}

// AutomaticRollbackSchema is the schema guard of an automatic rollback:
// the files under schema.paths changed between what production ran before
// and the failed hotfix (either way round). An automatic rollback never
// crosses them, nor a listing that could not be read whole: a person
// decides, with `/rollback --force`.
func (c Config) AutomaticRollbackSchema(files []string, complete bool) (why string, blocked bool) {
	schema, incomplete := c.RollbackSchemaFiles(files, complete)
	switch {
	case incomplete:
		return "the bot could not list every file changed between the two (GitHub lists at most 300), so it cannot rule out a schema change", true
	case len(schema) > 0:
		return "files under `schema.paths` changed between the two, and migrations may not reverse: " + listOf(schema, 10), true
	}
	return "", false
}

func listOf(items []string, most int) string {
	out := ""
	for i, s := range items {
		if i == most {
			return out + fmt.Sprintf(" and %d more", len(items)-most)
		}
		if i > 0 {
			out += ", "
		}
		out += "`" + s + "`"
	}
	return out
}

// lockWords describes the lock for a late report.
func (c Config) lockWords(f StatusFacts) string {
	switch f.Lock {
	case LockFree:
		return "the production lock is free (the promotion ended, or someone ran `/unlock`)"
	case LockMovedOn:
		return "the promotion moved on to another deployment"
	}
	return "the production lock is " + f.LockView.Describe()
}

// productionWords says what production runs now, for a late report.
func productionWords(f StatusFacts) string {
	if !f.Production.Known {
		return "the bot cannot tell what production runs now"
	}
	if f.Production.Deployment != 0 {
		return fmt.Sprintf("production now runs %s (deployment %d)", f.Production.Name(), f.Production.Deployment)
	}
	return "production now runs " + f.Production.Name()
}

// RelateLock says how a lock stands to one of the bot's deployments: held
// for its request (the same comment, or the automatic rollback of the same
// failure) at its step or another; creating is true while a live handler
// holds the lock for that request and has not recorded a deployment of
// this step yet.
func RelateLock(held bool, lockKind string, commentID, failedDeployment, lockDeployment int64, lockStep int, creating bool,
	p DeploymentPayload, deployment int64) LockRelation {
	if !held {
		return LockFree
	}
	same := false
	switch {
	case p.Kind == "hotfix" && lockKind == "rollback" && failedDeployment != 0 && failedDeployment == deployment:
		// The automatic rollback of this very failure holds it: the
		// hand-over happened. Until the rollback's deployment is recorded
		// its creation is this story's next step; after, the story has
		// moved on to the rollback.
		switch {
		case lockDeployment != 0:
			return LockMovedOn
		case creating:
			return LockCreating
		}
		return LockNamesThis
	case p.Kind == "hotfix" && lockKind == "promote":
		same = p.CommentID != 0 && commentID == p.CommentID
	case p.Kind == "rollback" && lockKind == "rollback":
		if p.CommentID != 0 {
			same = commentID == p.CommentID
		} else {
			same = p.FailedDeployment != 0 && failedDeployment == p.FailedDeployment
		}
	}
	switch {
	case !same:
		return LockOther
	case lockDeployment == deployment:
		return LockNamesThis
	case lockDeployment == 0 || lockStep < p.ChainIndex:
		// Its creator has not recorded this step's deployment yet.
		if creating {
			return LockCreating
		}
		return LockNamesThis
	}
	return LockMovedOn
}
