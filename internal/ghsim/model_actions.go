package ghsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// GitHub Actions, as far as hotfix-bot meets it: workflow jobs that deploy
// to an environment guarded by custom deployment protection rules (GitHub
// holds the job, sends each rule's app a deployment_protection_rule event
// with a callback URL, and runs the job once every rule approved), and the
// check runs of CI workflows (check_run events reach every app subscribed
// to them, not only the run's own).

// repoActions is a repository's environments and workflow runs.
type repoActions struct {
	// rules are, per environment, the apps enabled as its custom
	// deployment protection rules.
	rules map[string][]*App
	runs  []*WorkflowRun
}

// WorkflowRun is a workflow run whose job deploys to an environment.
type WorkflowRun struct {
	ID          int64
	Event       string // what started it: push, workflow_dispatch...
	Ref         string
	SHA         string
	Environment string
	// Deployment is the deployment GitHub created for the job.
	Deployment int64
	// Status is "waiting" (held by protection rules), "in_progress" or
	// "completed"; Conclusion "success" or "failure" once completed.
	Status     string
	Conclusion string
	// Reviews are the answers the rules' apps gave, oldest first.
	Reviews []GateReview
	// pending are the apps whose answer the job waits for.
	pending map[int64]bool
}

// GateReview is one answer to a deployment protection rule.
type GateReview struct {
	App         string // the app's slug
	Environment string
	State       string // approved, rejected, or "" for a comment alone
	Comment     string
	At          time.Time
}

// actionsLocked is the GitHub Actions app: its bot user,
// github-actions[bot], creates the deployments of workflow jobs and the
// check runs of CI workflows. It is not installed anywhere and receives
// nothing.
func (s *Sim) actionsLocked() *App {
	for _, a := range s.apps {
		if a.Slug == "github-actions" {
			return a
		}
	}
	a := &App{ID: s.newID(), Slug: "github-actions", Name: "GitHub Actions",
		Permissions: map[string]string{"actions": "write", "checks": "write", "deployments": "write", "contents": "write"}, Events: []string{}}
	a.Bot = s.userLocked("github-actions[bot]", "Bot")
	s.apps[a.ID] = a
	return a
}

// EnableProtectionRule is a maintainer enabling an app as a custom
// deployment protection rule of env (Settings → Environments → env →
// Deployment protection rules). GitHub offers only apps installed on the
// repository with Actions read and Deployments read and write, and
// subscribed to deployment_protection_rule.
func (r *Repo) EnableProtectionRule(env string, a *App) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	installed := false
	for _, in := range s.installs {
		if _, ok := in.Repos[r.FullName()]; ok && in.App == a {
			installed = true
		}
	}
	switch {
	case !installed:
		return s.errorf("%s is not installed on %s", a.Slug, r.FullName())
	case !a.can("actions:read") || !a.can("deployments:write"):
		return s.errorf("%s lacks Actions read or Deployments write: GitHub does not offer it as a protection rule", a.Slug)
	case !a.subscribed("deployment_protection_rule"):
		return s.errorf("%s is not subscribed to deployment_protection_rule", a.Slug)
	}
	if r.actions.rules == nil {
		r.actions.rules = map[string][]*App{}
	}
	r.actions.rules[env] = append(r.actions.rules[env], a)
	return nil
}

// RunDeploymentJob is a workflow run (started by actor through event)
// reaching a job with `environment: env` for ref: GitHub creates the
// job's deployment and, when env has custom protection rules, holds the
// job and sends each rule's app a deployment_protection_rule event. The
// job runs once every rule approved and fails at the first rejection.
func (r *Repo) RunDeploymentJob(actor *User, event, ref, env string) (WorkflowRun, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, err := r.resolveLocked(ref)
	if err != nil {
		return WorkflowRun{}, err
	}
	actions := s.actionsLocked()
	d := &Deployment{ID: s.newID(), SHA: sha, Ref: ref, Task: "deploy", Environment: env, Payload: json.RawMessage(`{}`),
		Creator: actions.Bot, CreatedAt: s.clock.tick(), Production: env == "production", App: actions}
	r.deployments = append(r.deployments, d)
	s.emit(r, "deployment", "created", actor, map[string]any{"deployment": s.deploymentJSON(r, d)})
	run := &WorkflowRun{ID: s.newID(), Event: event, Ref: ref, SHA: sha, Environment: env, Deployment: d.ID, Status: "in_progress", pending: map[int64]bool{}}
	r.actions.runs = append(r.actions.runs, run)
	for _, a := range r.actions.rules[env] {
		run.pending[a.ID] = true
		run.Status = "waiting"
		s.emitTo(a, r, "deployment_protection_rule", "requested", actor, map[string]any{
			"environment": env, "event": event, "deployment": s.deploymentJSON(r, d), "pull_requests": []any{},
			"deployment_callback_url": s.api("repos/%s/actions/runs/%d/deployment_protection_rule", r.FullName(), run.ID),
		})
	}
	if run.Status == "in_progress" {
		r.addDeploymentStatusLocked(d, actions.Bot, "in_progress", "", "", actions)
	}
	return *run, nil
}

