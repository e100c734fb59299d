package handlers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/notify"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// mergeableReads bounds how often /promote asks GitHub whether the pull
// request can be merged while GitHub is still computing it.
const mergeableReads = 4

// readPullRequest reads the pull request afresh, asking again (1 s, 2 s,
// 4 s apart) while GitHub has not computed `mergeable` yet.
func (g *Bot) readPullRequest(ctx context.Context, r *facts.Repo, number int) (*github.PullRequest, error) {
	wait := time.Second
	for i := 1; ; i++ {
		pr, err := r.PullRequestNow(ctx, number)
		if err != nil || pr.Mergeable != nil || pr.GetState() != "open" || i == mergeableReads {
			return pr, err
		}
		if err := g.clock.Sleep(ctx, wait); err != nil {
			return pr, err
		}
		wait *= 2
	}
}

// promotion is what /promote and /promote --dry-run found out.
type promotion struct {
	pr       *github.PullRequest
	got      facts.Gathered
	table    policy.GateTable
	decision policy.PromotionDecision
	lock     facts.Lock
	nextTag  string
	// nextTagErr says why the tag to bump could not be found.
	nextTagErr error
}

// promotionFacts reads what every promotion decision rests on about the
// pull request's current head: its state, every gate (the same gather and
// decide the check runs use), the other checks and check suites on the
// head, and when the head was pushed (the branch's push history, the same
// the approval gate reads). /promote adds the lock and the comment; a
// staged chain's re-check adds production.
func (g *Bot) promotionFacts(ctx context.Context, r *facts.Repo, cfg policy.Config, pr *github.PullRequest, emergency bool) (policy.PromotionFacts, facts.Gathered, policy.GateTable) {
	head, branch := pr.GetHead().GetSHA(), pr.GetHead().GetRef()
	fork := ""
	if full := pr.GetHead().GetRepo().GetFullName(); full != r.FullName() {
		fork = full
		if fork == "" {
			fork = "a deleted fork"
		}
	}
	f := policy.PromotionFacts{
		PR: policy.PullRequestState{Number: pr.GetNumber(), Open: pr.GetState() == "open", Draft: pr.GetDraft(), Mergeable: pr.Mergeable,
			Fork: fork, HeadRef: branch, BaseRef: pr.GetBase().GetRef(), HeadSHA: head},
		Emergency: emergency,
	}
	var (
		wg       sync.WaitGroup
		checkErr error
		history  policy.PushHistory
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		f.Checks.Checks, checkErr = r.OtherChecks(ctx, head)
		if checkErr == nil && cfg.Promote.RequiredChecks.All {
			f.Checks.Suites, checkErr = r.CheckSuites(ctx, head)
		}
	}()
	go func() {
		defer wg.Done()
		if fork == "" { // the same history the approval gate reads (remembered)
			history, _ = r.PushHistory(ctx, branch, head)
		}
	}()
	got := r.GatherGates(ctx, cfg, facts.GateRequest{Branch: branch, Head: head, PR: pr, Fork: fork})
	wg.Wait()
	if checkErr != nil {
		f.Checks.Unknown = facts.Explain(checkErr)
	}
	table := cfg.Decide(got.Facts)
	f.Gates = table
	// When the head was pushed, from the branch's push history alone (the
	// push that made it the tip, not an earlier push of the same commit).
	f.HeadPushedAt = history.LastPush(head)
	f.Checks.Head, f.Checks.PushedAt, f.Checks.Now = head, f.HeadPushedAt, g.clock.Now()
	return f, got, table
}

