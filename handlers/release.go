package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/rs/zerolog"
)

// The release check: hotfix-bot/release on the head of a release branch
// (branches.release), and of a pull request from one into the production
// branch. It passes when the head contains every release production
// shipped, and fails listing what is missing and the sync-back pull
// request that brings it. It runs on the branch's pushes, on the pull
// request's events, on "Re-run", and again whenever production moves.

// releaseCheck writes hotfix-bot/release on head, the tip of branch.
func (g *Bot) releaseCheck(ctx context.Context, r *facts.Repo, pol facts.Policy, branch, head string) error {
	defer g.lock(r.FullName() + "@" + head)()
	link := g.detailsLink(r.Owner, r.Name, head)
	if pol.Broken() {
		return r.CompleteCheck(ctx, head, policy.BrokenPolicy(policy.CheckRelease, pol.Title(), pol.Describe()), facts.Stamp{}, link)
	}
	cfg := pol.Config
	f, err := r.MissingReleases(ctx, cfg, head, branch)
	res := cfg.ReleaseCheck(f)
	if again := retryNote(ctx, err); again != "" {
		res.Summary += "\n\nGitHub failed while the bot read the facts: " + strings.TrimSuffix(again, " (this comment changes when it does).") + "; this check then changes."
	}
	werr := r.CompleteCheck(ctx, head, res, facts.Stamp{}, link)
	zerolog.Ctx(ctx).Info().Str("check", res.Name).Str("branch", branch).Str("sha", policy.Short(head)).Str("conclusion", res.Conclusion).Msg(res.Title)
	if err != nil {
		err = fmt.Errorf("%s on %s written with facts missing: %w", policy.CheckRelease, policy.Short(head), err)
	}
	return errors.Join(werr, err)
}

// isReleasePR reports whether a pull request is a release going to
// production: open, from a release branch of this repository, into the
// production branch.
func isReleasePR(cfg policy.Config, r *facts.Repo, pr *github.PullRequest) bool {
	return pr.GetState() == "open" && pr.GetBase().GetRef() == cfg.Branches.Production && cfg.IsReleaseBranch(pr.GetHead().GetRef()) &&
		pr.GetHead().GetRepo().GetFullName() == r.FullName()
}

// recheckReleases runs hotfix-bot/release again after production moved:
// on the open release pull requests among prs (the open pull requests into
// the production branch), and on every release branch whose tip carries
// the check already (a branch never checked, or since pushed to, gets it
// on its next push).
func (g *Bot) recheckReleases(ctx context.Context, r *facts.Repo, pol facts.Policy, prs []*github.PullRequest) error {
	cfg := hotfixConfig(pol)
	var errs []error
	done := map[string]bool{}
	for _, pr := range prs {
		if !isReleasePR(cfg, r, pr) {
			continue
		}
		head := pr.GetHead().GetSHA()
		done[head] = true
		if err := g.releaseCheck(ctx, r.Fresh(), pol, pr.GetHead().GetRef(), head); err != nil {
			errs = append(errs, fmt.Errorf("release check of #%d: %w", pr.GetNumber(), err))
		}
	}
	branches, err := r.ReleaseBranches(ctx, cfg)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, b := range branches {
		if done[b.SHA] {
			continue
		}
		done[b.SHA] = true
		if cr, err := r.CheckRun(ctx, b.SHA, policy.CheckRelease); err != nil {
			errs = append(errs, err)
			continue
		} else if cr == nil {
			continue
		}
		if err := g.releaseCheck(ctx, r.Fresh(), pol, b.Name, b.SHA); err != nil {
			errs = append(errs, fmt.Errorf("release check of %s: %w", b.Name, err))
		}
	}
	return errors.Join(errs...)
}
