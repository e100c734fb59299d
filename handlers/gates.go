// Package handlers turns webhook events into gate evaluations: one file per
// event decodes it, skips what cannot matter before any API call, and hands
// off to the gatekeeper, which gathers facts (facts/), asks the rules
// (policy/) and writes the results to GitHub. Handlers compute no rule
// themselves.
package handlers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// PolicyTTL is how long a replica trusts a repository policy it read.
const PolicyTTL = time.Minute

// New builds the event handlers the server dispatches to, sharing one
// Gatekeeper.
func New(d app.Deps) []githubapp.EventHandler {
	g := NewGatekeeper(d)
	return []githubapp.EventHandler{&Push{g}, &PullRequest{g}, &CheckRun{g}}
}

// Gatekeeper runs the hotfix gates: hotfix-bot/base, /schema, /approval.
type Gatekeeper struct {
	cc       githubapp.ClientCreator
	identity *app.Identity
	policies *facts.PolicyCache

	mu    sync.Mutex
	locks map[string]*headLock
}

// headLock serialises evaluations of one head; it is dropped from the map
// when nobody holds or waits for it, so the map does not grow with every
// commit ever seen.
type headLock struct {
	sync.Mutex
	users int
}

// NewGatekeeper returns a gatekeeper using the server's dependencies.
func NewGatekeeper(d app.Deps) *Gatekeeper {
	clock := d.Clock
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	return &Gatekeeper{
		cc: d.ClientCreator, identity: d.Identity,
		policies: facts.NewPolicyCache(PolicyTTL, now),
		locks:    map[string]*headLock{},
	}
}

