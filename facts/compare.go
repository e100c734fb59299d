package facts

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"golang.org/x/sync/errgroup"
)

// Compare is GET /compare/BASE...HEAD, remembered per pair.
func (r *Repo) Compare(ctx context.Context, base, head string) (*github.CommitsComparison, error) {
	return remember(ctx, &r.memo, "compare:"+base+"..."+head, func() (*github.CommitsComparison, error) {
		c, _, err := r.client.Repositories.CompareCommits(ctx, r.Owner, r.Name, base, head, nil)
		if err != nil {
			return nil, wrap(fmt.Sprintf("compare %s...%s", shortRef(base), shortRef(head)), err)
		}
		return c, nil
	})
}

// shortRef abbreviates shas and leaves names alone.
func shortRef(ref string) string {
	if len(ref) == 40 && strings.Trim(ref, "0123456789abcdef") == "" {
		return shortSHA(ref)
	}
	return ref
}

// Branch is a branch and its tip.
type Branch struct {
	Name string
	SHA  string
}

// BranchSHA returns the tip of a branch, or "" when it does not exist.
func (r *Repo) BranchSHA(ctx context.Context, branch string) (string, error) {
	return remember(ctx, &r.memo, "branch:"+branch, func() (string, error) {
		return r.refSHA(ctx, "heads/"+branch)
	})
}

// refSHA reads a ref ("heads/x", "tags/y", "hotfix-bot/lock"): the object
// it points at, "" when it does not exist.
func (r *Repo) refSHA(ctx context.Context, ref string) (string, error) {
	got, _, err := r.client.Git.GetRef(ctx, r.Owner, r.Name, ref)
	if IsNotFound(wrap("", err)) {
		return "", nil
	}
	if err != nil {
		return "", wrap("read ref "+ref, err)
	}
	if got.GetRef() != "refs/"+ref {
		// GitHub answers a prefix with the refs under it; an exact match
		// is what was asked.
		return "", nil
	}
	return got.GetObject().GetSHA(), nil
}

