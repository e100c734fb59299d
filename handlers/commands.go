package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/notify"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// rollback is `/rollback [TAG] [--force]`: deploy the named tag (a
// release production ran and still stands on), what production ran before
// this pull request was promoted, or the release before the current one,
// all by production's lineage (policy.ChooseRollbackTarget). It refuses
// across schema changes unless --force. Permission is its gate: a
// rollback never waits behind approval labels.
func (c *commandRun) rollback(ctx context.Context) outcome {
	cfg, r, cmd := c.cfg, c.r, c.cmd
	perm, o := c.authorize(ctx, cfg.Commands.Permission)
	if o != nil {
		return *o
	}
	env := cfg.Production.Environment
	if d, err := r.FindDeployment(ctx, env, policy.TaskRollback, "", func(p policy.DeploymentPayload) bool {
		return p.CommentID == c.ev.Comment.ID
	}); err != nil {
		return c.failed("find what this comment did before", err)
	} else if d != nil {
		o := c.rollbackOutcome(d, "")
		o.err = c.recordOnLock(ctx, "rollback", "rolling-back", d)
		return o
	}
	prod, err := r.Production(ctx, cfg)
	if err != nil {
		return c.failed("find what production runs", err)
	}
	// The target comes from production's lineage as GitHub has it now:
	// what production ran and still stands on.
	f := policy.RollbackFacts{Production: prod, RequestedTag: cmd.Tag, Force: cmd.Force, WrittenAt: c.writtenAt}
	if cmd.Tag != "" {
		if f.RequestedSHA, err = r.TagCommit(ctx, cmd.Tag); err != nil {
			return c.failed("read the tags", err)
		}
	}
	author := ""
	if c.ev.onPR() && cmd.Tag == "" {
		d, err := r.FindDeployment(ctx, env, policy.TaskHotfix, "", func(p policy.DeploymentPayload) bool {
			return p.PR == c.ev.Issue.Number && p.Final()
		})
		if err != nil {
			return c.failed("find this pull request's deployment", err)
		}
		if d != nil {
			f.Promoted, author = &policy.PromotedHotfix{Deployment: d.GetID(), SHA: d.GetSHA(), Payload: d.Payload}, d.Payload.Author
		}
	}
	if f.Deployments, f.DeploymentsComplete, err = r.ProductionHistory(ctx, cfg); err != nil {
		return c.failed("read what production ran", err)
	}
	target, refusal := cfg.ChooseRollbackTarget(f)
	if refusal != nil {
		return refuse(cmd, []policy.Refusal{*refusal}, "")
	}

	// Migrations may not reverse: refuse across schema changes unless told.
	files, complete, err := c.r.FilesBetween(ctx, target.SHA, prod.SHA)
	if err != nil {
		return c.failed("compare the rollback target with production", err)
	}
	schema, unknown := cfg.RollbackSchemaFiles(files, complete)
	forced := ""
	if len(schema) > 0 || unknown {
		what := "files under `schema.paths` changed between " + target.Name() + " and production " + prod.Name() + ": " + fileList(schema)
		if unknown {
			what = "the bot could not list every file changed between " + target.Name() + " and production (GitHub lists at most 300), so it cannot rule out a schema change"
		}
		if !cmd.Force {
			return refuse(cmd, []policy.Refusal{{Rule: "schema changes", Why: what + "; database migrations may not reverse",
				Next: "check that the schema of production works with " + target.Name() + " (or roll the migration back first), then comment " + policy.Code("/rollback "+strings.TrimSpace(cmd.Tag+" --force"))}}, "")
		}
		if o := c.authorizeForce(ctx, perm); o != nil {
			return *o
		}
		forced = fmt.Sprintf("⚠️ **@%s forced it** (`--force`, with %s permission): %s. Rolled back anyway, as asked.", c.ev.Comment.User.Login, describePermission(perm), what)
	}

	took, prev, err := r.TransitionLock(ctx, func(l facts.Lock) bool {
		return !l.Held() || l.View(c.g.clock.Now(), time.Duration(cfg.Promote.LockTimeout)).Stale ||
			(l.Kind == "rollback" && l.CommentID == c.ev.Comment.ID && !l.ClaimedByOther(c.claim, "rollback", c.g.clock.Now())) ||
			c.orphaned(ctx, l)
	}, func(facts.Lock) facts.Lock {
		return facts.Lock{State: "held", Phase: "rolling-back", Kind: "rollback", PR: c.ev.Issue.Number, CommentID: c.ev.Comment.ID,
			RequestedBy: c.ev.Comment.User.Login, SHA: target.SHA, Claim: c.claim, ClaimFor: "rollback", ClaimAt: c.g.clock.Now()}
	})
	if err != nil {
		return c.failed("take the production lock", err)
	}
	if !took {
		if prev.Held() && prev.Kind == "rollback" && prev.CommentID == c.ev.Comment.ID {
			return claimedElsewhere(prev)
		}
		return refuse(cmd, []policy.Refusal{{Rule: "production lock", Why: "a deployment is in progress: the lock is " + prev.View(c.g.clock.Now(), time.Duration(cfg.Promote.LockTimeout)).Describe(),
			Next: "wait for it to finish, or, if it is stuck, someone with maintain permission comments `/unlock` and you roll back again"}}, "")
	}
	payload := policy.DeploymentPayload{HotfixBot: 1, Kind: "rollback", PR: c.ev.Issue.Number, CommentID: c.ev.Comment.ID,
		RequestedBy: c.ev.Comment.User.Login, Author: author, PreviousRef: prod.SHA, PreviousTag: prod.Tag, Target: target.Tag,
		Chain: []string{env}, ChainIndex: 0}
	d, _, err := r.CreateDeployment(ctx, facts.DeploymentRequest{SHA: target.SHA, Environment: env, Production: true, Task: policy.TaskRollback,
		Payload: payload, Description: fmt.Sprintf("Rollback to %s, requested by @%s (hotfix-bot)", target.Name(), c.ev.Comment.User.Login)})
	if err != nil {
		return c.releaseAfter(ctx, c.failed("create the rollback deployment", err))
	}
	if err := c.recordOnLock(ctx, "rollback", "rolling-back", d); err != nil {
		o := c.rollbackOutcome(d, forced)
		o.err = err
		return o
	}
	how := ""
	if forced != "" {
		how = ", forced across schema changes"
	}
	c.g.notify(notify.Message{Text: fmt.Sprintf(":rewind: *%s*: @%s is rolling production back from %s to %s (deployment %d%s).",
		r.FullName(), c.ev.Comment.User.Login, prod.Name(), target.Name(), d.GetID(), how)})
	return c.rollbackOutcome(d, forced+"\n\nWhy this target: "+target.Why+".")
}

