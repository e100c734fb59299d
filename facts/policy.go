package facts

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/appconfig"
)

// OwnerPolicyPaths are where the owner's `.github` repository may hold a
// policy shared by all of the owner's repositories.
var OwnerPolicyPaths = []string{"hotfix-bot.yml", policy.ConfigPath}

// Policy is a repository's policy as found on GitHub.
type Policy struct {
	Config policy.Config
	// Source names the file the policy came from
	// ("o/r@<commit>:.github/hotfix-bot.yml"), or says that defaults apply.
	Source string
	// Branch and Commit are the branch whose policy it is (the
	// production branch) and the commit of it that was read; "" when it
	// was not read from a branch (a broken hint).
	Branch, Commit string
	// Invalid holds the problems of a file that exists but does not parse
	// or validate. Config is then the defaults, and the handlers must fail
	// every check with these problems instead of using it.
	Invalid policy.Errors
	// Shared: the file is the owner's, from its `.github` repository.
	Shared bool
	// Untrusted says why no policy could be trusted (the production
	// branch the policy names is not protected, or the files disagree on
	// which branch is production). Config is then the defaults, and the
	// handlers fail every check with it, as with Invalid.
	Untrusted string
}

// Broken reports whether the policy cannot be used: the file is invalid,
// or no policy could be trusted.
func (p Policy) Broken() bool { return len(p.Invalid) > 0 || p.Untrusted != "" }

// Title is what a check says when the policy is broken.
func (p Policy) Title() string {
	if p.Untrusted != "" {
		return "The hotfix-bot policy cannot be trusted"
	}
	return "The hotfix-bot policy file is invalid"
}

// Describe renders the problems of a broken policy for a check run
// summary: the file, then one line per problem with its line number.
func (p Policy) Describe() string {
	if p.Untrusted != "" {
		return "hotfix-bot reads its policy (`" + policy.ConfigPath + "`) from the production branch, and will not use one it cannot trust:\n\n> " + p.Untrusted +
			"\n\nUntil this is fixed every check fails and `/promote` refuses; the checks re-run on the next push or label change, or with \"Re-run\"."
	}
	s := fmt.Sprintf("The hotfix-bot policy `%s` is invalid:\n\n", p.Source)
	for _, e := range p.Invalid {
		s += "- " + e.Error() + "\n"
	}
	where := "on the production branch"
	if p.Branch != "" {
		where = "on `" + p.Branch + "`"
	}
	return s + "\nFix the file " + where + " (check it locally with `hotfix-bot validate " + policy.ConfigPath + "`); the checks re-run on the next push or label change, or with \"Re-run\"."
}

// Origin says, for people, which commit of which branch's policy decided:
// "`.github/hotfix-bot.yml` on `main` at `abc1234`".
func (p Policy) Origin() string {
	at := ""
	if p.Commit != "" {
		at = " at `" + shortSHA(p.Commit) + "`"
	}
	switch {
	case p.Branch == "":
		return p.Source
	case strings.HasPrefix(p.Source, "defaults"):
		return fmt.Sprintf("the defaults (`%s`%s has no `%s`)", p.Branch, at, policy.ConfigPath)
	case p.Shared:
		return fmt.Sprintf("`%s` (the owner's shared policy, as `%s`%s has no `%s`)", p.Source, p.Branch, at, policy.ConfigPath)
	}
	return fmt.Sprintf("`%s` on `%s`%s", policy.ConfigPath, p.Branch, at)
}

