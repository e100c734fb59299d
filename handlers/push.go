package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
)

// Push runs hotfix-bot/base and /schema on the head of a pushed hotfix
// branch that has no pull request yet (a pull request's own event covers
// the rest), hotfix-bot/release on a release branch's new head, and
// hotfix-bot/sync on a person's push to a sync-back branch. A push is also
// when the bot looks over the repository's open sync-back pull requests
// (at most once an hour: syncround.go).
type Push struct{ g *Bot }

var _ githubapp.EventHandler = (*Push)(nil)

// Handles names the event.
func (h *Push) Handles() []string { return []string{"push"} }

// Handle decodes a push and skips, before any API call, what the door
// skips (AtDoor) and the app's own pushes.
func (h *Push) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var ev github.PushEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode push: %w", err)
	}
	if h.AtDoor(ctx, eventType, payload).Skip {
		return nil
	}
	if self, err := h.g.identity.IsSelf(ctx, ev.GetSender(), 0); err != nil || self {
		return err
	}
	branch := strings.TrimPrefix(ev.GetRef(), "refs/heads/")
	repo := ev.GetRepo()
	owner, name := repo.GetOwner().GetLogin(), repo.GetName()
	full := owner + "/" + name
	if touches(&ev, policy.ConfigPath) {
		// The policy is read from the production branch, and the default
		// branch's file names that branch: a change on either (or on a
		// pull request's base) matters.
		h.g.policies.Forget(full)
	}
	if name == ".github" && touches(&ev, facts.OwnerPolicyPaths...) {
		h.g.policies.ForgetOwner(owner)
	}
	if p, ok := h.g.policies.Cached(full); ok && !hotfixConfig(p).IsHotfixBranch(branch) && !policy.IsSyncBranch(branch) && !hotfixConfig(p).IsReleaseBranch(branch) {
		return h.g.syncRoundIfDue(ctx, ev.GetInstallation().GetID(), owner, name, repo.GetDefaultBranch())
	}

	ctx, logger := githubapp.PrepareRepoContext(ctx, ev.GetInstallation().GetID(), &github.Repository{Owner: repo.GetOwner(), Name: repo.Name})
	r, err := h.g.repo(ev.GetInstallation().GetID(), owner, name, repo.GetDefaultBranch())
	if err != nil {
		return err
	}
	pol, err := h.g.policy(ctx, r)
	if err != nil {
		return err
	}
	cfg := hotfixConfig(pol)
	round := func(err error) error { return errors.Join(err, h.g.syncRoundIfDueOn(ctx, r, pol)) }
	switch {
	case policy.IsSyncBranch(branch):
		// A person pushed to a sync-back branch (resolving a conflict).
		return round(h.g.checkSyncBranch(ctx, r, cfg, branch, ev.GetAfter()))
	case cfg.IsReleaseBranch(branch):
		return round(h.g.releaseCheck(ctx, r, pol, branch, ev.GetAfter()))
	case !cfg.IsHotfixBranch(branch):
		return round(nil)
	}
	prs, err := r.PullRequestsFor(ctx, branch, cfg.Branches.Production, "open")
	if err != nil {
		return round(err)
	}
	if len(prs) > 0 {
		logger.Debug().Int("pr", prs[0].GetNumber()).Msg("Hotfix branch has a pull request; its synchronize event runs the gates")
		return round(nil)
	}
	return round(h.g.evaluate(ctx, &evaluation{
		installation: ev.GetInstallation().GetID(), repo: r, policy: pol, branch: branch, head: ev.GetAfter(),
		checks: []string{policy.CheckBase, policy.CheckSchema},
	}))
}

// touches reports whether any pushed commit added, changed or removed one
// of paths.
func touches(ev *github.PushEvent, paths ...string) bool {
	for _, c := range ev.Commits {
		for _, list := range [][]string{c.Added, c.Modified, c.Removed} {
			for _, f := range list {
				for _, p := range paths {
					if f == p {
						return true
					}
				}
			}
		}
	}
	return false
}