// authorizeForce checks that the commenter may cross schema changes with
// --force: commands.force_permission (maintain by default), or a place on
// the emergency list. Write permission alone is not enough.
func (c *commandRun) authorizeForce(ctx context.Context, perm facts.Permission) *outcome {
	need := c.cfg.Commands.ForcePermission
	if perm.Level.AtLeast(need) {
		return nil
	}
	listed, err := c.emergencyActor(ctx)
	if err != nil {
		o := c.failed("force permission", err)
		return &o
	}
	if listed {
		return nil
	}
	o := refuse(c.cmd, []policy.Refusal{{Rule: "force permission",
		Why: fmt.Sprintf("@%s has %s permission, and `--force` rolls production back across schema changes: it needs %s or more (`commands.force_permission`), or a place on the `commands.emergency` list",
			c.ev.Comment.User.Login, describePermission(perm), need),
		Next: fmt.Sprintf("ask someone with %s permission (or on the emergency list) to check the schema and roll back with `--force`", need)}}, "")
	return &o
}

func (c *commandRun) rollbackOutcome(d *facts.BotDeployment, note string) outcome {
	p := d.Payload
	target := p.Target
	if target == "" {
		target = "`" + policy.Short(d.GetSHA()) + "`"
	}
	prev := p.PreviousTag
	if prev == "" {
		prev = "`" + policy.Short(p.PreviousRef) + "`"
	}
	next := "your CD system carries out the deployment and reports its status. On success the bot releases the lock"
	if c.cfg.Production.MovingTag != "" {
		next += ", moves `" + c.cfg.Production.MovingTag + "`"
	}
	if c.cfg.Rollback.IncidentIssue {
		next += " and opens an incident issue with the post-incident checklist"
	}
	next += "; on failure it says so here: production would then need a person."
	body := strings.TrimSpace(note) + "\n\n**Next:** " + next
	return done(fmt.Sprintf("Rolling production back from %s to %s: deployment %d created.", prev, target, d.GetID()), strings.TrimSpace(body))
}

