package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/notify"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/rs/zerolog"
)

// lifecycle is the handling of one final status of one of the bot's
// deployments.
type lifecycle struct {
	g            *Bot
	r            *facts.Repo
	cfg          policy.Config
	ev           *deploymentStatusEvent
	p            policy.DeploymentPayload
	claim        string
	installation int64
}

func (l *lifecycle) deployment() int64 { return l.ev.Deployment.ID }
func (l *lifecycle) sha() string       { return l.ev.Deployment.SHA }

// lockKind is the lock's kind for the payload's kind.
func (l *lifecycle) lockKind() string {
	if l.p.Kind == "hotfix" {
		return "promote"
	}
	return "rollback"
}

// ownsLock reports whether the lock is held for this deployment's request.
func (l *lifecycle) ownsLock(lk facts.Lock) bool {
	if !lk.Held() || lk.Kind != l.lockKind() {
		return false
	}
	if l.p.CommentID != 0 {
		return lk.CommentID == l.p.CommentID
	}
	return l.p.FailedDeployment != 0 && lk.FailedDeployment == l.p.FailedDeployment
}

// claimStep claims the lock for `what` on this deployment: only one
// handler (of the replicas given the same status) does the work. busy is
// true when another handler is doing it right now; claimed false and busy
// false mean the lock has moved on (the step was done, or the lock was
// released or taken over): the work is then finished idempotently without
// it, so a hotfix that reached production is never lost.
func (l *lifecycle) claimStep(ctx context.Context, what, phase string) (claimed, busy bool, err error) {
	now := l.g.clock.Now()
	moved, cur, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool {
		return l.ownsLock(lk) && lk.Deployment == l.deployment() && !lk.ClaimedByOther(l.claim, what, now)
	}, func(lk facts.Lock) facts.Lock {
		lk.Phase, lk.Claim, lk.ClaimFor, lk.ClaimAt = phase, l.claim, what, now
		return lk
	})
	if err != nil {
		return false, false, err
	}
	// A claim outlives the lock's release (see releaseLock): the work
	// after it is still this handler's.
	busy = !moved && cur.ClaimedByOther(l.claim, what, now)
	return moved, busy, nil
}

// releaseLock frees the lock if it is still held for this request. The
// claim stays on the free lock: another replica given the same status
// sees the work is being done and stays out, while a new promotion may
// take the lock at once.
func (l *lifecycle) releaseLock(ctx context.Context) (bool, error) {
	moved, _, err := l.r.TransitionLock(ctx, l.ownsLock, func(cur facts.Lock) facts.Lock {
		if cur.Claim == l.claim {
			return facts.Lock{State: "free", Claim: cur.Claim, ClaimFor: cur.ClaimFor, ClaimAt: cur.ClaimAt}
		}
		return facts.Lock{State: "free"}
	})
	return moved, err
}

func (l *lifecycle) what(state string) string {
	return fmt.Sprintf("status:%d:%s", l.deployment(), state)
}

// updatePlan rewrites the chain section of the /promote reply in place.
func (l *lifecycle) updatePlan(ctx context.Context, steps map[int]stepState, current int, result string) error {
	if l.p.CommentID == 0 || l.p.PR == 0 {
		return nil
	}
	c, err := l.r.FindComment(ctx, l.p.PR, planMarker(l.p.CommentID), time.Time{})
	if err != nil || c == nil {
		return err
	}
	chain := renderChain(planState{payload: l.p, head: l.sha(), steps: steps, current: current, result: result, cfg: &l.cfg})
	_, _, err = l.r.UpsertComment(ctx, l.p.PR, planMarker(l.p.CommentID), replaceChain(c.Body, chain), time.Time{})
	return err
}

// chainSteps are the chain's deployments so far (earlier steps succeeded:
// the chain only advances on success), this one in `state`.
func (l *lifecycle) chainSteps(ctx context.Context, state string) map[int]stepState {
	steps := map[int]stepState{}
	for i := 0; i < l.p.ChainIndex; i++ {
		prev := l.p
		prev.ChainIndex = i
		id := int64(0)
		if d, err := l.r.FindDeployment(ctx, l.p.Chain[i], policy.TaskHotfix, l.sha(), facts.SameStep(prev)); err == nil && d != nil {
			id = d.GetID()
		}
		steps[i] = stepState{id: id, state: "success"}
	}
	steps[l.p.ChainIndex] = stepState{id: l.deployment(), state: state, logURL: l.ev.logURL()}
	return steps
}