// evaluatePromotion re-evaluates the pull request's current head with the
// same gather and decide the check runs use, adds what only /promote
// checks, and decides. It changes nothing.
func (c *commandRun) evaluatePromotion(ctx context.Context) (*promotion, error) {
	r, cfg := c.r, c.cfg
	pr, err := c.g.readPullRequest(ctx, r, c.ev.Issue.Number)
	if err != nil {
		return nil, err
	}
	p := &promotion{pr: pr}
	// What only /promote checks is read alongside the gates' facts.
	var (
		wg       sync.WaitGroup
		lockErr  error
		tagNames []string
	)
	wg.Add(2)
	go func() { defer wg.Done(); p.lock, lockErr = r.ReadLock(ctx) }()
	go func() {
		defer wg.Done()
		if tags, err := r.Tags(ctx); err == nil {
			for _, t := range tags {
				tagNames = append(tagNames, t.Name)
			}
		}
	}()
	f, got, table := c.g.promotionFacts(ctx, r, cfg, pr, c.cmd.Emergency)
	wg.Wait()
	p.got, p.table = got, table
	f.CommentAt = c.ev.Comment.CreatedAt
	if lockErr != nil {
		f.LockUnknown = facts.Explain(lockErr)
	} else if !c.ownOrOrphaned(ctx, p.lock) {
		f.Lock = p.lock.View(c.g.clock.Now(), time.Duration(cfg.Promote.LockTimeout))
	}
	f.Now = c.g.clock.Now()
	f.EmergencyMaintainer = c.cmd.Emergency && c.perm.Level.AtLeast(policy.PermissionMaintain)
	p.decision = cfg.DecidePromotion(f)
	if prod := p.got.Facts.Production; prod.Known {
		if prod.Tag == "" {
			// Untagged production: the next tag bumps the newest release
			// tag that is its ancestor (never a pre-release).
			prod.AncestorTag, p.nextTagErr = r.AncestorReleaseTag(ctx, cfg, prod.SHA)
		}
		p.nextTag, _ = cfg.NextFreeTag(prod, tagNames)
	}
	return p, nil
}