func fileList(files []string) string {
	var quoted []string
	for i, f := range files {
		if i == 10 {
			quoted = append(quoted, fmt.Sprintf("and %d more", len(files)-10))
			break
		}
		quoted = append(quoted, "`"+f+"`")
	}
	return strings.Join(quoted, ", ")
}

// hotfixStart is `/hotfix start NAME`: create the hotfix branch at the
// production commit and say how to check it out.
func (c *commandRun) hotfixStart(ctx context.Context) outcome {
	cfg, r, cmd := c.cfg, c.r, c.cmd
	if _, o := c.authorize(ctx, cfg.Commands.Permission); o != nil {
		return *o
	}
	branch, ok := cfg.HotfixBranch(cmd.BranchName)
	if !ok {
		return refuse(cmd, []policy.Refusal{{Rule: "a hotfix branch name", Why: fmt.Sprintf("%s would not match `branches.hotfix` (%s)", policy.Code(branch), policy.Code(cfg.Branches.Hotfix)),
			Next: "pick a name that makes a hotfix branch under this repository's policy"}}, "")
	}
	prod, err := r.Production(ctx, cfg)
	if err != nil {
		return c.failed("find what production runs", err)
	}
	if !prod.Known {
		return refuse(cmd, []policy.Refusal{{Rule: "production known", Why: "the bot cannot tell what production runs, so it cannot start a hotfix there",
			Next: "report your production deployment to GitHub or tag production (see any `hotfix-bot/base` check), then try again"}}, "")
	}
	created, current, err := r.EnsureBranch(ctx, branch, prod.SHA)
	if err != nil {
		return c.failed("create "+branch, err)
	}
	if current != prod.SHA {
		return refuse(cmd, []policy.Refusal{{Rule: "branch free", Why: fmt.Sprintf("%s exists already, at `%s`, not at production %s (`%s`)", policy.Code(branch), policy.Short(current), prod.Name(), policy.Short(prod.SHA)),
			Next: "pick another name, or delete that branch if it is abandoned"}}, "")
	}
	head := fmt.Sprintf("Created %s at production %s.", policy.Code(branch), prod.Name())
	if !created {
		head = fmt.Sprintf("%s is there already, at production %s.", policy.Code(branch), prod.Name())
	}
	checkout := policy.ShellRefusal("branch", branch)
	if q, ok := policy.ShellQuote(branch); ok {
		checkout = "```sh\ngit fetch origin && git switch " + q + "\n```"
	}
	body := fmt.Sprintf("It starts exactly at `%s` (%s), so `hotfix-bot/base` passes as long as you only add the fix.\n\n%s\n\n**Next:** commit the fix, push, and open a pull request into %s; the checks run on your first push.",
		policy.Short(prod.SHA), prod.Source, checkout, policy.Code(cfg.Branches.Production))
	return done(head, body)
}

