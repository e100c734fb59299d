package ghsim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Repo is a repository: a bare git repository plus GitHub's records about
// it (labels, issues and pull requests, check runs, deployments...).
type Repo struct {
	sim           *Sim
	ID            int64
	Owner         *User
	Name          string
	DefaultBranch string
	Private       bool
	CreatedAt     time.Time

	git *gitRepo
	// A fork shares its parent's git repository (like GitHub's network);
	// its branches live under refPrefix.
	forkOf    *Repo
	refPrefix string

	roles       map[string]string // login → role name
	customRoles map[string]string // custom role → legacy permission
	labels      []*Label
	issues      []*Issue // number-1
	comments    map[int64]*Comment
	checkRuns   []*CheckRun
	statuses    []*Status
	deployments []*Deployment
	activities  []*Activity
	// activityLag hides activity entries younger than it; activityOff
	// makes the activity log answer 404.
	activityLag time.Duration
	activityOff bool
	// mergeableDelay is how many reads of a pull request answer
	// `mergeable: null` after its head or base moved.
	mergeableDelay int
	lifecycle      repoLifecycle
	// checkSuites are the check suites of every app on every commit.
	checkSuites []*CheckSuite
	// ci reports checks on every commit pushed to a branch (nil: none).
	ci      *CI
	actions repoActions
}

// SetDefaultBranch makes branch the repository's default branch (a
// git-flow team often makes it develop).
func (r *Repo) SetDefaultBranch(branch string) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.DefaultBranch = branch
}

// SetMergeableDelay sets how many reads of a pull request say mergeable is
// not computed yet (null) after its head or base moved (default 1).
func (r *Repo) SetMergeableDelay(reads int) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.mergeableDelay = reads
}

// SetActivityLag makes the activity log eventually consistent: an entry
// shows only once it is older than lag (simulated time), as GitHub's log
// can lag the push's webhook.
func (r *Repo) SetActivityLag(lag time.Duration) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.activityLag = lag
}

// DisableActivity makes GET /activity answer 404, as GitHub Enterprise
// Server versions without the activity log do.
func (r *Repo) DisableActivity() {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.activityOff = true
}

// FullName is "owner/name".
func (r *Repo) FullName() string { return r.Owner.Login + "/" + r.Name }

// Label is a repository label.
type Label struct {
	ID          int64
	Name        string
	Color       string
	Description string
}

// Issue is an issue or a pull request (PR is set for pull requests).
type Issue struct {
	Number    int
	Title     string
	Body      string
	User      *User
	State     string // open, closed
	Labels    []*Label
	Assignees []*User
	Events    []*IssueEvent
	Comments  []*Comment
	CreatedAt time.Time
	UpdatedAt time.Time
	ClosedAt  time.Time
	PR        *PullRequest
}

// PullRequest is the pull-request side of an Issue.
type PullRequest struct {
	HeadRepo       *Repo
	HeadRef        string
	HeadSHA        string
	BaseRef        string
	Draft          bool
	Merged         bool
	MergedAt       time.Time
	MergedBy       *User
	MergeCommitSHA string
	Reviewers      []*User

	// mergeKey is the base...head pair mergeability was asked for, and
	// mergeReads how many reads of it answered "not computed yet".
	mergeKey   string
	mergeReads int
}

// IssueEvent is an entry of an issue's event log (labeled, unlabeled,
// closed, merged...).
type IssueEvent struct {
	ID        int64
	Actor     *User
	Event     string
	CreatedAt time.Time
	Label     *Label
	CommitID  string
	App       *App
}

// Comment is an issue or pull request comment.
type Comment struct {
	ID        int64
	Issue     *Issue
	User      *User
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time
	Reactions []*Reaction
	App       *App
}

// Reaction is an emoji reaction to a comment.
type Reaction struct {
	ID        int64
	User      *User
	Content   string
	CreatedAt time.Time
}

// CheckRun is a check run created by an app.
type CheckRun struct {
	ID          int64
	HeadSHA     string
	Name        string
	Status      string
	Conclusion  string
	StartedAt   time.Time
	CompletedAt time.Time
	Title       string
	Summary     string
	Text        string
	Annotations []Annotation
	ExternalID  string
	DetailsURL  string
	App         *App
	SuiteID     int64
	// Updates counts PATCHes, to show re-delivery updated rather than added.
	Updates int
}

// Annotation is a check run annotation.
type Annotation struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
	Title           string `json:"title,omitempty"`
}

