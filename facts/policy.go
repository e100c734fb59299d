package facts

import (
	"context"
	"fmt"
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
	// Source names the file the policy came from ("o/r@main:.github/hotfix-bot.yml"),
	// or says that defaults apply.
	Source string
	// Invalid holds the problems of a file that exists but does not parse
	// or validate. Config is then the defaults, and the handlers must fail
	// every check with these problems instead of using it.
	Invalid policy.Errors
}

// Broken reports whether the policy file exists but is invalid.
func (p Policy) Broken() bool { return len(p.Invalid) > 0 }

// Describe renders the problems of a broken policy for a check run
// summary: the file, then one line per problem with its line number.
func (p Policy) Describe() string {
	s := fmt.Sprintf("The hotfix-bot policy `%s` is invalid:\n\n", p.Source)
	for _, e := range p.Invalid {
		s += "- " + e.Error() + "\n"
	}
	return s + "\nFix the file on the default branch (check it locally with `hotfix-bot validate " + policy.ConfigPath + "`); the checks re-run on the next push or label change, or with \"Re-run\"."
}

// LoadPolicy reads the policy from the repository's default branch (so a
// pull request cannot weaken its own rules), falling back to the owner's
// `.github` repository, then to the defaults. A GitHub failure is returned
// as an error (retry later); an invalid file is not an error but a Policy
// with Invalid set (show it to users).
func LoadPolicy(ctx context.Context, client *github.Client, owner, repo, defaultBranch string) (Policy, error) {
	loader := appconfig.NewLoader(
		[]string{policy.ConfigPath},
		appconfig.WithOwnerDefault(".github", OwnerPolicyPaths),
		// No remote references: the file's schema is the whole contract.
		appconfig.WithRemoteRefParser(nil),
	)
	c, err := loader.LoadConfig(ctx, client, owner, repo, defaultBranch)
	if err != nil {
		return Policy{}, fmt.Errorf("load %s for %s/%s: %w", policy.ConfigPath, owner, repo, err)
	}
	if c.IsUndefined() {
		return Policy{Config: policy.Default(), Source: "defaults (no " + policy.ConfigPath + ")"}, nil
	}
	p := Policy{Source: c.Source + ":" + c.Path}
	cfg, err := policy.Parse(c.Content)
	if err != nil {
		p.Config = policy.Default()
		p.Invalid = policy.AsErrors(err)
		return p, nil
	}
	p.Config = cfg
	return p, nil
}

// PolicyCache remembers each repository's policy for a short while, so
// that events which cannot matter (a push to a feature branch) are skipped
// without asking GitHub, and a repository without a policy file does not
// cost two 404s (which GitHub does not let clients revalidate) per event.
// A push to the default branch that touches the policy file forgets the
// entry at once; other replicas see the change within the TTL.
type PolicyCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedPolicy
}

type cachedPolicy struct {
	policy  Policy
	fetched time.Time
}

// NewPolicyCache returns a cache whose entries live for ttl on the clock now.
func NewPolicyCache(ttl time.Duration, now func() time.Time) *PolicyCache {
	return &PolicyCache{ttl: ttl, now: now, entries: map[string]cachedPolicy{}}
}

// Cached returns a fresh cached policy for "owner/name", if any.
func (c *PolicyCache) Cached(fullName string) (Policy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[fullName]
	if !ok || c.now().Sub(e.fetched) >= c.ttl {
		return Policy{}, false
	}
	return e.policy, true
}

// Load returns the cached policy, or loads it from GitHub.
func (c *PolicyCache) Load(ctx context.Context, client *github.Client, owner, repo, defaultBranch string) (Policy, error) {
	full := owner + "/" + repo
	if p, ok := c.Cached(full); ok {
		return p, nil
	}
	p, err := LoadPolicy(ctx, client, owner, repo, defaultBranch)
	if err != nil {
		return p, err
	}
	c.mu.Lock()
	c.entries[full] = cachedPolicy{policy: p, fetched: c.now()}
	c.mu.Unlock()
	return p, nil
}

// Forget drops one repository's entry.
func (c *PolicyCache) Forget(fullName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, fullName)
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
// cache).
func (r *Repo) Policy(ctx context.Context, cache *PolicyCache) (Policy, error) {
	if cache == nil {
		return LoadPolicy(ctx, r.client, r.Owner, r.Name, r.DefaultBranch)
	}
	return cache.Load(ctx, r.client, r.Owner, r.Name, r.DefaultBranch)
}