// promote is `/promote`: re-check every gate on the current head, take the
// production lock, deploy exactly the evaluated sha, reply with the plan.
func (c *commandRun) promote(ctx context.Context) outcome {
	cfg, r, cmd := c.cfg, c.r, c.cmd
	if !c.ev.onPR() {
		return refuse(cmd, []policy.Refusal{{Rule: "on a hotfix pull request", Why: "`/promote` deploys a hotfix pull request, and this is an issue",
			Next: "comment `/promote` on the hotfix pull request"}}, "")
	}
	need := cfg.Commands.Permission
	if cmd.DryRun {
		need = policy.PermissionRead
	}
	if _, o := c.authorize(ctx, need); o != nil {
		return *o
	}
	if cmd.Emergency {
		if o := c.authorizeEmergency(ctx); o != nil {
			return *o
		}
	}
	if !cmd.DryRun {
		// A first delivery of this comment may have deployed already: find
		// it by the comment id in its payload, and finish from there.
		d, err := r.FindDeployment(ctx, cfg.Promote.Environments[0], policy.TaskHotfix, "", func(p policy.DeploymentPayload) bool {
			return p.CommentID == c.ev.Comment.ID && p.ChainIndex == 0
		})
		if err != nil {
			return c.failed("find what this comment did before", err)
		}
		if d != nil {
			o := c.planOutcome(ctx, d, nil, "")
			// The first attempt may have died before it noted the
			// deployment on the lock.
			o.err = c.recordOnLock(ctx, "promote", "promoting", d)
			return o
		}
	}
	p, err := c.evaluatePromotion(ctx)
	if err != nil {
		return c.failed("read the pull request", err)
	}
	head := p.pr.GetHead().GetSHA()
	if cmd.DryRun {
		verdict := "would deploy"
		if !p.decision.Allowed() {
			verdict = "would refuse"
		}
		return done(fmt.Sprintf("Dry run: /promote %s `%s` now. Nothing was changed.", verdict, policy.Short(head)), c.promotionTable(p))
	}
	if l := p.lock; l.Held() && l.Kind == "promote" && l.CommentID == c.ev.Comment.ID && l.ClaimedByOther(c.claim, "promote", c.g.clock.Now()) {
		// Another replica is acting on this very comment (a duplicate
		// delivery): it answers; a refusal here would overwrite its reply.
		if l.Deployment != 0 {
			return c.existingPlan(ctx, l.Deployment)
		}
		return claimedElsewhere(l)
	}
	if !p.decision.Allowed() {
		o := refuse(cmd, p.decision.Refusals, c.promotionTable(p))
		o.err = p.got.Err()
		return o
	}
	if p.nextTag == "" && p.nextTagErr != nil {
		return c.failed("find the release tag the next tag bumps", p.nextTagErr)
	}
	if p.nextTag == "" {
		return refuse(cmd, []policy.Refusal{{Rule: "next tag", Why: "no release tag gives a version to bump (`production.tag_template`)",
			Next: "tag what production runs (e.g. `git tag v1.0.0 <sha>`), then comment `/promote` again"}}, "")
	}
	// Time of check, time of use: deploy only the sha that was evaluated.
	if again, err := r.PullRequestNow(ctx, p.pr.GetNumber()); err != nil {
		return c.failed("read the pull request again", err)
	} else if again.GetHead().GetSHA() != head {
		return refuse(cmd, []policy.Refusal{{Rule: "head unchanged", Why: fmt.Sprintf("the head moved from `%s` to `%s` while the bot checked it", policy.Short(head), policy.Short(again.GetHead().GetSHA())),
			Next: "review the new commits and comment `/promote` again"}}, "")
	}

	prod := p.got.Facts.Production
	took, prev, err := r.TransitionLock(ctx, func(l facts.Lock) bool {
		return !l.Held() || l.View(c.g.clock.Now(), time.Duration(cfg.Promote.LockTimeout)).Stale ||
			(l.Kind == "promote" && l.CommentID == c.ev.Comment.ID && l.Deployment == 0 && !l.ClaimedByOther(c.claim, "promote", c.g.clock.Now())) ||
			c.orphaned(ctx, l)
	}, func(l facts.Lock) facts.Lock {
		return facts.Lock{State: "held", Phase: "promoting", Kind: "promote", PR: p.pr.GetNumber(), CommentID: c.ev.Comment.ID,
			RequestedBy: c.ev.Comment.User.Login, SHA: head, Claim: c.claim, ClaimFor: "promote", ClaimAt: c.g.clock.Now()}
	})
	if err != nil {
		return c.failed("take the production lock", err)
	}
	if !took {
		if prev.Held() && prev.Kind == "promote" && prev.CommentID == c.ev.Comment.ID {
			if prev.Deployment != 0 {
				// An earlier delivery deployed (the listing may not show it
				// yet): the lock names it.
				return c.existingPlan(ctx, prev.Deployment)
			}
			return claimedElsewhere(prev) // the same comment, being handled by another replica
		}
		return refuse(cmd, []policy.Refusal{{Rule: "production lock", Why: "a promotion is in progress: the lock is " + prev.View(c.g.clock.Now(), time.Duration(cfg.Promote.LockTimeout)).Describe(),
			Next: "wait for it to finish; if it is stuck, someone with maintain permission comments `/unlock`"}}, c.lockLink(prev))
	}
	tookOver := ""
	if prev.Held() && !(prev.Kind == "promote" && prev.CommentID == c.ev.Comment.ID) {
		tookOver = "⚠️ The production lock was stale (" + prev.View(c.g.clock.Now(), time.Duration(cfg.Promote.LockTimeout)).Describe() + ") and this promotion took it over."
	}

	payload := policy.DeploymentPayload{HotfixBot: 1, Kind: "hotfix", PR: p.pr.GetNumber(), CommentID: c.ev.Comment.ID,
		RequestedBy: c.ev.Comment.User.Login, Author: p.pr.GetUser().GetLogin(), PreviousRef: prod.SHA, PreviousTag: prod.Tag,
		NextTag: p.nextTag, Chain: cfg.Promote.Environments, ChainIndex: 0, Emergency: cmd.Emergency,
		EmergencyMaintainer: cmd.Emergency && c.perm.Level.AtLeast(policy.PermissionMaintain)}
	if cmd.Emergency {
		audit, err := c.auditIssue(ctx, p, payload)
		if err != nil {
			return c.releaseAfter(ctx, c.failed("open the emergency audit issue", err))
		}
		payload.AuditIssue = audit.Number
	}
	env := cfg.Promote.Environments[0]
	d, _, err := r.CreateDeployment(ctx, facts.DeploymentRequest{SHA: head, Environment: env, Production: env == cfg.Production.Environment,
		Task: policy.TaskHotfix, Payload: payload,
		Description: fmt.Sprintf("Hotfix #%d as %s, promoted by @%s (hotfix-bot)", p.pr.GetNumber(), p.nextTag, c.ev.Comment.User.Login)})
	if err != nil {
		return c.releaseAfter(ctx, c.failed("create the deployment", err))
	}
	if err := c.recordOnLock(ctx, "promote", "promoting", d); err != nil {
		return outcome{ok: true, headline: "Deployment created; recording it on the lock failed", err: err,
			body: fmt.Sprintf("Deployment %d of `%s` to `%s` was created. The bot could not record it on the production lock: %s", d.GetID(), policy.Short(head), env, facts.Explain(err))}
	}
	c.g.notify(notify.Message{Text: fmt.Sprintf(":rocket: *%s*: @%s promoted <%s|#%d %s> (`%s`) as %s; deployment %d to %s is waiting for CD.",
		r.FullName(), c.ev.Comment.User.Login, p.pr.GetHTMLURL(), p.pr.GetNumber(), slackText(p.pr.GetTitle()), policy.Short(head), p.nextTag, d.GetID(), env)})
	return c.planOutcome(ctx, d, p, tookOver)
}

