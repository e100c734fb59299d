package handlers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
)

// CheckRun re-runs the gates when someone clicks "Re-run" on one of the
// bot's checks: the way to complete a check a GitHub failure left in
// progress.
type CheckRun struct{ g *Gatekeeper }

var _ githubapp.EventHandler = (*CheckRun)(nil)

// Handles names the event.
func (h *CheckRun) Handles() []string { return []string{"check_run"} }

// Handle acts only on `rerequested` for this app's own checks; the
// created/completed events the app's own writes cause are skipped without
// an API call.
func (h *CheckRun) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var ev github.CheckRunEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode check_run: %w", err)
	}
	cr := ev.GetCheckRun()
	if ev.GetAction() != "rerequested" || cr.GetApp().GetID() != h.g.identity.AppID() {
		return nil
	}
	switch cr.GetName() {
	case policy.CheckBase, policy.CheckSchema, policy.CheckApproval:
	default:
		return nil
	}
	repo := ev.GetRepo()
	installation := ev.GetInstallation().GetID()
	ctx, _ = githubapp.PrepareRepoContext(ctx, installation, repo)
	r, err := h.g.repo(installation, repo.GetOwner().GetLogin(), repo.GetName(), repo.GetDefaultBranch())
	if err != nil {
		return err
	}
	pol, err := h.g.policy(ctx, r)
	if err != nil {
		return err
	}
	for _, ref := range cr.PullRequests {
		pr, err := r.PullRequest(ctx, ref.GetNumber())
		if err != nil {
			return err
		}
		if pr.GetHead().GetSHA() != cr.GetHeadSHA() {
			continue // the PR has moved on; its new head has its own checks
		}
		if e, ok := h.g.prEvaluation(installation, r, pol, pr); ok {
			return h.g.evaluate(ctx, e)
		}
	}
	branch := cr.GetCheckSuite().GetHeadBranch()
	if branch == "" || !hotfixConfig(pol).IsHotfixBranch(branch) || cr.GetName() == policy.CheckApproval {
		return nil
	}
	return h.g.evaluate(ctx, &evaluation{
		installation: installation, repo: r, policy: pol, branch: branch, head: cr.GetHeadSHA(),
		checks: []string{policy.CheckBase, policy.CheckSchema},
	})
}