// loadFile reads the policy file at a ref of the repository, falling back
// to the owner's `.github` repository, then to the defaults. An invalid
// file is not an error but a Policy with Invalid set.
func loadFile(ctx context.Context, client *github.Client, owner, repo, ref string) (Policy, error) {
	loader := appconfig.NewLoader(
		[]string{policy.ConfigPath},
		appconfig.WithOwnerDefault(".github", OwnerPolicyPaths),
		// No remote references: the file's schema is the whole contract.
		appconfig.WithRemoteRefParser(nil),
	)
	c, err := loader.LoadConfig(ctx, client, owner, repo, ref)
	if err != nil {
		return Policy{}, fmt.Errorf("load %s for %s/%s: %w", policy.ConfigPath, owner, repo, err)
	}
	if c.IsUndefined() {
		return Policy{Config: policy.Default(), Source: "defaults (no " + policy.ConfigPath + ")"}, nil
	}
	p := Policy{Source: c.Source + ":" + c.Path, Shared: !strings.HasPrefix(c.Source, owner+"/"+repo+"@")}
	cfg, err := policy.Parse(c.Content)
	if err != nil {
		p.Config = policy.Default()
		p.Invalid = policy.AsErrors(err)
		return p, nil
	}
	p.Config = cfg
	return p, nil
}

// branchPolicy is the policy file as of one branch's tip, and whether
// GitHub reports the branch protected.
type branchPolicy struct {
	Policy
	exists, protected bool
}

func readBranchPolicy(ctx context.Context, client *github.Client, owner, repo, branch string) (branchPolicy, error) {
	b, resp, err := client.Repositories.GetBranch(ctx, owner, repo, branch, 0)
	// go-github reports this call's failures as plain errors: the
	// response tells a missing branch apart.
	if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
		if resp != nil && resp.StatusCode >= 500 {
			return branchPolicy{}, &Error{Op: "read the branch " + branch, Kind: Transient, Status: resp.StatusCode, Err: err}
		}
		return branchPolicy{}, wrap("read the branch "+branch, err)
	}
	if err != nil {
		b = nil
	}
	bp := branchPolicy{exists: b.GetCommit().GetSHA() != "", protected: b.GetProtected()}
	ref := b.GetCommit().GetSHA()
	if ref == "" {
		ref = branch // does not exist: the file cannot be there either
	}
	p, err := loadFile(ctx, client, owner, repo, ref)
	if err != nil {
		return branchPolicy{}, err
	}
	p.Branch, p.Commit = branch, b.GetCommit().GetSHA()
	bp.Policy = p
	return bp, nil
}

// anyProtected reports whether the repository protects any branch (by
// branch protection or a ruleset).
func anyProtected(ctx context.Context, client *github.Client, owner, repo string) (bool, error) {
	list, _, err := client.Repositories.ListBranches(ctx, owner, repo, &github.BranchListOptions{Protected: github.Bool(true), ListOptions: github.ListOptions{PerPage: 1}})
	if err != nil {
		return false, wrap("list the protected branches", err)
	}
	return len(list) > 0, nil
}

