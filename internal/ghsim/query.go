package ghsim

import (
	"sort"
	"strings"
)

// Read-only views of simulator state, for assertions. They return copies.

// Branch returns the commit a branch points at, or "".
func (r *Repo) Branch(name string) string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	sha, _ := r.git.revParse(r.branchRef(name))
	return sha
}

// TagCommit returns the commit a tag points at (peeled), or "".
func (r *Repo) TagCommit(name string) string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	sha, _ := r.git.revParse("refs/tags/" + name)
	return sha
}

// Tags lists tag names.
func (r *Repo) Tags() []string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	refs, _ := r.git.refs("refs/tags/")
	var names []string
	for _, ref := range refs {
		names = append(names, strings.TrimPrefix(ref.Name, "refs/tags/"))
	}
	return names
}

// Branches lists branch names.
func (r *Repo) Branches() []string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	refs, _ := r.git.refs(r.refPrefix + "refs/heads/")
	var names []string
	for _, ref := range refs {
		names = append(names, strings.TrimPrefix(ref.Name, r.refPrefix+"refs/heads/"))
	}
	return names
}

// CheckRuns lists the check runs on a commit, oldest first.
func (r *Repo) CheckRuns(sha string) []CheckRun {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	var out []CheckRun
	for _, cr := range r.checkRuns {
		if cr.HeadSHA == sha {
			cp := *cr
			cp.Annotations = append([]Annotation(nil), cr.Annotations...)
			out = append(out, cp)
		}
	}
	return out
}

// CheckRun returns the newest check run with this name on a commit.
func (r *Repo) CheckRun(sha, name string) (CheckRun, bool) {
	runs := r.CheckRuns(sha)
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Name == name {
			return runs[i], true
		}
	}
	return CheckRun{}, false
}

// Labels lists the labels on an issue or pull request.
func (r *Repo) Labels(number int) []string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil {
		return nil
	}
	var names []string
	for _, l := range is.Labels {
		names = append(names, l.Name)
	}
	sort.Strings(names)
	return names
}

// RepoLabels lists the repository's labels.
func (r *Repo) RepoLabels() []Label {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	var out []Label
	for _, l := range r.labels {
		out = append(out, *l)
	}
	return out
}

// Comments lists an issue's comments, oldest first.
func (r *Repo) Comments(number int) []Comment {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil {
		return nil
	}
	var out []Comment
	for _, c := range is.Comments {
		cp := *c
		cp.Reactions = append([]*Reaction(nil), c.Reactions...)
		out = append(out, cp)
	}
	return out
}

// Events lists an issue's event log.
func (r *Repo) Events(number int) []IssueEvent {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil {
		return nil
	}
	var out []IssueEvent
	for _, e := range is.Events {
		out = append(out, *e)
	}
	return out
}

// PR returns a pull request (or issue) by number.
func (r *Repo) PR(number int) (Issue, bool) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil {
		return Issue{}, false
	}
	cp := *is
	if is.PR != nil {
		pr := *is.PR
		cp.PR = &pr
	}
	return cp, true
}

// Issues lists every issue and pull request.
func (r *Repo) Issues() []Issue {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	var out []Issue
	for _, is := range r.issues {
		cp := *is
		out = append(out, cp)
	}
	return out
}

// Deployments lists deployments, oldest first.
func (r *Repo) Deployments() []Deployment {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	var out []Deployment
	for _, d := range r.deployments {
		cp := *d
		cp.Statuses = append([]*DeploymentStatus(nil), d.Statuses...)
		out = append(out, cp)
	}
	return out
}

// Statuses lists the commit statuses on a sha.
func (r *Repo) Statuses(sha string) []Status {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	var out []Status
	for _, st := range r.statuses {
		if st.SHA == sha {
			out = append(out, *st)
		}
	}
	return out
}

// Calls lists every API call answered so far.
func (s *Sim) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ResetCalls forgets the calls so far (to measure one step).
func (s *Sim) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Violations lists the requests GitHub's description rejects.
func (s *Sim) Violations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Violation(nil), s.violations...)
}

// Refs lists the refs under a prefix ("refs/hotfix-bot/").
func (r *Repo) Refs(prefix string) []string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	refs, _ := r.git.refs(r.refPrefix + prefix)
	var names []string
	for _, ref := range refs {
		names = append(names, strings.TrimPrefix(ref.Name, r.refPrefix))
	}
	return names
}

// Ref returns what a ref (refs/...) points at, unpeeled, or "".
func (r *Repo) Ref(name string) string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	sha, _, err := r.git.objectName(name)
	if err != nil {
		return ""
	}
	return sha
}

// CommitMessage returns a commit's message, or "".
func (r *Repo) CommitMessage(sha string) string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	infos, err := r.git.commits(sha)
	if err != nil || len(infos) != 1 {
		return ""
	}
	return infos[0].Message
}

// Tokens lists the installation tokens handed out so far (to check that
// none leaks).
func (s *Sim) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for v := range s.tokens {
		out = append(out, v)
	}
	return out
}

// Diff lists the files that differ between two commits (by git).
func (r *Repo) Diff(from, to string) []string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	files, err := r.git.diff(from, to)
	if err != nil {
		return []string{"(git diff failed: " + err.Error() + ")"}
	}
	var out []string
	for _, f := range files {
		out = append(out, f.Filename)
	}
	return out
}