// Status is a commit status.
type Status struct {
	ID          int64
	SHA         string
	State       string
	Context     string
	Description string
	TargetURL   string
	Creator     *User
	CreatedAt   time.Time
}

// Deployment is a GitHub deployment.
type Deployment struct {
	ID          int64
	SHA         string
	Ref         string
	Task        string
	Environment string
	Description string
	Payload     json.RawMessage
	Creator     *User
	CreatedAt   time.Time
	Statuses    []*DeploymentStatus // oldest first
	Production  bool
	Transient   bool
	App         *App // the app that created it, if one did
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	Environment    string
	LogURL         string
	EnvironmentURL string
	Creator        *User
	CreatedAt      time.Time
}

// Activity is a repository activity entry (a push, a branch creation...).
type Activity struct {
	ID        int64
	Before    string
	After     string
	Ref       string
	Timestamp time.Time
	Type      string // push, force_push, branch_creation, branch_deletion, pr_merge
	Actor     *User
}

// CreateRepo creates a private repository with an empty default branch
// "main" (the first Push creates it).
func (s *Sim) CreateRepo(owner, name string) (*Repo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := owner + "/" + name
	if _, ok := s.repos[key]; ok {
		return nil, s.errorf("repository %s exists", key)
	}
	dir := filepath.Join(s.dir, owner, name+".git")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g, err := newGitRepo(dir)
	if err != nil {
		return nil, err
	}
	r := &Repo{
		sim: s, ID: s.newID(), Owner: s.userLocked(owner, "User"), Name: name,
		DefaultBranch: "main", Private: true, CreatedAt: s.clock.Now(),
		git: g, roles: map[string]string{owner: "admin"}, customRoles: map[string]string{},
		comments: map[int64]*Comment{}, mergeableDelay: 1,
	}
	for _, l := range []struct{ name, color, desc string }{
		{"bug", "d73a4a", "Something isn't working"},
		{"documentation", "0075ca", "Improvements or additions to documentation"},
	} {
		r.labels = append(r.labels, &Label{ID: s.newID(), Name: l.name, Color: l.color, Description: l.desc})
	}
	s.repos[key] = r
	return r, nil
}

// Fork creates owner's fork of parent. It shares parent's git objects, as
// forks do on GitHub, so pull requests from it can be compared.
func (s *Sim) Fork(parent *Repo, owner string) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &Repo{
		sim: s, ID: s.newID(), Owner: s.userLocked(owner, "User"), Name: parent.Name,
		DefaultBranch: parent.DefaultBranch, Private: parent.Private, CreatedAt: s.clock.Now(),
		git: parent.git, forkOf: parent, refPrefix: "refs/forks/" + owner + "/",
		roles: map[string]string{owner: "admin"}, customRoles: map[string]string{}, comments: map[int64]*Comment{},
	}
	refs, _ := parent.git.refs("refs/heads/")
	for _, ref := range refs {
		_ = parent.git.updateRef(f.refPrefix+ref.Name, ref.Object)
	}
	s.repos[f.FullName()] = f
	return f
}

// branchRef is the git ref holding a branch of r.
func (r *Repo) branchRef(branch string) string { return r.refPrefix + "refs/heads/" + branch }

// SetRole gives a user a repository role: read, triage, write, maintain,
// admin, or a custom role defined with DefineCustomRole.
func (r *Repo) SetRole(login, role string) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.sim.userLocked(login, "User")
	r.roles[login] = role
}

// DefineCustomRole defines an organisation custom role whose legacy
// permission (what GitHub reports in `permission`) is base.
func (r *Repo) DefineCustomRole(name, base string) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.customRoles[name] = base
}

// Files maps paths to new contents; Push with Deletions to remove files.
type Files map[string]string

// Push commits files onto branch as actor and pushes it: the branch moves,
// a push webhook and an activity entry are recorded, and pull requests
// whose head is the branch get `synchronize`. Pushing to a branch that does
// not exist creates it from the default branch (or as the first commit of
// an empty repository).
func (r *Repo) Push(actor *User, branch, message string, files Files) (string, error) {
	change := map[string]File{}
	for p, c := range files {
		change[p] = File{Content: c}
	}
	return r.PushChange(actor, branch, message, change)
}

