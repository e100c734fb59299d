package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
)

// DeploymentStatus finishes what /promote and /rollback start, from the
// deployment_status event and the deployment's payload alone, so any
// replica can do it: the next step of a staged chain; on production
// success the tag, the merge, the sync-back pull requests; on failure the
// report and the automatic rollback; after a rollback the incident issue.
// The event is a hint: what it changes is decided from GitHub as it is
// now (lifecycle_decide.go), and a late or replayed status changes
// nothing. Deployments the bot did not create only move
// production.moving_tag and re-check the open hotfix pull requests, and
// only while production runs them.
type DeploymentStatus struct{ g *Bot }

var _ githubapp.EventHandler = (*DeploymentStatus)(nil)

// Handles names the event.
func (h *DeploymentStatus) Handles() []string { return []string{"deployment_status"} }

// deploymentStatusEvent is what the bot uses of deployment_status.
type deploymentStatusEvent struct {
	envelope
	DeploymentStatus struct {
		ID          int64  `json:"id"`
		State       string `json:"state"`
		Description string `json:"description"`
		Environment string `json:"environment"`
		LogURL      string `json:"log_url"`
		TargetURL   string `json:"target_url"`
		Creator     ghUser `json:"creator"`
	} `json:"deployment_status"`
	Deployment struct {
		ID          int64           `json:"id"`
		SHA         string          `json:"sha"`
		Task        string          `json:"task"`
		Environment string          `json:"environment"`
		Payload     json.RawMessage `json:"payload"`
		Creator     ghUser          `json:"creator"`
		App         *appRef         `json:"performed_via_github_app"`
		Production  bool            `json:"production_environment"`
	} `json:"deployment"`
}

// logURL is the status's log as a link target ("" when it is not an
// http(s) address): the CD system chose it, so it must not end the link
// and write markup of its own.
func (e *deploymentStatusEvent) logURL() string {
	if e.DeploymentStatus.LogURL != "" {
		return policy.SafeLink(e.DeploymentStatus.LogURL)
	}
	return policy.SafeLink(e.DeploymentStatus.TargetURL)
}

// Handle acts on final states only (success, failure, error); pending,
// queued, in_progress and inactive cost no API call, nor do other
// environments' deployments once the policy is cached.
func (h *DeploymentStatus) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var ev deploymentStatusEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode deployment_status: %w", err)
	}
	state := ev.DeploymentStatus.State
	switch state {
	case "success", "failure", "error":
	default:
		return nil
	}
	if ev.Deployment.ID == 0 || ev.Installation.ID == 0 {
		return nil
	}
	viaApp := int64(0)
	if ev.Deployment.App != nil {
		viaApp = ev.Deployment.App.ID
	}
	ours, err := h.g.identity.IsSelf(ctx, &github.User{Login: github.String(ev.Deployment.Creator.Login), Type: github.String(ev.Deployment.Creator.Type)}, viaApp)
	if err != nil {
		return err
	}
	p, valid := facts.DecodePayload(ev.Deployment.Payload)
	full := ev.Repository.Owner.Login + "/" + ev.Repository.Name
	if !ours || !valid {
		if state != "success" {
			return nil
		}
		if cached, ok := h.g.policies.Cached(full); ok && !cached.Broken() && ev.Deployment.Environment != cached.Config.Production.Environment {
			return nil
		}
	}
	installation := ev.Installation.ID
	ctx, logger := githubapp.PrepareRepoContext(ctx, installation, &github.Repository{
		Owner: &github.User{Login: github.String(ev.Repository.Owner.Login)}, Name: github.String(ev.Repository.Name)})
	r, err := h.g.repo(installation, ev.Repository.Owner.Login, ev.Repository.Name, ev.Repository.DefaultBranch)
	if err != nil {
		return err
	}
	pol, err := h.g.policy(ctx, r)
	if err != nil {
		return err
	}
	cfg := hotfixConfig(pol)
	if !ours || !valid {
		if ours {
			logger.Warn().Int64("deployment", ev.Deployment.ID).Msg("A deployment of this app's carries no payload the bot can read; ignored")
		}
		if ev.Deployment.Environment != cfg.Production.Environment {
			return nil
		}
		// The normal release pipeline deployed production: production
		// moved under every open hotfix, if this is still what it runs.
		prod, err := r.Production(ctx, cfg)
		if err != nil {
			return err
		}
		if prod.Deployment != ev.Deployment.ID {
			logger.Warn().Int64("deployment", ev.Deployment.ID).Int64("production", prod.Deployment).
				Msg("A late success of a deployment production no longer runs: nothing moved")
			return nil
		}
		return h.g.productionMoved(ctx, installation, r, cfg, ev.Deployment.SHA)
	}
	if (p.Kind == "hotfix") != (ev.Deployment.Task == policy.TaskHotfix) || p.Environment() != ev.Deployment.Environment {
		logger.Warn().Int64("deployment", ev.Deployment.ID).Msg("A deployment of this app's whose payload does not match its task or environment; ignored")
		return nil
	}
	if pol.Broken() {
		// The story must still end: use the defaults, and say so below.
		logger.Warn().Str("policy", pol.Source).Msg("Policy file is invalid; finishing the deployment with the defaults")
	}
	l := &lifecycle{g: h.g, r: r, cfg: cfg, ev: &ev, p: p, claim: h.g.claim(deliveryID), installation: installation}
	return l.handle(ctx)
}

// productionMoved follows a successful production deployment: the moving
// tag goes to what production now runs, and every open hotfix pull
// request is checked again (its base may no longer be production).
func (g *Bot) productionMoved(ctx context.Context, installation int64, r *facts.Repo, cfg policy.Config, sha string) error {
	var errs []error
	if tag := cfg.Production.MovingTag; tag != "" {
		if err := r.MoveTag(ctx, tag, sha); err != nil {
			errs = append(errs, err)
		}
	}
	if err := g.RecheckOpenHotfixPRs(ctx, installation, r.Owner, r.Name, r.DefaultBranch); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
