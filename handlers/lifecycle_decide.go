package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
)

// A final deployment status is a hint. The decision comes from GitHub as
// it is now: the deployment's statuses (a newer one replaces the event's),
// the newer deployments to the same environment, what production runs,
// and the production lock (policy.DecideStatus). A late, replayed,
// reordered or foreign status changes nothing and is reported.

// claimPolls are the waits between looks at a story another handler is
// working on (its live claim on the lock) before the event goes back to
// the queue. They are real time, not the bot's clock: they wait for
// another process's progress, not for a deadline.
var claimPolls = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
	1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond, 12800 * time.Millisecond}

// busyError puts a status event back in the queue while another handler
// works on its story (or its claim, if that handler died, has not expired
// yet): it is handled again later, never answered and forgotten.
type busyError struct{ deployment int64 }

func (e busyError) Error() string {
	return fmt.Sprintf("another handler is working on deployment %d's story; handled again once it is done or its claim expires", e.deployment)
}

// Retryable makes the queue handle the event again later.
func (busyError) Retryable() bool { return true }

// handle decides the status from GitHub as it is now and acts on the
// decision; while another handler works on the same story it waits and
// decides again.
func (l *lifecycle) handle(ctx context.Context) error {
	log := zerolog.Ctx(ctx)
	for look := 0; ; look++ {
		f, err := l.gather(ctx)
		if err != nil {
			return err
		}
		d := l.cfg.DecideStatus(f)
		if d.Action == policy.StatusWait {
			if told, err := l.told(ctx); err != nil || told {
				return err // the other handler told the story: nothing left
			}
			if look == len(claimPolls) {
				return busyError{l.deployment()}
			}
			if err := realSleep(ctx, claimPolls[look]); err != nil {
				return err
			}
			continue
		}
		log.Info().Int64("deployment", l.deployment()).Str("state", f.State).Str("decision", d.Action.String()).Str("why", d.Why).
			Msg("Deployment status decided from GitHub as it is now")
		l.decision, l.facts = d, f
		switch d.Action {
		case policy.StatusIgnore:
			return nil
		case policy.StatusLate:
			return l.reportLate(ctx, f, d)
		case policy.StatusFinishHotfix, policy.StatusAdvance:
			// Re-run on every delivery: each step is find-or-create, and a
			// re-run finishes what an earlier run left (a ❌ row).
		default:
			// A failure's or a rollback's story is told once.
			if told, err := l.told(ctx); err != nil || told {
				return err
			}
		}
		claimed, blocked, err := l.claimStory(ctx, d)
		if err != nil {
			return err
		}
		if blocked {
			continue // another handler claimed it meanwhile: look again
		}
		l.claimed = claimed
		err = l.act(ctx, d.Action)
		if claimed {
			l.dropClaim(ctx)
		}
		return err
	}
}

// act carries out a decision that writes.
func (l *lifecycle) act(ctx context.Context, a policy.StatusAction) error {
	switch a {
	case policy.StatusAdvance:
		return l.advance(ctx)
	case policy.StatusFinishHotfix:
		return l.finishHotfix(ctx)
	case policy.StatusStopChain, policy.StatusFailHotfix, policy.StatusRollback:
		return l.failHotfix(ctx)
	case policy.StatusFinishRollback:
		return l.finishRollback(ctx)
	}
	return l.failRollback(ctx)
}

// dropClaim takes this handler's claim off a lock still held when its
// work is done, so the story's next status is not kept waiting for it. A
// claim left on a free lock stays: it keeps a replica given the same
// status out until the story is told.
func (l *lifecycle) dropClaim(ctx context.Context) {
	_, _, _ = l.r.TransitionLock(context.WithoutCancel(ctx), func(lk facts.Lock) bool { return lk.Held() && lk.Claim == l.claim },
		func(lk facts.Lock) facts.Lock {
			lk.Claim, lk.ClaimFor, lk.ClaimAt = "", "", time.Time{}
			return lk
		})
}

