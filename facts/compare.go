package facts

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Compare is GET /compare/BASE...HEAD, remembered per pair.
func (r *Repo) Compare(ctx context.Context, base, head string) (*github.CommitsComparison, error) {
	key := base + "..." + head
	r.mu.Lock()
	if c, ok := r.compares[key]; ok {
		r.mu.Unlock()
		return c, nil
	}
	r.mu.Unlock()
	c, _, err := r.Client.Repositories.CompareCommits(ctx, r.Owner, r.Name, base, head, nil)
	if err != nil {
		return nil, fmt.Errorf("compare %s...%s: %w", base, head, err)
	}
	r.mu.Lock()
	r.compares[key] = c
	r.mu.Unlock()
	return c, nil
}

// Branch is a branch and its tip.
type Branch struct {
	Name string
	SHA  string
}

// ReleaseBranches lists the branches matching branches.release, asking
// GitHub only for refs under the glob's literal prefix.
func (r *Repo) ReleaseBranches(ctx context.Context, cfg policy.Config) ([]Branch, error) {
	prefix := "heads/" + policy.GlobPrefix(cfg.Branches.Release)
	refs, err := all(ctx, "list release branches", func(o github.ListOptions) ([]*github.Reference, *github.Response, error) {
		return r.Client.Git.ListMatchingRefs(ctx, r.Owner, r.Name, &github.ReferenceListOptions{Ref: prefix, ListOptions: o})
	})
	if err != nil {
		return nil, err
	}
	var out []Branch
	for _, ref := range refs {
		name := strings.TrimPrefix(ref.GetRef(), "refs/heads/")
		if cfg.IsReleaseBranch(name) {
			out = append(out, Branch{Name: name, SHA: ref.GetObject().GetSHA()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// BaseFacts gathers what the base gate needs about a hotfix head: its
// merge base with production, how far behind production it is, and, for
// develop and every release branch, the commits it carries from there
// that production lacks.
func (r *Repo) BaseFacts(ctx context.Context, cfg policy.Config, prod policy.ProductionState, branch, head string) (policy.BaseFacts, error) {
	f := policy.BaseFacts{Branch: branch, Head: head, Production: prod}
	if !prod.Known {
		return f, nil
	}
	cmp, err := r.Compare(ctx, prod.SHA, head)
	if err != nil {
		return f, err
	}
	f.MergeBase = cmp.GetMergeBaseCommit().GetSHA()
	f.BehindBy = cmp.GetBehindBy()
	if f.MergeBase != prod.SHA {
		if f.MergeBaseTag, err = r.ReleaseTagAt(ctx, cfg, f.MergeBase); err != nil {
			return f, err
		}
	}

	devBranches := []string{cfg.Branches.Develop}
	releases, err := r.ReleaseBranches(ctx, cfg)
	if err != nil {
		return f, err
	}
	for _, b := range releases {
		devBranches = append(devBranches, b.Name)
	}
	type carriedFrom struct {
		branch    string
		forkPoint string
		count     int
		commits   []*github.RepositoryCommit
	}
	var found []carriedFrom
	for _, dev := range devBranches {
		// The hotfix shares history with dev up to their merge base X;
		// what X has that production lacks rides along with the hotfix.
		devCmp, err := r.Compare(ctx, dev, head)
		if IsNotFound(err) {
			continue // no such branch, or unrelated history
		}
		if err != nil {
			return f, err
		}
		x := devCmp.GetMergeBaseCommit().GetSHA()
		if x == "" || x == prod.SHA {
			continue
		}
		carried, err := r.Compare(ctx, prod.SHA, x)
		if err != nil {
			return f, err
		}
		if carried.GetAheadBy() == 0 {
			continue // x is in production already
		}
		found = append(found, carriedFrom{branch: dev, forkPoint: x, count: carried.GetAheadBy(), commits: carried.Commits})
	}
	// The branch the hotfix shares most with comes first (develop on a
	// tie): its fork point is where the hotfix's own commits start. A
	// commit carried from several branches (release/1.5 holds develop's
	// work) is counted once, for the first of them.
	sort.SliceStable(found, func(i, j int) bool { return found[i].count > found[j].count })
	seen := map[string]bool{}
	for _, c := range found {
		u := policy.UnreleasedCommits{Branch: c.branch, ForkPoint: c.forkPoint}
		overlap := 0
		for _, commit := range c.commits {
			if seen[commit.GetSHA()] {
				overlap++
				continue
			}
			seen[commit.GetSHA()] = true
			if len(u.Commits) < policy.ShownCommits {
				title, _, _ := strings.Cut(commit.GetCommit().GetMessage(), "\n")
				u.Commits = append(u.Commits, policy.Commit{SHA: commit.GetSHA(), Title: title})
			}
		}
		// Compare lists at most 250 commits; beyond them, count every
		// commit as new (the count errs towards more, never fewer).
		u.Count = c.count - overlap
		if u.Count > 0 {
			f.Unreleased = append(f.Unreleased, u)
		}
	}
	return f, nil
}

// Complete file listings stop here (GitHub's limits).
const (
	compareFileLimit = 300
	listingFileLimit = 3000
)

// ChangedFiles lists the files changed between the production commit and
// head. GitHub's compare lists at most 300; beyond that it uses the pull
// request's files (up to 3000), then every commit's own listing (up to
// 3000 each, a superset: files changed and changed back count). If even
// that cannot be complete, it says so and why.
func (r *Repo) ChangedFiles(ctx context.Context, prod policy.ProductionState, head string, pr int) (policy.SchemaFacts, error) {
	f := policy.SchemaFacts{Production: prod}
	if !prod.Known {
		return f, nil
	}
	cmp, err := r.Compare(ctx, prod.SHA, head)
	if err != nil {
		return f, err
	}
	if len(cmp.Files) < compareFileLimit {
		f.Files, f.Complete, f.Source = fileNames(cmp.Files), true, "compare"
		return f, nil
	}
	if pr > 0 {
		files, err := all(ctx, "list pull request files", func(o github.ListOptions) ([]*github.CommitFile, *github.Response, error) {
			return r.Client.PullRequests.ListFiles(ctx, r.Owner, r.Name, pr, &o)
		})
		if err != nil {
			return f, err
		}
		if len(files) < listingFileLimit {
			f.Files, f.Complete, f.Source = fileNames(files), true, "pull request files"
			return f, nil
		}
	}

	// Per-commit listings: every commit between production and head.
	commits, err := r.commitsBetween(ctx, prod.SHA, head, cmp)
	if err != nil {
		return f, err
	}
	seen := map[string]bool{}
	for _, sha := range commits {
		n := 0
		opts := &github.ListOptions{PerPage: 300}
		for page := 0; page < listingFileLimit/300; page++ {
			c, resp, err := r.Client.Repositories.GetCommit(ctx, r.Owner, r.Name, sha, opts)
			if err != nil {
				return f, fmt.Errorf("list files of %s: %w", policy.Short(sha), err)
			}
			for _, file := range c.Files {
				n++
				seen[file.GetFilename()] = true
				if file.GetPreviousFilename() != "" {
					seen[file.GetPreviousFilename()] = true
				}
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
		if n >= listingFileLimit {
			f.Incomplete = fmt.Sprintf("Commit `%s` changes %d files or more, and GitHub lists no more than %d of a commit's files.", policy.Short(sha), listingFileLimit, listingFileLimit)
			break
		}
	}
	for name := range seen {
		f.Files = append(f.Files, name)
	}
	sort.Strings(f.Files)
	f.Complete = f.Incomplete == ""
	f.Source = "per-commit listings"
	return f, nil
}

func fileNames(files []*github.CommitFile) []string {
	var out []string
	for _, file := range files {
		out = append(out, file.GetFilename())
		if file.GetPreviousFilename() != "" {
			// A renamed-away path is changed too (a migration moved out).
			out = append(out, file.GetPreviousFilename())
		}
	}
	return out
}

// commitsBetween lists every commit in base..head, paging the comparison
// when it holds more than the 250 commits an unpaged one shows.
func (r *Repo) commitsBetween(ctx context.Context, base, head string, cmp *github.CommitsComparison) ([]string, error) {
	if cmp.GetTotalCommits() <= len(cmp.Commits) {
		var out []string
		for _, c := range cmp.Commits {
			out = append(out, c.GetSHA())
		}
		return out, nil
	}
	pages, err := all(ctx, "list compared commits", func(o github.ListOptions) ([]*github.RepositoryCommit, *github.Response, error) {
		c, resp, err := r.Client.Repositories.CompareCommits(ctx, r.Owner, r.Name, base, head, &o)
		if err != nil {
			return nil, resp, err
		}
		return c.Commits, resp, nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range pages {
		out = append(out, c.GetSHA())
	}
	return out, nil
}
