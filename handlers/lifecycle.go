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

	// decision and facts are what handle decided from; claimed says this
	// handler holds the lock's claim for the work.
	decision policy.StatusDecision
	facts    policy.StatusFacts
	claimed  bool
}

func (l *lifecycle) deployment() int64 { return l.ev.Deployment.ID }
func (l *lifecycle) sha() string       { return l.ev.Deployment.SHA }

// mine reports whether the lock is held for this deployment (it names it
// since claimStory) and carries no other handler's claim.
func (l *lifecycle) mine(lk facts.Lock) bool {
	return l.relate(lk, false) == policy.LockNamesThis && (lk.Claim == "" || lk.Claim == l.claim)
}

// releaseLock frees the lock if the decision made it this deployment's to
// release and it still is. The claim stays on the free lock: another
// replica given the same status sees the work is being done (and waits
// for the story to be told), while a new promotion may take the lock at
// once.
func (l *lifecycle) releaseLock(ctx context.Context) (bool, error) {
	if !l.decision.ReleaseLock {
		return false, nil
	}
	moved, _, err := l.r.TransitionLock(ctx, l.mine, func(cur facts.Lock) facts.Lock {
		return facts.Lock{State: "free", Claim: l.claim, ClaimFor: l.what(), ClaimAt: cur.ClaimAt}
	})
	return moved, err
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
// chain, while the lock names it: the /promote decision is made again on
// the same head (the pull request's state and head, every gate, the
// required checks, and production still running what the chain replaces),
// and only then is the next environment's deployment of the same commit
// created. Any change stops the chain and says why.
func (l *lifecycle) advance(ctx context.Context) error {
	next := l.p
	next.ChainIndex++
	env := next.Environment()
	// Made already (this step's handling was cut off after creating it)?
	if d, err := l.r.FindDeployment(ctx, env, policy.TaskHotfix, l.sha(), facts.SameStep(next)); err != nil {
		return l.unclaim(ctx, err)
	} else if d != nil {
		return l.advanced(ctx, d)
	}
	pr, err := l.g.readPullRequest(ctx, l.r, l.p.PR)
	if err != nil {
		return l.unclaim(ctx, err)
	}
	if pr.GetState() != "open" || pr.GetHead().GetSHA() != l.sha() {
		// New commits (or a closed pull request): what was checked is no
		// longer what would reach production.
		why := fmt.Sprintf("the head of #%d moved to `%s` after `%s` was promoted", l.p.PR, policy.Short(pr.GetHead().GetSHA()), policy.Short(l.sha()))
		if pr.GetState() != "open" {
			why = fmt.Sprintf("#%d was closed", l.p.PR)
		}
		return l.stopChain(ctx, env, why+".", "review the new commits and comment `/promote` again")
	}
	f, got, _ := l.g.promotionFacts(ctx, l.r, l.cfg, pr, l.p.Emergency)
	f.Recheck, f.PreviousRef = true, l.p.PreviousRef
	f.Now, f.EmergencyMaintainer = l.g.clock.Now(), l.p.EmergencyMaintainer
	f.Production = got.Facts.Production
	if err := got.Err(); err != nil && !got.Facts.Production.Known {
		return l.unclaim(ctx, err) // GitHub failed: try again, do not stop
	}
	if decision := l.cfg.DecidePromotion(f); !decision.Allowed() {
		var b strings.Builder
		b.WriteString("the promotion, decided again before this step, is refused:\n\n| rule | why | what to do |\n|---|---|---|\n")
		for _, r := range decision.Refusals {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", r.Rule, cell(r.Why), cell(r.Next))
		}
		return l.stopChain(ctx, env, b.String(), "do what the table says, then comment `/promote` again (the chain starts over)")
	}
	d, _, err := l.r.CreateDeployment(ctx, facts.DeploymentRequest{SHA: l.sha(), Environment: env, Production: env == l.cfg.Production.Environment,
		Task: policy.TaskHotfix, Payload: next, Description: fmt.Sprintf("Hotfix #%d as %s, step %d of %d (hotfix-bot)", l.p.PR, l.p.NextTag, next.ChainIndex+1, len(l.p.Chain))})
	if err != nil {
		return l.unclaim(ctx, errors.Join(err, l.reportStuck(ctx, env, err)))
	}
	return l.advanced(ctx, d)
}

// advanced records the next step's deployment on the lock (it then names
// it: this step's statuses are history) and moves the plan on.
func (l *lifecycle) advanced(ctx context.Context, d *facts.BotDeployment) error {
	next := d.Payload.ChainIndex
	if err := l.resolveStuck(ctx, d.Payload.Environment(), d.GetID()); err != nil {
		return err
	}
	if _, _, err := l.r.TransitionLock(ctx, l.mine, func(lk facts.Lock) facts.Lock {
		lk.Phase, lk.Deployment, lk.Step, lk.Claim, lk.ClaimFor, lk.ClaimAt = "deploying", d.GetID(), next, "", "", time.Time{}
		return lk
	}); err != nil {
		return err
	}
	steps := l.chainSteps(ctx, "success")
	steps[next] = stepState{id: d.GetID(), state: "waiting"}
	return l.updatePlan(ctx, steps, next, "")
}

// stopChain ends a staged chain before `env`: the lock is released, the
// plan and a reply say why and what to do. Production is not touched.
func (l *lifecycle) stopChain(ctx context.Context, env, why, next string) error {
	if _, err := l.releaseLock(ctx); err != nil {
		return err
	}
	steps := l.chainSteps(ctx, "success")
	steps[l.p.ChainIndex+1] = stepState{state: "stopped"}
	result := fmt.Sprintf("⏹️ **The chain stopped before `%s`:** %s\n\nProduction was not touched and the lock is released. **Next:** %s.", env, strings.TrimSpace(why), next)
	if err := l.updatePlan(ctx, steps, l.p.ChainIndex+1, strings.SplitN(result, "\n", 2)[0]); err != nil {
		return err
	}
	marker := facts.Marker(fmt.Sprintf("stopped:%d", l.deployment()))
	_, _, err := l.r.PostComment(ctx, l.p.PR, marker, result+"\n"+marker, time.Time{})
	return err
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
	if !l.claimed {
		return err
	}
	_, _, _ = l.r.TransitionLock(ctx, func(lk facts.Lock) bool { return lk.Claim == l.claim },
		func(lk facts.Lock) facts.Lock {
			if lk.Held() {
				lk.Phase = "deploying"
			}
			lk.Claim, lk.ClaimFor, lk.ClaimAt = "", "", time.Time{}
			return lk
		})
	return err
}

// unfinished marks a story reply written while a step of it failed: the
// story is not told yet, and a retry or redelivery carries it on.
func unfinished(errs []error) string {
	if len(errs) == 0 {
		return ""
	}
	return "\n" + facts.Marker("unfinished")
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
//
// It runs only while the deployment is what production runs (the status
// is not late). Every step is find-or-create, so running it again (a
// redelivery, a retry, a replica that finds the lock released) finishes
// what an interrupted run left undone and changes nothing else; the
// summary is edited in place.
func (l *lifecycle) finishHotfix(ctx context.Context) error {
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
	case k == facts.NotAllowed && strings.Contains(strings.ToLower(facts.Explain(err)), "not mergeable"):
		return summaryRow{"merge", fmt.Sprintf("❌ not merged: GitHub says #%d cannot be merged (%s). Resolve it and merge by hand; the bot never forces.", pr.GetNumber(), facts.Explain(err)), true}
	case k == facts.NotAllowed:
		// A rule of the branch's protection (required reviews, required
		// checks, a ruleset) that the app does not pass.
		base := pr.GetBase().GetRef()
		return summaryRow{"merge", fmt.Sprintf("❌ not merged: GitHub refused to merge #%d into `%s` under its branch protection (%s). "+
			"The fix is live: merge #%d yourself, with a merge commit. To let the bot merge hotfixes, add the app to the bypass list of the rule protecting `%s` "+
			"(a ruleset's \"Bypass list\", or branch protection's \"Allow specified actors to bypass required pull requests\"); see the README's install steps.",
			pr.GetNumber(), base, facts.Explain(err), pr.GetNumber(), base), true}
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

// failHotfix follows a failed or errored deployment of a hotfix, as
// decided: a chain step before production stops the chain; a production
// deployment is rolled back automatically (StatusRollback, unless the
// schema guard stops it), or reported with why it was not. The lock is
// released (or handed to the rollback) only when it names this
// deployment.
func (l *lifecycle) failHotfix(ctx context.Context) error {
	state := l.ev.DeploymentStatus.State
	marker := facts.Marker(fmt.Sprintf("failed:%d", l.deployment()))
	env := l.ev.Deployment.Environment
	failed := map[string]string{"failure": "failed", "error": "errored"}[state]
	logLine := ""
	if u := l.ev.logURL(); u != "" {
		logLine = fmt.Sprintf(" [Deployment log](%s).", u)
	}
	desc := ""
	if d := l.ev.DeploymentStatus.Description; d != "" {
		desc = " Your CD system says: “" + policy.UserText(d, 300) + "”."
	}
	if who := l.ev.DeploymentStatus.Creator.Login; who != "" {
		desc = fmt.Sprintf(" Reported by @%s.", who) + desc
	}
	headline := fmt.Sprintf("❌ **Deployment %d of `%s` to `%s` %s.**%s%s", l.deployment(), policy.Short(l.sha()), env, failed, desc, logLine)
	steps := l.chainSteps(ctx, state)
	for i := l.p.ChainIndex + 1; i < len(l.p.Chain); i++ {
		steps[i] = stepState{state: "stopped"}
	}

	var result string
	var errs []error
	chat := notify.Message{Text: fmt.Sprintf(":x: *%s*: deployment %d of #%d to %s %s.", l.r.FullName(), l.deployment(), l.p.PR, env, failed)}
	why := l.decision.Why
	rollback := l.decision.Action == policy.StatusRollback
	if rollback {
		blockedWhy, blocked, err := l.schemaGuard(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		if blocked {
			rollback, why = false, blockedWhy
		}
	}
	switch {
	case rollback:
		rb, note, err := l.rollbackAfterFailure(ctx)
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
				l.r.FullName(), l.deployment(), l.p.PR, l.p.NextTag, env, failed, prev, rb.GetID())}
		} else {
			chat.Text += " Production was not rolled back automatically: see the pull request."
		}
	case !l.p.Final():
		if _, err := l.releaseLock(ctx); err != nil {
			errs = append(errs, err)
		}
		result = headline + fmt.Sprintf("\n\nThe chain stopped: production was not touched, and the production lock is released. **Next:** find out why `%s` failed (the log above), fix it on the branch, and comment `/promote` again.", env)
	default:
		released, err := l.releaseLock(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		lock := "The production lock is released."
		if !released {
			lock = "The production lock was not this deployment's to release."
		}
		result = headline + "\n\n**Not rolled back automatically:** " + why + ". " + lock +
			" **Production may be running a broken or partial deploy.** **Next:** " + l.rollbackAdvice()
		chat.Text += " Production was not rolled back automatically: see the pull request."
	}
	if posted, err := l.upsert(ctx, l.p.PR, marker, result+"\n"+marker+unfinished(errs)); err != nil {
		errs = append(errs, err)
	} else if posted {
		l.g.notify(chat)
	}
	if err := l.updatePlan(ctx, steps, l.p.ChainIndex, strings.SplitN(result, "\n", 2)[0]); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// rollbackAdvice says who decides, and how, when production was not
// rolled back automatically: the promoter and the hotfix's author are
// asked by name.
func (l *lifecycle) rollbackAdvice() string {
	people := "@" + l.p.RequestedBy
	if l.p.Author != "" && !strings.EqualFold(l.p.Author, l.p.RequestedBy) {
		people += " and @" + l.p.Author
	}
	return people + ": check production now. To go back to what ran before, comment `/rollback` (it refuses across schema changes; `/rollback --force` rolls back anyway once you have checked the schema works with it)."
}

// schemaGuard is the automatic rollback's schema check: files under
// schema.paths changed between what production ran before and the failed
// hotfix, or a listing that could not be read whole, stop it (migrations
// may not reverse: a person decides). A comparison GitHub would not give
// stops it too, saying so.
func (l *lifecycle) schemaGuard(ctx context.Context) (why string, blocked bool, err error) {
	files, complete, err := l.r.FilesBetween(ctx, l.p.PreviousRef, l.sha())
	if err != nil {
		return "the bot could not compare the failed deployment with what production ran before (" + facts.Explain(err) + "), so it cannot rule out a schema change", true, err
	}
	why, blocked = l.cfg.AutomaticRollbackSchema(files, complete)
	return why, blocked, nil
}

// rollbackAfterFailure hands the lock from the failed hotfix to a rollback
// in one compare-and-swap and deploys what production ran before. It
// never rolls back over someone else's deployment, nor past a deployment
// created since the decision.
func (l *lifecycle) rollbackAfterFailure(ctx context.Context) (rbd *facts.BotDeployment, note string, err error) {
	env := l.cfg.Production.Environment
	rb := policy.DeploymentPayload{HotfixBot: 1, Kind: "rollback", PR: l.p.PR, RequestedBy: l.p.RequestedBy, Author: l.p.Author,
		PreviousRef: l.sha(), Target: l.p.PreviousTag, FailedDeployment: l.deployment(), Automatic: true,
		Chain: []string{env}, ChainIndex: 0}
	// Made already (a repeated delivery, another replica, a run cut off
	// before it noted the deployment on the lock)? Never take the lock
	// again for a rollback that exists: it may have finished.
	if d, err := l.r.FindDeployment(ctx, env, policy.TaskRollback, l.p.PreviousRef, facts.SameStep(rb)); err != nil {
		return nil, "The bot could not check whether the automatic rollback exists: " + facts.Explain(err) + " **Next:** check the deployments; if there is no rollback, comment `/rollback`.", err
	} else if d != nil {
		_, _, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool {
			return lk.Held() && lk.Kind == "rollback" && lk.FailedDeployment == l.deployment() && lk.Phase == "rolling-back"
		}, func(lk facts.Lock) facts.Lock {
			lk.Phase, lk.Deployment, lk.Claim, lk.ClaimFor, lk.ClaimAt = "deploying", d.GetID(), "", "", time.Time{}
			return lk
		})
		return d, l.rollingBackNote(d), err
	}
	now := l.g.clock.Now()
	took, cur, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool {
		return l.mine(lk) || (!lk.Held() && (lk.Claim == "" || lk.Claim == l.claim))
	}, func(lk facts.Lock) facts.Lock {
		return facts.Lock{State: "held", Phase: "rolling-back", Kind: "rollback", PR: l.p.PR, RequestedBy: l.p.RequestedBy,
			SHA: l.p.PreviousRef, FailedDeployment: l.deployment(), At: lk.At, Claim: l.claim, ClaimFor: l.what(), ClaimAt: now}
	})
	if err != nil {
		return nil, "The automatic rollback could not take the production lock: " + facts.Explain(err) + " **Next:** comment `/rollback` now.", err
	}
	if !took {
		view := cur.View(now, time.Duration(l.cfg.Promote.LockTimeout))
		return nil, "**Not rolled back automatically:** the production lock is " + view.Describe() + ", and the bot never deploys over someone else's deployment. **Next:** check production now; if it needs it, `/unlock` and `/rollback`.", nil
	}
	free := func() {
		_, _, _ = l.r.TransitionLock(ctx, func(lk facts.Lock) bool { return lk.Held() && lk.Claim == l.claim }, func(facts.Lock) facts.Lock { return facts.Lock{State: "free"} })
	}
	// Time of check, time of use: a deployment created between the
	// decision and the lock (a promotion that came and went) wins.
	if newer, err := l.r.Fresh().NewerDeployment(ctx, env, l.deployment(), l.ownRollback); err != nil || newer != 0 {
		free()
		if err != nil {
			return nil, "The automatic rollback could not check for newer deployments: " + facts.Explain(err) + " The lock is released. **Next:** check production now; if it needs it, comment `/rollback`.", err
		}
		return nil, fmt.Sprintf("**Not rolled back automatically:** deployment %d to `%s` was created after this one, so this failure no longer describes production. **Next:** check production now; if it needs it, comment `/rollback`.", newer, env), nil
	}
	d, _, err := l.r.CreateDeployment(ctx, facts.DeploymentRequest{SHA: l.p.PreviousRef, Environment: env, Production: true, Task: policy.TaskRollback,
		Payload: rb, Description: fmt.Sprintf("Automatic rollback after deployment %d failed (hotfix-bot)", l.deployment())})
	if err != nil {
		// Not created (CreateDeployment looked for it over a few seconds
		// before giving up): nothing deploys, so the lock goes.
		free()
		if again := retryNote(ctx, err); again != "" {
			return nil, "**The automatic rollback could not be created yet:** " + facts.Explain(err) + " " + again + " The lock is released meanwhile. **Next:** if production cannot wait, comment `/rollback` now (the bot's own try then stands aside).", err
		}
		return nil, "**The automatic rollback could not be created:** " + facts.Explain(err) + " The lock is released. **Next:** comment `/rollback` now.", err
	}
	if _, _, err := l.r.TransitionLock(ctx, func(lk facts.Lock) bool { return lk.Held() && lk.Claim == l.claim }, func(lk facts.Lock) facts.Lock {
		lk.Phase, lk.Deployment, lk.Claim, lk.ClaimFor, lk.ClaimAt = "deploying", d.GetID(), "", "", time.Time{}
		return lk
	}); err != nil {
		return d, l.rollingBackNote(d), err
	}
	return d, l.rollingBackNote(d), nil
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
		body := fmt.Sprintf("⏪ **Production is back on %s** (rollback deployment %d succeeded).\n\n%s\n%s\n%s%s",
			target, l.deployment(), summaryTable(rows), next, marker, unfinished(errs))
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
	var errs []error
	if _, err := l.releaseLock(ctx); err != nil {
		errs = append(errs, err)
	}
	marker := facts.Marker(fmt.Sprintf("rollbackfailed:%d", l.deployment()))
	logLine := ""
	if who := l.ev.DeploymentStatus.Creator.Login; who != "" {
		logLine = fmt.Sprintf(" Reported by @%s.", who)
	}
	if u := l.ev.logURL(); u != "" {
		logLine += fmt.Sprintf(" [Deployment log](%s).", u)
	}
	if l.p.PR != 0 {
		body := fmt.Sprintf("🚨 **The rollback failed** (deployment %d of `%s` to `%s`).%s\n\nProduction may be down or half-deployed. The production lock is released. **Next:** a person takes over now: check production, redeploy a known-good release through your CD system, or comment `/rollback TAG` with another tag that ran in production.\n%s",
			l.deployment(), policy.Short(l.sha()), l.ev.Deployment.Environment, logLine, marker)
		if _, err := l.upsert(ctx, l.p.PR, marker, body+unfinished(errs)); err != nil {
			errs = append(errs, err)
		}
	}
	l.g.notify(notify.Message{Text: fmt.Sprintf(":rotating_light: *%s*: the rollback (deployment %d) failed: production needs a person now.", l.r.FullName(), l.deployment())})
	return errors.Join(errs...)
}

// Environment is the deployment's environment.
func (e *deploymentStatusEvent) Environment() string { return e.Deployment.Environment }
