package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
)

// PullRequest runs the gates on hotfix pull requests: all three when one
// is opened, reopened, pushed to (removing approvals given on other
// content) or retargeted; approval and schema when an approval label changes.
// On a release pull request into the production branch it runs
// hotfix-bot/release.
type PullRequest struct{ g *Bot }

var _ githubapp.EventHandler = (*PullRequest)(nil)

// Handles names the event.
func (h *PullRequest) Handles() []string { return []string{"pull_request"} }

// Handle decodes the event, skips what cannot change a gate, reads the
// pull request fresh (a re-delivered event may be old) and evaluates.
func (h *PullRequest) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var ev github.PullRequestEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode pull_request: %w", err)
	}
	if h.AtDoor(ctx, eventType, payload).Skip {
		return nil
	}
	if self, err := h.g.identity.IsSelf(ctx, ev.GetSender(), ev.GetPerformedViaGithubApp().GetID()); err != nil || self {
		return err // our own labels and resets are not news
	}
	action := ev.GetAction()
	repo := ev.GetRepo()
	labelEvent := action == "labeled" || action == "unlabeled"
	headRef, base := ev.GetPullRequest().GetHead().GetRef(), ev.GetPullRequest().GetBase().GetRef()
	releasePR := func(cfg policy.Config) bool {
		return !labelEvent && cfg.IsReleaseBranch(headRef) && base == cfg.Branches.Production
	}

	installation := ev.GetInstallation().GetID()
	ctx, _ = githubapp.PreparePRContext(ctx, installation, repo, ev.GetNumber())
	r, err := h.g.repo(installation, repo.GetOwner().GetLogin(), repo.GetName(), repo.GetDefaultBranch())
	if err != nil {
		return err
	}
	pol, err := h.g.policyFor(ctx, r, base)
	if err != nil {
		return err
	}
	if cfg := hotfixConfig(pol); releasePR(cfg) && !cfg.IsHotfixBranch(headRef) {
		// The event may be old: the pull request as it is now decides.
		pr, err := r.PullRequestNow(ctx, ev.GetNumber())
		if err != nil || !isReleasePR(cfg, r, pr) {
			return err
		}
		return h.g.releaseCheck(ctx, r, pol, pr.GetHead().GetRef(), pr.GetHead().GetSHA())
	}
	if labelEvent && !pol.Broken() && !isApprovalLabel(pol.Config, ev.GetLabel().GetName()) {
		return nil
	}
	// The event's copy of the pull request says which head to evaluate;
	// its labels and state are read afresh alongside the other facts (a
	// re-delivered event may be old).
	pr := ev.GetPullRequest()
	e, ok := h.g.prEvaluation(installation, r, pol, pr)
	if !ok {
		return nil
	}
	e.refreshPR = true
	if labelEvent && e.fork == "" {
		e.checks = []string{policy.CheckSchema, policy.CheckApproval}
		e.labelsOnly = true
	}
	if e.fork == "" && !labelEvent && !pol.Broken() {
		e.housekeeping = func(ctx context.Context) error {
			if !hasLabel(pr, policy.LabelHotfix) {
				if err := r.AddLabels(ctx, pr.GetNumber(), policy.LabelHotfix); err != nil {
					return err
				}
			}
			// The labels the repository lacks are nobody's wait: they
			// are made in the background, after the checks. Adding
			// `hotfix` did not wait for them (GitHub creates a missing
			// label; the background work gives it the bot's colour).
			return app.Later(ctx, "labels", func(ctx context.Context) error {
				return r.Fresh().EnsureLabels(ctx, labelSpecs(pol.Config))
			})
		}
	}
	e.resetApprovals = action == "synchronize" && e.fork == ""
	return h.g.evaluate(ctx, e)
}

func hasLabel(pr *github.PullRequest, name string) bool {
	for _, l := range pr.Labels {
		if strings.EqualFold(l.GetName(), name) {
			return true
		}
	}
	return false
}
