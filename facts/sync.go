package facts

import (
	"context"

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
