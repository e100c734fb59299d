package handlers

import (
	"context"

	"github.com/hotfix-bot/hotfix-bot/facts"
)

// commandPolicy is the policy a command runs under: on a pull request,
// resolved for the pull request's base, like the pull request's own
// events; elsewhere from the default branch's hint.
func (g *Bot) commandPolicy(ctx context.Context, r *facts.Repo, number int, onPR bool) (facts.Policy, error) {
	if !onPR {
		return g.policy(ctx, r)
	}
	pr, err := r.PullRequest(ctx, number)
	if err != nil {
		return facts.Policy{}, err
	}
	return g.policyFor(ctx, r, pr.GetBase().GetRef())
}

// policyNote ends every gate's summary: which commit of which branch's
// policy decided it.
func policyNote(p facts.Policy) string {
	return "\n\n---\nDecided under " + p.Origin() + "."
}