// unlock is `/unlock` (maintain or more): release a stuck production
// lock, naming whose it was. It frees only a lock taken before its
// comment was written (compared inside the compare-and-swap): a late or
// replayed /unlock never frees a lock someone took since.
func (c *commandRun) unlock(ctx context.Context) outcome {
	if _, o := c.authorize(ctx, policy.PermissionMaintain); o != nil {
		return *o
	}
	now, timeout := c.g.clock.Now(), time.Duration(c.cfg.Promote.LockTimeout)
	moved, was, err := c.r.TransitionLock(ctx, func(l facts.Lock) bool {
		return l.Held() && l.At.Before(c.writtenAt)
	}, func(facts.Lock) facts.Lock {
		// The free record names this command, so a second replica given
		// the same comment knows the lock was released for it.
		return facts.Lock{State: "free", Kind: "unlock", CommentID: c.ev.Comment.ID, RequestedBy: c.ev.Comment.User.Login,
			Claim: c.claim, ClaimFor: "unlock", ClaimAt: now}
	})
	if err != nil {
		return c.failed("release the production lock", err)
	}
	if !moved {
		switch {
		case !was.Held() && was.Kind == "unlock" && was.CommentID == c.ev.Comment.ID:
			if was.ClaimedByOther(c.claim, "unlock", now) {
				return claimedElsewhere(was) // the same comment, answered by the replica that released it
			}
			return done("Released the production lock.", "An earlier attempt of this `/unlock` released it. Promotions and rollbacks can start.")
		case !was.Held():
			return done("No production lock is held: nothing to unlock.", "Promotions and rollbacks can start.")
		}
		view := was.View(now, timeout)
		next := "if that lock is stuck too, check what it names"
		if was.Deployment != 0 {
			next += fmt.Sprintf(" (what deployment %d is doing)", was.Deployment)
		}
		next += ", then comment `/unlock` again"
		return refuse(c.cmd, []policy.Refusal{{Rule: "lock taken before this command",
			Why: fmt.Sprintf("the production lock is %s, taken after this `/unlock` was written (%s), so it is not the lock this command was given for",
				view.Describe(), c.writtenAt.UTC().Format("2006-01-02 15:04:05 UTC")),
			Next: next}}, "")
	}
	view := was.View(now, timeout)
	c.g.notify(notify.Message{Text: fmt.Sprintf(":unlock: *%s*: @%s released the production lock (%s).", c.r.FullName(), c.ev.Comment.User.Login, slackText(view.Describe()))})
	body := "The lock was " + view.Describe() + "."
	if was.Deployment != 0 {
		body += fmt.Sprintf("\n\n**Check** what deployment %d is doing before promoting again: if your CD system is still running it, a new promotion would race it. When it reports, the bot finishes its story (tag, merge, sync-back) even without the lock.", was.Deployment)
	}
	return done("Released the production lock "+lockName(was)+".", body)
}

// lockName names a lock in a headline: whose, for what.
func lockName(l facts.Lock) string {
	if l.Kind == "unknown" {
		return "held by " + l.RequestedBy
	}
	name := fmt.Sprintf("held by @%s for a %s", l.RequestedBy, l.Kind)
	if l.PR != 0 {
		name += fmt.Sprintf(" of #%d", l.PR)
	}
	if l.Deployment != 0 {
		name += fmt.Sprintf(" (deployment %d)", l.Deployment)
	}
	return name
}