// PushChange is Push with deletions (File.Delete).
func (r *Repo) PushChange(actor *User, branch, message string, change map[string]File) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := r.git.revParse(r.branchRef(branch))
	created := false
	if err == errNotFound {
		created = true
		before = ""
		if base, err := r.git.revParse(r.branchRef(r.DefaultBranch)); err == nil {
			before = base
		}
	} else if err != nil {
		return "", err
	}
	when := s.clock.tick()
	sha, err := r.git.writeCommit(before, change, message, actor.identity(when), actor.identity(when))
	if err != nil {
		return "", err
	}
	old := before
	if created {
		old = ""
	}
	return sha, r.moveBranchLocked(actor, branch, old, sha, false, nil)
}

// Commit is a commit someone pushes, with who wrote and committed it as
// git records it (nil: the pusher's noreply identity) and its message,
// which may carry Co-authored-by trailers.
type Commit struct {
	Message           string
	Author, Committer *Identity
	Files             Files
}

// PushCommit commits c onto branch and pushes it as pusher, who need not
// be its author or committer (a colleague's commit pushed, a cherry-pick,
// a commit made elsewhere).
func (r *Repo) PushCommit(pusher *User, branch string, c Commit) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := r.git.revParse(r.branchRef(branch))
	if err != nil {
		return "", s.errorf("no branch %s", branch)
	}
	when := s.clock.tick()
	author, committer := pusher.identity(when), pusher.identity(when)
	if c.Author != nil {
		author = *c.Author
		author.When = when
	}
	if c.Committer != nil {
		committer = *c.Committer
		committer.When = when
	}
	change := map[string]File{}
	for p, content := range c.Files {
		change[p] = File{Content: content}
	}
	sha, err := r.git.writeCommit(before, change, c.Message, author, committer)
	if err != nil {
		return "", err
	}
	return sha, r.moveBranchLocked(pusher, branch, before, sha, false, nil)
}

// Reword rewrites the message of branch's tip (git commit --amend without
// changes: the same tree and parents, a new commit) and force-pushes it
// as actor.
func (r *Repo) Reword(actor *User, branch, message string) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := r.git.revParse(r.branchRef(branch))
	if err != nil {
		return "", s.errorf("no branch %s", branch)
	}
	infos, err := r.git.commits(before)
	if err != nil || len(infos) != 1 {
		return "", s.errorf("cannot read %s: %v", before, err)
	}
	in := infos[0]
	when := s.clock.tick()
	sha, err := r.git.commitTree(in.Tree, in.Parents, message, in.Author, actor.identity(when))
	if err != nil {
		return "", err
	}
	return sha, r.moveBranchLocked(actor, branch, before, sha, true, nil)
}

// CreateBranch creates branch at rev (a branch, tag or sha) as actor.
func (r *Repo) CreateBranch(actor *User, branch, rev string) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, err := r.resolveLocked(rev)
	if err != nil {
		return "", err
	}
	if _, err := r.git.revParse(r.branchRef(branch)); err == nil {
		return "", s.errorf("branch %s exists", branch)
	}
	s.clock.tick()
	return sha, r.moveBranchLocked(actor, branch, "", sha, false, nil)
}

// ForcePush moves branch to sha (which need not descend from it).
func (r *Repo) ForcePush(actor *User, branch, sha string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := r.git.revParse(r.branchRef(branch))
	if err != nil {
		return s.errorf("no branch %s", branch)
	}
	s.clock.tick()
	return r.moveBranchLocked(actor, branch, before, sha, true, nil)
}

// DeleteBranch deletes a branch as actor.
func (r *Repo) DeleteBranch(actor *User, branch string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := r.git.revParse(r.branchRef(branch))
	if err != nil {
		return s.errorf("no branch %s", branch)
	}
	s.clock.tick()
	return r.moveBranchLocked(actor, branch, before, "", false, nil)
}

// MergeBranches merges head into base as actor would locally and pushes
// the merge commit (building history such as "main merged into develop").
func (r *Repo) MergeBranches(actor *User, base, head, message string) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	baseSHA, err := r.git.revParse(r.branchRef(base))
	if err != nil {
		return "", s.errorf("no branch %s", base)
	}
	headSHA, err := r.resolveLocked(head)
	if err != nil {
		return "", err
	}
	tree, conflicts, err := r.git.mergeTree(baseSHA, headSHA, "")
	if err != nil {
		return "", err
	}
	if len(conflicts) > 0 {
		return "", s.errorf("merging %s into %s conflicts in %s", head, base, strings.Join(conflicts, ", "))
	}
	when := s.clock.tick()
	sha, err := r.git.commitTree(tree, []string{baseSHA, headSHA}, message, actor.identity(when), actor.identity(when))
	if err != nil {
		return "", err
	}
	return sha, r.moveBranchLocked(actor, base, baseSHA, sha, false, nil)
}