// lock serialises evaluations of one head on this replica, so that two
// events for the same commit do not race to create the same check run.
func (g *Gatekeeper) lock(key string) func() {
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

// repo opens a repository for one event.
func (g *Gatekeeper) repo(installationID int64, owner, name, defaultBranch string) (*facts.Repo, error) {
	client, err := g.cc.NewInstallationClient(installationID)
	if err != nil {
		return nil, fmt.Errorf("installation %d client: %w", installationID, err)
	}
	return facts.NewRepo(client, owner, name, defaultBranch, g.identity.AppID()), nil
}

func (g *Gatekeeper) policy(ctx context.Context, r *facts.Repo) (facts.Policy, error) {
	return g.policies.Load(ctx, r.Client, r.Owner, r.Name, r.DefaultBranch)
}

// hotfixConfig is the configuration to judge branch names by: the
// repository's, or the defaults while its policy file is broken.
func hotfixConfig(p facts.Policy) policy.Config {
	if p.Broken() {
		return policy.Default()
	}
	return p.Config
}

// evaluation is one run of some gates on one head.
type evaluation struct {
	repo   *facts.Repo
	policy facts.Policy
	branch string
	head   string
	// pr is the hotfix pull request, nil for a branch without one.
	pr *github.PullRequest
	// fork is "owner/name" when the head lives in a fork.
	fork string
	// checks are the gates to run.
	checks []string
	// resetApprovals removes approvals given before the latest push.
	resetApprovals bool
}

func (e *evaluation) wants(name string) bool {
	for _, c := range e.checks {
		if c == name {
			return true
		}
	}
	return false
}

func (e *evaluation) prNumber() int {
	if e.pr == nil {
		return 0
	}
	return e.pr.GetNumber()
}

// Evaluate runs the gates of an evaluation and writes their check runs.
// The checks show "in progress" first (created, or pulled back from a
// success that could be stale), so that a GitHub failure halfway leaves
// "in progress", never a wrong success; the error is returned.
func (g *Gatekeeper) evaluate(ctx context.Context, e evaluation) error {
	defer g.lock(e.repo.FullName() + "@" + e.head)()
	logger := zerolog.Ctx(ctx)
	details := ""
	if e.pr != nil {
		details = e.pr.GetHTMLURL()
	}
	r := e.repo

	if e.policy.Broken() {
		for _, name := range e.checks {
			if err := r.CompleteCheck(ctx, e.head, policy.BrokenPolicy(name, e.policy.Describe()), "", details); err != nil {
				return err
			}
		}
		logger.Info().Str("policy", e.policy.Source).Msg("Policy file is invalid; checks fail with its errors")
		return nil
	}
	cfg := e.policy.Config

	for _, name := range e.checks {
		existing, err := r.CheckRun(ctx, e.head, name)
		if err != nil {
			return err
		}
		if existing == nil || existing.GetConclusion() == policy.Success {
			if err := r.StartCheck(ctx, e.head, name, details); err != nil {
				return err
			}
		}
	}

	results := map[string]policy.CheckResult{}
	if e.fork != "" {
		results[policy.CheckBase] = policy.EvaluateBase(policy.BaseFacts{Branch: e.branch, Head: e.head, ForkRepo: e.fork})
		return g.write(ctx, e, results, details)
	}

	prod, err := r.Production(ctx, cfg)
	if err != nil {
		return err
	}
	if e.wants(policy.CheckBase) {
		bf, err := r.BaseFacts(ctx, cfg, prod, e.branch, e.head)
		if err != nil {
			return err
		}
		results[policy.CheckBase] = policy.EvaluateBase(bf)
	}
	if e.wants(policy.CheckSchema) || e.wants(policy.CheckApproval) {
		sf, err := r.ChangedFiles(ctx, prod, e.head, e.prNumber())
		if err != nil {
			return err
		}
		verdict := cfg.ReadSchema(sf)
		// Without production nothing was compared: the schema gate says so,
		// and approvals do not pretend to know there is a schema change.
		flagged := verdict.Flagged && prod.Known
		var approval policy.ApprovalVerdict
		if e.pr != nil {
			if approval, err = g.approvals(ctx, e, flagged); err != nil {
				return err
			}
			if err := g.labelSchemaChange(ctx, e, flagged); err != nil {
				return err
			}
		}
		if e.wants(policy.CheckSchema) {
			results[policy.CheckSchema] = cfg.EvaluateSchema(sf, verdict, approval)
		}
		if e.wants(policy.CheckApproval) {
			results[policy.CheckApproval] = cfg.EvaluateApproval(approval)
		}
	}
	return g.write(ctx, e, results, details)
}

func (g *Gatekeeper) write(ctx context.Context, e evaluation, results map[string]policy.CheckResult, details string) error {
	for _, name := range e.checks {
		res, ok := results[name]
		if !ok {
			continue
		}
		if err := e.repo.CompleteCheck(ctx, e.head, res, "", details); err != nil {
			return err
		}
		zerolog.Ctx(ctx).Info().Str("check", name).Str("sha", policy.Short(e.head)).Str("conclusion", res.Conclusion).Msg(res.Title)
	}
	return nil
}

// approvals gathers the approval facts of the PR, removes approvals that a
// new push invalidated (reset_on_push), and judges the required labels.
func (g *Gatekeeper) approvals(ctx context.Context, e evaluation, schemaFlagged bool) (policy.ApprovalVerdict, error) {
	r, cfg, pr := e.repo, e.policy.Config, e.pr
	pushedAt, err := r.PushedAt(ctx, e.branch, e.head)
	if err != nil {
		return nil, err
	}
	history, err := r.LabelHistory(ctx, pr.GetNumber())
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, l := range pr.Labels {
		present[strings.ToLower(l.GetName())] = true
	}
	f := policy.ApprovalFacts{Author: pr.GetUser().GetLogin(), Head: e.head, HeadPushedAt: pushedAt, Labels: map[string]policy.LabelFact{}}
	for _, name := range append(append([]string{}, cfg.Approval.Labels...), cfg.Approval.SchemaLabels...) {
		key := strings.ToLower(name)
		fact := policy.LabelFact{Name: name, Present: present[key]}
		if ev, ok := history[key]; ok && fact.Present {
			fact.AddedBy, fact.AddedByBot, fact.AddedAt = ev.Actor, ev.Bot, ev.At
			if !ev.Bot {
				perm, err := r.Permission(ctx, ev.Actor)
				if err != nil {
					return nil, err
				}
				fact.Permission, fact.Role = perm.Level, perm.Role
			}
		}
		f.Labels[key] = fact
	}

	if e.resetApprovals {
		var removed []policy.LabelFact
		for _, s := range cfg.StaleApprovals(f) {
			ok, err := r.RemoveLabel(ctx, pr.GetNumber(), s.Name)
			if err != nil {
				return nil, err
			}
			fact := f.Labels[strings.ToLower(s.Name)]
			fact.Present = false
			f.Labels[strings.ToLower(s.Name)] = fact
			if ok {
				removed = append(removed, s)
			}
		}
		// Only the removal that happened here is announced, so a second
		// replica handling the same push stays silent.
		if len(removed) > 0 {
			if err := r.Comment(ctx, pr.GetNumber(), resetComment(e, removed, pushedAt)); err != nil {
				return nil, err
			}
		}
	}
	return cfg.Approve(f, cfg.RequiredLabels(schemaFlagged)), nil
}

func resetComment(e evaluation, stale []policy.LabelFact, pushedAt time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "🔁 **Approvals reset.** New commits were pushed to `%s` (now `%s`, at %s), so approvals given before the push no longer count. Removed:\n\n",
		e.branch, policy.Short(e.head), pushedAt.UTC().Format("15:04:05 UTC"))
	for _, s := range stale {
		fmt.Fprintf(&b, "- `%s` (added by @%s at %s)\n", s.Name, s.AddedBy, s.AddedAt.UTC().Format("15:04:05 UTC"))
	}
	b.WriteString("\n**Next:** a reviewer checks the new commits and adds the labels again. (`approval.reset_on_push` in `.github/hotfix-bot.yml`.)")
	return b.String()
}