// FinishDeploymentJob is a running deployment job ending: its deployment
// gets the final status (a deployment_status event) and the run
// completes.
func (r *Repo) FinishDeploymentJob(id int64, conclusion string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	run := r.runLocked(id)
	if run == nil || run.Status != "in_progress" {
		return s.errorf("no running deployment job in workflow run %d", id)
	}
	run.Status, run.Conclusion = "completed", conclusion
	d := r.deploymentLocked(run.Deployment)
	actions := s.actionsLocked()
	r.addDeploymentStatusLocked(d, actions.Bot, conclusion, "", s.web("%s/actions/runs/%d", r.FullName(), run.ID), actions)
	return nil
}

// WorkflowRun returns a workflow run as it is now.
func (r *Repo) WorkflowRun(id int64) (WorkflowRun, bool) {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	run := r.runLocked(id)
	if run == nil {
		return WorkflowRun{}, false
	}
	out := *run
	out.Reviews = append([]GateReview(nil), run.Reviews...)
	return out, true
}

func (r *Repo) runLocked(id int64) *WorkflowRun {
	for _, run := range r.actions.runs {
		if run.ID == id {
			return run
		}
	}
	return nil
}

// reviewCustomGates is POST /repos/{owner}/{repo}/actions/runs/{run_id}/
// deployment_protection_rule, as GitHub answers it: 404 for a run it does
// not know, 422 when the run waits for no answer of this app in that
// environment ("No pending custom deployment requests..."), otherwise the
// answer is recorded (a comment alone, without a state, decides nothing)
// and 204.
func (s *Sim) reviewCustomGates(c *call) (int, any) {
	r := c.repo
	id, _ := strconv.ParseInt(c.param("run_id"), 10, 64)
	run := r.runLocked(id)
	if run == nil {
		return notFound()
	}
	var req struct {
		EnvironmentName string `json:"environment_name"`
		State           string `json:"state"`
		Comment         string `json:"comment"`
	}
	if err := c.decode(&req); err != nil {
		return invalid("environment_name", "missing_field")
	}
	if !run.pending[c.app.ID] || run.Environment != req.EnvironmentName {
		return fail(http.StatusUnprocessableEntity, fmt.Sprintf("No pending custom deployment requests in workflow run `%d` to approve or reject", run.ID))
	}
	run.Reviews = append(run.Reviews, GateReview{App: c.app.Slug, Environment: req.EnvironmentName, State: req.State, Comment: req.Comment, At: s.clock.tick()})
	d := r.deploymentLocked(run.Deployment)
	actions := s.actionsLocked()
	switch req.State {
	case "":
		return http.StatusNoContent, nil
	case "rejected":
		run.pending = map[int64]bool{}
		run.Status, run.Conclusion = "completed", "failure"
		r.addDeploymentStatusLocked(d, actions.Bot, "failure", "Rejected by "+c.app.Slug, "", actions)
		return http.StatusNoContent, nil
	}
	delete(run.pending, c.app.ID)
	if len(run.pending) == 0 {
		run.Status = "in_progress"
		r.addDeploymentStatusLocked(d, actions.Bot, "in_progress", "", "", actions)
	}
	return http.StatusNoContent, nil
}