// realSleep waits d of real time, or until ctx ends.
func realSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gather reads what the decision rests on, afresh and concurrently.
func (l *lifecycle) gather(ctx context.Context) (policy.StatusFacts, error) {
	r := l.r.Fresh()
	id, env := l.deployment(), l.ev.Deployment.Environment
	f := policy.StatusFacts{Payload: l.p, Deployment: id, SHA: l.sha(), State: l.ev.DeploymentStatus.State}
	var (
		statuses []*github.DeploymentStatus
		lk       facts.Lock
		prodErr  error
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { statuses, err = r.Statuses(gctx, id); return err })
	g.Go(func() (err error) {
		f.NewerDeployment, err = r.NewerDeployment(gctx, env, id, l.ownRollback)
		return err
	})
	g.Go(func() (err error) { lk, err = r.ReadLock(gctx); return err })
	g.Go(func() error {
		f.Production, prodErr = r.Production(gctx, l.cfg)
		return nil
	})
	if err := g.Wait(); err != nil {
		return f, err
	}
	if prodErr != nil {
		if k := facts.KindOf(prodErr); k == facts.Transient || k == facts.RateLimited {
			return f, prodErr // asking again later may work
		}
		f.Production = policy.ProductionState{Unknown: facts.Explain(prodErr)}
	}
	event := l.ev.DeploymentStatus.ID
	for _, st := range statuses {
		switch {
		case st.GetID() > event:
			f.Superseded = true
		case st.GetID() < event && st.GetState() == "success":
			f.SucceededBefore = true
		}
	}
	now := l.g.clock.Now()
	live := lk.Claim != "" && lk.Claim != l.claim && now.Sub(lk.ClaimAt) < facts.ClaimTTL
	f.Lock = l.relate(lk, live)
	f.LockView = lk.View(now, time.Duration(l.cfg.Promote.LockTimeout))
	f.Claimed = live && (f.Lock == policy.LockNamesThis || (!lk.Held() && lk.ClaimFor == l.what()))
	return f, nil
}

// ownRollback reports whether a deployment is the automatic rollback of
// this very failure (it does not make this failure late).
func (l *lifecycle) ownRollback(d *github.Deployment) bool {
	if l.p.Kind != "hotfix" || d.GetTask() != policy.TaskRollback || !l.r.ByApp(d) {
		return false
	}
	p, ok := facts.DecodePayload(d.Payload)
	return ok && p.FailedDeployment == l.deployment()
}

// relate says how a lock stands to this deployment.
func (l *lifecycle) relate(lk facts.Lock, creating bool) policy.LockRelation {
	return policy.RelateLock(lk.Held(), lk.Kind, lk.CommentID, lk.FailedDeployment, lk.Deployment, lk.Step, creating, l.p, l.deployment())
}

// what names this status's work in lock claims.
func (l *lifecycle) what() string {
	return fmt.Sprintf("status:%d:%s", l.deployment(), l.ev.DeploymentStatus.State)
}

// storyMarker marks the reply that tells what this status did.
func (l *lifecycle) storyMarker() string {
	ok := l.ev.DeploymentStatus.State == "success"
	switch {
	case l.p.Kind == "hotfix" && ok:
		return facts.Marker(fmt.Sprintf("deployed:%d", l.deployment()))
	case l.p.Kind == "hotfix":
		return facts.Marker(fmt.Sprintf("failed:%d", l.deployment()))
	case ok:
		return facts.Marker(fmt.Sprintf("rolledback:%d", l.deployment()))
	}
	return facts.Marker(fmt.Sprintf("rollbackfailed:%d", l.deployment()))
}

// told reports whether this status's story was told already: its reply
// exists, or, for a chain step's success, the next step's deployment.
func (l *lifecycle) told(ctx context.Context) (bool, error) {
	r := l.r.Fresh()
	if l.p.Kind == "hotfix" && !l.p.Final() && l.ev.DeploymentStatus.State == "success" {
		next := l.p
		next.ChainIndex++
		d, err := r.FindDeployment(ctx, next.Environment(), policy.TaskHotfix, l.sha(), facts.SameStep(next))
		return d != nil, err
	}
	if l.p.PR == 0 {
		return false, nil
	}
	c, err := r.FindComment(ctx, l.p.PR, l.storyMarker(), time.Time{})
	return c != nil && !strings.Contains(c.Body, facts.Marker("unfinished")), err
}