// advance follows a success in a non-final environment of a staged
// chain: the next environment's deployment of the same commit, after
// checking the pull request's head is still that commit.
func (l *lifecycle) advance(ctx context.Context) error {
	claimed, busy, err := l.claimStep(ctx, l.what("success"), "advancing")
	if err != nil || busy {
		return err
	}
	next := l.p
	next.ChainIndex++
	env := next.Environment()
	if !claimed {
		// The step was done (or the lock taken away): make sure the next
		// deployment exists only if it was created; never create it
		// without the lock.
		d, err := l.r.FindDeployment(ctx, env, policy.TaskHotfix, l.sha(), facts.SameStep(next))
		if err != nil || d == nil {
			return err
		}
		steps := l.chainSteps(ctx, "success")
		steps[next.ChainIndex] = stepState{id: d.GetID(), state: "waiting"}
		return l.updatePlan(ctx, steps, next.ChainIndex, "")
	}
	pr, err := l.r.PullRequestNow(ctx, l.p.PR)
	if err != nil {
		return l.unclaim(ctx, err)
	}
	if pr.GetState() != "open" || pr.GetHead().GetSHA() != l.sha() {
		// New commits (or a closed pull request): the chain stops; what
		// was checked is no longer what would reach production.
		if _, err := l.releaseLock(ctx); err != nil {
			return err
		}
		why := fmt.Sprintf("the head of #%d moved to `%s` after `%s` was promoted", l.p.PR, policy.Short(pr.GetHead().GetSHA()), policy.Short(l.sha()))
		if pr.GetState() != "open" {
			why = fmt.Sprintf("#%d was closed", l.p.PR)
		}
		steps := l.chainSteps(ctx, "success")
		steps[next.ChainIndex] = stepState{state: "stopped"}
		result := fmt.Sprintf("⏹️ **The chain stopped before `%s`:** %s. Production was not touched and the lock is released. **Next:** review the new commits and comment `/promote` again.", env, why)
		if err := l.updatePlan(ctx, steps, next.ChainIndex, result); err != nil {
			return err
		}
		marker := facts.Marker(fmt.Sprintf("stopped:%d", l.deployment()))
		_, _, err := l.r.PostComment(ctx, l.p.PR, marker, result+"\n"+marker, time.Time{})
		return err
	}
	d, _, err := l.r.CreateDeployment(ctx, facts.DeploymentRequest{SHA: l.sha(), Environment: env, Production: env == l.cfg.Production.Environment,
		Task: policy.TaskHotfix, Payload: next, Description: fmt.Sprintf("Hotfix #%d as %s, step %d of %d (hotfix-bot)", l.p.PR, l.p.NextTag, next.ChainIndex+1, len(l.p.Chain))})
	if err != nil {
		return l.unclaim(ctx, errors.Join(err, l.reportStuck(ctx, env, err)))
	}
	if err := l.resolveStuck(ctx, env, d.GetID()); err != nil {
		return err
	}
	if _, _, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool { return l.ownsLock(lk) && lk.Claim == l.claim },
		func(lk facts.Lock) facts.Lock {
			lk.Phase, lk.Deployment, lk.Step, lk.Claim, lk.ClaimFor, lk.ClaimAt = "deploying", d.GetID(), next.ChainIndex, "", "", time.Time{}
			return lk
		}); err != nil {
		return err
	}
	steps := l.chainSteps(ctx, "success")
	steps[next.ChainIndex] = stepState{id: d.GetID(), state: "waiting"}
	return l.updatePlan(ctx, steps, next.ChainIndex, "")
}

// stuckMarker marks the reply saying a chain could not move on after
// this deployment.
func (l *lifecycle) stuckMarker() string {
	return facts.Marker(fmt.Sprintf("stuck:%d", l.deployment()))
}

// reportStuck says, on the pull request, that the next deployment of the
// chain could not be created, and what happens and what to do.
func (l *lifecycle) reportStuck(ctx context.Context, next string, cause error) error {
	again := retryNote(ctx, cause)
	if again == "" {
		again = "The bot has stopped trying."
	}
	body := fmt.Sprintf("⚠️ **`%s` succeeded, but the bot could not create the `%s` deployment** of `%s`: %s\n\n%s **If it does not move on:** someone with maintain permission comments `/unlock`, then `/promote` again (the chain starts over at `%s`). Production was not touched.\n%s",
		l.ev.Deployment.Environment, next, policy.Short(l.sha()), facts.Explain(cause), again, l.p.Chain[0], l.stuckMarker())
	_, err := l.upsert(ctx, l.p.PR, l.stuckMarker(), body)
	return err
}

