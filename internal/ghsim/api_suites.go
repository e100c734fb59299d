package ghsim

import (
	"net/http"
	"sort"
	"strconv"
	"time"
)

// CheckSuite is an app's check suite on a commit. GitHub creates one for
// every app installed with checks:write when a commit is pushed (and one
// when an app creates a check run on a commit it has none for); the app's
// check runs on the commit belong to it. A suite whose app never creates
// a run stays queued forever.
type CheckSuite struct {
	ID         int64
	App        *App
	HeadSHA    string
	HeadBranch string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// CI is a continuous-integration app (GitHub Actions, say) that reports
// on every commit pushed to any branch of the repository: one check run
// per name, completed with Conclusion at once, or left in progress when
// Conclusion is "".
type CI struct {
	App        *App
	Checks     []string
	Conclusion string
}

// SetCI makes ci report on every commit pushed from now on (nil: no CI).
func (r *Repo) SetCI(ci *CI) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.ci = ci
}

// ReportCheck is another app (CI) creating a check run on a commit: status
// queued, in_progress or completed (with a conclusion). It returns the
// run's id.
func (r *Repo) ReportCheck(app *App, sha, name, status, conclusion string) int64 {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	return r.reportCheckLocked(app, sha, name, status, conclusion).ID
}

func (r *Repo) reportCheckLocked(app *App, sha, name, status, conclusion string) *CheckRun {
	now := r.sim.clock.Now()
	cr := &CheckRun{ID: r.sim.newID(), HeadSHA: sha, Name: name, Status: status, Conclusion: conclusion, StartedAt: now,
		App: app, SuiteID: r.suiteLocked(app, sha).ID, Title: name, Summary: name + ": " + status}
	if status == "completed" {
		cr.CompletedAt = now
	}
	r.checkRuns = append(r.checkRuns, cr)
	return cr
}

// QueueCheckSuite is GitHub creating an app's check suite on a commit
// without any check run (the app was asked and has not started).
func (r *Repo) QueueCheckSuite(app *App, sha string) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.suiteLocked(app, sha)
}

// suiteLocked finds or creates an app's suite on a commit.
func (r *Repo) suiteLocked(app *App, sha string) *CheckSuite {
	for _, cs := range r.checkSuites {
		if cs.App == app && cs.HeadSHA == sha {
			return cs
		}
	}
	now := r.sim.clock.Now()
	cs := &CheckSuite{ID: r.sim.newID(), App: app, HeadSHA: sha, HeadBranch: r.branchAt(sha), CreatedAt: now, UpdatedAt: now}
	r.checkSuites = append(r.checkSuites, cs)
	return cs
}

// afterPushLocked is what GitHub does on every commit pushed to a branch:
// a queued check suite for every app installed with checks:write, and
// the repository's CI reporting.
func (r *Repo) afterPushLocked(sha string) {
	s := r.sim
	for _, in := range s.sortedInstalls() {
		if _, ok := in.Repos[r.FullName()]; ok && in.App.Permissions["checks"] == "write" {
			r.suiteLocked(in.App, sha)
		}
	}
	if r.ci == nil {
		return
	}
	for _, name := range r.ci.Checks {
		exists := false
		for _, cr := range r.checkRuns {
			exists = exists || (cr.App == r.ci.App && cr.HeadSHA == sha && cr.Name == name)
		}
		if exists {
			continue
		}
		if r.ci.Conclusion == "" {
			r.reportCheckLocked(r.ci.App, sha, name, "in_progress", "")
		} else {
			r.reportCheckLocked(r.ci.App, sha, name, "completed", r.ci.Conclusion)
		}
	}
}

// conclusionRank orders conclusions as a suite reports its runs': the
// highest ranked one is the suite's.
var conclusionRank = map[string]int{
	"action_required": 9, "startup_failure": 8, "cancelled": 7, "timed_out": 6, "failure": 5,
	"stale": 4, "neutral": 3, "skipped": 2, "success": 1,
}

// state is a suite's status and conclusion, from its runs: queued
// without runs (or with only queued ones), in_progress while any runs,
// completed (with the highest ranked conclusion) when all have.
func (r *Repo) suiteState(cs *CheckSuite) (status, conclusion string, runs int) {
	latest := map[string]*CheckRun{}
	for _, cr := range r.checkRuns {
		if cr.SuiteID == cs.ID {
			latest[cr.Name] = cr
		}
	}
	status = "queued"
	if len(latest) == 0 {
		return status, "", 0
	}
	completed := 0
	for _, cr := range latest {
		switch cr.Status {
		case "completed":
			completed++
			if conclusionRank[cr.Conclusion] > conclusionRank[conclusion] {
				conclusion = cr.Conclusion
			}
		case "in_progress":
			status = "in_progress"
		}
	}
	if completed == len(latest) {
		return "completed", conclusion, len(latest)
	}
	if completed > 0 {
		status = "in_progress"
	}
	return status, "", len(latest)
}

func (s *Sim) checkSuiteJSON(r *Repo, cs *CheckSuite) obj {
	full := r.FullName()
	status, conclusion, runs := r.suiteState(cs)
	head := obj{"id": cs.HeadSHA, "tree_id": "", "message": "", "timestamp": ts(cs.CreatedAt), "author": nil, "committer": nil}
	if infos, err := r.git.commits(cs.HeadSHA); err == nil && len(infos) == 1 {
		in := infos[0]
		head = obj{"id": in.SHA, "tree_id": in.Tree, "message": in.Message, "timestamp": ts(in.Committer.When),
			"author":    obj{"name": in.Author.Name, "email": in.Author.Email},
			"committer": obj{"name": in.Committer.Name, "email": in.Committer.Email}}
	}
	return obj{
		"id": cs.ID, "node_id": nodeID("CheckSuite", cs.ID), "head_branch": nilIfEmpty(cs.HeadBranch), "head_sha": cs.HeadSHA,
		"status": status, "conclusion": nilIfEmpty(conclusion), "url": s.api("repos/%s/check-suites/%d", full, cs.ID),
		"before": nil, "after": cs.HeadSHA, "pull_requests": s.prsAt(r, cs.HeadSHA), "app": s.appJSON(cs.App), "repository": s.repoJSON(r),
		"created_at": ts(cs.CreatedAt), "updated_at": ts(cs.UpdatedAt), "head_commit": head,
		"latest_check_runs_count": runs, "check_runs_url": s.api("repos/%s/check-suites/%d/check-runs", full, cs.ID),
		"rerequestable": true, "runs_rerequestable": true,
	}
}

// listSuitesForRef is GET /commits/{ref}/check-suites, filtered by app_id
// like GitHub, 30 a page by default.
func (s *Sim) listSuitesForRef(c *call) (int, any) {
	r := c.repo
	sha, err := r.resolveLocked(c.param("ref"))
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+c.param("ref"))
	}
	appID := c.query("app_id")
	var suites []*CheckSuite
	for _, cs := range r.checkSuites {
		if cs.HeadSHA == sha && (appID == "" || strconv.FormatInt(cs.App.ID, 10) == appID) {
			suites = append(suites, cs)
		}
	}
	sort.Slice(suites, func(i, j int) bool { return suites[i].ID < suites[j].ID })
	items := []any{}
	for _, cs := range suites {
		items = append(items, s.checkSuiteJSON(r, cs))
	}
	return http.StatusOK, obj{"total_count": len(items), "check_suites": c.page(items, 30, 100)}
}
