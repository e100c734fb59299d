package facts

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// The reads behind a hotfix's details page: what GitHub records of its
// deployments and sync-back pull requests. Reads only.

// StoryDeployment is one of the bot's deployments of a hotfix, with its
// newest status.
type StoryDeployment struct {
	BotDeployment
	Latest *github.DeploymentStatus
}

// HotfixDeployments lists the bot's deployments of sha (newest first),
// and, when pr is set, the rollbacks made for that pull request, each
// with its latest status. One page of each listing: a details page shows
// the recent story, not all history.
func (r *Repo) HotfixDeployments(ctx context.Context, sha string, pr int) ([]StoryDeployment, error) {
	var out []StoryDeployment
	seen := map[int64]bool{}
	add := func(opts *github.DeploymentsListOptions, keep func(policy.DeploymentPayload) bool) error {
		list, _, err := r.client.Repositories.ListDeployments(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return wrap("list the deployments", err)
		}
		for _, d := range list {
			p, ok := DecodePayload(d.Payload)
			if !ok || !r.ByApp(d) || seen[d.GetID()] || !keep(p) {
				continue
			}
			seen[d.GetID()] = true
			st, err := r.LatestStatus(ctx, d.GetID())
			if err != nil {
				return err
			}
			out = append(out, StoryDeployment{BotDeployment{Deployment: d, Payload: p}, st})
		}
		return nil
	}
	if err := add(&github.DeploymentsListOptions{SHA: sha, ListOptions: github.ListOptions{PerPage: perPage}},
		func(policy.DeploymentPayload) bool { return true }); err != nil {
		return nil, err
	}
	if pr != 0 {
		if err := add(&github.DeploymentsListOptions{Task: policy.TaskRollback, ListOptions: github.ListOptions{PerPage: perPage}},
			func(p policy.DeploymentPayload) bool { return p.PR == pr }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SyncPullRequests lists the sync-back pull requests of a release tag (in
// any state) that the app opened, found by their branches
// hotfix-bot/sync/<tag>-to-<target>.
func (r *Repo) SyncPullRequests(ctx context.Context, tag string) ([]*github.PullRequest, error) {
	prefix := "heads/" + policy.SyncBranchName(tag, "")
	refs, err := all(ctx, "list the sync-back branches of "+tag, func(o github.ListOptions) ([]*github.Reference, *github.Response, error) {
		return r.client.Git.ListMatchingRefs(ctx, r.Owner, r.Name, &github.ReferenceListOptions{Ref: prefix, ListOptions: o})
	})
	if err != nil {
		return nil, err
	}
	var out []*github.PullRequest
	for _, ref := range refs {
		branch := strings.TrimPrefix(ref.GetRef(), "refs/heads/")
		if !strings.HasPrefix(branch, policy.SyncBranchName(tag, "")) {
			continue
		}
		prs, err := r.PullRequestsFor(ctx, branch, "", "all")
		if err != nil {
			return nil, fmt.Errorf("sync-back pull requests of %s: %w", branch, err)
		}
		for _, pr := range prs {
			if r.OpenedByApp(pr) { // a branch named like the bot's proves nothing
				out = append(out, pr)
			}
		}
	}
	return out, nil
}