// Tag creates a lightweight tag at rev; AnnotatedTag an annotated one. Tag
// pushes are announced like GitHub does (a push to refs/tags/...).
func (r *Repo) Tag(actor *User, name, rev string) (string, error) {
	return r.tag(actor, name, rev, "")
}

// AnnotatedTag creates an annotated tag object and a ref to it.
func (r *Repo) AnnotatedTag(actor *User, name, rev, message string) (string, error) {
	return r.tag(actor, name, rev, message)
}

func (r *Repo) tag(actor *User, name, rev, message string) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, err := r.resolveLocked(rev)
	if err != nil {
		return "", err
	}
	when := s.clock.tick()
	object := sha
	if message != "" {
		object, err = r.git.mktag(name, sha, "commit", message, actor.identity(when))
		if err != nil {
			return "", err
		}
	}
	ref := "refs/tags/" + name
	if _, _, err := r.git.objectName(ref); err == nil {
		return "", s.errorf("tag %s exists", name)
	}
	if err := r.git.updateRef(ref, object); err != nil {
		return "", err
	}
	s.emitPush(r, actor, ref, zeroSHA, sha, nil)
	return sha, nil
}

const zeroSHA = "0000000000000000000000000000000000000000"

// resolveLocked resolves a branch, tag or sha of r to a commit.
func (r *Repo) resolveLocked(rev string) (string, error) {
	for _, cand := range []string{r.branchRef(rev), "refs/tags/" + rev, rev} {
		if sha, err := r.git.revParse(cand); err == nil {
			return sha, nil
		}
	}
	return "", r.sim.errorf("%s: no branch, tag or commit %q", r.FullName(), rev)
}

// moveBranchLocked moves a branch (to "" deletes it) and tells everyone:
// a push webhook, an activity entry, pull requests synchronized.
func (r *Repo) moveBranchLocked(actor *User, branch, before, after string, forced bool, via *App) error {
	s := r.sim
	ref := r.branchRef(branch)
	if after == "" {
		if err := r.git.deleteRef(ref); err != nil {
			return err
		}
	} else if err := r.git.updateRef(ref, after); err != nil {
		return err
	}
	// Activity and webhooks are about the repository that owns the branch.
	typ := "push"
	switch {
	case before == "":
		typ = "branch_creation"
	case after == "":
		typ = "branch_deletion"
	case forced:
		typ = "force_push"
	}
	bef, aft := before, after
	if bef == "" {
		bef = zeroSHA
	}
	if aft == "" {
		aft = zeroSHA
	}
	r.activities = append(r.activities, &Activity{
		ID: s.newID(), Before: bef, After: aft, Ref: "refs/heads/" + branch,
		Timestamp: s.clock.Now(), Type: typ, Actor: actor,
	})
	var commits []string
	if after != "" && s.listening(r, "push") {
		base := before
		if base == "" {
			base = r.defaultTipLocked(branch)
		}
		commits, _ = r.git.revList(base, after)
	}
	s.emitPush(r, actor, "refs/heads/"+branch, bef, aft, commits)
	if after != "" {
		r.afterPushLocked(after)
	}

	// Pull requests from this branch follow it.
	for _, target := range s.reposSharing(r) {
		for _, is := range target.issues {
			pr := is.PR
			if pr == nil || is.State != "open" || pr.HeadRepo != r || pr.HeadRef != branch || after == "" || pr.HeadSHA == after {
				continue
			}
			prev := pr.HeadSHA
			pr.HeadSHA = after
			is.UpdatedAt = s.clock.Now()
			_ = target.git.updateRef(fmt.Sprintf("refs/pull/%d/head", is.Number), after)
			if forced {
				target.addEvent(is, actor, "head_ref_force_pushed", nil, via)
			}
			s.emit(target, "pull_request", "synchronize", actor, map[string]any{
				"number": is.Number, "pull_request": s.prJSON(target, is), "before": prev, "after": after,
			})
		}
	}
	return nil
}

// branchAt names a branch whose tip is sha (the check suite's head
// branch), or "".
func (r *Repo) branchAt(sha string) string {
	refs, _ := r.git.refs(r.refPrefix + "refs/heads/")
	for _, ref := range refs {
		if ref.Object == sha {
			return strings.TrimPrefix(ref.Name, r.refPrefix+"refs/heads/")
		}
	}
	return ""
}

