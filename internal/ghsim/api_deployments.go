package ghsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

func (s *Sim) listDeployments(c *call) (int, any) {
	r := c.repo
	sha, ref, task, env := c.query("sha"), c.query("ref"), c.query("task"), c.query("environment")
	items := []any{}
	for i := len(r.deployments) - 1; i >= 0; i-- { // newest first
		d := r.deployments[i]
		if (sha != "" && d.SHA != sha) || (ref != "" && d.Ref != ref) || (task != "" && d.Task != task) || (env != "" && d.Environment != env) || !r.listedLocked(d) {
			continue
		}
		items = append(items, s.deploymentJSON(r, d))
	}
	return http.StatusOK, c.page(items, 30, 100)
}

// createDeployment follows GitHub's checks: auto_merge (default true)
// would merge the default branch into ref first (the simulator refuses with
// 409 when that is needed, as GitHub does on conflict); required_contexts
// (default: every context) must all be successful on the commit.
func (s *Sim) createDeployment(c *call) (int, any) {
	r := c.repo
	var req struct {
		Ref                   string          `json:"ref"`
		Task                  *string         `json:"task"`
		AutoMerge             *bool           `json:"auto_merge"`
		RequiredContexts      *[]string       `json:"required_contexts"`
		Payload               json.RawMessage `json:"payload"`
		Environment           *string         `json:"environment"`
		Description           *string         `json:"description"`
		TransientEnvironment  bool            `json:"transient_environment"`
		ProductionEnvironment *bool           `json:"production_environment"`
	}
	if err := c.decode(&req); err != nil || req.Ref == "" {
		return invalid("ref", "missing_field")
	}
	sha, err := r.resolveLocked(req.Ref)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "No ref found for: "+req.Ref)
	}
	if req.AutoMerge == nil || *req.AutoMerge {
		def, _ := r.git.revParse(r.branchRef(r.DefaultBranch))
		if ok, _ := r.git.isAncestor(def, sha); !ok {
			return fail(http.StatusConflict, fmt.Sprintf("Conflict merging %s into %s.", r.DefaultBranch, req.Ref))
		}
	}
	if req.RequiredContexts == nil {
		latest := map[string]string{}
		for _, st := range r.statuses {
			if st.SHA == sha {
				latest[st.Context] = st.State
			}
		}
		for ctx, state := range latest {
			if state != "success" {
				return fail(http.StatusConflict, fmt.Sprintf("Conflict: Commit status checks failed for %s (%s is %s).", req.Ref, ctx, state))
			}
		}
	}
	env := "production"
	if req.Environment != nil {
		env = *req.Environment
	}
	task := "deploy"
	if req.Task != nil {
		task = *req.Task
	}
	payload := req.Payload
	if len(payload) == 0 || string(payload) == "null" {
		payload = json.RawMessage(`{}`)
	} else if payload[0] == '"' {
		// A string payload is JSON text; GitHub stores it parsed.
		var text string
		_ = json.Unmarshal(payload, &text)
		if json.Valid([]byte(text)) {
			payload = json.RawMessage(text)
		}
	}
	prod := env == "production"
	if req.ProductionEnvironment != nil {
		prod = *req.ProductionEnvironment
	}
	d := &Deployment{ID: s.newID(), SHA: sha, Ref: req.Ref, Task: task, Environment: env, Payload: payload,
		Creator: c.actor(), CreatedAt: s.clock.tick(), Production: prod, Transient: req.TransientEnvironment, App: c.app}
	if req.Description != nil {
		d.Description = *req.Description
	}
	r.deployments = append(r.deployments, d)
	s.emit(r, "deployment", "created", c.actor(), map[string]any{"deployment": s.deploymentJSON(r, d)})
	r.deployedLocked(d)
	return http.StatusCreated, s.deploymentJSON(r, d)
}

func (c *call) deployment() *Deployment {
	id, _ := strconv.ParseInt(c.param("deployment_id"), 10, 64)
	return c.repo.deploymentLocked(id)
}

func (s *Sim) getDeployment(c *call) (int, any) {
	d := c.deployment()
	if d == nil {
		return notFound()
	}
	return http.StatusOK, s.deploymentJSON(c.repo, d)
}

func (s *Sim) listDeploymentStatuses(c *call) (int, any) {
	d := c.deployment()
	if d == nil {
		return notFound()
	}
	items := []any{}
	for i := len(d.Statuses) - 1; i >= 0; i-- { // newest first
		items = append(items, s.deploymentStatusJSON(c.repo, d, d.Statuses[i]))
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) createDeploymentStatus(c *call) (int, any) {
	d := c.deployment()
	if d == nil {
		return notFound()
	}
	var req struct {
		State        string `json:"state"`
		LogURL       string `json:"log_url"`
		TargetURL    string `json:"target_url"`
		Description  string `json:"description"`
		AutoInactive *bool  `json:"auto_inactive"`
	}
	if err := c.decode(&req); err != nil || req.State == "" {
		return invalid("state", "missing_field")
	}
	if req.LogURL == "" {
		req.LogURL = req.TargetURL
	}
	st := c.repo.addDeploymentStatusLocked(d, c.actor(), req.State, req.Description, req.LogURL, c.app)
	if req.State == "success" && (req.AutoInactive == nil || *req.AutoInactive) {
		c.repo.inactivatePriorLocked(d, c.actor(), c.app)
	}
	return http.StatusCreated, s.deploymentStatusJSON(c.repo, d, st)
}