// labelSchemaChange keeps the schema-change label in step with the gate.
func (g *Gatekeeper) labelSchemaChange(ctx context.Context, e evaluation, flagged bool) error {
	has := false
	for _, l := range e.pr.Labels {
		has = has || strings.EqualFold(l.GetName(), policy.LabelSchemaChange)
	}
	switch {
	case flagged && !has:
		return e.repo.AddLabels(ctx, e.pr.GetNumber(), policy.LabelSchemaChange)
	case !flagged && has:
		_, err := e.repo.RemoveLabel(ctx, e.pr.GetNumber(), policy.LabelSchemaChange)
		return err
	}
	return nil
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
func (g *Gatekeeper) RecheckOpenHotfixPRs(ctx context.Context, installationID int64, owner, name, defaultBranch string) error {
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
	var firstErr error
	for _, pr := range prs {
		e, ok := g.prEvaluation(r, pol, pr)
		if !ok {
			continue
		}
		if err := g.evaluate(ctx, e); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("re-check #%d: %w", pr.GetNumber(), err)
		}
	}
	return firstErr
}

// prEvaluation decides whether a pull request is a hotfix PR (open, from a
// hotfix branch, into the production branch) and which gates it gets.
// A fork's hotfix-like PR gets only the base gate, which fails and says why.
func (g *Gatekeeper) prEvaluation(r *facts.Repo, pol facts.Policy, pr *github.PullRequest) (evaluation, bool) {
	cfg := hotfixConfig(pol)
	head := pr.GetHead()
	if pr.GetState() != "open" || pr.GetBase().GetRef() != cfg.Branches.Production || !cfg.IsHotfixBranch(head.GetRef()) {
		return evaluation{}, false
	}
	e := evaluation{repo: r, policy: pol, branch: head.GetRef(), head: head.GetSHA(), pr: pr,
		checks: []string{policy.CheckBase, policy.CheckSchema, policy.CheckApproval}}
	if full := head.GetRepo().GetFullName(); full != r.FullName() {
		e.fork = full
		if full == "" {
			e.fork = "a deleted fork"
		}
		e.checks = []string{policy.CheckBase}
	}
	return e, true
}
