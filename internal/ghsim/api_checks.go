package ghsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

type checkRunRequest struct {
	Name        *string    `json:"name"`
	HeadSHA     string     `json:"head_sha"`
	Status      *string    `json:"status"`
	Conclusion  *string    `json:"conclusion"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
	ExternalID  *string    `json:"external_id"`
	DetailsURL  *string    `json:"details_url"`
	Output      *struct {
		Title       string       `json:"title"`
		Summary     string       `json:"summary"`
		Text        *string      `json:"text"`
		Annotations []Annotation `json:"annotations"`
	} `json:"output"`
}

// apply writes a create or update request onto a check run, enforcing
// GitHub's rules: a conclusion completes the run, a completed run needs a
// conclusion, at most 50 annotations per request (which accumulate).
func (req *checkRunRequest) apply(cr *CheckRun, now time.Time) (int, any) {
	if req.Name != nil {
		cr.Name = *req.Name
	}
	if req.ExternalID != nil {
		cr.ExternalID = *req.ExternalID
	}
	if req.DetailsURL != nil {
		cr.DetailsURL = *req.DetailsURL
	}
	if req.Status != nil {
		cr.Status = *req.Status
		if cr.Status != "completed" {
			cr.Conclusion, cr.CompletedAt = "", time.Time{}
		}
	}
	if req.Conclusion != nil {
		cr.Conclusion, cr.Status = *req.Conclusion, "completed"
	}
	if cr.Status == "completed" && cr.Conclusion == "" {
		return invalid("conclusion", "missing_field")
	}
	if req.StartedAt != nil {
		cr.StartedAt = *req.StartedAt
	}
	if cr.Status == "completed" {
		cr.CompletedAt = now
		if req.CompletedAt != nil {
			cr.CompletedAt = *req.CompletedAt
		}
	}
	if o := req.Output; o != nil {
		if o.Title == "" || o.Summary == "" {
			return invalid("output", "missing_field")
		}
		if len(o.Summary) > 65535 || (o.Text != nil && len(*o.Text) > 65535) {
			return invalid("output", "too_long")
		}
		if len(o.Annotations) > 50 {
			return invalid("output.annotations", "too_many")
		}
		cr.Title, cr.Summary = o.Title, o.Summary
		if o.Text != nil {
			cr.Text = *o.Text
		}
		cr.Annotations = append(cr.Annotations, o.Annotations...)
	}
	return 0, nil
}

func (s *Sim) createCheckRun(c *call) (int, any) {
	r := c.repo
	var req checkRunRequest
	if err := c.decode(&req); err != nil || req.Name == nil || req.HeadSHA == "" {
		return invalid("name", "missing_field")
	}
	if typ, err := r.git.objectType(req.HeadSHA); err != nil || typ != "commit" {
		return fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+req.HeadSHA)
	}
	now := s.clock.tick()
	cr := &CheckRun{ID: s.newID(), HeadSHA: req.HeadSHA, Status: "queued", StartedAt: now, App: c.app, SuiteID: r.suiteLocked(c.app, req.HeadSHA).ID}
	if st, body := req.apply(cr, now); st != 0 {
		return st, body
	}
	r.checkRuns = append(r.checkRuns, cr)
	s.emitCheckRun(r, cr, "created", c.actor())
	if cr.Status == "completed" {
		s.emitCheckRun(r, cr, "completed", c.actor())
	}
	return http.StatusCreated, s.checkRunJSON(r, cr)
}

func (c *call) checkRun() *CheckRun {
	id, _ := strconv.ParseInt(c.param("check_run_id"), 10, 64)
	for _, cr := range c.repo.checkRuns {
		if cr.ID == id {
			return cr
		}
	}
	return nil
}

func (s *Sim) getCheckRun(c *call) (int, any) {
	cr := c.checkRun()
	if cr == nil {
		return notFound()
	}
	return http.StatusOK, s.checkRunJSON(c.repo, cr)
}

func (s *Sim) updateCheckRun(c *call) (int, any) {
	cr := c.checkRun()
	if cr == nil {
		return notFound()
	}
	if cr.App != c.app {
		return fail(http.StatusForbidden, "Invalid app_id `"+strconv.FormatInt(c.app.ID, 10)+"` - check run can only be modified by the GitHub App that created it.")
	}
	var req checkRunRequest
	if err := c.decode(&req); err != nil {
		return invalid("status", "invalid")
	}
	before := cr.Status
	if st, body := req.apply(cr, s.clock.tick()); st != 0 {
		return st, body
	}
	cr.Updates++
	if cr.Status == "completed" && before != "completed" {
		s.emitCheckRun(c.repo, cr, "completed", c.actor())
	}
	return http.StatusOK, s.checkRunJSON(c.repo, cr)
}

func (s *Sim) listAnnotations(c *call) (int, any) {
	cr := c.checkRun()
	if cr == nil {
		return notFound()
	}
	items := []any{}
	for _, a := range cr.Annotations {
		b, _ := json.Marshal(a)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		items = append(items, m)
	}
	return http.StatusOK, c.page(items, 30, 100)
}

// listCheckRunsForRef filters like GitHub: check_name, status, app_id, and
// filter=latest (the default) keeps only the newest run per name and app.
func (s *Sim) listCheckRunsForRef(c *call) (int, any) {
	r := c.repo
	sha, err := r.resolveLocked(c.param("ref"))
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+c.param("ref"))
	}
	name, status, appID := c.query("check_name"), c.query("status"), c.query("app_id")
	latest := c.query("filter") != "all"
	seen := map[string]bool{}
	items := []any{}
	for i := len(r.checkRuns) - 1; i >= 0; i-- {
		cr := r.checkRuns[i]
		if cr.HeadSHA != sha || (name != "" && cr.Name != name) || (status != "" && cr.Status != status) ||
			(appID != "" && strconv.FormatInt(cr.App.ID, 10) != appID) {
			continue
		}
		key := cr.Name + "/" + strconv.FormatInt(cr.App.ID, 10)
		if latest && seen[key] {
			continue
		}
		seen[key] = true
		items = append(items, s.checkRunJSON(r, cr))
	}
	total := len(items)
	return http.StatusOK, obj{"total_count": total, "check_runs": c.page(items, 30, 100)}
}

func (s *Sim) createStatus(c *call) (int, any) {
	r := c.repo
	var req struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if err := c.decode(&req); err != nil || req.State == "" {
		return invalid("state", "missing_field")
	}
	sha := c.param("sha")
	if typ, err := r.git.objectType(sha); err != nil || typ != "commit" {
		return fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+sha)
	}
	if req.Context == "" {
		req.Context = "default"
	}
	st := &Status{ID: s.newID(), SHA: sha, State: req.State, Context: req.Context, Description: req.Description,
		TargetURL: req.TargetURL, Creator: c.actor(), CreatedAt: s.clock.tick()}
	r.statuses = append(r.statuses, st)
	return http.StatusCreated, s.statusJSON(r, st)
}

// AddStatus is a CI system (not the bot) reporting a commit status.
func (r *Repo) AddStatus(actor *User, sha, context, state string) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	r.statuses = append(r.statuses, &Status{ID: s.newID(), SHA: sha, State: state, Context: context, Creator: actor, CreatedAt: s.clock.tick()})
}

func (s *Sim) listStatuses(c *call) (int, any) {
	r := c.repo
	sha, err := r.resolveLocked(c.param("ref"))
	if err != nil {
		return notFound()
	}
	items := []any{}
	for i := len(r.statuses) - 1; i >= 0; i-- {
		if st := r.statuses[i]; st.SHA == sha {
			items = append(items, s.statusJSON(r, st))
		}
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) combinedStatus(c *call) (int, any) {
	r := c.repo
	sha, err := r.resolveLocked(c.param("ref"))
	if err != nil {
		return notFound()
	}
	latest := map[string]*Status{}
	var order []string
	for _, st := range r.statuses {
		if st.SHA != sha {
			continue
		}
		if _, ok := latest[st.Context]; !ok {
			order = append(order, st.Context)
		}
		latest[st.Context] = st
	}
	state := "success"
	statuses := []any{}
	for _, ctx := range order {
		st := latest[ctx]
		statuses = append(statuses, s.statusJSON(r, st))
		switch {
		case st.State == "failure" || st.State == "error":
			state = "failure"
		case st.State == "pending" && state != "failure":
			state = "pending"
		}
	}
	if len(order) == 0 {
		state = "pending"
	}
	return http.StatusOK, obj{"state": state, "statuses": statuses, "sha": sha, "total_count": len(order),
		"repository": s.repoJSON(r), "commit_url": s.api("repos/%s/commits/%s", r.FullName(), sha),
		"url": s.api("repos/%s/commits/%s/status", r.FullName(), sha)}
}