// resolveStuck edits a stuck report, if there is one, once the next
// deployment exists.
func (l *lifecycle) resolveStuck(ctx context.Context, next string, id int64) error {
	c, err := l.r.FindComment(ctx, l.p.PR, l.stuckMarker(), time.Time{})
	if err != nil || c == nil {
		return err
	}
	body := fmt.Sprintf("✅ **Resolved:** on a later try the bot created the `%s` deployment (%d) after `%s` succeeded. Nothing to do.\n%s", next, id, l.ev.Deployment.Environment, l.stuckMarker())
	_, err = l.upsert(ctx, l.p.PR, l.stuckMarker(), body)
	return err
}

// unclaim gives the claim back after a failure, so a retry can take it at
// once, and returns err.
func (l *lifecycle) unclaim(ctx context.Context, err error) error {
	_, _, _ = l.r.TransitionLock(ctx, func(lk facts.Lock) bool { return l.ownsLock(lk) && lk.Claim == l.claim },
		func(lk facts.Lock) facts.Lock {
			lk.Phase, lk.Claim, lk.ClaimFor, lk.ClaimAt = "deploying", "", "", time.Time{}
			return lk
		})
	return err
}

// upsert writes a reply of the deployment story (found by its marker),
// creating it or editing it in place; created says it is new.
func (l *lifecycle) upsert(ctx context.Context, number int, marker, body string) (created bool, err error) {
	_, created, err = l.r.UpsertComment(ctx, number, marker, body, time.Time{})
	return created, err
}

// summaryRow is one line of the summary reply.
type summaryRow struct {
	what, result string
	problem      bool
}