// existingPlan answers a command whose deployment an earlier delivery
// created: the plan, as the first answer would have given it.
func (c *commandRun) existingPlan(ctx context.Context, id int64) outcome {
	dep, err := c.r.Deployment(ctx, id)
	if err != nil {
		return c.failed("read the deployment this comment created", err)
	}
	p, ok := facts.DecodePayload(dep.Payload)
	if !ok || !c.r.ByApp(dep) {
		return c.failed("read the deployment this comment created", fmt.Errorf("deployment %d is not one of the bot's", id))
	}
	return c.planOutcome(ctx, &facts.BotDeployment{Deployment: dep, Payload: p}, nil, "")
}

// recordOnLock notes on the lock the deployment this comment created
// (phase → deploying, claim dropped); a lock that has moved on, or is
// another command's, is left alone.
func (c *commandRun) recordOnLock(ctx context.Context, kind, phase string, d *facts.BotDeployment) error {
	_, _, err := c.r.TransitionLock(ctx, func(l facts.Lock) bool {
		return l.Held() && l.Kind == kind && l.CommentID == c.ev.Comment.ID && l.Phase == phase
	}, func(l facts.Lock) facts.Lock {
		l.Phase, l.Deployment, l.Step, l.Claim, l.ClaimFor, l.ClaimAt = "deploying", d.GetID(), 0, "", "", time.Time{}
		return l
	})
	return err
}

// ownOrOrphaned reports whether a held lock does not stand in this
// command's way: an earlier attempt of this very comment took it (and
// no other live process works on it), or its command died (orphaned).
func (c *commandRun) ownOrOrphaned(ctx context.Context, l facts.Lock) bool {
	if !l.Held() {
		return false
	}
	if l.Kind == c.cmd.Name && l.CommentID == c.ev.Comment.ID && !l.ClaimedByOther(c.claim, c.cmd.Name, c.g.clock.Now()) {
		return true
	}
	return c.orphaned(ctx, l)
}