// help is `/help`: the commands and who may run them under this
// repository's policy; on a hotfix pull request, its gate table.
func (c *commandRun) help(ctx context.Context) outcome {
	cfg := c.cfg
	var b strings.Builder
	if c.pol.Broken() {
		b.WriteString("⚠️ " + c.pol.Describe() + "\n\nUntil the file is fixed the commands below refuse.\n\n")
	}
	emergency := "nobody (`commands.emergency` is empty)"
	// Listed in code spans: anyone may ask for /help, and it must not
	// notify the on-call people it names.
	if names := append(prefixed("@", cfg.Commands.Emergency.Users), prefixed("team ", cfg.Commands.Emergency.Teams)...); len(names) > 0 {
		for i := range names {
			names[i] = policy.Code(names[i])
		}
		emergency = strings.Join(names, ", ")
	}
	perm := string(cfg.Commands.Permission) + " or more"
	fmt.Fprintf(&b, "| command | where | who may run it here | what it does |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| `/promote` | hotfix PR | %s | re-checks every gate on the current head, takes the production lock, deploys exactly that commit to %s |\n", perm, strings.Join(quoted(cfg.Promote.Environments), " → "))
	fmt.Fprintf(&b, "| `/promote --dry-run` | hotfix PR | read or more | shows what `/promote` would decide; changes nothing |\n")
	fmt.Fprintf(&b, "| `/promote --emergency REASON` | hotfix PR | %s | skips approval labels and required checks (never the base check) and opens an audit issue |\n", emergency)
	fmt.Fprintf(&b, "| `/rollback [TAG] [--force]` | any issue or PR | %s | deploys TAG (it must have run in production), or what ran before; `--force` crosses schema changes (%s or more, or the emergency list) |\n", perm, cfg.Commands.ForcePermission)
	fmt.Fprintf(&b, "| `/hotfix start NAME` | any issue or PR | %s | creates `%sNAME` at the production commit |\n", perm, policy.GlobPrefix(cfg.Branches.Hotfix))
	fmt.Fprintf(&b, "| `/unlock` | any issue or PR | maintain or more | releases a stuck production lock |\n")
	fmt.Fprintf(&b, "| `/hold REASON` | hotfix PR | %s | puts it on hold: `/promote` is refused until `/hold cancel` |\n", perm)
	fmt.Fprintf(&b, "| `/hold cancel` | hotfix PR | the holder, or maintain or more | lifts the hold |\n")
	fmt.Fprintf(&b, "| `/help` | anywhere | anyone | this |\n")
	b.WriteString("\nA command is a line of its own starting with `/`; several lines run in order.")
	fmt.Fprintf(&b, "\n\n**Never lose a hotfix.** Where hotfix-bot is a deployment protection rule of `%s` (*Settings → Environments → %s → Deployment protection rules → hotfix-bot*), GitHub holds every workflow job deploying there until the bot approves it: it rejects a commit that lacks a hotfix production shipped (naming each, and the sync-back pull request that brings it), and any deployment while another promotion holds the production lock. `%s` says the same on release branches and their pull requests into `%s`.",
		cfg.Production.Environment, cfg.Production.Environment, policy.CheckRelease, cfg.Branches.Production)
	if !c.pol.Broken() {
		b.WriteString("\n\n**Freeze:** " + cfg.FreezeText(c.g.clock.Now()) + ". During a freeze `/promote` needs `--emergency`; `/rollback` is never frozen.")
	}
	if link := c.g.reportLink(c.r.Owner, c.r.Name); link != "" {
		b.WriteString("\n\n**This repository's numbers** (hotfixes shipped, lead time, change failure rate, recovery and propagation time): [the report](" + link + ").")
	}
	if c.ev.onPR() && !c.pol.Broken() {
		pr, err := c.r.PullRequest(ctx, c.ev.Issue.Number)
		if err == nil && cfg.IsHotfixBranch(pr.GetHead().GetRef()) && pr.GetBase().GetRef() == cfg.Branches.Production && pr.GetState() == "open" {
			fork := ""
			if full := pr.GetHead().GetRepo().GetFullName(); full != c.r.FullName() {
				fork = full
			}
			got := c.r.GatherGates(ctx, cfg, facts.GateRequest{Branch: pr.GetHead().GetRef(), Head: pr.GetHead().GetSHA(), PR: pr, Fork: fork})
			table := cfg.Decide(got.Facts)
			b.WriteString("\n\n**This pull request's gates now:**\n\n" + table.Markdown())
			b.WriteString("\nHold: " + table.Hold.Describe() + ".\n")
			if lock, err := c.r.ReadLock(ctx); err == nil {
				view := lock.View(c.g.clock.Now(), time.Duration(cfg.Promote.LockTimeout))
				if view.Held {
					b.WriteString("\nProduction lock: " + view.Describe() + ".\n")
				} else {
					b.WriteString("\nProduction lock: free.\n")
				}
			}
		}
	}
	return done("hotfix-bot commands", b.String())
}

func prefixed(p string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = p + x
	}
	return out
}

func quoted(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = "`" + x + "`"
	}
	return out
}
