package facts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"golang.org/x/sync/errgroup"
)

// BotDeployment is a deployment this app created, with its payload.
type BotDeployment struct {
	*github.Deployment
	Payload policy.DeploymentPayload
}

// DecodePayload reads a deployment payload the bot wrote; ok is false for
// anything else (another system's deployment, a forged or broken payload).
func DecodePayload(raw []byte) (policy.DeploymentPayload, bool) {
	var p policy.DeploymentPayload
	if len(raw) == 0 || json.Unmarshal(raw, &p) != nil {
		// GitHub stores a payload given as a JSON string as that string.
		var text string
		if json.Unmarshal(raw, &text) != nil || json.Unmarshal([]byte(text), &p) != nil {
			return p, false
		}
	}
	return p, p.Valid()
}

// ByApp reports whether a deployment was created by this app: its
// creator is the app's bot user.
func (r *Repo) ByApp(d *github.Deployment) bool {
	return r.BotLogin != "" && d.GetCreator().GetLogin() == r.BotLogin
}

// findDeploymentPages bounds the search for a deployment the bot made.
const findDeploymentPages = 2

// FindDeployment finds this app's newest deployment to env with a task
// (and, when sha is set, of that commit) whose payload match accepts.
func (r *Repo) FindDeployment(ctx context.Context, env, task, sha string, match func(policy.DeploymentPayload) bool) (*BotDeployment, error) {
	opts := &github.DeploymentsListOptions{Environment: env, Task: task, SHA: sha, ListOptions: github.ListOptions{PerPage: perPage}}
	for page := 0; page < findDeploymentPages; page++ {
		list, resp, err := r.client.Repositories.ListDeployments(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return nil, wrap(fmt.Sprintf("list the %s deployments", env), err)
		}
		for _, d := range list {
			if !r.ByApp(d) {
				continue
			}
			if p, ok := DecodePayload(d.Payload); ok && match(p) {
				return &BotDeployment{Deployment: d, Payload: p}, nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, &Error{Op: "find the bot's deployment", Kind: Incomplete, Message: fmt.Sprintf("more than %d deployments to %s", findDeploymentPages*perPage, env)}
}

// SameStep matches the payload of the same request at the same step: a
// repeated delivery finds what the first one created.
func SameStep(want policy.DeploymentPayload) func(policy.DeploymentPayload) bool {
	return func(p policy.DeploymentPayload) bool {
		if p.Kind != want.Kind || p.ChainIndex != want.ChainIndex {
			return false
		}
		if want.CommentID != 0 {
			return p.CommentID == want.CommentID
		}
		return want.FailedDeployment != 0 && p.FailedDeployment == want.FailedDeployment
	}
}

// DeploymentRequest is a deployment the bot creates.
type DeploymentRequest struct {
	SHA         string
	Environment string
	Production  bool
	Task        string
	Description string
	Payload     policy.DeploymentPayload
}

// listingLag is how long GitHub's deployment listing can take to show a
// deployment just created (its listings are eventually consistent): a
// search for a deployment whose creation may have landed looks again
// over this long before concluding it does not exist.
var listingLooks = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}

// FindDeploymentSettled is FindDeployment for a deployment that may have
// just been created (a lost answer): when it is not listed, it looks
// again a few times over a few seconds before answering "none".
func (r *Repo) FindDeploymentSettled(ctx context.Context, env, task, sha string, match func(policy.DeploymentPayload) bool) (*BotDeployment, error) {
	for i := 0; ; i++ {
		d, err := r.FindDeployment(ctx, env, task, sha, match)
		if err != nil || d != nil || i == len(listingLooks) {
			return d, err
		}
		if err := r.Clock.Sleep(ctx, listingLooks[i]); err != nil {
			return nil, err
		}
	}
}

// CreateDeployment creates the deployment of exactly req.SHA, unless this
// app already created the one for the same request and step (found by its
// payload): a repeated command or a lost answer never deploys twice.
// auto_merge is off and required_contexts empty: the bot gated already.
//
// When GitHub's answer was lost (a 5xx, a timeout) the deployment may
// exist without the listing showing it yet: before trying again, and
// before giving up, it is looked for over a few seconds, so an error
// means it was not created (a caller may then free the lock it took),
// and a found deployment is returned as made.
func (r *Repo) CreateDeployment(ctx context.Context, req DeploymentRequest) (*BotDeployment, bool, error) {
	find := func() (*BotDeployment, error) {
		return r.FindDeployment(ctx, req.Environment, req.Task, req.SHA, SameStep(req.Payload))
	}
	settled := func() (*BotDeployment, error) {
		return r.FindDeploymentSettled(ctx, req.Environment, req.Task, req.SHA, SameStep(req.Payload))
	}
	if d, err := find(); err != nil || d != nil {
		return d, false, err
	}
	var made *BotDeployment
	err := r.retryWrite(ctx, func() error {
		d, _, err := r.client.Repositories.CreateDeployment(ctx, r.Owner, r.Name, &github.DeploymentRequest{
			Ref: github.String(req.SHA), Task: github.String(req.Task), AutoMerge: github.Bool(false),
			RequiredContexts: &[]string{}, Payload: req.Payload, Environment: github.String(req.Environment),
			Description: github.String(req.Description), ProductionEnvironment: github.Bool(req.Production),
		})
		if err != nil {
			return wrap(fmt.Sprintf("create the deployment of %s to %s", shortSHA(req.SHA), req.Environment), err)
		}
		made = &BotDeployment{Deployment: d, Payload: req.Payload}
		return nil
	}, func() (bool, error) {
		d, err := settled()
		made = d
		return d != nil, err
	})
	if err != nil && IsTransient(err) {
		// The last attempt's answer was lost too: it may have landed.
		if d, ferr := settled(); ferr != nil {
			return nil, false, errors.Join(err, ferr)
		} else if d != nil {
			return d, true, nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	return made, true, nil
}

// Statuses lists a deployment's statuses, newest first (up to 100), read
// afresh.
func (r *Repo) Statuses(ctx context.Context, id int64) ([]*github.DeploymentStatus, error) {
	list, _, err := r.client.Repositories.ListDeploymentStatuses(ctx, r.Owner, r.Name, id, &github.ListOptions{PerPage: perPage})
	if err != nil {
		return nil, wrap(fmt.Sprintf("read the statuses of deployment %d", id), err)
	}
	return list, nil
}

// NewerDeployment finds the newest deployment to env created after the
// deployment `after` (ids grow with creation), skipping those skip
// accepts; 0 when there is none.
func (r *Repo) NewerDeployment(ctx context.Context, env string, after int64, skip func(*github.Deployment) bool) (int64, error) {
	list, _, err := r.client.Repositories.ListDeployments(ctx, r.Owner, r.Name, &github.DeploymentsListOptions{
		Environment: env, ListOptions: github.ListOptions{PerPage: 30}})
	if err != nil {
		return 0, wrap(fmt.Sprintf("list the %s deployments", env), err)
	}
	for _, d := range list { // newest first
		if d.GetID() > after && !skip(d) {
			return d.GetID(), nil
		}
	}
	return 0, nil
}

// Deployment reads one deployment.
func (r *Repo) Deployment(ctx context.Context, id int64) (*github.Deployment, error) {
	d, _, err := r.client.Repositories.GetDeployment(ctx, r.Owner, r.Name, id)
	if err != nil {
		return nil, wrap(fmt.Sprintf("read deployment %d", id), err)
	}
	return d, nil
}

// historyPages bounds how far back the production history is read: 200
// deployments.
const historyPages = 2

// ProductionHistory reads production's deployments, newest first, each
// with its statuses and, for the app's own, its payload: what the
// rollback lineage is built from (policy.ProductionLineage). complete is
// false when the bot stopped at its bound with older deployments
// unread. Any read that fails, or a deployment whose statuses do not fit
// the bound, fails the whole: a lineage with a gap could pick the wrong
// release.
func (r *Repo) ProductionHistory(ctx context.Context, cfg policy.Config) (deps []policy.ProductionDeployment, complete bool, err error) {
	env := cfg.Production.Environment
	tags, err := r.Tags(ctx)
	if err != nil {
		return nil, false, err
	}
	var list []*github.Deployment
	opts := &github.DeploymentsListOptions{Environment: env, ListOptions: github.ListOptions{PerPage: perPage}}
	for page := 0; page < historyPages; page++ {
		got, resp, err := r.client.Repositories.ListDeployments(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return nil, false, wrap(fmt.Sprintf("list the %s deployments", env), err)
		}
		list = append(list, got...)
		if resp == nil || resp.NextPage == 0 {
			complete = true
			break
		}
		opts.Page = resp.NextPage
	}
	deps, err = r.withStatuses(ctx, cfg, list, tags)
	if err != nil {
		return nil, false, err
	}
	return deps, complete, nil
}

// withStatuses reads each deployment's statuses (oldest first), names it
// by the newest release tag on its commit, and decodes the app's own
// payload: what both the rollback lineage and the report are built from.
// A read that fails fails the whole.
func (r *Repo) withStatuses(ctx context.Context, cfg policy.Config, list []*github.Deployment, tags []Tag) ([]policy.ProductionDeployment, error) {
	deps := make([]policy.ProductionDeployment, len(list))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ReadsInFlight)
	for i, d := range list {
		g.Go(func() error {
			statuses, err := all(gctx, fmt.Sprintf("read the statuses of deployment %d", d.GetID()), func(o github.ListOptions) ([]*github.DeploymentStatus, *github.Response, error) {
				return r.client.Repositories.ListDeploymentStatuses(gctx, r.Owner, r.Name, d.GetID(), &o)
			})
			if err != nil {
				return err
			}
			pd := policy.ProductionDeployment{ID: d.GetID(), SHA: d.GetSHA()}
			var names []string
			for _, t := range tags {
				if t.Commit == pd.SHA {
					names = append(names, t.Name)
				}
			}
			pd.Tag = cfg.NewestTag(names)
			for j := len(statuses) - 1; j >= 0; j-- { // GitHub lists the newest first
				pd.Statuses = append(pd.Statuses, policy.DeploymentStatus{State: statuses[j].GetState(), At: statuses[j].GetCreatedAt().Time})
			}
			if p, ok := DecodePayload(d.Payload); ok && r.ByApp(d) {
				pd.Bot = &p
			}
			deps[i] = pd
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return deps, nil
}