// orphaned reports whether a lock was left by a command that died before
// it deployed anything: its claim expired (ClaimTTL) while still creating
// the deployment, and no deployment of that command exists. Such a lock
// is taken over at once rather than blocking production until
// promote.lock_timeout.
func (c *commandRun) orphaned(ctx context.Context, l facts.Lock) bool {
	if !l.Held() || (l.Phase != "promoting" && l.Phase != "rolling-back") || l.CommentID == 0 ||
		c.g.clock.Now().Sub(l.ClaimAt) < facts.ClaimTTL {
		return false
	}
	task, env := policy.TaskHotfix, c.cfg.Promote.Environments[0]
	if l.Kind == "rollback" {
		task, env = policy.TaskRollback, c.cfg.Production.Environment
	}
	d, err := c.r.FindDeployment(ctx, env, task, "", func(p policy.DeploymentPayload) bool { return p.CommentID == l.CommentID })
	return err == nil && d == nil
}

// releaseAfter frees the lock this command took when a later step
// failed, so a retry is not blocked by itself.
func (c *commandRun) releaseAfter(ctx context.Context, o outcome) outcome {
	_, _, _ = c.r.TransitionLock(ctx, func(l facts.Lock) bool {
		return l.Held() && l.CommentID == c.ev.Comment.ID && l.Claim == c.claim
	}, func(facts.Lock) facts.Lock { return facts.Lock{State: "free"} })
	return o
}

// authorizeEmergency checks that the commenter may run an emergency
// promotion: listed in commands.emergency.users, or an active member of
// one of commands.emergency.teams.
func (c *commandRun) authorizeEmergency(ctx context.Context) *outcome {
	who := c.ev.Comment.User.Login
	em := c.cfg.Commands.Emergency
	if listed, err := c.emergencyActor(ctx); err != nil {
		o := c.failed("emergency permission", err)
		return &o
	} else if listed {
		return nil
	}
	allowed := "nobody is (`commands.emergency` is empty)"
	if len(em.Users)+len(em.Teams) > 0 {
		var names []string
		for _, u := range em.Users {
			names = append(names, policy.Code("@"+u))
		}
		for _, t := range em.Teams {
			names = append(names, policy.Code("team "+t))
		}
		allowed = strings.Join(names, ", ")
	}
	o := refuse(c.cmd, []policy.Refusal{{Rule: "emergency permission",
		Why:  fmt.Sprintf("@%s may not skip approvals: only the people in `commands.emergency` may (%s)", who, allowed),
		Next: "get the approvals and use `/promote`, or ask someone on the emergency list"}}, "")
	return &o
}

// emergencyActor reports whether the commenter is on the emergency list:
// one of commands.emergency.users, or an active member of one of its
// teams.
func (c *commandRun) emergencyActor(ctx context.Context) (bool, error) {
	who := c.ev.Comment.User.Login
	em := c.cfg.Commands.Emergency
	for _, u := range em.Users {
		if strings.EqualFold(u, who) {
			return true, nil
		}
	}
	for _, t := range em.Teams {
		org, team, ok := strings.Cut(t, "/")
		if !ok {
			org, team = c.r.Owner, t
		}
		member, err := c.r.TeamMember(ctx, org, team, who)
		if err != nil || member {
			return member, err
		}
	}
	return false, nil
}