// finishHotfix follows a successful production deployment of a hotfix:
// tag, moving tag, merge, lock, sync-back, re-checks, one summary.
func (l *lifecycle) finishHotfix(ctx context.Context) error {
	claimed, busy, err := l.claimStep(ctx, l.what("success"), "finishing")
	if err != nil || busy {
		return err
	}
	// Not claimed: handled before, or the lock was released or taken
	// over meanwhile. Every step below is find-or-create, so running them
	// again finishes what an interrupted run left undone and changes
	// nothing else; the summary is edited in place.
	_ = claimed
	marker := facts.Marker(fmt.Sprintf("deployed:%d", l.deployment()))
	log := zerolog.Ctx(ctx)
	pr, err := l.r.PullRequestNow(ctx, l.p.PR)
	if err != nil {
		return l.unclaim(ctx, err)
	}
	var rows []summaryRow
	var errs []error
	stop := false
	tag, sha := l.p.NextTag, l.sha()

	message := fmt.Sprintf("%s: hotfix #%d, %s\n\nPromoted by @%s; deployed to %s by deployment %d (hotfix-bot).",
		tag, pr.GetNumber(), policy.NoMention(pr.GetTitle()), l.p.RequestedBy, l.ev.Deployment.Environment, l.deployment())
	created, current, err := l.r.EnsureTag(ctx, tag, sha, message)
	switch {
	case err != nil:
		errs = append(errs, err)
		rows = append(rows, summaryRow{"tag", fmt.Sprintf("❌ %s not created: %s", tag, facts.Explain(err)), true})
		stop = true
	case current != sha:
		rows = append(rows, summaryRow{"tag", fmt.Sprintf("❌ **%s exists already at `%s`**, not at the deployed `%s`: the bot stopped here (no merge, no sync-back). Tag the deployed commit by hand (`git tag <next free version> %s`), then merge #%d and sync it back.",
			tag, policy.Short(current), policy.Short(sha), sha, pr.GetNumber()), true})
		stop = true
	case created:
		rows = append(rows, summaryRow{"tag", fmt.Sprintf("`%s` created at `%s`", tag, policy.Short(sha)), false})
	default:
		rows = append(rows, summaryRow{"tag", fmt.Sprintf("`%s` at `%s` (there already)", tag, policy.Short(sha)), false})
	}
	if mt := l.cfg.Production.MovingTag; mt != "" && !stop {
		if err := l.r.MoveTag(ctx, mt, sha); err != nil {
			errs = append(errs, err)
			rows = append(rows, summaryRow{"moving tag", fmt.Sprintf("❌ `%s` not moved: %s", mt, facts.Explain(err)), true})
		} else {
			rows = append(rows, summaryRow{"moving tag", fmt.Sprintf("`%s` moved to `%s`", mt, policy.Short(sha)), false})
		}
	}
	if !stop {
		rows = append(rows, l.merge(ctx, pr, &errs))
	}
	if released, err := l.releaseLock(ctx); err != nil {
		errs = append(errs, err)
		rows = append(rows, summaryRow{"lock", "❌ not released: " + facts.Explain(err) + " Comment `/unlock`.", true})
	} else if released {
		rows = append(rows, summaryRow{"lock", "released", false})
	}
	if !stop && l.cfg.Sync.Enabled {
		syncRows, err := l.syncBack(ctx, pr)
		if err != nil {
			errs = append(errs, err)
		}
		rows = append(rows, syncRows...)
	}
	if err := l.g.RecheckOpenHotfixPRs(ctx, l.installation, l.r.Owner, l.r.Name, l.r.DefaultBranch); err != nil {
		errs = append(errs, err)
		rows = append(rows, summaryRow{"other hotfix PRs", "❌ not all re-checked: " + facts.Explain(err), true})
	} else {
		rows = append(rows, summaryRow{"other hotfix PRs", "re-checked against the new production", false})
	}

	headline := fmt.Sprintf("✅ **#%d is in production as %s** (deployment %d of `%s`).", pr.GetNumber(), tag, l.deployment(), policy.Short(sha))
	next := "**Next:** review and merge the sync-back pull requests (with a merge commit), so the fix ships in the next release too."
	if problem := problemRows(rows); problem && !stop {
		next = "**Next:** " + strings.TrimSpace(retryNote(ctx, errors.Join(errs...))+" A step marked ❌ that stays so needs a person: do it by hand as its row says.") +
			" Then review and merge the sync-back pull requests (with a merge commit)."
	}
	if stop {
		headline = fmt.Sprintf("⚠️ **#%d reached production** (deployment %d of `%s`), **but the bot stopped**: see below.", pr.GetNumber(), l.deployment(), policy.Short(sha))
		next = "**Next:** fix what the table says, by hand; the fix is live but not yet tagged, merged or synced back."
	}
	body := headline + "\n\n" + summaryTable(rows) + "\n" + next + "\n" + marker
	posted, err := l.upsert(ctx, pr.GetNumber(), marker, body)
	if err != nil {
		errs = append(errs, err)
	}
	if err := l.updatePlan(ctx, l.chainSteps(ctx, "success"), l.p.ChainIndex, strings.TrimPrefix(headline, "")); err != nil {
		errs = append(errs, err)
	}
	if posted {
		l.g.notify(notify.Message{Text: fmt.Sprintf(":white_check_mark: *%s*: <%s|#%d %s> is in production as %s (deployment %d).%s",
			l.r.FullName(), pr.GetHTMLURL(), pr.GetNumber(), slackText(pr.GetTitle()), tag, l.deployment(), syncSlack(rows))})
	}
	log.Info().Int("pr", pr.GetNumber()).Str("tag", tag).Bool("stopped", stop).Msg("Hotfix deployment to production handled")
	return errors.Join(errs...)
}

// merge merges the hotfix pull request into the production branch, only
// if its head is still the deployed commit, never forced.
func (l *lifecycle) merge(ctx context.Context, pr *github.PullRequest, errs *[]error) summaryRow {
	if pr.GetMerged() {
		return summaryRow{"merge", fmt.Sprintf("#%d merged into `%s` already", pr.GetNumber(), pr.GetBase().GetRef()), false}
	}
	title := fmt.Sprintf("Hotfix #%d: %s (%s)", pr.GetNumber(), policy.NoMention(pr.GetTitle()), l.p.NextTag)
	mergeSHA, err := l.r.MergePullRequest(ctx, pr.GetNumber(), l.sha(), l.cfg.Promote.MergeMethod, title)
	switch k := facts.KindOf(err); {
	case err == nil:
		return summaryRow{"merge", fmt.Sprintf("#%d merged into `%s` (%s, `%s`)", pr.GetNumber(), pr.GetBase().GetRef(), l.cfg.Promote.MergeMethod, policy.Short(mergeSHA)), false}
	case facts.IsWorkflowsRefusal(err):
		return summaryRow{"merge", fmt.Sprintf("❌ GitHub refused to merge #%d: the hotfix changes a workflow file, and the app does not have the `workflows` permission. Merge #%d yourself (with a merge commit).", pr.GetNumber(), pr.GetNumber()), true}
	case k == facts.Conflict:
		return summaryRow{"merge", fmt.Sprintf("❌ not merged: the head of #%d moved after `%s` was deployed. The bot never merges what it did not deploy: review the new commits, then merge by hand.", pr.GetNumber(), policy.Short(l.sha())), true}
	case k == facts.NotAllowed:
		return summaryRow{"merge", fmt.Sprintf("❌ not merged: GitHub says #%d cannot be merged (%s). Resolve it and merge by hand; the bot never forces.", pr.GetNumber(), facts.Explain(err)), true}
	default:
		*errs = append(*errs, err)
		return summaryRow{"merge", fmt.Sprintf("❌ not merged: %s", facts.Explain(err)), true}
	}
}

