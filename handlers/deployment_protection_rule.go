package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// DeploymentProtectionRule answers GitHub for a workflow job that deploys
// to an environment where hotfix-bot is a custom deployment protection
// rule: GitHub holds the job until the bot approves or rejects it. The
// event names the environment, the commit and where to answer; the answer
// comes from GitHub as it is now (the lock, the bot's deployment holding
// it, what production shipped), decided by policy.DecideProtection. A
// request GitHub sends again gets the same answer, which GitHub then
// refuses quietly: the run no longer waits.
type DeploymentProtectionRule struct{ g *Bot }

var _ githubapp.EventHandler = (*DeploymentProtectionRule)(nil)

// Handles names the event.
func (h *DeploymentProtectionRule) Handles() []string { return []string{"deployment_protection_rule"} }

// protectionRuleEvent is what the bot uses of deployment_protection_rule.
type protectionRuleEvent struct {
	Action      string `json:"action"`
	Environment string `json:"environment"`
	CallbackURL string `json:"deployment_callback_url"`
	Deployment  struct {
		ID          int64  `json:"id"`
		SHA         string `json:"sha"`
		Ref         string `json:"ref"`
		Environment string `json:"environment"`
	} `json:"deployment"`
	Repository struct {
		Name          string `json:"name"`
		DefaultBranch string `json:"default_branch"`
		Owner         ghUser `json:"owner"`
	} `json:"repository"`
	Installation struct {
		ID int64 `json:"id"`
	} `json:"installation"`
}

// callbackRun matches the run a deployment_callback_url names:
// .../repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule.
var callbackRun = regexp.MustCompile(`/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/deployment_protection_rule$`)

// runOf returns the workflow run a callback URL names, if it is one of
// this repository's: the bot answers through its own API client, never to
// an address a payload gives.
func (e *protectionRuleEvent) runOf() (int64, bool) {
	u, err := url.Parse(e.CallbackURL)
	if err != nil {
		return 0, false
	}
	m := callbackRun.FindStringSubmatch(u.Path)
	if m == nil || !strings.EqualFold(m[1], e.Repository.Owner.Login) || !strings.EqualFold(m[2], e.Repository.Name) {
		return 0, false
	}
	id, err := strconv.ParseInt(m[3], 10, 64)
	return id, err == nil && id > 0
}

// Handle answers `requested`; nothing else of the event exists.
func (h *DeploymentProtectionRule) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var ev protectionRuleEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode deployment_protection_rule: %w", err)
	}
	if ev.Action != "requested" || ev.Installation.ID == 0 || ev.Repository.Name == "" {
		return nil
	}
	installation := ev.Installation.ID
	ctx, logger := githubapp.PrepareRepoContext(ctx, installation, &github.Repository{
		Owner: &github.User{Login: github.String(ev.Repository.Owner.Login)}, Name: github.String(ev.Repository.Name)})
	run, ok := ev.runOf()
	if !ok {
		// Nowhere to answer: the job waits for a person (or GitHub's 30
		// days). Counted as an error so someone looks.
		return app.Final(fmt.Errorf("deployment_protection_rule for %s carries no callback of this repository's (%q): cannot answer", ev.Repository.Name, ev.CallbackURL))
	}
	env := ev.Environment
	if env == "" {
		env = ev.Deployment.Environment
	}
	r, err := h.g.repo(installation, ev.Repository.Owner.Login, ev.Repository.Name, ev.Repository.DefaultBranch)
	if err != nil {
		return err
	}
	f, readErr := h.g.protectionFacts(ctx, r, env, ev.Deployment.SHA, branchName(ev.Deployment.Ref, ev.Deployment.SHA))
	cfg := policy.Default()
	if f.cfg != nil {
		cfg = *f.cfg
	}
	d := cfg.DecideProtection(f.ProtectionFacts)
	answered, err := r.ReviewProtectionRule(ctx, run, env, d.State(), d.Comment)
	log := logger.Info()
	if !d.Approve {
		log = logger.Warn()
	}
	log.Int64("run", run).Str("environment", env).Str("sha", policy.Short(ev.Deployment.SHA)).Str("state", d.State()).
		Str("reason", d.Reason).Bool("answered", answered).Msg("Deployment protection rule answered")
	if err != nil {
		// Not answered: handled again (the queue's retries); GitHub refuses
		// an answer that landed after all, quietly.
		return errors.Join(err, readErr)
	}
	if readErr != nil {
		// Answered (rejected, saying which fact is missing); the error is
		// counted, not retried: the job was told to be re-run.
		zerolog.Ctx(ctx).Warn().Err(readErr).Msg("A fact the protection rule needs could not be read; the deployment was rejected")
		return app.Final(readErr)
	}
	return nil
}