// auditIssue opens (once) the issue recording an emergency promotion.
func (c *commandRun) auditIssue(ctx context.Context, p *promotion, payload policy.DeploymentPayload) (facts.Issue, error) {
	var skipped []string
	for _, row := range p.decision.Rows {
		if row.Verdict == "skip" {
			skipped = append(skipped, fmt.Sprintf("- **%s**: %s", row.Rule, strings.TrimPrefix(row.Details, "skipped (emergency): ")))
		}
	}
	if len(skipped) == 0 {
		skipped = append(skipped, "- nothing: every gate and required check passed")
	}
	overridden := ""
	if h := p.table.Hold; h.Blocks() {
		overridden = "\n⚠️ **A hold was overridden:** #" + fmt.Sprint(p.pr.GetNumber()) + " was " + policy.UserText(h.Describe(), 800) +
			". An emergency passes a hold only when the person promoting has maintain permission, as @" + c.ev.Comment.User.Login + " has.\n"
	}
	if f, frozen := c.cfg.FreezeAt(c.g.clock.Now()); frozen {
		overridden += "\n⚠️ **A freeze was overridden:** " + policy.UserText(f.Describe(), 800) + ".\n"
	}
	marker := facts.Marker(fmt.Sprintf("audit:%d", c.ev.Comment.ID))
	body := fmt.Sprintf(`An emergency promotion skipped hotfix-bot's approval rules.

| | |
|---|---|
| pull request | #%d |
| commit deployed | %s |
| by | @%s |
| when | %s |
| comment | %s |
| reason | %s |

**Skipped:**
%s
%s
**Never skipped:** the base check (the hotfix starts at production and carries nothing unreleased), the pull request's state, the production lock.

**What to do now:** review the change after the fact (the approvals it did not get), confirm it was needed, and close this issue with what you found.
%s`, p.pr.GetNumber(), "`"+p.pr.GetHead().GetSHA()+"`", c.ev.Comment.User.Login, c.ev.Comment.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		c.ev.Comment.HTMLURL, cell(policy.UserText(c.cmd.Reason, policy.MaxReason)), strings.Join(skipped, "\n"), overridden, marker)
	is, _, err := c.r.EnsureIssue(ctx, marker, fmt.Sprintf("Emergency promotion of #%d by @%s", p.pr.GetNumber(), c.ev.Comment.User.Login),
		body, nil, c.ev.Comment.CreatedAt)
	return is, err
}

// promotionTable renders the verdict rows of a promotion.
func (c *commandRun) promotionTable(p *promotion) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| check | on `%s` | |\n|---|---|---|\n", policy.Short(p.pr.GetHead().GetSHA()))
	for _, row := range p.decision.Rows {
		icon := map[string]string{"pass": "✅", "fail": "❌", "skip": "⏭️", "wait": "⏳"}[row.Verdict]
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row.Rule, icon, cell(row.Details))
	}
	if p.nextTag != "" && p.got.Facts.Production.Known {
		fmt.Fprintf(&b, "\nProduction runs **%s**; this hotfix would be released as **%s**.\n", p.got.Facts.Production.Name(), p.nextTag)
	}
	b.WriteString("\nDecided under " + c.pol.Origin() + ".\n")
	return b.String()
}

func (c *commandRun) lockLink(l facts.Lock) string {
	if l.PR != 0 {
		return fmt.Sprintf("The promotion in progress: #%d.", l.PR)
	}
	return ""
}

// planOutcome is /promote's reply: the plan, kept up to date by the
// deployment handling (found by its plan marker).
func (c *commandRun) planOutcome(ctx context.Context, d *facts.BotDeployment, p *promotion, note string) outcome {
	plan := renderPlan(planState{payload: d.Payload, head: d.GetSHA(), steps: map[int]stepState{0: {id: d.GetID(), state: "waiting"}}, current: 0})
	var b strings.Builder
	if note != "" {
		b.WriteString(note + "\n\n")
	}
	b.WriteString(plan)
	if p != nil {
		b.WriteString("\n<details><summary>What was checked</summary>\n\n" + c.promotionTable(p) + "\n</details>\n")
	}
	b.WriteString("\n" + facts.Marker(fmt.Sprintf("plan:%d", d.Payload.CommentID)))
	return done(fmt.Sprintf("Promoting #%d: deployment %d of `%s` to `%s` created.", d.Payload.PR, d.GetID(), policy.Short(d.GetSHA()), d.Payload.Environment()), b.String())
}

func slackText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