// problemRows reports whether a step failed (❌): not a sync that
// conflicts, which its own pull request explains.
func problemRows(rows []summaryRow) bool {
	for _, r := range rows {
		if strings.Contains(r.result, "❌") {
			return true
		}
	}
	return false
}

func summaryTable(rows []summaryRow) string {
	var b strings.Builder
	b.WriteString("| | |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r.what, cell(r.result))
	}
	return b.String()
}

func syncSlack(rows []summaryRow) string {
	var parts []string
	for _, r := range rows {
		if strings.HasPrefix(r.what, "sync → ") {
			parts = append(parts, strings.TrimPrefix(r.what, "sync → ")+": "+slackText(r.result))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " Sync-back: " + strings.Join(parts, "; ") + "."
}

// failHotfix follows a failed or errored deployment of a hotfix: the lock
// is released (or handed to the automatic rollback), the failure reported
// with its log, and, in production with rollback.on_failure, production
// rolled back to what ran before.
func (l *lifecycle) failHotfix(ctx context.Context) error {
	state := l.ev.DeploymentStatus.State
	marker := facts.Marker(fmt.Sprintf("failed:%d", l.deployment()))
	autoRollback := l.p.Final() && l.cfg.Rollback.OnFailure && l.p.PreviousRef != "" && l.p.PreviousRef != l.sha()
	env := l.ev.Deployment.Environment
	logLine := ""
	if u := l.ev.logURL(); u != "" {
		logLine = fmt.Sprintf(" [Deployment log](%s).", u)
	}
	desc := ""
	if d := l.ev.DeploymentStatus.Description; d != "" {
		desc = " Your CD system says: “" + policy.UserText(d, 300) + "”."
	}
	headline := fmt.Sprintf("❌ **Deployment %d of `%s` to `%s` %s.**%s%s", l.deployment(), policy.Short(l.sha()), env, map[string]string{"failure": "failed", "error": "errored"}[state], desc, logLine)
	steps := l.chainSteps(ctx, state)
	for i := l.p.ChainIndex + 1; i < len(l.p.Chain); i++ {
		steps[i] = stepState{state: "stopped"}
	}

	var result string
	var errs []error
	var chat notify.Message // sent once, with the report's first writing
	switch {
	case autoRollback:
		rb, note, busy, err := l.rollbackAfterFailure(ctx)
		if busy {
			return nil // another replica handles this failure and reports it
		}
		if err != nil {
			errs = append(errs, err)
		}
		result = headline + "\n\n" + note
		if rb != nil {
			prev := l.p.PreviousTag
			if prev == "" {
				prev = "`" + policy.Short(l.p.PreviousRef) + "`"
			}
			chat = notify.Message{Text: fmt.Sprintf(":x: *%s*: deployment %d of #%d (%s) to %s %s; rolling back to %s (deployment %d).",
				l.r.FullName(), l.deployment(), l.p.PR, l.p.NextTag, env, map[string]string{"failure": "failed", "error": "errored"}[state], prev, rb.GetID())}
		} else {
			chat = notify.Message{Text: fmt.Sprintf(":x: *%s*: deployment %d of #%d to %s %s, and production was not rolled back automatically: see the pull request.",
				l.r.FullName(), l.deployment(), l.p.PR, env, map[string]string{"failure": "failed", "error": "errored"}[state])}
		}
	default:
		claimed, busy, err := l.claimStep(ctx, l.what(state), "finishing")
		if err != nil || busy {
			return err
		}
		_ = claimed
		if _, err := l.releaseLock(ctx); err != nil {
			errs = append(errs, err)
		}
		switch {
		case !l.p.Final():
			result = headline + fmt.Sprintf("\n\nThe chain stopped: production was not touched, and the production lock is released. **Next:** find out why `%s` failed (the log above), fix it on the branch, and comment `/promote` again.", env)
		default:
			result = headline + "\n\nThe production lock is released. Automatic rollback is off (`rollback.on_failure: false`): **production may be running a broken or partial deploy.** **Next:** check production now; to go back, comment `/rollback`."
		}
		chat = notify.Message{Text: fmt.Sprintf(":x: *%s*: deployment %d of #%d to %s %s.", l.r.FullName(), l.deployment(), l.p.PR, env,
			map[string]string{"failure": "failed", "error": "errored"}[state])}
	}
	if posted, err := l.upsert(ctx, l.p.PR, marker, result+"\n"+marker); err != nil {
		errs = append(errs, err)
	} else if posted {
		l.g.notify(chat)
	}
	if err := l.updatePlan(ctx, steps, l.p.ChainIndex, strings.SplitN(result, "\n", 2)[0]); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// rollbackAfterFailure hands the lock from the failed hotfix to a rollback
// in one compare-and-swap and deploys what production ran before. It
// never rolls back over someone else's deployment.
func (l *lifecycle) rollbackAfterFailure(ctx context.Context) (rbd *facts.BotDeployment, note string, busy bool, err error) {
	env := l.cfg.Production.Environment
	rb := policy.DeploymentPayload{HotfixBot: 1, Kind: "rollback", PR: l.p.PR, RequestedBy: l.p.RequestedBy, Author: l.p.Author,
		PreviousRef: l.sha(), Target: l.p.PreviousTag, FailedDeployment: l.deployment(), Automatic: true,
		Chain: []string{env}, ChainIndex: 0}
	// Made already (a repeated delivery, another replica, a run cut off
	// before it noted the deployment on the lock)? Never take the lock
	// again for a rollback that exists: it may have finished.
	if d, err := l.r.FindDeployment(ctx, env, policy.TaskRollback, l.p.PreviousRef, facts.SameStep(rb)); err != nil {
		return nil, "The bot could not check whether the automatic rollback exists: " + facts.Explain(err) + " **Next:** check the deployments; if there is no rollback, comment `/rollback`.", false, err
	} else if d != nil {
		_, _, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool {
			return lk.Held() && lk.Kind == "rollback" && lk.FailedDeployment == l.deployment() && lk.Phase == "rolling-back"
		}, func(lk facts.Lock) facts.Lock {
			lk.Phase, lk.Deployment, lk.Claim, lk.ClaimFor, lk.ClaimAt = "deploying", d.GetID(), "", "", time.Time{}
			return lk
		})
		return d, l.rollingBackNote(d), false, err
	}
	now := l.g.clock.Now()
	what := l.what("rollback")
	took, cur, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool {
		switch {
		case !lk.Held():
			return true // released meanwhile: production still needs the rollback
		case l.ownsLock(lk) && lk.Deployment == l.deployment():
			return !lk.ClaimedByOther(l.claim, what, now)
		case lk.Kind == "rollback" && lk.FailedDeployment == l.deployment():
			return !lk.ClaimedByOther(l.claim, what, now) // a repeated delivery, after the hand-over
		}
		return false
	}, func(lk facts.Lock) facts.Lock {
		return facts.Lock{State: "held", Phase: "rolling-back", Kind: "rollback", PR: l.p.PR, RequestedBy: l.p.RequestedBy,
			SHA: l.p.PreviousRef, FailedDeployment: l.deployment(), At: lk.At, Claim: l.claim, ClaimFor: what, ClaimAt: now}
	})
	if err != nil {
		return nil, "The automatic rollback could not take the production lock: " + facts.Explain(err) + " **Next:** comment `/rollback` now.", false, err
	}
	if !took {
		if cur.ClaimedByOther(l.claim, what, now) {
			return nil, "", true, nil
		}
		view := cur.View(now, time.Duration(l.cfg.Promote.LockTimeout))
		return nil, "**Not rolled back automatically:** the production lock is " + view.Describe() + ", and the bot never deploys over someone else's deployment. **Next:** check production now; if it needs it, `/unlock` and `/rollback`.", false, nil
	}
	d, _, err := l.r.CreateDeployment(ctx, facts.DeploymentRequest{SHA: l.p.PreviousRef, Environment: env, Production: true, Task: policy.TaskRollback,
		Payload: rb, Description: fmt.Sprintf("Automatic rollback after deployment %d failed (hotfix-bot)", l.deployment())})
	if err != nil {
		_, _, _ = l.r.TransitionLock(ctx, func(lk facts.Lock) bool { return lk.Held() && lk.Claim == l.claim }, func(facts.Lock) facts.Lock { return facts.Lock{State: "free"} })
		if again := retryNote(ctx, err); again != "" {
			return nil, "**The automatic rollback could not be created yet:** " + facts.Explain(err) + " " + again + " The lock is released meanwhile. **Next:** if production cannot wait, comment `/rollback` now (the bot's own try then stands aside).", false, err
		}
		return nil, "**The automatic rollback could not be created:** " + facts.Explain(err) + " The lock is released. **Next:** comment `/rollback` now.", false, err
	}
	if _, _, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool { return lk.Held() && lk.Claim == l.claim }, func(lk facts.Lock) facts.Lock {
		lk.Phase, lk.Deployment, lk.Claim, lk.ClaimFor, lk.ClaimAt = "deploying", d.GetID(), "", "", time.Time{}
		return lk
	}); err != nil {
		return d, l.rollingBackNote(d), false, err
	}
	return d, l.rollingBackNote(d), false, nil
}

