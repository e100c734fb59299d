package facts

import (
	"context"
	"sync"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// TreeCache remembers the tree of every commit the bot looked at, for the
// life of the process: a commit's tree never changes, so it is asked for
// once. It holds at most treeCacheSize commits (then starts afresh).
type TreeCache struct {
	mu    sync.Mutex
	trees map[string]string
}

const treeCacheSize = 10000

// NewTreeCache returns an empty cache.
func NewTreeCache() *TreeCache { return &TreeCache{trees: map[string]string{}} }

func (c *TreeCache) get(key string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.trees[key]
	return t, ok
}

func (c *TreeCache) put(key, tree string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.trees) >= treeCacheSize {
		c.trees = map[string]string{}
	}
	c.trees[key] = tree
}

// Tree returns a commit's tree (GET /repos/{owner}/{repo}/git/commits/{sha}),
// from the process's cache when it was read before.
func (r *Repo) Tree(ctx context.Context, sha string) (string, error) {
	key := r.FullName() + "@" + sha
	if t, ok := r.Trees.get(key); ok {
		return t, nil
	}
	c, err := r.GitCommit(ctx, sha)
	if err != nil {
		return "", err
	}
	t := c.GetTree().GetSHA()
	if t == "" {
		return "", &Error{Op: "read the tree of " + shortSHA(sha), Message: "GitHub's answer names no tree"}
	}
	r.Trees.put(key, t)
	return t, nil
}

// ChangeCommits lists every commit between production and head with who
// wrote and committed it: GitHub's compare maps each git identity to an
// account (author.login, committer.login), or to none. A list cut short
// is an Incomplete error.
func (r *Repo) ChangeCommits(ctx context.Context, prod, head string) ([]policy.ChangeCommit, error) {
	cmp, err := r.Compare(ctx, prod, head)
	if err != nil {
		return nil, err
	}
	commits, err := r.comparedCommits(ctx, prod, head, cmp)
	if err != nil {
		return nil, err
	}
	out := make([]policy.ChangeCommit, 0, len(commits))
	for _, c := range commits {
		out = append(out, policy.ChangeCommit{
			SHA:       c.GetSHA(),
			Author:    identity(c.GetCommit().GetAuthor(), c.GetAuthor()),
			Committer: identity(c.GetCommit().GetCommitter(), c.GetCommitter()),
			Message:   c.GetCommit().GetMessage(),
		})
	}
	return out, nil
}

func identity(git *github.CommitAuthor, account *github.User) policy.Identity {
	return policy.Identity{Name: git.GetName(), Email: git.GetEmail(), Login: account.GetLogin()}
}