// LoadPolicy resolves the repository's policy. It is read from the
// production branch (the base of every hotfix pull request), never from
// the default branch, which in git-flow is often a less protected
// `develop`. The production branch's name is itself in the policy, so:
//
//  1. the candidate is the pull request's base, when the event has one
//     (base != ""); then the `branches.production` that the default
//     branch's file names (a hint only; `main` without one);
//  2. the file is read at the candidate's tip (with the owner's `.github`
//     repository and the defaults as fallbacks), and counts only if it
//     names that same branch as `branches.production`;
//  3. and only if GitHub reports that branch protected, or the repository
//     protects no branch at all (then anyone who may push may change the
//     production branch itself). A candidate that fails is skipped (a
//     pull request into another branch is simply not a hotfix); when the
//     hint fails too, the policy is Untrusted: every check fails, saying
//     why.
//
// A GitHub failure is returned as an error (retry later).
func LoadPolicy(ctx context.Context, client *github.Client, owner, repo, defaultBranch, base string) (Policy, error) {
	read := map[string]branchPolicy{}
	readAt := func(branch string) (branchPolicy, error) {
		if bp, ok := read[branch]; ok {
			return bp, nil
		}
		bp, err := readBranchPolicy(ctx, client, owner, repo, branch)
		if err == nil {
			read[branch] = bp
		}
		return bp, err
	}
	var protectsAny *bool
	trusted := func(bp branchPolicy) (bool, error) {
		if bp.protected {
			return true, nil
		}
		if protectsAny == nil {
			any, err := anyProtected(ctx, client, owner, repo)
			if err != nil {
				return false, err
			}
			protectsAny = &any
		}
		return !*protectsAny, nil
	}
	// names reports whether a branch's own file names it production (an
	// invalid file names nothing; it is shown as it is).
	names := func(bp branchPolicy, branch string) bool {
		return !bp.Broken() && bp.Config.Branches.Production == branch
	}

	if base != "" {
		bp, err := readAt(base)
		if err != nil {
			return Policy{}, err
		}
		if names(bp, base) {
			ok, err := trusted(bp)
			if err != nil {
				return Policy{}, err
			}
			if ok {
				return bp.Policy, nil
			}
		}
	}

	hintFrom, err := readAt(defaultBranch)
	if err != nil {
		return Policy{}, err
	}
	hint, hintWhy := policy.Default().Branches.Production, "the default"
	if !hintFrom.Broken() {
		hint = hintFrom.Config.Branches.Production
		hintWhy = fmt.Sprintf("`%s` on the default branch `%s`", policy.ConfigPath, defaultBranch)
		switch {
		case strings.HasPrefix(hintFrom.Source, "defaults"):
			hintWhy = fmt.Sprintf("the default (the default branch `%s` has no `%s`)", defaultBranch, policy.ConfigPath)
		case hintFrom.Shared:
			hintWhy = fmt.Sprintf("the owner's shared policy `%s` (the default branch `%s` has no `%s`)", hintFrom.Source, defaultBranch, policy.ConfigPath)
		}
	}
	bp, err := readAt(hint)
	if err != nil {
		return Policy{}, err
	}
	switch {
	case bp.Broken():
		return bp.Policy, nil // an invalid file on production: shown as it is
	case !names(bp, hint):
		return Policy{Config: policy.Default(), Source: bp.Source, Untrusted: fmt.Sprintf(
			"%s names `%s` as the production branch (`branches.production`), but the policy on `%s`%s names `%s`. "+
				"The policy is read from the production branch and counts only when it names that branch: make the two agree, then re-run.",
			capitalize(hintWhy), hint, hint, atCommit(bp.Commit), bp.Config.Branches.Production)}, nil
	}
	ok, err := trusted(bp)
	if err != nil {
		return Policy{}, err
	}
	if !ok {
		what := "is not protected"
		if !bp.exists {
			what = "does not exist"
		}
		return Policy{Config: policy.Default(), Source: bp.Source, Untrusted: fmt.Sprintf(
			"The production branch `%s` (named by %s) %s, while this repository protects other branches, so anyone who can push to it could rewrite the rules the bot enforces. "+
				"Protect `%s` (branch protection or a ruleset), or set `branches.production` to your protected production branch, on it and on the default branch; then re-run.",
			hint, hintWhy, what, hint)}, nil
	}
	return bp.Policy, nil
}

func atCommit(sha string) string {
	if sha == "" {
		return ""
	}
	return " (at `" + shortSHA(sha) + "`)"
}