// branchName is the branch a deployment's ref names, "" for a commit.
func branchName(ref, sha string) string {
	ref = strings.TrimPrefix(ref, "refs/heads/")
	if ref == "" || ref == sha || strings.HasPrefix(ref, "refs/") {
		return ""
	}
	return ref
}

// protectionGather is what the protection rule read, and the policy it
// was read under (nil when even the policy could not be read).
type protectionGather struct {
	policy.ProtectionFacts
	cfg *policy.Config
}

// lockSettles are the waits for a lock that was just taken for this very
// commit to record its deployment (a CD job that started within a second
// of the bot's deployment): real time, another process's progress.
var lockSettles = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// protectionFacts reads what the protection rule's answer rests on, from
// GitHub as it is now: the policy, the production lock and the bot's
// deployment it names, then (only when they do not decide) what
// production shipped that sha lacks. A fact that cannot be read is
// recorded as unknown (the answer then rejects) and returned.
func (g *Bot) protectionFacts(ctx context.Context, r *facts.Repo, env, sha, ref string) (protectionGather, error) {
	out := protectionGather{ProtectionFacts: policy.ProtectionFacts{Environment: env, SHA: sha, Ref: ref}}
	pol, err := g.policy(ctx, r)
	if err != nil {
		out.PolicyUnknown = facts.Explain(err) // rejects, whatever the environment: which one is production is the policy's
		return out, err
	}
	cfg := hotfixConfig(pol)
	out.cfg = &cfg
	if env != cfg.Production.Environment {
		return out, nil
	}
	if pol.Broken() {
		out.BrokenPolicy = pol.Describe()
		return out, nil
	}
	now := g.clock.Now()
	var lock facts.Lock
	for look := 0; ; look++ {
		if lock, err = r.Fresh().ReadLock(ctx); err != nil {
			out.LockUnknown = facts.Explain(err)
			return out, err
		}
		creating := lock.Held() && lock.SHA == sha && lock.Deployment == 0 && (lock.Kind == "promote" || lock.Kind == "rollback")
		if !creating || look == len(lockSettles) {
			break
		}
		if err := realSleep(ctx, lockSettles[look]); err != nil {
			return out, err
		}
	}
	out.Lock = lock.View(now, time.Duration(cfg.Promote.LockTimeout))
	if lock.Held() && !out.Lock.Stale && lock.SHA == sha && lock.Deployment != 0 && (lock.Kind == "promote" || lock.Kind == "rollback") {
		d, err := r.LockDeployment(ctx, lock.Deployment)
		if err != nil {
			out.BotUnknown = facts.Explain(err)
			return out, err
		}
		if d != nil && d.GetSHA() == sha && d.GetEnvironment() == env {
			out.Bot = &d.Payload
			return out, nil
		}
	}
	if fr, frozen := cfg.FreezeAt(now); frozen {
		out.Freeze = &fr
	}
	if (out.Lock.Held && !out.Lock.Stale) || out.Freeze != nil {
		return out, nil // decided without what production shipped
	}
	out.Release, err = r.MissingReleases(ctx, cfg, sha, ref)
	return out, err
}