// rollingBackNote is the failure report's line on the automatic rollback.
func (l *lifecycle) rollingBackNote(d *facts.BotDeployment) string {
	prev := l.p.PreviousTag
	if prev == "" {
		prev = "`" + policy.Short(l.p.PreviousRef) + "`"
	}
	next := "the bot releases the lock"
	if l.cfg.Rollback.IncidentIssue {
		next += " and opens an incident issue with the post-incident checklist"
	}
	return fmt.Sprintf("⏪ **Rolling production back to %s automatically** (`rollback.on_failure`): deployment %d. When your CD system reports it done, %s.", prev, d.GetID(), next)
}

// finishRollback follows a successful rollback: lock, moving tag, the
// incident issue, re-checks, and the reply.
func (l *lifecycle) finishRollback(ctx context.Context) error {
	claimed, busy, err := l.claimStep(ctx, l.what("success"), "finishing")
	if err != nil || busy {
		return err
	}
	_ = claimed // not claimed: finish idempotently what is left (see finishHotfix)
	marker := facts.Marker(fmt.Sprintf("rolledback:%d", l.deployment()))
	var errs []error
	var rows []summaryRow
	sha := l.sha()
	target := l.p.Target
	if target == "" {
		target = "`" + policy.Short(sha) + "`"
	}
	if mt := l.cfg.Production.MovingTag; mt != "" {
		if err := l.r.MoveTag(ctx, mt, sha); err != nil {
			errs = append(errs, err)
			rows = append(rows, summaryRow{"moving tag", "❌ `" + mt + "` not moved: " + facts.Explain(err), true})
		} else {
			rows = append(rows, summaryRow{"moving tag", fmt.Sprintf("`%s` moved to `%s`", mt, policy.Short(sha)), false})
		}
	}
	if _, err := l.releaseLock(ctx); err != nil {
		errs = append(errs, err)
		rows = append(rows, summaryRow{"lock", "❌ not released: " + facts.Explain(err), true})
	} else {
		rows = append(rows, summaryRow{"lock", "released", false})
	}
	if l.cfg.Rollback.IncidentIssue {
		is, err := l.incidentIssue(ctx)
		if err != nil {
			errs = append(errs, err)
			rows = append(rows, summaryRow{"incident issue", "❌ not opened: " + facts.Explain(err), true})
		} else {
			rows = append(rows, summaryRow{"incident issue", fmt.Sprintf("#%d, with the post-incident checklist", is.Number), false})
		}
	}
	if err := l.g.RecheckOpenHotfixPRs(ctx, l.installation, l.r.Owner, l.r.Name, l.r.DefaultBranch); err != nil {
		errs = append(errs, err)
		rows = append(rows, summaryRow{"open hotfix PRs", "❌ not all re-checked: " + facts.Explain(err), true})
	} else {
		rows = append(rows, summaryRow{"open hotfix PRs", "re-checked against the rolled-back production", false})
	}
	if l.p.PR != 0 {
		next := "**Next:** work through the incident issue; fix forward with a new hotfix (`/hotfix start NAME`)."
		if problemRows(rows) {
			next = "**Next:** " + strings.TrimSpace(retryNote(ctx, errors.Join(errs...))+" A step marked ❌ that stays so needs a person: do it by hand as its row says.") + " Then work through the incident issue."
		}
		body := fmt.Sprintf("⏪ **Production is back on %s** (rollback deployment %d succeeded).\n\n%s\n%s\n%s",
			target, l.deployment(), summaryTable(rows), next, marker)
		posted, err := l.upsert(ctx, l.p.PR, marker, body)
		if err != nil {
			errs = append(errs, err)
		}
		if posted {
			l.g.notify(notify.Message{Text: fmt.Sprintf(":rewind: *%s*: production rolled back to %s (deployment %d).", l.r.FullName(), target, l.deployment())})
		}
	}
	return errors.Join(errs...)
}

