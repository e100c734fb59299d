package ghsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (c *call) issue() *Issue {
	n, err := strconv.Atoi(c.param("issue_number"))
	if err != nil {
		return nil
	}
	return c.repo.issueLocked(n)
}

// listIssues is GET /issues: issues and pull requests, newest first,
// filtered by state, creator, labels and since (updated at or after).
func (s *Sim) listIssues(c *call) (int, any) {
	r := c.repo
	state := c.query("state")
	if state == "" {
		state = "open"
	}
	creator := c.query("creator")
	var labels []string
	if l := c.query("labels"); l != "" {
		labels = strings.Split(l, ",")
	}
	var since time.Time
	if v := c.query("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return invalid("since", "invalid")
		}
		since = t
	}
	items := []any{}
	for i := len(r.issues) - 1; i >= 0; i-- {
		is := r.issues[i]
		if (state != "all" && is.State != state) || (creator != "" && is.User.Login != creator) || is.UpdatedAt.Before(since) {
			continue
		}
		has := true
		for _, want := range labels {
			found := false
			for _, l := range is.Labels {
				found = found || strings.EqualFold(l.Name, want)
			}
			has = has && found
		}
		if has {
			items = append(items, s.issueJSON(r, is))
		}
	}
	if c.query("direction") == "asc" {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) getIssue(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	return http.StatusOK, s.issueJSON(c.repo, is)
}

func (s *Sim) createIssue(c *call) (int, any) {
	var req struct {
		Title     string   `json:"title"`
		Body      string   `json:"body"`
		Labels    []string `json:"labels"`
		Assignees []string `json:"assignees"`
	}
	if err := c.decode(&req); err != nil || req.Title == "" {
		return invalid("title", "missing_field")
	}
	var assignees []*User
	for _, a := range req.Assignees {
		if u, ok := s.users[a]; ok {
			assignees = append(assignees, u)
		}
	}
	is := c.repo.createIssueLocked(c.actor(), req.Title, req.Body, req.Labels, assignees)
	return http.StatusCreated, s.issueJSON(c.repo, is)
}

func (s *Sim) updateIssue(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	var req struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
	}
	if err := c.decode(&req); err != nil {
		return invalid("state", "invalid")
	}
	if req.Title != nil {
		is.Title = *req.Title
	}
	if req.Body != nil {
		is.Body = *req.Body
	}
	is.UpdatedAt = s.clock.tick()
	if req.State != nil {
		if err := c.repo.setStateLocked(is, c.actor(), *req.State, c.app); err != nil {
			return failErr(err)
		}
	}
	return http.StatusOK, s.issueJSON(c.repo, is)
}

