package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
)

// PullRequest runs the gates on hotfix pull requests: all three when one
// is opened, reopened, pushed to (resetting approvals given before the
// push) or retargeted; approval and schema when an approval label changes.
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
	action := ev.GetAction()
	if ev.GetInstallation().GetID() == 0 || ev.GetRepo().GetName() == "" || ev.GetPullRequest().GetHead().GetSHA() == "" {
		return nil // not something GitHub sends an app: nothing to act on
	}
	switch action {
	case "opened", "reopened", "synchronize", "edited", "labeled", "unlabeled":
	default:
		return nil
	}
	if self, err := h.g.identity.IsSelf(ctx, ev.GetSender(), ev.GetPerformedViaGithubApp().GetID()); err != nil || self {
		return err // our own labels and resets are not news
	}
	if action == "edited" && ev.GetChanges().GetBase() == nil {
		return nil // a title or body edit
	}
	repo := ev.GetRepo()
	full := repo.GetFullName()
	isApprovalLabel := func(cfg policy.Config) bool {
		name := ev.GetLabel().GetName()
		if strings.EqualFold(name, policy.LabelHold) {
			return true // a hold label put on or taken off by hand: the approval check shows the hold
		}
		for _, l := range cfg.ApprovalLabels() {
			if strings.EqualFold(l, name) {
				return true
			}
		}
		return false
	}
	labelEvent := action == "labeled" || action == "unlabeled"
	if p, ok := h.g.policies.Cached(full); ok && !p.Broken() {
		if labelEvent && !isApprovalLabel(p.Config) {
			return nil
		}
		if !p.Config.IsHotfixBranch(ev.GetPullRequest().GetHead().GetRef()) {
			return nil
		}
	}

	installation := ev.GetInstallation().GetID()
	ctx, _ = githubapp.PreparePRContext(ctx, installation, repo, ev.GetNumber())
	r, err := h.g.repo(installation, repo.GetOwner().GetLogin(), repo.GetName(), repo.GetDefaultBranch())
	if err != nil {
		return err
	}
	defer r.ReleaseClaims(context.WithoutCancel(ctx))
	pol, err := h.g.policy(ctx, r)
	if err != nil {
		return err
	}
	if labelEvent && !pol.Broken() && !isApprovalLabel(pol.Config) {
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
			if err := r.EnsureLabels(ctx, labelSpecs(pol.Config)); err != nil {
				return err
			}
			if !hasLabel(pr, policy.LabelHotfix) {
				return r.AddLabels(ctx, pr.GetNumber(), policy.LabelHotfix)
			}
			return nil
		}
	}
	e.resetApprovals = action == "synchronize" && e.fork == ""
	switch action {
	case "synchronize", "opened", "reopened":
		// GitHub's own time of this event, at or after the push of its
		// head: what the approval gate dates approvals against.
		if ev.GetPullRequest().GetHead().GetSHA() == e.head {
			e.pushedAt = ev.GetPullRequest().GetUpdatedAt().Time
		}
	}
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
