// Package handlers turns webhook events into hotfix-bot's actions: one
// file per event decodes it, skips what cannot matter before any API call,
// and hands off to the Bot (the gates and what every handler shares), the commands (`/promote`,
// `/rollback`...) or the deployment follow-up. Facts come from facts/,
// decisions from policy/; handlers compute no rule themselves.
package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/clock"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/notify"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
)

// PolicyTTL is how long a replica trusts a repository policy it read.
const PolicyTTL = time.Minute

// New builds the event handlers the server dispatches to, sharing one
// Bot.
func New(d app.Deps) []githubapp.EventHandler {
	g := NewBot(d)
	return []githubapp.EventHandler{&Push{g}, &PullRequest{g}, &CheckRun{g}, &CheckSuite{g}, &IssueComment{g}, &DeploymentStatus{g}, &DeploymentProtectionRule{g}}
}

// Bot is the base of every handler: it runs the hotfix gates (hotfix-bot/base, /schema, /approval)
// and owns what every handler shares: GitHub clients, the app's identity,
// the policy cache.
type Bot struct {
	cc       githubapp.ClientCreator
	identity *app.Identity
	policies *facts.PolicyCache
	// trees remembers commits' trees for the life of the process.
	trees    *facts.TreeCache
	clock    clock.Clock
	notifier notify.Notifier
	metrics  *app.Metrics // nil in tests that build handlers alone
	// publicURL is where people reach the server ("" when not set);
	// detailsKey signs the details pages' addresses.
	publicURL  string
	detailsKey []byte
	// signedCommits: GitHub (github.com) signs the commits the app
	// creates through the API, so a lock commit must carry GitHub's
	// verified signature to be the app's.
	signedCommits bool
	// cost bounds what anyone can make the bot spend; metrics count it.
	cost *costGuard
	// instance names this process in lock claims: a claim is this
	// process's work on one delivery, so an event put back in the queue
	// (or redelivered here) continues its own work, and another replica
	// given the same delivery does not.
	instance string

	mu    sync.Mutex
	locks map[string]*headLock
	// rounds is when this replica last looked over each repository's
	// sync-back pull requests (syncround.go).
	rounds map[string]time.Time
	// looks are the comments this replica will look at again once another
	// replica's claim on them lapses (lookAgain).
	looks map[int64]bool
}

// headLock serialises evaluations of one head; it is dropped from the map
// when nobody holds or waits for it, so the map does not grow with every
// commit ever seen.
type headLock struct {
	sync.Mutex
	users int
}

// NewBot returns the Bot using the server's dependencies.
func NewBot(d app.Deps) *Bot {
	clk := d.Clock
	if clk == nil {
		clk = clock.Real()
	}
	notifier := d.Notifier
	if notifier == nil {
		notifier = notify.Discard{}
	}
	return &Bot{
		cc: d.ClientCreator, identity: d.Identity, clock: clk, notifier: notifier, metrics: d.Metrics,
		publicURL:     strings.TrimSuffix(d.Config.Server.PublicURL, "/"),
		detailsKey:    detailsKey(d.Config),
		signedCommits: strings.HasPrefix(d.Config.GitHub.V3APIURL, "https://api.github.com"),
		policies:      facts.NewPolicyCache(PolicyTTL, clk.Now),
		locks:         map[string]*headLock{},
		rounds:        map[string]time.Time{},
		looks:         map[int64]bool{},
		instance:      newInstance(),
		cost:          newCostGuard(),
		trees:         facts.NewTreeCache(),
	}
}

// newInstance names this process: random, so two replicas (or this one
// after a restart) never share claims.
func newInstance() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}

// lock serialises evaluations of one head on this replica, so that two
// events for the same commit do not race to create the same check run.
func (g *Bot) lock(key string) func() {
	g.mu.Lock()
	l, ok := g.locks[key]
	if !ok {
		l = &headLock{}
		g.locks[key] = l
	}
	l.users++
	g.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		g.mu.Lock()
		defer g.mu.Unlock()
		if l.users--; l.users == 0 {
			delete(g.locks, key)
		}
	}
}

// claim is this process's claim for work on one delivery.
func (g *Bot) claim(deliveryID string) string { return g.instance + ":" + deliveryID }

// notRun counts a command set aside without running: its comment was
// deleted, edited or is another author's, or it was too old.
func (g *Bot) notRun(reason string) {
	if g.metrics != nil {
		g.metrics.CommandsNotRun.WithLabelValues(reason).Inc()
	}
}

// notify posts a chat notification (never blocking, never failing).
func (g *Bot) notify(m notify.Message) { g.notifier.Notify(m) }

// repo opens a repository for one event.
func (g *Bot) repo(installationID int64, owner, name, defaultBranch string) (*facts.Repo, error) {
	client, err := g.cc.NewInstallationClient(installationID)
	if err != nil {
		return nil, fmt.Errorf("installation %d client: %w", installationID, err)
	}
	return g.asBot(facts.NewRepo(client, owner, name, defaultBranch, g.identity.AppID())), nil
}

// repoByName opens a repository for a request that names it (the details
// page): through the app's installation on it, if there is one (an error
// of kind NotFound if not).
func (g *Bot) repoByName(ctx context.Context, owner, name string) (*facts.Repo, error) {
	r, err := facts.OpenRepository(ctx, g.cc, owner, name, g.identity.AppID())
	if err != nil {
		return nil, err
	}
	return g.asBot(r), nil
}