func (s *Sim) listRepoLabels(c *call) (int, any) {
	items := []any{}
	for _, l := range c.repo.labels {
		items = append(items, s.labelJSONIn(c.repo, l))
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) getLabel(c *call) (int, any) {
	l := c.repo.labelLocked(unescape(c.param("name")), false)
	if l == nil {
		return notFound()
	}
	return http.StatusOK, s.labelJSONIn(c.repo, l)
}

func (s *Sim) createLabel(c *call) (int, any) {
	var req struct {
		Name        string `json:"name"`
		Color       string `json:"color"`
		Description string `json:"description"`
	}
	if err := c.decode(&req); err != nil || req.Name == "" {
		return invalid("name", "missing_field")
	}
	if c.repo.labelLocked(req.Name, false) != nil {
		e := &apiErr{422, "Validation Failed", []map[string]any{{"resource": "Label", "code": "already_exists", "field": "name"}}}
		return 422, e.body()
	}
	color := req.Color
	if color == "" {
		color = "ededed"
	}
	l := &Label{ID: s.newID(), Name: req.Name, Color: color, Description: req.Description}
	c.repo.labels = append(c.repo.labels, l)
	return http.StatusCreated, s.labelJSONIn(c.repo, l)
}

// updateLabel is PATCH /repos/{o}/{r}/labels/{name}: colour, description
// or a new name (a name another label has is refused, as GitHub does).
func (s *Sim) updateLabel(c *call) (int, any) {
	l := c.repo.labelLocked(unescape(c.param("name")), false)
	if l == nil {
		return notFound()
	}
	var req struct {
		NewName     *string `json:"new_name"`
		Color       *string `json:"color"`
		Description *string `json:"description"`
	}
	if err := c.decode(&req); err != nil {
		return invalid("color", "invalid")
	}
	if req.NewName != nil && !strings.EqualFold(*req.NewName, l.Name) && c.repo.labelLocked(*req.NewName, false) != nil {
		e := &apiErr{422, "Validation Failed", []map[string]any{{"resource": "Label", "code": "already_exists", "field": "name"}}}
		return 422, e.body()
	}
	if req.NewName != nil {
		l.Name = *req.NewName
	}
	if req.Color != nil {
		l.Color = *req.Color
	}
	if req.Description != nil {
		l.Description = *req.Description
	}
	return http.StatusOK, s.labelJSONIn(c.repo, l)
}

func (s *Sim) issueLabels(r *Repo, is *Issue) []any {
	items := []any{}
	for _, l := range is.Labels {
		items = append(items, s.labelJSONIn(r, l))
	}
	return items
}

func (s *Sim) listIssueLabels(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	return http.StatusOK, c.page(s.issueLabels(c.repo, is), 30, 100)
}

// addLabels accepts GitHub's two body forms: {"labels": [...]} or a bare
// array. Labels that do not exist are created, like GitHub does.
func (s *Sim) addLabels(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	var names []string
	if err := json.Unmarshal(c.body, &names); err != nil {
		var wrapped struct {
			Labels []string `json:"labels"`
		}
		if err := json.Unmarshal(c.body, &wrapped); err != nil {
			return invalid("labels", "invalid")
		}
		names = wrapped.Labels
	}
	for _, n := range names {
		c.repo.addLabelLocked(is, c.actor(), n, c.app)
	}
	return http.StatusOK, s.issueLabels(c.repo, is)
}

func (s *Sim) removeLabel(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	if !c.repo.removeLabelLocked(is, c.actor(), unescape(c.param("name")), c.app) {
		return fail(http.StatusNotFound, "Label does not exist")
	}
	return http.StatusOK, s.issueLabels(c.repo, is)
}

func (s *Sim) listEvents(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	items := []any{}
	for _, e := range is.Events {
		items = append(items, s.eventJSON(c.repo, is, e))
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) listComments(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	var since time.Time
	if v := c.query("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return invalid("since", "invalid")
		}
		since = t
	}
	items := []any{}
	for _, cm := range is.Comments {
		if !cm.UpdatedAt.Before(since) {
			items = append(items, s.commentJSON(c.repo, cm))
		}
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) createComment(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	var req struct {
		Body string `json:"body"`
	}
	if err := c.decode(&req); err != nil || req.Body == "" {
		return invalid("body", "missing_field")
	}
	if len(req.Body) > 65536 {
		return invalid("body", "too_long")
	}
	cm := c.repo.commentLocked(is, c.actor(), req.Body, c.app)
	return http.StatusCreated, s.commentJSON(c.repo, cm)
}

// getComment is GET /issues/comments/{comment_id}: the comment as it is
// now (edited: its new body and updated_at); 404 once it was deleted.
func (s *Sim) getComment(c *call) (int, any) {
	id, _ := strconv.ParseInt(c.param("comment_id"), 10, 64)
	cm := c.repo.comments[id]
	if cm == nil {
		return notFound()
	}
	return http.StatusOK, s.commentJSON(c.repo, cm)
}

func (s *Sim) updateComment(c *call) (int, any) {
	id, _ := strconv.ParseInt(c.param("comment_id"), 10, 64)
	cm := c.repo.comments[id]
	if cm == nil {
		return notFound()
	}
	var req struct {
		Body string `json:"body"`
	}
	if err := c.decode(&req); err != nil || req.Body == "" {
		return invalid("body", "missing_field")
	}
	old := cm.Body
	cm.Body, cm.UpdatedAt = req.Body, s.clock.tick()
	s.emit(c.repo, "issue_comment", "edited", c.actor(), map[string]any{
		"issue": s.issueJSON(c.repo, cm.Issue), "comment": s.commentJSON(c.repo, cm),
		"changes": map[string]any{"body": map[string]any{"from": old}},
	})
	return http.StatusOK, s.commentJSON(c.repo, cm)
}

func (s *Sim) deleteComment(c *call) (int, any) {
	id, _ := strconv.ParseInt(c.param("comment_id"), 10, 64)
	if !c.repo.deleteComment(c.actor(), id) {
		return notFound()
	}
	return http.StatusNoContent, nil
}

func (s *Sim) addAssignees(c *call) (int, any) {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	var req struct {
		Assignees []string `json:"assignees"`
	}
	if err := c.decode(&req); err != nil {
		return invalid("assignees", "invalid")
	}
	for _, login := range req.Assignees {
		u, ok := s.users[login]
		if !ok {
			continue // GitHub silently ignores people who cannot be assigned
		}
		dup := false
		for _, a := range is.Assignees {
			dup = dup || a == u
		}
		if !dup {
			is.Assignees = append(is.Assignees, u)
		}
	}
	is.UpdatedAt = s.clock.tick()
	return http.StatusCreated, s.issueJSON(c.repo, is)
}

// createReaction answers 201 for a new reaction and 200 when the same
// person already reacted with the same emoji.
func (s *Sim) createReaction(c *call) (int, any) {
	id, _ := strconv.ParseInt(c.param("comment_id"), 10, 64)
	cm := c.repo.comments[id]
	if cm == nil {
		return notFound()
	}
	var req struct {
		Content string `json:"content"`
	}
	if err := c.decode(&req); err != nil || req.Content == "" {
		return invalid("content", "missing_field")
	}
	reactionJSON := func(re *Reaction) obj {
		return obj{"id": re.ID, "node_id": nodeID("Reaction", re.ID), "user": s.userJSON(re.User), "content": re.Content, "created_at": ts(re.CreatedAt)}
	}
	for _, re := range cm.Reactions {
		if re.User == c.actor() && re.Content == req.Content {
			return http.StatusOK, reactionJSON(re)
		}
	}
	re := &Reaction{ID: s.newID(), User: c.actor(), Content: req.Content, CreatedAt: s.clock.tick()}
	cm.Reactions = append(cm.Reactions, re)
	return http.StatusCreated, reactionJSON(re)
}
