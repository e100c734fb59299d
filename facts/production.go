package facts

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Tag is a tag and the commit it points at (annotated tags peeled, as
// GitHub's tag list gives them).
type Tag struct {
	Name   string
	Commit string
}

// Tags lists the repository's tags.
func (r *Repo) Tags(ctx context.Context) ([]Tag, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tagsLocked(ctx)
}

func (r *Repo) tagsLocked(ctx context.Context) ([]Tag, error) {
	if r.tags != nil {
		return r.tags, nil
	}
	list, err := all(ctx, "list tags", func(o github.ListOptions) ([]*github.RepositoryTag, *github.Response, error) {
		return r.Client.Repositories.ListTags(ctx, r.Owner, r.Name, &o)
	})
	if err != nil {
		return nil, err
	}
	tags := make([]Tag, 0, len(list))
	for _, t := range list {
		tags = append(tags, Tag{Name: t.GetName(), Commit: t.GetCommit().GetSHA()})
	}
	r.tags = tags
	return tags, nil
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

// deploymentsExamined bounds how far back the search for a successful
// production deployment goes before falling back to tags.
const deploymentsExamined = 50

// Production finds what runs in production: the commit of the newest
// deployment to the production environment whose latest status is
// success; failing that, the newest release tag. Repeated calls are free:
// the answer is remembered, and the reads are conditional requests.
func (r *Repo) Production(ctx context.Context, cfg policy.Config) (policy.ProductionState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.production != nil {
		return *r.production, nil
	}
	env := cfg.Production.Environment
	var p policy.ProductionState
	examined := 0
	opts := &github.DeploymentsListOptions{Environment: env, ListOptions: github.ListOptions{PerPage: 30}}
search:
	for examined < deploymentsExamined {
		deployments, resp, err := r.Client.Repositories.ListDeployments(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return p, fmt.Errorf("list %s deployments: %w", env, err)
		}
		for _, d := range deployments {
			examined++
			statuses, _, err := r.Client.Repositories.ListDeploymentStatuses(ctx, r.Owner, r.Name, d.GetID(), &github.ListOptions{PerPage: 1})
			if err != nil {
				return p, fmt.Errorf("deployment %d statuses: %w", d.GetID(), err)
			}
			if len(statuses) > 0 && statuses[0].GetState() == "success" {
				p = policy.ProductionState{Known: true, SHA: d.GetSHA(),
					Source: fmt.Sprintf("deployment %d to %s (success at %s)", d.GetID(), env, statuses[0].GetCreatedAt().UTC().Format("2006-01-02 15:04 UTC"))}
				break search
			}
			if examined >= deploymentsExamined {
				break search
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}

	tags, err := r.tagsLocked(ctx)
	if err != nil {
		return p, err
	}
	if !p.Known {
		var names []string
		for _, t := range tags {
			names = append(names, t.Name)
		}
		if newest := cfg.NewestTag(names); newest != "" {
			for _, t := range tags {
				if t.Name == newest {
					p = policy.ProductionState{Known: true, SHA: t.Commit, Tag: newest,
						Source: fmt.Sprintf("tag %s (no successful deployment to %s yet)", newest, env)}
				}
			}
		}
	}
	if p.Known && p.Tag == "" {
		var names []string
		for _, t := range tags {
			if t.Commit == p.SHA {
				names = append(names, t.Name)
			}
		}
		p.Tag = cfg.NewestTag(names)
	}
	r.production = &p
	return p, nil
}