// defaultTipLocked is what a new branch's commits are counted from: the
// default branch, unless the new branch is the default branch.
func (r *Repo) defaultTipLocked(branch string) string {
	if branch == r.DefaultBranch {
		return ""
	}
	sha, err := r.git.revParse(r.branchRef(r.DefaultBranch))
	if err != nil {
		return ""
	}
	return sha
}

// reposSharing lists r and the repositories sharing its git (its parent
// and forks), base repositories first.
func (s *Sim) reposSharing(r *Repo) []*Repo {
	var out []*Repo
	for _, x := range s.repos {
		if x.git == r.git {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (r *Repo) addEvent(is *Issue, actor *User, event string, label *Label, via *App) *IssueEvent {
	e := &IssueEvent{ID: r.sim.newID(), Actor: actor, Event: event, CreatedAt: r.sim.clock.Now(), App: via}
	if label != nil {
		cp := *label
		e.Label = &cp
	}
	is.Events = append(is.Events, e)
	return e
}

// OpenPR opens a pull request from head (a branch of r, or "owner:branch"
// of a fork) into base, as actor, and returns its number.
func (r *Repo) OpenPR(actor *User, head, base, title string) (int, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	is, err := r.openPRLocked(actor, head, base, title, "", false)
	if err != nil {
		return 0, err
	}
	return is.Number, nil
}

func (r *Repo) openPRLocked(actor *User, head, base, title, body string, draft bool) (*Issue, error) {
	s := r.sim
	headRepo := r
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		fork, ok := s.repos[owner+"/"+r.Name]
		if !ok || (fork != r && fork.forkOf != r) {
			return nil, s.errorf("no fork %s of %s", owner, r.FullName())
		}
		headRepo, head = fork, branch
	}
	headSHA, err := headRepo.git.revParse(headRepo.branchRef(head))
	if err != nil {
		return nil, &apiErr{422, "Validation Failed", []map[string]any{{"resource": "PullRequest", "field": "head", "code": "invalid"}}}
	}
	baseSHA, err := r.git.revParse(r.branchRef(base))
	if err != nil {
		return nil, &apiErr{422, "Validation Failed", []map[string]any{{"resource": "PullRequest", "field": "base", "code": "invalid"}}}
	}
	for _, is := range r.issues {
		if is.PR != nil && is.State == "open" && is.PR.HeadRepo == headRepo && is.PR.HeadRef == head && is.PR.BaseRef == base {
			return nil, &apiErr{422, "Validation Failed", []map[string]any{{"resource": "PullRequest", "code": "custom",
				"message": fmt.Sprintf("A pull request already exists for %s:%s.", headRepo.Owner.Login, head)}}}
		}
	}
	if n, _ := r.git.count(baseSHA, headSHA); n == 0 {
		return nil, &apiErr{422, "Validation Failed", []map[string]any{{"resource": "PullRequest", "code": "custom",
			"message": fmt.Sprintf("No commits between %s and %s", base, head)}}}
	}
	now := s.clock.tick()
	is := &Issue{
		Number: len(r.issues) + 1, Title: title, Body: body, User: actor, State: "open",
		CreatedAt: now, UpdatedAt: now,
		PR: &PullRequest{HeadRepo: headRepo, HeadRef: head, HeadSHA: headSHA, BaseRef: base, Draft: draft},
	}
	r.issues = append(r.issues, is)
	_ = r.git.updateRef(fmt.Sprintf("refs/pull/%d/head", is.Number), headSHA)
	s.emit(r, "pull_request", "opened", actor, map[string]any{"number": is.Number, "pull_request": s.prJSON(r, is)})
	return is, nil
}

// EditPR changes a pull request's title as actor (an `edited` event).
func (r *Repo) EditPR(actor *User, number int, title string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if number < 1 || number > len(r.issues) || r.issues[number-1].PR == nil {
		return s.errorf("no pull request #%d", number)
	}
	is := r.issues[number-1]
	old := is.Title
	is.Title, is.UpdatedAt = title, s.clock.tick()
	s.emit(r, "pull_request", "edited", actor, map[string]any{"number": is.Number, "pull_request": s.prJSON(r, is),
		"changes": map[string]any{"title": map[string]any{"from": old}}})
	return nil
}

// ClosePR closes a pull request without merging; ReopenPR reopens it.
func (r *Repo) ClosePR(actor *User, number int) error { return r.setPRState(actor, number, "closed") }

// ReopenPR reopens a closed pull request.
func (r *Repo) ReopenPR(actor *User, number int) error { return r.setPRState(actor, number, "open") }

func (r *Repo) setPRState(actor *User, number int, state string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil || is.PR == nil {
		return s.errorf("no pull request #%d", number)
	}
	return r.setStateLocked(is, actor, state, nil)
}

func (r *Repo) setStateLocked(is *Issue, actor *User, state string, via *App) error {
	s := r.sim
	if is.State == state {
		return nil
	}
	now := s.clock.tick()
	is.State, is.UpdatedAt = state, now
	action := "reopened"
	if state == "closed" {
		is.ClosedAt, action = now, "closed"
	}
	r.addEvent(is, actor, action, nil, via)
	if is.PR != nil {
		s.emit(r, "pull_request", action, actor, map[string]any{"number": is.Number, "pull_request": s.prJSON(r, is)})
	} else {
		s.emit(r, "issues", action, actor, map[string]any{"issue": s.issueJSON(r, is)})
	}
	return nil
}

// CreateIssue opens an issue as actor and returns its number.
func (r *Repo) CreateIssue(actor *User, title, body string) int {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.createIssueLocked(actor, title, body, nil, nil).Number
}

func (r *Repo) createIssueLocked(actor *User, title, body string, labels []string, assignees []*User) *Issue {
	s := r.sim
	now := s.clock.tick()
	is := &Issue{Number: len(r.issues) + 1, Title: title, Body: body, User: actor, State: "open", CreatedAt: now, UpdatedAt: now, Assignees: assignees}
	for _, l := range labels {
		is.Labels = append(is.Labels, r.labelLocked(l, true))
	}
	r.issues = append(r.issues, is)
	s.emit(r, "issues", "opened", actor, map[string]any{"issue": s.issueJSON(r, is)})
	return is
}

func (r *Repo) issueLocked(number int) *Issue {
	if number < 1 || number > len(r.issues) {
		return nil
	}
	return r.issues[number-1]
}

// labelLocked finds a repository label by name (case-insensitively),
// creating it with GitHub's default colour when create is set.
func (r *Repo) labelLocked(name string, create bool) *Label {
	for _, l := range r.labels {
		if strings.EqualFold(l.Name, name) {
			return l
		}
	}
	if !create {
		return nil
	}
	l := &Label{ID: r.sim.newID(), Name: name, Color: "ededed"}
	r.labels = append(r.labels, l)
	return l
}

// AddLabel labels an issue or pull request as actor.
func (r *Repo) AddLabel(actor *User, number int, name string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil {
		return s.errorf("no issue #%d", number)
	}
	r.addLabelLocked(is, actor, name, nil)
	return nil
}

func (r *Repo) addLabelLocked(is *Issue, actor *User, name string, via *App) bool {
	s := r.sim
	for _, l := range is.Labels {
		if strings.EqualFold(l.Name, name) {
			return false
		}
	}
	l := r.labelLocked(name, true)
	s.clock.tick()
	is.Labels = append(is.Labels, l)
	is.UpdatedAt = s.clock.Now()
	r.addEvent(is, actor, "labeled", l, via)
	r.emitLabel(is, "labeled", actor, l)
	return true
}

// emitLabel announces a label change on a pull request or an issue.
func (r *Repo) emitLabel(is *Issue, action string, actor *User, l *Label) {
	s := r.sim
	if is.PR != nil {
		s.emit(r, "pull_request", action, actor, map[string]any{"number": is.Number, "pull_request": s.prJSON(r, is), "label": labelJSON(l)})
		return
	}
	s.emit(r, "issues", action, actor, map[string]any{"issue": s.issueJSON(r, is), "label": labelJSON(l)})
}

// RemoveLabel removes a label from an issue or pull request as actor.
func (r *Repo) RemoveLabel(actor *User, number int, name string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil {
		return s.errorf("no issue #%d", number)
	}
	if !r.removeLabelLocked(is, actor, name, nil) {
		return s.errorf("#%d has no label %q", number, name)
	}
	return nil
}

func (r *Repo) removeLabelLocked(is *Issue, actor *User, name string, via *App) bool {
	s := r.sim
	for i, l := range is.Labels {
		if strings.EqualFold(l.Name, name) {
			s.clock.tick()
			is.Labels = append(is.Labels[:i:i], is.Labels[i+1:]...)
			is.UpdatedAt = s.clock.Now()
			r.addEvent(is, actor, "unlabeled", l, via)
			r.emitLabel(is, "unlabeled", actor, l)
			return true
		}
	}
	return false
}

// Comment comments on an issue or pull request as actor.
func (r *Repo) Comment(actor *User, number int, body string) (int64, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil {
		return 0, s.errorf("no issue #%d", number)
	}
	return r.commentLocked(is, actor, body, nil).ID, nil
}

func (r *Repo) commentLocked(is *Issue, actor *User, body string, via *App) *Comment {
	s := r.sim
	now := s.clock.tick()
	c := &Comment{ID: s.newID(), Issue: is, User: actor, Body: body, CreatedAt: now, UpdatedAt: now, App: via}
	is.Comments = append(is.Comments, c)
	r.comments[c.ID] = c
	s.emit(r, "issue_comment", "created", actor, map[string]any{"issue": s.issueJSON(r, is), "comment": s.commentJSON(r, c)})
	return c
}

// EditComment edits a comment as actor (an `edited` event).
func (r *Repo) EditComment(actor *User, id int64, body string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	c := r.comments[id]
	if c == nil {
		return s.errorf("no comment %d", id)
	}
	old := c.Body
	c.Body, c.UpdatedAt = body, s.clock.tick()
	s.emit(r, "issue_comment", "edited", actor, map[string]any{
		"issue": s.issueJSON(r, c.Issue), "comment": s.commentJSON(r, c),
		"changes": map[string]any{"body": map[string]any{"from": old}},
	})
	return nil
}

// DeleteComment deletes a comment as actor (a `deleted` event): it and
// its reactions are gone, and reading or reacting to it answers 404.
func (r *Repo) DeleteComment(actor *User, id int64) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if !r.deleteComment(actor, id) {
		return s.errorf("no comment %d", id)
	}
	return nil
}

// deleteComment deletes a comment, s.mu held; false if there is none.
func (r *Repo) deleteComment(actor *User, id int64) bool {
	s := r.sim
	c := r.comments[id]
	if c == nil {
		return false
	}
	delete(r.comments, id)
	kept := c.Issue.Comments[:0]
	for _, x := range c.Issue.Comments {
		if x != c {
			kept = append(kept, x)
		}
	}
	c.Issue.Comments = kept
	s.clock.tick()
	s.emit(r, "issue_comment", "deleted", actor, map[string]any{"issue": s.issueJSON(r, c.Issue), "comment": s.commentJSON(r, c)})
	return true
}

// RerequestCheckRun is a person clicking "Re-run" on a check run.
func (r *Repo) RerequestCheckRun(actor *User, id int64) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cr := range r.checkRuns {
		if cr.ID == id {
			s.emitTo(cr.App, r, "check_run", "rerequested", actor, map[string]any{"check_run": s.checkRunJSON(r, cr)})
			return nil
		}
	}
	return s.errorf("no check run %d", id)
}