func capitalize(s string) string {
	if s == "" || s[0] == '`' {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// PolicyCache remembers each repository's policy for a short while, so
// that events which cannot matter (a push to a feature branch) are skipped
// without asking GitHub, and a repository without a policy file does not
// cost two 404s (which GitHub does not let clients revalidate) per event.
// Entries are kept per candidate production branch (a pull request's
// base, or "" for the default branch's hint), since the resolution starts
// there. A push that touches the policy file forgets the repository's
// entries at once; other replicas' handlers see the change within the
// TTL, their doors within the TTL and DoorStale (ForDoor).
type PolicyCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedPolicy
}

type cachedPolicy struct {
	policy  Policy
	fetched time.Time
	// refreshing: when a delivery was last queued to read the expired
	// policy again (ForDoor).
	refreshing time.Time
}

const (
	// DoorStale bounds how long past its TTL the door judges deliveries
	// with a policy while an event reads it again (ForDoor).
	DoorStale = time.Minute
	// refreshLapse: a re-read claimed that long ago without a new entry
	// (the event failed, or it never needed the policy) is claimed again.
	refreshLapse = 30 * time.Second
)

// NewPolicyCache returns a cache whose entries live for ttl on the clock now.
func NewPolicyCache(ttl time.Duration, now func() time.Time) *PolicyCache {
	return &PolicyCache{ttl: ttl, now: now, entries: map[string]cachedPolicy{}}
}

func cacheKey(fullName, base string) string { return fullName + "\x00" + base }

// Cached returns a fresh cached policy for "owner/name", resolved from the
// default branch's hint, if any.
func (c *PolicyCache) Cached(fullName string) (Policy, bool) { return c.CachedFor(fullName, "") }

// CachedFor returns a fresh cached policy for "owner/name" resolved for a
// pull request into base, if any.
func (c *PolicyCache) CachedFor(fullName, base string) (Policy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cacheKey(fullName, base)]
	if !ok || c.now().Sub(e.fetched) >= c.ttl {
		return Policy{}, false
	}
	return e.policy, true
}

// ForDoor is CachedFor for the door, which must not make one expired
// entry cost a queued event per delivery: a busy installation's
// deliveries would otherwise all wait in the queue, every TTL, for the
// policy to be read again. Past its TTL, the first delivery that asks
// is told there is none (it is queued, and its handler reads the policy
// again, fresh); the others are judged with the expired policy while that
// read is under way, for at most DoorStale past the TTL. A push that
// touches a policy file forgets the entry at once, stale or not.
func (c *PolicyCache) ForDoor(fullName, base string) (Policy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey(fullName, base)
	e, ok := c.entries[k]
	if !ok {
		return Policy{}, false
	}
	now := c.now()
	switch age := now.Sub(e.fetched); {
	case age < c.ttl:
		return e.policy, true
	case age >= c.ttl+DoorStale:
		return Policy{}, false
	case e.refreshing.IsZero() || now.Sub(e.refreshing) >= refreshLapse:
		e.refreshing = now
		c.entries[k] = e
		return Policy{}, false
	}
	return e.policy, true
}

// Load returns the cached policy, or loads it from GitHub (base: the pull
// request's base, "" for none).
func (c *PolicyCache) Load(ctx context.Context, client *github.Client, owner, repo, defaultBranch, base string) (Policy, error) {
	full := owner + "/" + repo
	if p, ok := c.CachedFor(full, base); ok {
		return p, nil
	}
	p, err := LoadPolicy(ctx, client, owner, repo, defaultBranch, base)
	if err != nil {
		return p, err
	}
	c.mu.Lock()
	c.entries[cacheKey(full, base)] = cachedPolicy{policy: p, fetched: c.now()}
	c.mu.Unlock()
	return p, nil
}

// Forget drops one repository's entries.
func (c *PolicyCache) Forget(fullName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if strings.HasPrefix(k, fullName+"\x00") {
			delete(c.entries, k)
		}
	}
}

// ForgetOwner drops every entry of an owner (its .github repository
// changed).
func (c *PolicyCache) ForgetOwner(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if strings.HasPrefix(k, owner+"/") {
			delete(c.entries, k)
		}
	}
}

// Policy returns the repository's policy through the cache (nil: no
// cache), resolved from the default branch's hint.
func (r *Repo) Policy(ctx context.Context, cache *PolicyCache) (Policy, error) {
	return r.PolicyFor(ctx, cache, "")
}

// PolicyFor returns the repository's policy through the cache (nil: no
// cache) for an event about a pull request into base ("" for none).
func (r *Repo) PolicyFor(ctx context.Context, cache *PolicyCache, base string) (Policy, error) {
	if cache == nil {
		return LoadPolicy(ctx, r.client, r.Owner, r.Name, r.DefaultBranch, base)
	}
	return cache.Load(ctx, r.client, r.Owner, r.Name, r.DefaultBranch, base)
}