// claimStory claims the lock for this status's work: held for this
// deployment (it then names it, whatever step its creator had recorded),
// or free. blocked is true when another handler claimed it first. A lock
// held for someone else is not claimed: the decision only allows work
// without it that is find-or-create and leaves that lock alone.
func (l *lifecycle) claimStory(ctx context.Context, d policy.StatusDecision) (claimed, blocked bool, err error) {
	phase := map[policy.StatusAction]string{policy.StatusAdvance: "advancing", policy.StatusRollback: "rolling-back"}[d.Action]
	if phase == "" {
		phase = "finishing"
	}
	now := l.g.clock.Now()
	moved, cur, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool {
		live := lk.Claim != "" && lk.Claim != l.claim && now.Sub(lk.ClaimAt) < facts.ClaimTTL
		rel := l.relate(lk, live)
		switch {
		case rel == policy.LockNamesThis:
			return !live
		case rel == policy.LockFree:
			return !(live && lk.ClaimFor == l.what())
		}
		return false
	}, func(lk facts.Lock) facts.Lock {
		if lk.Held() && !(l.p.Kind == "hotfix" && lk.Kind == "rollback") {
			// Named now, whatever step its creator had recorded (the
			// automatic rollback of this failure keeps naming its own).
			lk.Phase, lk.Deployment, lk.Step = phase, l.deployment(), l.p.ChainIndex
		}
		lk.Claim, lk.ClaimFor, lk.ClaimAt = l.claim, l.what(), now
		return lk
	})
	if err != nil || moved {
		return moved, false, err
	}
	live := cur.Claim != "" && cur.Claim != l.claim && now.Sub(cur.ClaimAt) < facts.ClaimTTL
	rel := l.relate(cur, live)
	return false, live && (rel == policy.LockNamesThis || rel == policy.LockCreating || (!cur.Held() && cur.ClaimFor == l.what())), nil
}

// reportLate says on the pull request that a status arrived that no
// longer describes production, and that nothing was changed. A status
// whose story was told already (a redelivery) changes nothing silently.
func (l *lifecycle) reportLate(ctx context.Context, f policy.StatusFacts, d policy.StatusDecision) error {
	if told, err := l.told(ctx); err != nil || told {
		return err
	}
	zerolog.Ctx(ctx).Warn().Int64("deployment", l.deployment()).Str("state", f.State).Str("why", d.Why).
		Msg("A deployment status that no longer describes production: reported, nothing changed")
	if l.p.PR == 0 {
		return nil
	}
	what := map[string]string{"success": "success", "failure": "failure", "error": "error"}[f.State]
	kind := "deployment"
	if l.p.Kind == "rollback" {
		kind = "rollback deployment"
	}
	by := ""
	if who := l.ev.DeploymentStatus.Creator.Login; who != "" {
		by = fmt.Sprintf(" (reported by @%s)", who)
	}
	next := "**Next:** nothing, if production is healthy; if it is not, comment `/rollback` (it deploys what ran before production's current release)."
	if f.State == "success" {
		next = fmt.Sprintf("**Next:** nothing, if what production runs now is what you want; to ship #%d, comment `/promote` on it again.", l.p.PR)
	}
	marker := facts.Marker(fmt.Sprintf("late:%d:%s", l.deployment(), f.State))
	body := fmt.Sprintf("ℹ️ **A late %s on %s %d** of `%s` to `%s`%s: %s. **Nothing was changed**: the bot acts only on what describes production now.\n\n%s\n%s",
		what, kind, l.deployment(), policy.Short(l.sha()), l.ev.Deployment.Environment, by, d.Why, next, marker)
	_, err := l.upsert(ctx, l.p.PR, marker, body)
	return err
}