// RerequestCheckSuite is a person clicking "Re-run all checks" on an
// app's checks of a commit: GitHub sends that app check_suite
// rerequested (its runs are the app's to create again). GitHub also sends
// a subscribed app check_suite requested (a push) and completed (its
// suite's runs all completed); the simulator does not: they carry nothing
// the bot acts on, and its door answers them (the recorded examples
// prove it).
func (r *Repo) RerequestCheckSuite(actor *User, id int64) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range r.checkSuites {
		if cs.ID == id {
			s.emitTo(cs.App, r, "check_suite", "rerequested", actor, map[string]any{"check_suite": s.checkSuiteJSON(r, cs)})
			return nil
		}
	}
	return s.errorf("no check suite %d", id)
}

// SeedDeployment records a deployment with a final status, as history
// from before the bot was installed: no webhooks.
func (r *Repo) SeedDeployment(actor *User, rev, environment, state string) (int64, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, err := r.resolveLocked(rev)
	if err != nil {
		return 0, err
	}
	now := s.clock.tick()
	d := &Deployment{ID: s.newID(), SHA: sha, Ref: rev, Task: "deploy", Environment: environment,
		Payload: json.RawMessage(`{}`), Creator: actor, CreatedAt: now, Production: environment == "production"}
	d.Statuses = append(d.Statuses, &DeploymentStatus{ID: s.newID(), State: state, Environment: environment, Creator: actor, CreatedAt: s.clock.tick()})
	r.deployments = append(r.deployments, d)
	return d.ID, nil
}