// incidentIssue opens (once) the incident issue of a rollback, assigned to
// the hotfix's author.
func (l *lifecycle) incidentIssue(ctx context.Context) (facts.Issue, error) {
	marker := facts.Marker(fmt.Sprintf("incident:%d", l.deployment()))
	target := l.p.Target
	if target == "" {
		target = "`" + policy.Short(l.sha()) + "`"
	}
	who := "@" + l.p.RequestedBy
	how := "by `/rollback`"
	if l.p.Automatic {
		how = "automatically, after the deployment failed"
		who = fmt.Sprintf("hotfix-bot, automatically (`rollback.on_failure`; the failed promotion was @%s's)", l.p.RequestedBy)
	}
	failed := "–"
	if l.p.FailedDeployment != 0 {
		failed = fmt.Sprintf("deployment %d", l.p.FailedDeployment)
		if st, err := l.r.LatestStatus(ctx, l.p.FailedDeployment); err == nil && st != nil && policy.SafeLink(st.GetLogURL()) != "" {
			failed += fmt.Sprintf(" ([log](%s))", policy.SafeLink(st.GetLogURL()))
		}
	}
	pr := "–"
	if l.p.PR != 0 {
		pr = fmt.Sprintf("#%d", l.p.PR)
	}
	body := fmt.Sprintf(`Production was rolled back to %s %s.

| | |
|---|---|
| hotfix / where it was asked | %s |
| failed deployment | %s |
| rollback deployment | %d (%s) |
| rolled back by | %s |
| replaced | %s |

## Stabilise
- [ ] Verify production is stable on %s: error rates, latency, health checks
- [ ] Check the metrics and that no data was lost or corrupted (writes during the bad deploy, migrations)
- [ ] Notify stakeholders: what broke, for how long, what users saw
- [ ] Document the timeline (deploy, detection, rollback) in this issue

## Understand
- [ ] Find the root cause
- [ ] Update the runbooks and the monitoring that should have caught it
- [ ] Plan the permanent fix (a new hotfix: `+"`/hotfix start NAME`"+`)

## Prevent
- [ ] Add a regression test
- [ ] Review the process: what would have stopped this before production?
%s`, target, how, pr, failed, l.deployment(), l.ev.Environment(), who, "`"+policy.Short(l.p.PreviousRef)+"`", target, marker)
	var assignees []string
	if l.p.Author != "" {
		assignees = []string{l.p.Author}
	}
	is, _, err := l.r.EnsureIssue(ctx, marker, fmt.Sprintf("Incident: production rolled back to %s", strings.Trim(target, "`")), body, assignees, time.Time{})
	return is, err
}

