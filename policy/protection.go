package policy

import (
	"fmt"
	"strings"
)

// The deployment protection rule: hotfix-bot as a custom deployment
// protection rule of the production environment. GitHub holds every
// workflow job that deploys to the environment until the bot approves or
// rejects it; DecideProtection says which, from GitHub as it is now.

// ProtectionFacts is what GitHub says now about a deployment waiting for
// the bot's protection rule. The event names the environment and the
// commit; everything else is read again.
type ProtectionFacts struct {
	Environment string
	SHA         string
	// Ref is the branch (or tag) the workflow deploys, "" when unknown.
	Ref string
	// BrokenPolicy describes a broken policy file ("" when it is valid);
	// PolicyUnknown says why the policy could not be read.
	BrokenPolicy  string
	PolicyUnknown string
	// Lock is the production lock; LockUnknown says why it could not be
	// read.
	Lock        LockState
	LockUnknown string
	// Bot is the payload of the bot's own deployment of SHA to this
	// environment that holds the lock (a hotfix's production step or a
	// rollback), nil when the lock holds none. BotUnknown says why the
	// deployment the lock names could not be read.
	Bot        *DeploymentPayload
	BotUnknown string
	// Freeze is the freeze in force (Config.FreezeAt), nil for none.
	Freeze *Freeze
	// Release says whether SHA contains every release production shipped.
	Release ReleaseFacts
}

// ProtectionDecision is the answer the bot gives GitHub.
type ProtectionDecision struct {
	Approve bool
	// Comment is shown on the workflow run, next to the environment.
	Comment string
	// Reason names the rule that decided, for logs and tests.
	Reason string
}

// State is the answer's state as GitHub's API spells it.
func (d ProtectionDecision) State() string {
	if d.Approve {
		return "approved"
	}
	return "rejected"
}

// protectionListed bounds the missing releases a rejection lists (the
// hotfix-bot/release check lists them all).
const protectionListed = 10

// bypassNote ends every rejection: the one way past it.
const bypassNote = "Only an administrator can deploy past this, where the environment lets administrators bypass its protection rules."

// DecideProtection decides a deployment to an environment the bot guards:
//
//   - an environment other than production.environment is approved (the
//     bot guards production only);
//   - the bot's own hotfix or rollback deployment holding the production
//     lock is approved (a rollback deliberately goes back), unless a
//     freeze is in force and it is a hotfix that is not an emergency;
//   - any other deployment is rejected while another promotion holds the
//     lock, during a freeze, when a fact could not be read, or when the
//     commit lacks a release production shipped; otherwise approved.
//
// A fact that cannot be read rejects (fail closed) and says how to retry.
func (c Config) DecideProtection(f ProtectionFacts) ProtectionDecision {
	env := c.Production.Environment
	what := "`" + Short(f.SHA) + "`"
	if f.Ref != "" {
		what = fmt.Sprintf("`%s` (`%s`)", f.Ref, Short(f.SHA))
	}
	reject := func(reason, why, next string) ProtectionDecision {
		return ProtectionDecision{Reason: reason, Comment: fmt.Sprintf("❌ hotfix-bot rejected this deployment of %s to %s: %s\n\n%s %s", what, env, why, next, bypassNote)}
	}
	unknown := func(why string) ProtectionDecision {
		return reject("unknown", "it could not check it, and never approves what it could not check: "+strings.TrimSuffix(why, ".")+".",
			"**Next:** re-run this job in a minute.")
	}
	if f.PolicyUnknown != "" {
		return unknown("it could not read the policy file: " + f.PolicyUnknown)
	}
	if f.Environment != env {
		return ProtectionDecision{Approve: true, Reason: "not-production",
			Comment: fmt.Sprintf("hotfix-bot guards only `%s` (production.environment); it does not check deployments to `%s`.", env, f.Environment)}
	}
	if f.BrokenPolicy != "" {
		return reject("policy", "the hotfix-bot policy file is invalid: "+f.BrokenPolicy,
			"**Next:** fix `.github/hotfix-bot.yml` on the default branch, then re-run this job.")
	}
	if f.LockUnknown != "" {
		return unknown("it could not read the production lock: " + f.LockUnknown)
	}
	if f.BotUnknown != "" {
		return unknown("it could not read the deployment the production lock names: " + f.BotUnknown)
	}
	if p := f.Bot; p != nil {
		if f.Freeze != nil && p.Kind == "hotfix" && !p.Emergency {
			return reject("freeze", fmt.Sprintf("production is frozen (%s), and the promotion of #%d is not an emergency.", freezeText(f.Freeze), p.PR),
				"**Next:** wait for the freeze to end, or, if it cannot wait, someone allowed to comments `/promote --emergency REASON` on the pull request.")
		}
		if p.Kind == "rollback" {
			return ProtectionDecision{Approve: true, Reason: "bot-deployment",
				Comment: fmt.Sprintf("✅ hotfix-bot: this is its own rollback (asked by @%s), which holds the production lock. A rollback goes back on purpose.", p.RequestedBy)}
		}
		return ProtectionDecision{Approve: true, Reason: "bot-deployment",
			Comment: fmt.Sprintf("✅ hotfix-bot: this is its own deployment of hotfix #%d (promoted by @%s), which holds the production lock and passed every gate.", p.PR, p.RequestedBy)}
	}
	if l := f.Lock; l.Held && !l.Stale {
		return reject("locked", "the production lock is "+l.Describe()+", and production takes one deployment at a time.",
			"**Next:** deploy again once that promotion is over (its pull request says when); if the lock is stuck, someone with maintain permission comments `/unlock`.")
	}
	if f.Freeze != nil {
		return reject("freeze", fmt.Sprintf("production is frozen (%s); only emergencies deploy during a freeze.", freezeText(f.Freeze)),
			"**Next:** deploy after the freeze. A hotfix that cannot wait goes through `/promote --emergency REASON` on its pull request.")
	}
	if f.Release.Unknown != "" {
		return unknown("it could not establish what production shipped: " + f.Release.Unknown)
	}
	if n := len(f.Release.Missing); n > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "it lacks %d release%s production shipped (production runs %s), so deploying it would undo them:\n", n, plural(n), f.Release.Production.Name())
		for i, line := range f.Release.MissingLines() {
			if i == protectionListed {
				fmt.Fprintf(&b, "- … and %d more (the `%s` check lists them all)\n", n-protectionListed, CheckRelease)
				break
			}
			b.WriteString("- " + line + "\n")
		}
		again := "**Next:** merge them in, then deploy again with a new run (re-running this job deploys the same `" + Short(f.SHA) + "`)."
		if f.Ref != "" {
			again = fmt.Sprintf("**Next:** merge them into `%s`, then deploy `%s` again with a new run (re-running this job deploys the same `%s`).", f.Ref, f.Ref, Short(f.SHA))
		}
		return reject("missing", strings.TrimSuffix(b.String(), "\n"), again)
	}
	return ProtectionDecision{Approve: true, Reason: "complete",
		Comment: fmt.Sprintf("✅ hotfix-bot: %s contains every release production shipped (production runs %s).", what, productionName(f.Release.Production))}
}

// freezeText says which freeze holds production, and until when.
func freezeText(f *Freeze) string {
	return f.Describe() + "; production opens again " + f.UntilText()
}