// SetDeploymentStatus is the CD system reporting on a deployment: a new
// status and a deployment_status webhook.
func (r *Repo) SetDeploymentStatus(actor *User, id int64, state, description string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	d := r.deploymentLocked(id)
	if d == nil {
		return s.errorf("no deployment %d", id)
	}
	r.addDeploymentStatusLocked(d, actor, state, description, "", nil)
	if state == "success" {
		r.inactivatePriorLocked(d, actor, nil)
	}
	return nil
}

// inactivatePriorLocked is GitHub's auto_inactive: a success adds an
// `inactive` status to every earlier non-transient, non-production
// deployment of the same environment that had succeeded.
func (r *Repo) inactivatePriorLocked(d *Deployment, actor *User, via *App) {
	if d.Production || d.Transient {
		return
	}
	for _, prior := range r.deployments {
		if prior == d || prior.Environment != d.Environment || prior.Production || prior.Transient || prior.ID > d.ID {
			continue
		}
		succeeded := false
		for _, st := range prior.Statuses {
			succeeded = succeeded || st.State == "success"
		}
		if succeeded && prior.Statuses[len(prior.Statuses)-1].State != "inactive" {
			r.addDeploymentStatusLocked(prior, actor, "inactive", "", "", via)
		}
	}
}

// SetDeploymentStatusWithLog is SetDeploymentStatus with a log URL, as CD
// systems report it; a success inactivates earlier deployments of a
// non-production environment (GitHub's auto_inactive default).
func (r *Repo) SetDeploymentStatusWithLog(actor *User, id int64, state, description, logURL string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	d := r.deploymentLocked(id)
	if d == nil {
		return s.errorf("no deployment %d", id)
	}
	r.addDeploymentStatusLocked(d, actor, state, description, logURL, nil)
	if state == "success" {
		r.inactivatePriorLocked(d, actor, nil)
	}
	return nil
}