// failRollback follows a failed rollback: production needs a person.
func (l *lifecycle) failRollback(ctx context.Context) error {
	claimed, busy, err := l.claimStep(ctx, l.what(l.ev.DeploymentStatus.State), "finishing")
	if err != nil || busy {
		return err
	}
	_ = claimed
	var errs []error
	if _, err := l.releaseLock(ctx); err != nil {
		errs = append(errs, err)
	}
	marker := facts.Marker(fmt.Sprintf("rollbackfailed:%d", l.deployment()))
	logLine := ""
	if u := l.ev.logURL(); u != "" {
		logLine = fmt.Sprintf(" [Deployment log](%s).", u)
	}
	if l.p.PR != 0 {
		body := fmt.Sprintf("🚨 **The rollback failed** (deployment %d of `%s` to `%s`).%s\n\nProduction may be down or half-deployed. The production lock is released. **Next:** a person takes over now: check production, redeploy a known-good release through your CD system, or comment `/rollback TAG` with another tag that ran in production.\n%s",
			l.deployment(), policy.Short(l.sha()), l.ev.Deployment.Environment, logLine, marker)
		if _, err := l.upsert(ctx, l.p.PR, marker, body); err != nil {
			errs = append(errs, err)
		}
	}
	l.g.notify(notify.Message{Text: fmt.Sprintf(":rotating_light: *%s*: the rollback (deployment %d) failed: production needs a person now.", l.r.FullName(), l.deployment())})
	return errors.Join(errs...)
}

// Environment is the deployment's environment.
func (e *deploymentStatusEvent) Environment() string { return e.Deployment.Environment }
