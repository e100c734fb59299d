package facts

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"golang.org/x/sync/errgroup"
)

// Tag is a tag and the commit it points at (annotated tags peeled, as
// GitHub's tag list gives them).
type Tag struct {
	Name   string
	Commit string
}

// Tags lists the repository's tags. A repository with more than the bot
// reads is an Incomplete error: the newest release tag could be among the
// unread ones.
func (r *Repo) Tags(ctx context.Context) ([]Tag, error) {
	return remember(ctx, &r.memo, "tags", func() ([]Tag, error) {
		list, err := all(ctx, "list tags", func(o github.ListOptions) ([]*github.RepositoryTag, *github.Response, error) {
			return r.client.Repositories.ListTags(ctx, r.Owner, r.Name, &o)
		})
		if err != nil {
			return nil, err
		}
		tags := make([]Tag, 0, len(list))
		for _, t := range list {
			tags = append(tags, Tag{Name: t.GetName(), Commit: t.GetCommit().GetSHA()})
		}
		return tags, nil
	})
}

// ReleaseTagAt returns the newest release tag (per tag_pattern, semver
// order) on a commit, or "".
func (r *Repo) ReleaseTagAt(ctx context.Context, cfg policy.Config, sha string) (string, error) {
	tags, err := r.Tags(ctx)
	if err != nil {
		return "", err
	}
	var names []string
	for _, t := range tags {
		if t.Commit == sha {
			names = append(names, t.Name)
		}
	}
	return cfg.NewestTag(names), nil
}

// TagCommit returns the commit a tag points at, or "" when there is no
// such tag.
func (r *Repo) TagCommit(ctx context.Context, name string) (string, error) {
	tags, err := r.Tags(ctx)
	if err != nil {
		return "", err
	}
	for _, t := range tags {
		if t.Name == name {
			return t.Commit, nil
		}
	}
	return "", nil
}

// deploymentPages bounds how far back the search for a successful
// production deployment goes: 300 deployments.
const deploymentPages = 3

// Deployment is a deployment and its latest status.
type Deployment struct {
	*github.Deployment
	// Latest is the newest status, nil when the deployment has none.
	Latest *github.DeploymentStatus
}

// LatestState is the newest status's state, "" without one.
func (d Deployment) LatestState() string { return d.Latest.GetState() }

// LatestStatus reads a deployment's newest status (nil when it has none).
func (r *Repo) LatestStatus(ctx context.Context, id int64) (*github.DeploymentStatus, error) {
	statuses, _, err := r.client.Repositories.ListDeploymentStatuses(ctx, r.Owner, r.Name, id, &github.ListOptions{PerPage: 1})
	if err != nil {
		return nil, wrap(fmt.Sprintf("read the statuses of deployment %d", id), err)
	}
	if len(statuses) == 0 {
		return nil, nil
	}
	return statuses[0], nil
}

// NewestSuccessfulDeployment finds the newest deployment to env whose
// latest status is success. found is false when none is, and exist says
// whether env has deployments at all; when the search stopped at its bound
// with deployments left unread, that is an Incomplete error, never "none".
func (r *Repo) NewestSuccessfulDeployment(ctx context.Context, env string) (d Deployment, found bool, exist bool, err error) {
	opts := &github.DeploymentsListOptions{Environment: env, ListOptions: github.ListOptions{PerPage: perPage}}
	for page := 0; page < deploymentPages; page++ {
		list, resp, err := r.client.Repositories.ListDeployments(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return Deployment{}, false, exist, wrap(fmt.Sprintf("list the %s deployments", env), err)
		}
		exist = exist || len(list) > 0
		// The newest alone first (the common case: it succeeded), then the
		// rest of the page in order, a few at a time.
		for start := 0; start < len(list); {
			n := 1
			if start > 0 {
				n = ReadsInFlight
			}
			batch := list[start:min(start+n, len(list))]
			latest := make([]*github.DeploymentStatus, len(batch))
			g, gctx := errgroup.WithContext(ctx)
			for i, dep := range batch {
				g.Go(func() error {
					st, err := r.LatestStatus(gctx, dep.GetID())
					latest[i] = st
					return err
				})
			}
			if err := g.Wait(); err != nil {
				return Deployment{}, false, exist, err
			}
			for i, st := range latest {
				if st.GetState() == "success" {
					return Deployment{Deployment: batch[i], Latest: st}, true, true, nil
				}
			}
			start += len(batch)
		}
		if resp == nil || resp.NextPage == 0 {
			return Deployment{}, false, exist, nil
		}
		opts.Page = resp.NextPage
	}
	return Deployment{}, false, exist, &Error{Op: fmt.Sprintf("find the newest successful deployment to %s", env), Kind: Incomplete,
		Message: fmt.Sprintf("none of the newest %d deployments to %s has succeeded, and the bot reads no further back; "+
			"report the deployment production really runs (a deployment of it to %s with a success status), then re-run", deploymentPages*perPage, env, env)}
}