func (r *Repo) deploymentLocked(id int64) *Deployment {
	for _, d := range r.deployments {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (r *Repo) addDeploymentStatusLocked(d *Deployment, actor *User, state, description, logURL string, via *App) *DeploymentStatus {
	s := r.sim
	st := &DeploymentStatus{ID: s.newID(), State: state, Description: description, Environment: d.Environment,
		LogURL: logURL, Creator: actor, CreatedAt: s.clock.tick()}
	d.Statuses = append(d.Statuses, st)
	s.emit(r, "deployment_status", "created", actor, map[string]any{
		"deployment_status": s.deploymentStatusJSON(r, d, st), "deployment": s.deploymentJSON(r, d),
	})
	return st
}

// Deploy is a CD system (not the bot) creating a deployment of rev to
// environment: a `deployment` webhook; report its outcome with
// SetDeploymentStatus.
func (r *Repo) Deploy(actor *User, rev, environment string) (int64, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, err := r.resolveLocked(rev)
	if err != nil {
		return 0, err
	}
	d := &Deployment{ID: s.newID(), SHA: sha, Ref: rev, Task: "deploy", Environment: environment,
		Payload: []byte(`{}`), Creator: actor, CreatedAt: s.clock.tick(), Production: environment == "production"}
	r.deployments = append(r.deployments, d)
	s.emit(r, "deployment", "created", actor, map[string]any{"deployment": s.deploymentJSON(r, d)})
	return d.ID, nil
}

// SetDraft marks a pull request draft or ready (GitHub does it through the
// web UI or GraphQL).
func (r *Repo) SetDraft(number int, draft bool) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	if is := r.issueLocked(number); is != nil && is.PR != nil {
		is.PR.Draft = draft
		is.UpdatedAt = r.sim.clock.tick()
	}
}

// MergeBranchesResolving is a person merging head into base locally and
// resolving the conflicts: the merge commit keeps head's side of every
// file, then the resolution's contents, and is pushed to base.
func (r *Repo) MergeBranchesResolving(actor *User, base, head, message string, resolution Files) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	baseSHA, err := r.git.revParse(r.branchRef(base))
	if err != nil {
		return "", s.errorf("no branch %s", base)
	}
	headSHA, err := r.resolveLocked(head)
	if err != nil {
		return "", err
	}
	change := map[string]File{}
	for p, c := range resolution {
		change[p] = File{Content: c}
	}
	when := s.clock.tick()
	scratch, err := r.git.writeCommit(headSHA, change, message, actor.identity(when), actor.identity(when))
	if err != nil {
		return "", err
	}
	infos, err := r.git.commits(scratch)
	if err != nil || len(infos) != 1 {
		return "", s.errorf("cannot read the resolution: %v", err)
	}
	sha, err := r.git.commitTree(infos[0].Tree, []string{baseSHA, headSHA}, message, actor.identity(when), actor.identity(when))
	if err != nil {
		return "", err
	}
	return sha, r.moveBranchLocked(actor, base, baseSHA, sha, false, nil)
}
