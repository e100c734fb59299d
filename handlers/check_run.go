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
// bot's checks: the way to complete a check GitHub's failures left
// unfinished.
type CheckRun struct{ g *Bot }

var _ githubapp.EventHandler = (*CheckRun)(nil)

// Handles names the event.
func (h *CheckRun) Handles() []string { return []string{"check_run"} }

// checkRunEvent is what the bot uses of check_run (decoded by hand: some
// of GitHub's recorded deliveries carry dates in a format go-github cannot
// read).
type checkRunEvent struct {
	envelope
	CheckRun struct {
		Name       string `json:"name"`
		HeadSHA    string `json:"head_sha"`
		App        appRef `json:"app"`
		CheckSuite struct {
			HeadBranch string `json:"head_branch"`
		} `json:"check_suite"`
		PullRequests []struct {
			Number int `json:"number"`
			Base   struct {
				Ref string `json:"ref"`
			} `json:"base"`
		} `json:"pull_requests"`
	} `json:"check_run"`
}

// Handle acts only on `rerequested` for this app's own checks; the
// created/completed events the app's own writes cause are skipped without
// an API call.
func (h *CheckRun) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var ev checkRunEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode check_run: %w", err)
	}
	cr := ev.CheckRun
	if h.AtDoor(ctx, eventType, payload).Skip {
		return nil
	}
	installation := ev.Installation.ID
	ctx, _ = githubapp.PrepareRepoContext(ctx, installation, &github.Repository{
		Owner: &github.User{Login: github.String(ev.Repository.Owner.Login)}, Name: github.String(ev.Repository.Name)})
	r, err := h.g.repo(installation, ev.Repository.Owner.Login, ev.Repository.Name, ev.Repository.DefaultBranch)
	if err != nil {
		return err
	}
	base := ""
	if len(cr.PullRequests) > 0 {
		base = cr.PullRequests[0].Base.Ref
	}
	pol, err := h.g.policyFor(ctx, r, base)
	if err != nil {
		return err
	}
	for _, ref := range cr.PullRequests {
		pr, err := r.PullRequestNow(ctx, ref.Number)
		if err != nil {
			return err
		}
		if pr.GetHead().GetSHA() != cr.HeadSHA {
			continue // the PR has moved on; its new head has its own checks
		}
		if e, ok := h.g.prEvaluation(installation, r, pol, pr); ok {
			return h.g.evaluate(ctx, e)
		}
	}
	branch := cr.CheckSuite.HeadBranch
	if branch == "" || !hotfixConfig(pol).IsHotfixBranch(branch) || cr.Name == policy.CheckApproval {
		return nil
	}
	return h.g.evaluate(ctx, &evaluation{
		installation: installation, repo: r, policy: pol, branch: branch, head: cr.HeadSHA,
		checks: []string{policy.CheckBase, policy.CheckSchema},
	})
}
