package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
)

// CheckRun re-runs the gates (and hotfix-bot/release) when someone clicks
// "Re-run" on one of the bot's checks: the way to complete a check
// GitHub's failures left unfinished. Another app's check run completing
// (CI) on a sync-back pull request may let the bot merge it
// (sync.auto_merge).
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
		PullRequests []checkPR `json:"pull_requests"`
	} `json:"check_run"`
}

// checkPR is a pull request a check run or suite names: GitHub's minimal
// form (the repository's own pull requests whose head is the commit).
type checkPR struct {
	Number int `json:"number"`
	Base   struct {
		Ref string `json:"ref"`
	} `json:"base"`
	Head struct {
		Ref string `json:"ref"`
	} `json:"head"`
}

// branches are the branches a check run is about: its suite's branch
// and its pull requests' heads ("" where GitHub gives none).
func (ev *checkRunEvent) branches() []string {
	out := []string{ev.CheckRun.CheckSuite.HeadBranch}
	for _, ref := range ev.CheckRun.PullRequests {
		out = append(out, ref.Head.Ref)
	}
	return out
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
	if ev.Action == "completed" && cr.App.ID != h.g.identity.AppID() {
		return h.othersCompleted(ctx, &ev)
	}
	if ev.Action != "rerequested" {
		return nil
	}
	return h.rerun(ctx, &ev, false)
}

// rerun evaluates again what a "Re-run" asked for: the check named, or,
// for a whole suite ("Re-run all checks"), the checks the commit's
// branches have (hotfix-bot/sync on a sync-back branch,
// hotfix-bot/release on a release branch, the gates otherwise).
func (h *CheckRun) rerun(ctx context.Context, ev *checkRunEvent, suite bool) error {
	cr := ev.CheckRun
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
	if suite {
		cr.Name = suiteCheck(hotfixConfig(pol), ev)
		ev.CheckRun.Name = cr.Name
	}
	if cr.Name == policy.CheckRelease {
		return h.rerunRelease(ctx, r, pol, ev)
	}
	if cr.Name == policy.CheckSync {
		return h.rerunSync(ctx, r, pol, ev)
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
	// Only the branch's head: an older commit's checks are history (its
	// new head has its own), and a fork's branch of the same name is not
	// this repository's.
	tip, err := r.BranchSHA(ctx, branch)
	if facts.IsNotFound(err) || (err == nil && tip != cr.HeadSHA) {
		return nil
	}
	if err != nil {
		return err
	}
	return h.g.evaluate(ctx, &evaluation{
		installation: installation, repo: r, policy: pol, branch: branch, head: cr.HeadSHA,
		checks: []string{policy.CheckBase, policy.CheckSchema},
	})
}

// suiteCheck is the check a whole suite's re-run stands for: the
// sync-back check on a sync-back branch, the release check on a release
// branch, the gates otherwise.
func suiteCheck(cfg policy.Config, ev *checkRunEvent) string {
	for _, b := range ev.branches() {
		switch {
		case b == "":
		case policy.IsSyncBranch(b):
			return policy.CheckSync
		case cfg.IsReleaseBranch(b):
			return policy.CheckRelease
		}
	}
	return policy.CheckBase
}

// rerunSync runs hotfix-bot/sync again on the commit it was asked for, if
// that is still the tip of its sync-back branch (a person's later push has
// its own check).
func (h *CheckRun) rerunSync(ctx context.Context, r *facts.Repo, pol facts.Policy, ev *checkRunEvent) error {
	for _, b := range ev.branches() {
		if b == "" || !policy.IsSyncBranch(b) {
			continue
		}
		tip, err := r.BranchSHA(ctx, b)
		if err != nil {
			return err
		}
		if tip == ev.CheckRun.HeadSHA {
			return h.g.checkSyncBranch(ctx, r, hotfixConfig(pol), b, tip)
		}
	}
	return nil
}

// rerunRelease runs hotfix-bot/release again on the commit it was asked
// for, if that is still the head of a release branch (the branch the run
// was made on, or a release pull request's).
func (h *CheckRun) rerunRelease(ctx context.Context, r *facts.Repo, pol facts.Policy, ev *checkRunEvent) error {
	cfg := hotfixConfig(pol)
	for _, b := range ev.branches() {
		if b == "" || !cfg.IsReleaseBranch(b) {
			continue
		}
		tip, err := r.BranchSHA(ctx, b)
		if err != nil {
			return err
		}
		if tip == ev.CheckRun.HeadSHA {
			return h.g.releaseCheck(ctx, r, pol, b, tip)
		}
	}
	return nil // the branch moved on: its new head has its own check
}

// othersCompleted follows another app's check run completing (CI): on a
// sync-back pull request's head it may let the bot merge it
// (sync.auto_merge); on any commit it is an occasion to look over the
// repository's sync-back pull requests (at most once an hour). Anything
// else costs no API call.
func (h *CheckRun) othersCompleted(ctx context.Context, ev *checkRunEvent) error {
	var syncs []int
	for _, pr := range ev.CheckRun.PullRequests {
		if policy.IsSyncBranch(pr.Head.Ref) {
			syncs = append(syncs, pr.Number)
		}
	}
	owner, name := ev.Repository.Owner.Login, ev.Repository.Name
	full := owner + "/" + name
	if p, ok := h.g.policies.Cached(full); ok && (p.Broken() || !p.Config.Sync.AutoMerge) {
		syncs = nil
	}
	if len(syncs) == 0 {
		return h.g.syncRoundIfDue(ctx, ev.Installation.ID, owner, name, ev.Repository.DefaultBranch)
	}
	ctx, _ = githubapp.PrepareRepoContext(ctx, ev.Installation.ID, &github.Repository{
		Owner: &github.User{Login: github.String(owner)}, Name: github.String(name)})
	r, err := h.g.repo(ev.Installation.ID, owner, name, ev.Repository.DefaultBranch)
	if err != nil {
		return err
	}
	pol, err := h.g.policy(ctx, r)
	if err != nil || pol.Broken() {
		return err
	}
	var errs []error
	for _, n := range syncs {
		if _, err := h.g.autoMergeSync(ctx, r.Fresh(), pol.Config, n); err != nil {
			errs = append(errs, fmt.Errorf("auto-merge #%d: %w", n, err))
		}
	}
	errs = append(errs, h.g.syncRoundIfDueOn(ctx, r, pol))
	return errors.Join(errs...)
}