// ReleaseBranches lists the branches matching branches.release, asking
// GitHub only for refs under the glob's literal prefix.
func (r *Repo) ReleaseBranches(ctx context.Context, cfg policy.Config) ([]Branch, error) {
	return remember(ctx, &r.memo, "release-branches", func() ([]Branch, error) {
		prefix := "heads/" + policy.GlobPrefix(cfg.Branches.Release)
		refs, err := all(ctx, "list the release branches", func(o github.ListOptions) ([]*github.Reference, *github.Response, error) {
			return r.client.Git.ListMatchingRefs(ctx, r.Owner, r.Name, &github.ReferenceListOptions{Ref: prefix, ListOptions: o})
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
	})
}

// BaseFacts gathers what the base gate needs about a hotfix head: its
// merge base with production, how far behind production it is, and, for
// develop and every release branch, the commits it carries from there
// that production lacks. A configured develop branch that does not exist
// is reported (MissingDevelop), not skipped. The comparisons with the
// development branches start at once: they do not need production.
func (r *Repo) BaseFacts(ctx context.Context, cfg policy.Config, prod func() (policy.ProductionState, error), branch, head string) (policy.BaseFacts, error) {
	f := policy.BaseFacts{Branch: branch, Head: head}
	type devCompare struct {
		branch string
		cmp    *github.CommitsComparison
	}
	var (
		mu      sync.Mutex
		devs    []devCompare
		missing string
	)
	g, gctx := errgroup.WithContext(ctx)
	compareDev := func(dev string, mustExist bool) error {
		cmp, err := r.Compare(gctx, dev, head)
		if IsNotFound(err) {
			// No such branch, or no history in common with the hotfix:
			// only the first is a problem, and only for develop.
			sha, rerr := r.BranchSHA(gctx, dev)
			if rerr != nil {
				return rerr
			}
			if sha == "" && mustExist {
				mu.Lock()
				missing = dev
				mu.Unlock()
			}
			return nil
		}
		if err != nil {
			return err
		}
		mu.Lock()
		devs = append(devs, devCompare{dev, cmp})
		mu.Unlock()
		return nil
	}
	g.Go(func() error { return compareDev(cfg.Branches.Develop, true) })
	g.Go(func() error {
		releases, err := r.ReleaseBranches(gctx, cfg)
		if err != nil {
			return err
		}
		rg, rctx := errgroup.WithContext(gctx)
		for _, b := range releases {
			rg.Go(func() error {
				cmp, err := r.Compare(rctx, b.Name, head)
				if IsNotFound(err) {
					return nil // deleted meanwhile, or unrelated
				}
				if err != nil {
					return err
				}
				mu.Lock()
				devs = append(devs, devCompare{b.Name, cmp})
				mu.Unlock()
				return nil
			})
		}
		return rg.Wait()
	})
	var p policy.ProductionState
	var prodCmp *github.CommitsComparison
	g.Go(func() error {
		var err error
		if p, err = prod(); err != nil || !p.Known {
			return err
		}
		prodCmp, err = r.Compare(gctx, p.SHA, head)
		return err
	})
	if err := g.Wait(); err != nil {
		return f, err
	}
	f.Production = p
	if !p.Known {
		return f, nil
	}
	if missing != "" {
		f.MissingDevelop = missing
		return f, nil
	}
	f.MergeBase = prodCmp.GetMergeBaseCommit().GetSHA()
	f.BehindBy = prodCmp.GetBehindBy()
	if f.MergeBase != p.SHA {
		tag, err := r.ReleaseTagAt(ctx, cfg, f.MergeBase)
		if err != nil {
			return f, err
		}
		f.MergeBaseTag = tag
	}

	// The hotfix shares history with each development branch up to their
	// merge base X; what X has that production lacks rides along.
	type carriedFrom struct {
		branch    string
		forkPoint string
		count     int
		commits   []*github.RepositoryCommit
	}
	sort.Slice(devs, func(i, j int) bool { return devOrder(cfg, devs[i].branch) < devOrder(cfg, devs[j].branch) })
	found := make([]*carriedFrom, len(devs))
	cg, cctx := errgroup.WithContext(ctx)
	for i, d := range devs {
		x := d.cmp.GetMergeBaseCommit().GetSHA()
		if x == "" || x == p.SHA {
			continue
		}
		cg.Go(func() error {
			carried, err := r.Compare(cctx, p.SHA, x)
			if err != nil {
				return err
			}
			if carried.GetAheadBy() > 0 {
				found[i] = &carriedFrom{branch: d.branch, forkPoint: x, count: carried.GetAheadBy(), commits: carried.Commits}
			}
			return nil
		})
	}
	if err := cg.Wait(); err != nil {
		return f, err
	}
	var carried []carriedFrom
	for _, c := range found {
		if c != nil {
			carried = append(carried, *c)
		}
	}
	// The branch the hotfix shares most with comes first (develop on a
	// tie): its fork point is where the hotfix's own commits start. A
	// commit carried from several branches (release/1.5 holds develop's
	// work) is counted once, for the first of them.
	sort.SliceStable(carried, func(i, j int) bool { return carried[i].count > carried[j].count })
	seen := map[string]bool{}
	for _, c := range carried {
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

// devOrder puts develop first, then release branches by name, so that
// results do not depend on which comparison answered first.
func devOrder(cfg policy.Config, branch string) string {
	if branch == cfg.Branches.Develop {
		return ""
	}
	return "~" + branch
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
		files, err := all(ctx, "list the pull request's files", func(o github.ListOptions) ([]*github.CommitFile, *github.Response, error) {
			return r.client.PullRequests.ListFiles(ctx, r.Owner, r.Name, pr, &o)
		})
		if err != nil && KindOf(err) != Incomplete {
			return f, err
		}
		if err == nil && len(files) < listingFileLimit {
			f.Files, f.Complete, f.Source = fileNames(files), true, "pull request files"
			return f, nil
		}
	}

	// Per-commit listings: every commit between production and head.
	commits, err := r.commitsBetween(ctx, prod.SHA, head, cmp)
	if KindOf(err) == Incomplete {
		f.Files, f.Source = fileNames(cmp.Files), "compare"
		f.Incomplete = fmt.Sprintf("The hotfix has more commits than the bot reads (%s), so not every changed file could be listed.", err)
		return f, nil
	}
	if err != nil {
		return f, err
	}
	seen := map[string]bool{}
	for _, sha := range commits {
		n := 0
		opts := &github.ListOptions{PerPage: 300}
		for page := 0; page < listingFileLimit/300; page++ {
			c, resp, err := r.client.Repositories.GetCommit(ctx, r.Owner, r.Name, sha, opts)
			if err != nil {
				return f, wrap(fmt.Sprintf("list the files of %s", shortSHA(sha)), err)
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
			f.Incomplete = fmt.Sprintf("Commit `%s` changes %d files or more, and GitHub lists no more than %d of a commit's files.", shortSHA(sha), listingFileLimit, listingFileLimit)
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
// when it holds more than the 250 commits an unpaged one shows. A list
// cut short by the page bound is an Incomplete error.
func (r *Repo) commitsBetween(ctx context.Context, base, head string, cmp *github.CommitsComparison) ([]string, error) {
	commits, err := r.comparedCommits(ctx, base, head, cmp)
	var out []string
	for _, c := range commits {
		out = append(out, c.GetSHA())
	}
	return out, err
}

// comparedCommits is every commit of a comparison, paged when the
// comparison shows fewer than it counts (remembered per pair).
func (r *Repo) comparedCommits(ctx context.Context, base, head string, cmp *github.CommitsComparison) ([]*github.RepositoryCommit, error) {
	if cmp.GetTotalCommits() <= len(cmp.Commits) {
		return cmp.Commits, nil
	}
	return remember(ctx, &r.memo, "compared-commits:"+base+"..."+head, func() ([]*github.RepositoryCommit, error) {
		return all(ctx, "list the compared commits", func(o github.ListOptions) ([]*github.RepositoryCommit, *github.Response, error) {
			c, resp, err := r.client.Repositories.CompareCommits(ctx, r.Owner, r.Name, base, head, &o)
			if err != nil {
				return nil, resp, err
			}
			return c.Commits, resp, nil
		})
	})
}

// FilesBetween lists the files that differ between two commits, both
// ways round (a rollback crosses the changes of either side), renames
// counted under both names; complete is false when GitHub's 300-file
// limit cut a listing.
func (r *Repo) FilesBetween(ctx context.Context, a, b string) ([]string, bool, error) {
	var files []string
	complete := true
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		cmp, err := r.Compare(ctx, pair[0], pair[1])
		if err != nil {
			return nil, false, err
		}
		for _, f := range cmp.Files {
			files = append(files, f.GetFilename())
			if f.GetPreviousFilename() != "" {
				files = append(files, f.GetPreviousFilename())
			}
		}
		complete = complete && len(cmp.Files) < 300
	}
	return files, complete, nil
}