// ReportCheckRun is a CI workflow (GitHub Actions) reporting a check run
// on sha: created, and completed with conclusion unless that is "". Like
// GitHub, it sends check_run created and completed to every app
// subscribed to check_run with the Checks permission, not only to the
// run's own app.
func (r *Repo) ReportCheckRun(sha, name, conclusion string) (int64, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if typ, err := r.git.objectType(sha); err != nil || typ != "commit" {
		return 0, s.errorf("no commit %s", sha)
	}
	actions := s.actionsLocked()
	now := s.clock.tick()
	cr := &CheckRun{ID: s.newID(), Name: name, HeadSHA: sha, Status: "in_progress", StartedAt: now, App: actions, SuiteID: r.suiteLocked(actions, sha).ID}
	r.checkRuns = append(r.checkRuns, cr)
	s.emitCheckRun(r, cr, "created", actions.Bot)
	if conclusion != "" {
		cr.Status, cr.Conclusion, cr.CompletedAt = "completed", conclusion, s.clock.tick()
		s.emitCheckRun(r, cr, "completed", actions.Bot)
	}
	return cr.ID, nil
}

// CompleteCheckRun completes a CI check run ReportCheckRun left running.
func (r *Repo) CompleteCheckRun(id int64, conclusion string) error {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cr := range r.checkRuns {
		if cr.ID == id && cr.Status != "completed" {
			cr.Status, cr.Conclusion, cr.CompletedAt = "completed", conclusion, s.clock.tick()
			s.emitCheckRun(r, cr, "completed", s.actionsLocked().Bot)
			return nil
		}
	}
	return s.errorf("no running check run %d", id)
}

// emitCheckRun sends check_run created or completed to every app
// installed on r that is subscribed to check_run and may read checks.
func (s *Sim) emitCheckRun(r *Repo, cr *CheckRun, action string, sender *User) {
	for _, in := range s.sortedInstalls() {
		if _, ok := in.Repos[r.FullName()]; !ok || !in.App.subscribed("check_run") || !in.App.can("checks:read") {
			continue
		}
		s.queue(in, r, "check_run", action, sender, map[string]any{"check_run": s.checkRunJSON(r, cr)})
	}
}

// MergePR is a person merging a pull request with a merge commit in
// GitHub's web interface (the branch's rules apply to people as to apps:
// a protected base refuses it unless they are met).
func (r *Repo) MergePR(actor *User, number int) (string, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	is := r.issueLocked(number)
	if is == nil || is.PR == nil || is.State != "open" {
		return "", s.errorf("no open pull request #%d", number)
	}
	pr := is.PR
	if p, ok := r.lifecycle.protected[pr.BaseRef]; ok && r.mergeableState(pr, false) == "blocked" {
		return "", s.errorf("#%d: %s's rules are not met (%+v)", number, pr.BaseRef, p)
	}
	baseSHA, err := r.git.revParse(r.branchRef(pr.BaseRef))
	if err != nil {
		return "", err
	}
	tree, conflicts, err := r.git.mergeTree(baseSHA, pr.HeadSHA, "")
	if err != nil {
		return "", err
	}
	if len(conflicts) > 0 {
		return "", s.errorf("#%d conflicts with %s", number, pr.BaseRef)
	}
	when := s.clock.tick()
	msg := fmt.Sprintf("Merge pull request #%d from %s/%s\n\n%s", number, pr.HeadRepo.Owner.Login, pr.HeadRef, is.Title)
	sha, err := r.git.commitTree(tree, []string{baseSHA, pr.HeadSHA}, msg, actor.identity(when), actor.identity(when))
	if err != nil {
		return "", err
	}
	if err := r.moveBranchLocked(actor, pr.BaseRef, baseSHA, sha, false, nil); err != nil {
		return "", err
	}
	now := s.clock.tick()
	pr.Merged, pr.MergedAt, pr.MergedBy, pr.MergeCommitSHA = true, now, actor, sha
	is.State, is.ClosedAt, is.UpdatedAt = "closed", now, now
	e := r.addEvent(is, actor, "merged", nil, nil)
	e.CommitID = sha
	r.addEvent(is, actor, "closed", nil, nil)
	s.emit(r, "pull_request", "closed", actor, map[string]any{"number": is.Number, "pull_request": s.prJSON(r, is)})
	return sha, nil
}