// Production finds what runs in production: the commit of the newest
// deployment to the production environment whose latest status is
// success; when the environment has no deployment at all, the newest
// release tag. It fails (an error, never a guess) when it cannot tell: a
// GitHub failure, deployments it could not read far enough back, or
// deployments none of which succeeded (on the day CD keeps failing, an
// undeployed tag must not become "production").
func (r *Repo) Production(ctx context.Context, cfg policy.Config) (policy.ProductionState, error) {
	return remember(ctx, &r.memo, "production", func() (policy.ProductionState, error) {
		env := cfg.Production.Environment
		var (
			dep          Deployment
			found, exist bool
			tags         []Tag
		)
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) { dep, found, exist, err = r.NewestSuccessfulDeployment(gctx, env); return err })
		g.Go(func() (err error) { tags, err = r.Tags(gctx); return err })
		if err := g.Wait(); err != nil {
			return policy.ProductionState{}, err
		}
		var p policy.ProductionState
		if found {
			p = policy.ProductionState{Known: true, SHA: dep.GetSHA(), Deployment: dep.GetID(),
				Source: fmt.Sprintf("deployment %d to %s (success at %s)", dep.GetID(), env, dep.Latest.GetCreatedAt().UTC().Format("2006-01-02 15:04 UTC"))}
			var names []string
			for _, t := range tags {
				if t.Commit == p.SHA {
					names = append(names, t.Name)
				}
			}
			p.Tag = cfg.NewestTag(names)
			return p, nil
		}
		if exist {
			return policy.ProductionState{}, &Error{Op: "find what production runs", Message: fmt.Sprintf(
				"the repository has deployments to `%s`, and none of them has a `success` status, so the bot cannot tell what production runs. "+
					"If your CD system deployed successfully, have it report the `success` status on that deployment; "+
					"to record by hand what production runs, create a deployment of it to `%s` and give it a `success` status "+
					"(`gh api repos/%s/deployments -f ref=<tag> -f environment=%s -F auto_merge=false`, then "+
					"`gh api repos/%s/deployments/<id>/statuses -f state=success`)", env, env, r.FullName(), env, r.FullName())}
		}
		// No deployment yet: the newest release tag on the production
		// branch. A tag pushed anywhere else (a v9.9.9 on a feature
		// branch, a release candidate on develop) must not become
		// "production" and let a branch cut from it pass the base gate.
		tag, commit, err := r.newestReleaseTagIn(ctx, cfg, tags, func(ctx context.Context) (string, error) {
			tip, err := r.BranchSHA(ctx, cfg.Branches.Production)
			if err == nil && tip == "" {
				err = &Error{Op: "find what production runs", Message: fmt.Sprintf("the production branch `%s` (`branches.production`) does not exist, "+
					"so the bot cannot tell which release tag production runs; create it, or set `branches.production`", cfg.Branches.Production)}
			}
			return tip, err
		})
		switch {
		case err != nil:
			return policy.ProductionState{}, err
		case tag != "":
			return policy.ProductionState{Known: true, SHA: commit, Tag: tag,
				Source: fmt.Sprintf("tag %s on %s (no successful deployment to %s yet)", tag, cfg.Branches.Production, env)}, nil
		}
		if len(cfg.ReleaseTagsNewestFirst(tagNames(tags))) > 0 {
			return policy.ProductionState{Unknown: fmt.Sprintf("the repository has no deployment to `%s` yet, and none of its release tags is on `%s` (`branches.production`), "+
				"so none of them can be what production runs. Tag the commit production runs on `%s` (e.g. `git tag v1.0.0 <sha> && git push origin v1.0.0`), "+
				"or report the deployment production runs (a deployment to `%s` with a `success` status)", env, cfg.Branches.Production, cfg.Branches.Production, env)}, nil
		}
		return p, nil
	})
}

// tagCandidates bounds how many release tags, newest first, the bot
// checks against a branch or commit before it gives up (Incomplete).
const tagCandidates = 20

func tagNames(tags []Tag) []string {
	names := make([]string, 0, len(tags))
	for _, t := range tags {
		names = append(names, t.Name)
	}
	return names
}

// newestReleaseTagIn finds the newest release tag (pre-releases never)
// whose commit is an ancestor of (or is) the commit tip gives: "" when
// none is.
func (r *Repo) newestReleaseTagIn(ctx context.Context, cfg policy.Config, tags []Tag, tip func(context.Context) (string, error)) (name, commit string, err error) {
	candidates := cfg.ReleaseTagsNewestFirst(tagNames(tags))
	if len(candidates) == 0 {
		return "", "", nil
	}
	of, err := tip(ctx)
	if err != nil {
		return "", "", err
	}
	commits := map[string]string{}
	for _, t := range tags {
		commits[t.Name] = t.Commit
	}
	for i, name := range candidates {
		if i == tagCandidates {
			return "", "", &Error{Op: "find the newest release tag on " + shortRef(of), Kind: Incomplete,
				Message: fmt.Sprintf("none of the %d newest release tags is an ancestor of %s, and the bot checks no more", tagCandidates, shortRef(of))}
		}
		ok, err := r.IsAncestor(ctx, commits[name], of)
		if err != nil {
			return "", "", err
		}
		if ok {
			return name, commits[name], nil
		}
	}
	return "", "", nil
}

// IsAncestor reports whether commit ancestor is reachable from of (or is
// of), by GitHub's compare: of...ancestor is "behind" or "identical".
func (r *Repo) IsAncestor(ctx context.Context, ancestor, of string) (bool, error) {
	if ancestor == of {
		return true, nil
	}
	cmp, err := r.Compare(ctx, of, ancestor)
	if IsNotFound(err) {
		return false, nil // no history in common
	}
	if err != nil {
		return false, err
	}
	return cmp.GetStatus() == "behind" || cmp.GetStatus() == "identical", nil
}

// AncestorReleaseTag is the newest release tag that is an ancestor of an
// untagged production commit: the version the next tag bumps (never a
// pre-release, never a tag off another line of history). "" when none is.
func (r *Repo) AncestorReleaseTag(ctx context.Context, cfg policy.Config, sha string) (string, error) {
	tags, err := r.Tags(ctx)
	if err != nil {
		return "", err
	}
	name, _, err := r.newestReleaseTagIn(ctx, cfg, tags, func(context.Context) (string, error) { return sha, nil })
	return name, err
}