// asBot gives a repository what every handler's facts need: the app's bot
// login (to know its own comments and deployments) and the server's clock.
func (g *Bot) asBot(r *facts.Repo) *facts.Repo {
	r.BotLogin = g.identity.BotLogin()
	r.SignedCommits = g.signedCommits
	r.Clock = g.clock
	r.KeepLink = g.linkStillGood
	r.Trees = g.trees
	return r
}

// fresh opens the same repository again with nothing remembered: for a
// second look after something may have changed.
func (g *Bot) fresh(installationID int64, r *facts.Repo) (*facts.Repo, error) {
	return r.Fresh(), nil
}

// policy is the repository's policy, resolved from the production branch
// the default branch's file names (events without a pull request).
func (g *Bot) policy(ctx context.Context, r *facts.Repo) (facts.Policy, error) {
	return r.Policy(ctx, g.policies)
}

// policyFor is the repository's policy for an event about a pull request
// into base: that branch's own policy when it names itself production
// (and may be trusted), the default branch's hint otherwise.
func (g *Bot) policyFor(ctx context.Context, r *facts.Repo, base string) (facts.Policy, error) {
	return r.PolicyFor(ctx, g.policies, base)
}

// hotfixConfig is the configuration to judge branch names by: the
// repository's, or the defaults while its policy file is broken.
func hotfixConfig(p facts.Policy) policy.Config {
	if p.Broken() {
		return policy.Default()
	}
	return p.Config
}

// labelSpecs are the labels the bot needs, with colours and descriptions.
func labelSpecs(cfg policy.Config) []facts.LabelSpec {
	specs := []facts.LabelSpec{
		{Name: policy.LabelHotfix, Color: "d93f0b", Description: "Production hotfix (hotfix-bot)"},
		{Name: policy.LabelSchemaChange, Color: "b60205", Description: "Hotfix changes the database schema (hotfix-bot)"},
		{Name: cfg.Sync.ConflictLabel, Color: "fbca04", Description: "Sync-back PR that needs a person (hotfix-bot)"},
	}
	for _, l := range cfg.Approval.Labels {
		specs = append(specs, facts.LabelSpec{Name: l, Color: "0e8a16", Description: "Hotfix approved by a reviewer (hotfix-bot)"})
	}
	for _, l := range cfg.Approval.SchemaLabels {
		specs = append(specs, facts.LabelSpec{Name: l, Color: "5319e7", Description: "Schema change approved (hotfix-bot)"})
	}
	for _, l := range cfg.Sync.Labels {
		specs = append(specs, facts.LabelSpec{Name: l, Color: "1d76db", Description: "Hotfix sync-back (hotfix-bot)"})
	}
	return specs
}

// RecheckOpenHotfixPRs re-runs the gates of every open hotfix pull request
// of a repository: production moved under them (a successful production
// deployment), so a branch that started at production may not any more.
// The release checks run again too: a release may now lack a hotfix.
func (g *Bot) RecheckOpenHotfixPRs(ctx context.Context, installationID int64, owner, name, defaultBranch string) error {
	r, err := g.repo(installationID, owner, name, defaultBranch)
	if err != nil {
		return err
	}
	pol, err := g.policy(ctx, r)
	if err != nil {
		return err
	}
	cfg := hotfixConfig(pol)
	prs, err := r.OpenPullRequests(ctx, cfg.Branches.Production)
	if err != nil {
		return err
	}
	var errs []error
	for _, pr := range prs {
		e, ok := g.prEvaluation(installationID, r, pol, pr)
		if !ok {
			continue
		}
		// Background work: each pull request is a step, and the
		// installation's waiting interactive work goes between them.
		if err := app.Yield(ctx); err != nil {
			return errors.Join(append(errs, err)...)
		}
		e.productionMoved = true
		// Each pull request gets its own view: production is the same for
		// all, and the HTTP cache makes the repeated reads free.
		if e.repo, err = g.fresh(installationID, r); err != nil {
			return err
		}
		if err := g.evaluate(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("re-check #%d: %w", pr.GetNumber(), err))
		}
	}
	// What production shipped changed: so does what a release must hold.
	if err := g.recheckReleases(ctx, r, pol, prs); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// prEvaluation decides whether a pull request is a hotfix PR (open, from a
// hotfix branch, into the production branch) and which gates it gets.
// A fork's hotfix-like PR gets only the base gate, which fails and says why.
func (g *Bot) prEvaluation(installationID int64, r *facts.Repo, pol facts.Policy, pr *github.PullRequest) (*evaluation, bool) {
	cfg := hotfixConfig(pol)
	head := pr.GetHead()
	if pr.GetState() != "open" || pr.GetBase().GetRef() != cfg.Branches.Production || !cfg.IsHotfixBranch(head.GetRef()) {
		return nil, false
	}
	e := &evaluation{installation: installationID, repo: r, policy: pol, branch: head.GetRef(), head: head.GetSHA(), pr: pr,
		checks: policy.Gates}
	if full := head.GetRepo().GetFullName(); full != r.FullName() {
		e.fork = full
		if full == "" {
			e.fork = "a deleted fork"
		}
		e.checks = []string{policy.CheckBase}
	}
	return e, true
}
