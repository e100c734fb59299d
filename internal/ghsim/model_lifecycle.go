package ghsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// repoLifecycle is what the simulator models of a deployment's life
// beyond plain records: the deployments listing's lag, a CD system that
// reports at once, branch protection on merges.
type repoLifecycle struct {
	// listLag hides deployments younger than it from listings (GitHub's
	// listings are eventually consistent); reading one by id sees it.
	listLag time.Duration
	// onCreate runs (in its own goroutine) when the app creates a
	// deployment: a CD system that reports within a second.
	onCreate func(id int64)
	// protected are branches whose merges GitHub refuses unless their
	// rules are met or the app may bypass them.
	protected map[string]Protection
	// signed are the commits an app created through the API: GitHub signs
	// them, and shows them verified.
	signed map[string]bool
}

// signLocked records that GitHub signed a commit an app created.
func (r *Repo) signLocked(sha string) {
	if r.lifecycle.signed == nil {
		r.lifecycle.signed = map[string]bool{}
	}
	r.lifecycle.signed[sha] = true
}

// verificationJSON is a commit's signature verification as GitHub shows
// it: the commits apps create through the API are signed by GitHub;
// others are unsigned.
func (r *Repo) verificationJSON(sha string) obj {
	if r.lifecycle.signed[sha] {
		return obj{"verified": true, "reason": "valid", "signature": "-----BEGIN PGP SIGNATURE-----\n(simulated)\n-----END PGP SIGNATURE-----",
			"payload": "tree " + sha, "verified_at": nil}
	}
	return obj{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil}
}

// Protection is a branch's protection (a ruleset or classic branch
// protection) as a merge through the API meets it.
type Protection struct {
	// RequiredReviews is how many approving reviews a pull request needs;
	// the simulator models no reviews, so any number above 0 refuses.
	RequiredReviews int
	// RequiredChecks must each be a successful check run or commit status
	// on the head.
	RequiredChecks []string
	// Bypass lists the app slugs allowed past the rules (a ruleset's
	// bypass list).
	Bypass []string
}

// SetDeploymentListLag makes the deployments listing eventually
// consistent: a deployment shows there only once it is older than lag
// (simulated time); GET /deployments/{id} sees it at once.
func (r *Repo) SetDeploymentListLag(lag time.Duration) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.lifecycle.listLag = lag
}

// OnDeploymentCreated runs f, in its own goroutine and while the app's
// request is still being answered, each time the app creates a
// deployment: a CD system that reports within a second.
func (r *Repo) OnDeploymentCreated(f func(id int64)) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.lifecycle.onCreate = f
}

// Protect protects a branch (a branch protection rule or a ruleset): GET
// /branches/{branch} says `protected: true`, and merges through the API
// are refused (405, with GitHub's message) unless p's rules are met or the
// app is on its bypass list. A zero Protection only marks it protected.
func (r *Repo) Protect(branch string, p Protection) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	if r.lifecycle.protected == nil {
		r.lifecycle.protected = map[string]Protection{}
	}
	r.lifecycle.protected[branch] = p
}

// isProtected reports whether a branch protection rule or a ruleset
// covers a branch (GET /branches/{branch} says `protected`).
func (r *Repo) isProtected(branch string) bool {
	_, ok := r.lifecycle.protected[branch]
	return ok
}

// listedLocked reports whether a deployment shows in listings yet.
func (r *Repo) listedLocked(d *Deployment) bool {
	return r.lifecycle.listLag == 0 || !d.CreatedAt.After(r.sim.clock.Now().Add(-r.lifecycle.listLag))
}

// deployedLocked runs the on-create hook for a deployment the app made.
func (r *Repo) deployedLocked(d *Deployment) {
	if f := r.lifecycle.onCreate; f != nil {
		go f(d.ID)
	}
}

// refuseProtectedMerge is GitHub refusing a merge into a protected branch:
// 405 and the rule's message.
func (r *Repo) refuseProtectedMerge(c *call, base, head string) (int, any, bool) {
	p, ok := r.lifecycle.protected[base]
	if !ok || (c.app != nil && slices.Contains(p.Bypass, c.app.Slug)) {
		return 0, nil, false
	}
	if p.RequiredReviews > 0 {
		st, body := fail(http.StatusMethodNotAllowed, fmt.Sprintf("At least %d approving review is required by reviewers with write access.", p.RequiredReviews))
		return st, body, true
	}
	for _, name := range p.RequiredChecks {
		state := ""
		for _, cr := range r.checkRuns {
			if cr.HeadSHA == head && cr.Name == name {
				state = cr.Conclusion
			}
		}
		for _, st := range r.statuses {
			if st.SHA == head && st.Context == name {
				state = st.State
			}
		}
		if state != "success" {
			st, body := fail(http.StatusMethodNotAllowed, fmt.Sprintf("Required status check %q is expected.", name))
			return st, body, true
		}
	}
	return 0, nil, false
}

// ForgeRef points ref at a new commit with an empty tree whose author and
// committer are who (any name, as git lets anyone write), on top of the
// ref's current commit: what a person with write access can push to a ref
// outside branches and tags. It sends no webhook (GitHub sends none for
// such refs).
func (r *Repo) ForgeRef(ref, message string, who Identity) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if !strings.HasPrefix(ref, "refs/") {
		return "", s.errorf("ForgeRef: %q is not a full ref", ref)
	}
	var parents []string
	if cur, _, err := r.git.objectName(ref); err == nil {
		parents = []string{cur}
	}
	who.When = s.clock.tick()
	sha, err := r.git.commitTree(emptyTree, parents, message, who, who)
	if err != nil {
		return "", err
	}
	return sha, r.git.updateRef(ref, sha)
}

// mergeableState is a pull request's mergeable_state as GitHub computes
// it: dirty (conflicts), draft, blocked (the base's protection wants a
// review, or a required check that is not successful), unstable (another
// check or status failing or still running: merging is allowed), or
// clean.
func (r *Repo) mergeableState(pr *PullRequest, conflicts bool) string {
	switch {
	case conflicts:
		return "dirty"
	case pr.Draft:
		return "draft"
	}
	latest := map[string]string{} // check name or status context → state
	for _, cr := range r.checkRuns {
		if cr.HeadSHA == pr.HeadSHA {
			state := cr.Conclusion
			if cr.Status != "completed" {
				state = "pending"
			}
			latest[cr.Name] = state
		}
	}
	for _, st := range r.statuses {
		if st.SHA == pr.HeadSHA {
			latest[st.Context] = st.State
		}
	}
	if p, ok := r.lifecycle.protected[pr.BaseRef]; ok {
		if p.RequiredReviews > 0 {
			return "blocked"
		}
		for _, name := range p.RequiredChecks {
			if latest[name] != "success" {
				return "blocked"
			}
		}
	}
	for _, state := range latest {
		switch state {
		case "success", "neutral", "skipped":
		default:
			return "unstable"
		}
	}
	return "clean"
}
