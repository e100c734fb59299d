package facts

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// OpenedByApp reports whether this app opened a pull request (its author
// is the app's bot user). Anyone can name a branch like the bot's and open
// a pull request from it; only the app's own are trusted.
func (r *Repo) OpenedByApp(pr *github.PullRequest) bool {
	u := pr.GetUser()
	return r.BotLogin != "" && u.GetLogin() == r.BotLogin && u.GetType() == "Bot"
}

// SyncBranch reads what the policy needs to decide whether a sync branch
// name is the bot's to use for bringing the commit release into base: the
// branch's head (is it the release, or one commit on top of it with its
// exact tree?) and the pull requests from it into base (the app's own,
// and whether its head still carries the release; everyone else's).
func (r *Repo) SyncBranch(ctx context.Context, branch, base, release string) (policy.SyncBranchFacts, error) {
	f := policy.SyncBranchFacts{Branch: branch}
	if r.BotLogin == "" {
		return f, &Error{Op: "tell the bot's sync pull requests from others'", Kind: Transient, Message: "the app's identity is not known yet"}
	}
	prs, err := r.PullRequestsFor(ctx, branch, base, "all")
	if err != nil {
		return f, err
	}
	for _, pr := range prs {
		if !r.OpenedByApp(pr) {
			f.ForeignPRs = append(f.ForeignPRs, policy.SyncPR{Number: pr.GetNumber(), Author: pr.GetUser().GetLogin(), State: prStateOf(pr)})
			continue
		}
		if f.OwnPR != nil {
			continue // the newest is first; GitHub keeps one per head and base open
		}
		own := policy.SyncPR{Number: pr.GetNumber(), Author: pr.GetUser().GetLogin(), State: prStateOf(pr), HTMLURL: pr.GetHTMLURL()}
		if own.State != "merged" {
			cmp, err := r.Compare(ctx, release, pr.GetHead().GetSHA())
			switch {
			case IsNotFound(err):
				// No history in common: it carries nothing of the release.
			case err != nil:
				return f, err
			default:
				own.ContainsRelease = cmp.GetStatus() == "ahead" || cmp.GetStatus() == "identical"
				own.Extra = cmp.GetAheadBy()
			}
		}
		f.OwnPR = &own
	}
	if f.Head, err = r.BranchSHA(ctx, branch); err != nil || f.Head == "" {
		return f, err
	}
	if f.Head == release {
		f.HeadIsRelease = true
		return f, nil
	}
	head, err := r.GitCommit(ctx, f.Head)
	if err != nil {
		return f, err
	}
	if len(head.Parents) != 1 || head.Parents[0].GetSHA() != release {
		return f, nil
	}
	tagged, err := r.GitCommit(ctx, release)
	if err != nil {
		return f, err
	}
	f.HeadIsRelease = head.GetTree().GetSHA() == tagged.GetTree().GetSHA()
	return f, nil
}

func prStateOf(pr *github.PullRequest) string {
	switch {
	case pr.GetMerged() || pr.GetMergedAt().Time.Unix() > 0:
		return "merged"
	case pr.GetState() == "closed":
		return "closed"
	case pr.GetDraft():
		return "open, draft"
	}
	return "open"
}

// SyncCandidates gathers what deciding the sync-back targets of a release
// needs: develop, and either the branches listed in sync.targets or every
// branches.release branch, each compared with the production branch (is
// it open?) and with the released commit (does it hold it already?), a
// few at a time. previous is what production ran before the release: a
// release branch that holds nothing the production branch lacks was cut
// for a release that shipped when production had moved past its tip.
func (r *Repo) SyncCandidates(ctx context.Context, cfg policy.Config, released, previous string) ([]policy.SyncCandidate, error) {
	cands := []policy.SyncCandidate{{Branch: cfg.Branches.Develop, Develop: true}}
	if len(cfg.Sync.Targets) > 0 {
		for _, b := range cfg.Sync.Targets {
			cands = append(cands, policy.SyncCandidate{Branch: b, Listed: true})
		}
	} else {
		releases, err := r.ReleaseBranches(ctx, cfg)
		if err != nil {
			return nil, err
		}
		for _, b := range releases {
			cands = append(cands, policy.SyncCandidate{Branch: b.Name, Exists: true})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range cands {
		c := &cands[i]
		g.Go(func() error {
			if c.Develop || c.Listed {
				tip, err := r.BranchSHA(gctx, c.Branch)
				if err != nil {
					return err
				}
				if c.Exists = tip != ""; !c.Exists {
					return nil
				}
			} else if err := r.releaseOpen(gctx, cfg, c, previous); err != nil {
				c.Unknown = Explain(err)
				return nil
			}
			if c.TreeInProduction || c.Shipped {
				return nil
			}
			has, err := r.Compare(gctx, c.Branch, released)
			if err != nil {
				c.Unknown = Explain(err)
				return nil
			}
			c.ContainsTag = has.GetStatus() == "behind" || has.GetStatus() == "identical"
			return nil
		})
	}
	return cands, g.Wait()
}

// releaseOpen reads whether production has absorbed a release branch: its
// tree on a commit of the production branch, or, when the branch holds
// nothing of its own, production having moved past its tip.
func (r *Repo) releaseOpen(ctx context.Context, cfg policy.Config, c *policy.SyncCandidate, previous string) error {
	// One comparison tells both: base (the release's tip, with its tree),
	// the release's own commits (behind_by) and the production branch's
	// commits the release lacks, each with its tree.
	cmp, err := r.Compare(ctx, c.Branch, cfg.Branches.Production)
	if err != nil {
		return err
	}
	c.OwnCommits = cmp.GetBehindBy()
	tree := cmp.GetBaseCommit().GetCommit().GetTree().GetSHA()
	for _, pc := range cmp.Commits {
		if tree != "" && pc.GetCommit().GetTree().GetSHA() == tree {
			c.TreeInProduction = true
			return nil
		}
	}
	c.TreesUnchecked = cmp.GetAheadBy() > len(cmp.Commits)
	if c.OwnCommits > 0 || previous == "" {
		return nil
	}
	tip := cmp.GetBaseCommit().GetSHA()
	moved, err := r.Compare(ctx, tip, previous)
	if err != nil {
		return err
	}
	if c.Shipped = moved.GetStatus() == "ahead"; c.Shipped {
		c.LastTag, err = r.ReleaseTagAt(ctx, cfg, tip)
	}
	return err
}
