package ghsim

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// JSON views of simulator objects, in GitHub's REST and webhook shapes.
// All of them run with the simulator's lock held.

type obj = map[string]any

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Sim) api(format string, args ...any) string {
	return s.URL() + fmt.Sprintf(format, args...)
}

func (s *Sim) web(format string, args ...any) string {
	return s.srv.URL + "/" + fmt.Sprintf(format, args...)
}

func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%s:%d", kind, id)))
}

func (s *Sim) userJSON(u *User) any {
	if u == nil {
		return nil
	}
	return obj{
		"login": u.Login, "id": u.ID, "node_id": nodeID("User", u.ID),
		"avatar_url": s.web("avatars/%s", u.Login), "gravatar_id": "",
		"url": s.api("users/%s", u.Login), "html_url": s.web("%s", u.Login),
		"followers_url": s.api("users/%s/followers", u.Login), "following_url": s.api("users/%s/following{/other_user}", u.Login),
		"gists_url": s.api("users/%s/gists{/gist_id}", u.Login), "starred_url": s.api("users/%s/starred{/owner}{/repo}", u.Login),
		"subscriptions_url": s.api("users/%s/subscriptions", u.Login), "organizations_url": s.api("users/%s/orgs", u.Login),
		"repos_url": s.api("users/%s/repos", u.Login), "events_url": s.api("users/%s/events{/privacy}", u.Login),
		"received_events_url": s.api("users/%s/received_events", u.Login), "type": u.Type, "site_admin": false,
	}
}

func (s *Sim) repoJSON(r *Repo) obj {
	full := r.FullName()
	pushed := r.CreatedAt
	for _, a := range r.activities {
		pushed = a.Timestamp
	}
	vis := "public"
	if r.Private {
		vis = "private"
	}
	o := obj{
		"id": r.ID, "node_id": nodeID("Repository", r.ID), "name": r.Name, "full_name": full,
		"private": r.Private, "owner": s.userJSON(r.Owner), "html_url": s.web("%s", full),
		"description": nil, "fork": r.forkOf != nil, "url": s.api("repos/%s", full),
		"archive_url":     s.api("repos/%s/{archive_format}{/ref}", full),
		"branches_url":    s.api("repos/%s/branches{/branch}", full),
		"commits_url":     s.api("repos/%s/commits{/sha}", full),
		"compare_url":     s.api("repos/%s/compare/{base}...{head}", full),
		"contents_url":    s.api("repos/%s/contents/{+path}", full),
		"deployments_url": s.api("repos/%s/deployments", full),
		"issues_url":      s.api("repos/%s/issues{/number}", full),
		"labels_url":      s.api("repos/%s/labels{/name}", full),
		"pulls_url":       s.api("repos/%s/pulls{/number}", full),
		"statuses_url":    s.api("repos/%s/statuses/{sha}", full),
		"tags_url":        s.api("repos/%s/tags", full),
		"git_refs_url":    s.api("repos/%s/git/refs{/sha}", full),
		"git_tags_url":    s.api("repos/%s/git/tags{/sha}", full),
		"created_at":      ts(r.CreatedAt), "updated_at": ts(pushed), "pushed_at": ts(pushed),
		"git_url":   "git://" + strings.TrimPrefix(s.srv.URL, "http://") + "/" + full + ".git",
		"ssh_url":   "git@" + strings.TrimPrefix(s.srv.URL, "http://") + ":" + full + ".git",
		"clone_url": s.web("%s.git", full),
		"homepage":  nil, "size": 0, "stargazers_count": 0, "watchers_count": 0, "language": "Go",
		"has_issues": true, "has_projects": false, "has_downloads": true, "has_wiki": false, "has_pages": false,
		"has_discussions": false, "forks_count": 0, "mirror_url": nil, "archived": false, "disabled": false,
		"open_issues_count": r.openIssues(), "license": nil, "allow_forking": true, "is_template": false,
		"web_commit_signoff_required": false, "topics": []any{}, "visibility": vis, "forks": 0,
		"open_issues": r.openIssues(), "watchers": 0, "default_branch": r.DefaultBranch,
	}
	if r.forkOf != nil {
		o["parent"] = obj{"id": r.forkOf.ID, "full_name": r.forkOf.FullName(), "name": r.forkOf.Name}
	}
	return o
}

func (r *Repo) openIssues() int {
	n := 0
	for _, is := range r.issues {
		if is.State == "open" {
			n++
		}
	}
	return n
}

func labelJSON(l *Label) obj {
	return obj{
		"id": l.ID, "node_id": nodeID("Label", l.ID), "url": "", "name": l.Name,
		"color": l.Color, "default": false, "description": nilIfEmpty(l.Description),
	}
}

func (s *Sim) labelJSONIn(r *Repo, l *Label) obj {
	o := labelJSON(l)
	o["url"] = s.api("repos/%s/labels/%s", r.FullName(), url.PathEscape(l.Name))
	return o
}

func nilIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func (s *Sim) association(r *Repo, u *User) string {
	switch {
	case u == nil:
		return "NONE"
	case u.Login == r.Owner.Login:
		return "OWNER"
	case r.roles[u.Login] != "":
		return "COLLABORATOR"
	}
	return "NONE"
}

func (s *Sim) issueJSON(r *Repo, is *Issue) obj {
	full := r.FullName()
	labels := []any{}
	for _, l := range is.Labels {
		labels = append(labels, s.labelJSONIn(r, l))
	}
	assignees := []any{}
	for _, a := range is.Assignees {
		assignees = append(assignees, s.userJSON(a))
	}
	var assignee any
	if len(is.Assignees) > 0 {
		assignee = s.userJSON(is.Assignees[0])
	}
	o := obj{
		"id": int64(is.Number) + r.ID*100000, "node_id": nodeID("Issue", int64(is.Number)+r.ID*100000),
		"url":            s.api("repos/%s/issues/%d", full, is.Number),
		"repository_url": s.api("repos/%s", full),
		"labels_url":     s.api("repos/%s/issues/%d/labels{/name}", full, is.Number),
		"comments_url":   s.api("repos/%s/issues/%d/comments", full, is.Number),
		"events_url":     s.api("repos/%s/issues/%d/events", full, is.Number),
		"html_url":       s.web("%s/issues/%d", full, is.Number),
		"number":         is.Number, "state": is.State, "title": is.Title, "body": nilIfEmpty(is.Body),
		"user": s.userJSON(is.User), "labels": labels, "assignee": assignee, "assignees": assignees,
		"milestone": nil, "locked": false, "active_lock_reason": nil, "comments": len(is.Comments),
		"created_at": ts(is.CreatedAt), "updated_at": ts(is.UpdatedAt), "closed_at": ts(is.ClosedAt),
		"author_association": s.association(r, is.User), "state_reason": nil,
	}
	if is.PR != nil {
		o["html_url"] = s.web("%s/pull/%d", full, is.Number)
		o["pull_request"] = obj{
			"url":       s.api("repos/%s/pulls/%d", full, is.Number),
			"html_url":  s.web("%s/pull/%d", full, is.Number),
			"diff_url":  s.web("%s/pull/%d.diff", full, is.Number),
			"patch_url": s.web("%s/pull/%d.patch", full, is.Number),
			"merged_at": ts(is.PR.MergedAt),
		}
	}
	return o
}

func (s *Sim) prJSON(r *Repo, is *Issue) obj {
	full := r.FullName()
	pr := is.PR
	base := s.issueJSON(r, is)
	baseSHA, _ := r.git.revParse(r.branchRef(pr.BaseRef))
	branch := func(repo *Repo, ref, sha string) obj {
		return obj{
			"label": repo.Owner.Login + ":" + ref, "ref": ref, "sha": sha,
			"user": s.userJSON(repo.Owner), "repo": s.repoJSON(repo),
		}
	}
	mergeable, state := any(nil), "unknown"
	commits, additions, deletions, changed := 0, 0, 0, 0
	if !pr.Merged && is.State == "open" {
		if _, conflicts, err := r.git.mergeTree(baseSHA, pr.HeadSHA, ""); err == nil {
			mergeable = len(conflicts) == 0
			state = r.mergeableState(pr, len(conflicts) > 0)
		}
	}
	if mb, err := r.git.mergeBase(baseSHA, pr.HeadSHA); err == nil {
		commits, _ = r.git.count(mb, pr.HeadSHA)
		if files, err := r.git.diff(mb, pr.HeadSHA); err == nil {
			changed = len(files)
			for _, f := range files {
				additions += f.Additions
				deletions += f.Deletions
			}
		}
	}
	if pr.Merged {
		mergeable = nil
	}
	reviewers := []any{}
	for _, u := range pr.Reviewers {
		reviewers = append(reviewers, s.userJSON(u))
	}
	o := obj{
		"url": s.api("repos/%s/pulls/%d", full, is.Number), "id": base["id"], "node_id": nodeID("PullRequest", base["id"].(int64)),
		"html_url":  s.web("%s/pull/%d", full, is.Number),
		"diff_url":  s.web("%s/pull/%d.diff", full, is.Number),
		"patch_url": s.web("%s/pull/%d.patch", full, is.Number),
		"issue_url": s.api("repos/%s/issues/%d", full, is.Number),
		"number":    is.Number, "state": is.State, "locked": false, "title": is.Title,
		"user": s.userJSON(is.User), "body": nilIfEmpty(is.Body),
		"created_at": ts(is.CreatedAt), "updated_at": ts(is.UpdatedAt), "closed_at": ts(is.ClosedAt),
		"merged_at": ts(pr.MergedAt), "merge_commit_sha": nilIfEmpty(pr.MergeCommitSHA),
		"assignee": base["assignee"], "assignees": base["assignees"],
		"requested_reviewers": reviewers, "requested_teams": []any{}, "labels": base["labels"],
		"milestone": nil, "draft": pr.Draft,
		"commits_url":         s.api("repos/%s/pulls/%d/commits", full, is.Number),
		"review_comments_url": s.api("repos/%s/pulls/%d/comments", full, is.Number),
		"review_comment_url":  s.api("repos/%s/pulls/comments{/number}", full),
		"comments_url":        s.api("repos/%s/issues/%d/comments", full, is.Number),
		"statuses_url":        s.api("repos/%s/statuses/%s", full, pr.HeadSHA),
		"head":                branch(pr.HeadRepo, pr.HeadRef, pr.HeadSHA),
		"base":                branch(r, pr.BaseRef, baseSHA),
		"_links": obj{
			"self":     obj{"href": s.api("repos/%s/pulls/%d", full, is.Number)},
			"html":     obj{"href": s.web("%s/pull/%d", full, is.Number)},
			"issue":    obj{"href": s.api("repos/%s/issues/%d", full, is.Number)},
			"comments": obj{"href": s.api("repos/%s/issues/%d/comments", full, is.Number)},
			"statuses": obj{"href": s.api("repos/%s/statuses/%s", full, pr.HeadSHA)},
		},
		"author_association": base["author_association"], "auto_merge": nil, "active_lock_reason": nil,
		"merged": pr.Merged, "mergeable": mergeable, "rebaseable": mergeable, "mergeable_state": state,
		"merged_by": s.userJSON(pr.MergedBy), "comments": len(is.Comments), "review_comments": 0,
		"maintainer_can_modify": false, "commits": commits, "additions": additions, "deletions": deletions,
		"changed_files": changed,
	}
	return o
}

// userByEmail finds the account behind a commit's email, as GitHub maps
// commits to accounts: a noreply address (`login@users.noreply.github.com`
// or `ID+login@users.noreply.github.com`, the ID the account's), or an
// email the account verified (AddEmail). Any other email maps to no one.
func (s *Sim) userByEmail(email string) *User {
	email = strings.ToLower(email)
	if login, ok := strings.CutSuffix(email, "@users.noreply.github.com"); ok {
		id, name, hasID := strings.Cut(login, "+")
		if !hasID {
			name = login
		}
		for _, u := range s.users {
			if strings.EqualFold(u.Login, name) && (!hasID || strconv.FormatInt(u.ID, 10) == id) {
				return u
			}
		}
		return nil
	}
	return s.emails[email]
}

func (s *Sim) commitJSON(r *Repo, c commitInfo) obj {
	full := r.FullName()
	parents := []any{}
	for _, p := range c.Parents {
		parents = append(parents, obj{"sha": p, "url": s.api("repos/%s/commits/%s", full, p), "html_url": s.web("%s/commit/%s", full, p)})
	}
	person := func(id Identity) obj {
		return obj{"name": id.Name, "email": id.Email, "date": ts(id.When)}
	}
	return obj{
		"sha": c.SHA, "node_id": nodeID("Commit", int64(len(c.SHA))),
		"commit": obj{
			"author": person(c.Author), "committer": person(c.Committer), "message": c.Message,
			"tree":          obj{"sha": c.Tree, "url": s.api("repos/%s/git/trees/%s", full, c.Tree)},
			"url":           s.api("repos/%s/git/commits/%s", full, c.SHA),
			"comment_count": 0,
			"verification":  obj{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
		},
		"url":          s.api("repos/%s/commits/%s", full, c.SHA),
		"html_url":     s.web("%s/commit/%s", full, c.SHA),
		"comments_url": s.api("repos/%s/commits/%s/comments", full, c.SHA),
		"author":       s.userJSON(s.userByEmail(c.Author.Email)),
		"committer":    s.userJSON(s.userByEmail(c.Committer.Email)),
		"parents":      parents,
	}
}

func (s *Sim) fileJSON(r *Repo, ref string, f changedFile) obj {
	full := r.FullName()
	o := obj{
		"sha": f.SHA, "filename": f.Filename, "status": f.Status,
		"additions": f.Additions, "deletions": f.Deletions, "changes": f.Additions + f.Deletions,
		"blob_url":     s.web("%s/blob/%s/%s", full, ref, f.Filename),
		"raw_url":      s.web("%s/raw/%s/%s", full, ref, f.Filename),
		"contents_url": s.api("repos/%s/contents/%s?ref=%s", full, f.Filename, ref),
	}
	if f.PreviousFilename != "" {
		o["previous_filename"] = f.PreviousFilename
	}
	return o
}

func (s *Sim) appJSON(a *App) obj {
	events := []string{}
	for _, e := range a.Events {
		if !unlistedAppEvents[e] {
			events = append(events, e)
		}
	}
	return obj{
		"id": a.ID, "slug": a.Slug, "node_id": nodeID("App", a.ID), "name": a.Name,
		"owner": s.userJSON(s.users[a.Bot.Login]), "description": "", "external_url": s.web("apps/%s", a.Slug),
		"html_url": s.web("apps/%s", a.Slug), "created_at": ts(time.Unix(0, 0)), "updated_at": ts(time.Unix(0, 0)),
		"permissions": a.Permissions, "events": events,
	}
}

// unlistedAppEvents are events an app can subscribe to that GitHub's
// webhook schemas do not list among an app's events (their enum predates
// them); a delivery that named them would fail GitHub's own schema, so the
// simulator's app objects leave them out.
var unlistedAppEvents = map[string]bool{"deployment_protection_rule": true}

// prsAt is the pull_requests of a check run or suite on sha, as GitHub
// gives them: the open pull requests of the repository itself (not of
// forks) whose head is sha, in their minimal form.
func (s *Sim) prsAt(r *Repo, sha string) []any {
	full := r.FullName()
	prs := []any{}
	for _, is := range r.issues {
		if is.PR != nil && is.State == "open" && is.PR.HeadSHA == sha && is.PR.HeadRepo == r {
			baseSHA, _ := r.git.revParse(r.branchRef(is.PR.BaseRef))
			repo := obj{"id": r.ID, "url": s.api("repos/%s", full), "name": r.Name}
			prs = append(prs, obj{
				"url": s.api("repos/%s/pulls/%d", full, is.Number), "id": int64(is.Number) + r.ID*100000, "number": is.Number,
				"head": obj{"ref": is.PR.HeadRef, "sha": is.PR.HeadSHA, "repo": repo},
				"base": obj{"ref": is.PR.BaseRef, "sha": baseSHA, "repo": repo},
			})
		}
	}
	return prs
}

func (s *Sim) checkRunJSON(r *Repo, cr *CheckRun) obj {
	full := r.FullName()
	prs := s.prsAt(r, cr.HeadSHA)
	// Without a details_url of its own, GitHub links a run's Details to
	// its app's public page (the webhook schema has it always a string).
	details := cr.DetailsURL
	if details == "" && cr.App != nil {
		details = s.web("apps/%s", cr.App.Slug)
	}
	return obj{
		"id": cr.ID, "head_sha": cr.HeadSHA, "node_id": nodeID("CheckRun", cr.ID),
		"external_id": cr.ExternalID, "url": s.api("repos/%s/check-runs/%d", full, cr.ID),
		"html_url": s.web("%s/runs/%d", full, cr.ID), "details_url": nilIfEmpty(details),
		"status": cr.Status, "conclusion": nilIfEmpty(cr.Conclusion),
		"started_at": ts(cr.StartedAt), "completed_at": ts(cr.CompletedAt),
		"output": obj{
			"title": nilIfEmpty(cr.Title), "summary": nilIfEmpty(cr.Summary), "text": nilIfEmpty(cr.Text),
			"annotations_count": len(cr.Annotations),
			"annotations_url":   s.api("repos/%s/check-runs/%d/annotations", full, cr.ID),
		},
		"name": cr.Name,
		"check_suite": obj{
			"id": cr.SuiteID, "node_id": nodeID("CheckSuite", cr.SuiteID), "head_branch": nilIfEmpty(r.branchAt(cr.HeadSHA)),
			"head_sha": cr.HeadSHA, "status": cr.Status, "conclusion": nilIfEmpty(cr.Conclusion),
			"url": s.api("repos/%s/check-suites/%d", full, cr.SuiteID), "app": s.appJSON(cr.App),
			"before": nil, "after": cr.HeadSHA, "pull_requests": prs,
			"created_at": ts(cr.StartedAt), "updated_at": ts(cr.StartedAt),
		},
		"app":           s.appJSON(cr.App),
		"pull_requests": prs,
	}
}

func (s *Sim) commentJSON(r *Repo, c *Comment) obj {
	full := r.FullName()
	reactions := obj{"url": s.api("repos/%s/issues/comments/%d/reactions", full, c.ID), "total_count": len(c.Reactions),
		"+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0}
	for _, re := range c.Reactions {
		reactions[re.Content] = reactions[re.Content].(int) + 1
	}
	o := obj{
		"id": c.ID, "node_id": nodeID("IssueComment", c.ID),
		"url":       s.api("repos/%s/issues/comments/%d", full, c.ID),
		"html_url":  s.web("%s/issues/%d#issuecomment-%d", full, c.Issue.Number, c.ID),
		"issue_url": s.api("repos/%s/issues/%d", full, c.Issue.Number),
		"body":      c.Body, "user": s.userJSON(c.User),
		"created_at": ts(c.CreatedAt), "updated_at": ts(c.UpdatedAt),
		"author_association": s.association(r, c.User), "reactions": reactions,
		"performed_via_github_app": nil,
	}
	if c.App != nil {
		o["performed_via_github_app"] = s.appJSON(c.App)
	}
	return o
}

func (s *Sim) eventJSON(r *Repo, is *Issue, e *IssueEvent) obj {
	o := obj{
		"id": e.ID, "node_id": nodeID("Event", e.ID),
		"url":   s.api("repos/%s/issues/events/%d", r.FullName(), e.ID),
		"actor": s.userJSON(e.Actor), "event": e.Event,
		"commit_id": nilIfEmpty(e.CommitID), "commit_url": nil,
		"created_at": ts(e.CreatedAt), "performed_via_github_app": nil,
	}
	if e.Label != nil {
		o["label"] = obj{"name": e.Label.Name, "color": e.Label.Color}
	}
	if e.App != nil {
		o["performed_via_github_app"] = s.appJSON(e.App)
	}
	return o
}

func (s *Sim) deploymentJSON(r *Repo, d *Deployment) obj {
	full := r.FullName()
	return obj{
		"url": s.api("repos/%s/deployments/%d", full, d.ID), "id": d.ID, "node_id": nodeID("Deployment", d.ID),
		"sha": d.SHA, "ref": d.Ref, "task": d.Task, "payload": d.Payload, "original_environment": d.Environment,
		"environment": d.Environment, "description": nilIfEmpty(d.Description), "creator": s.userJSON(d.Creator),
		"created_at": ts(d.CreatedAt), "updated_at": ts(d.CreatedAt),
		"statuses_url":             s.api("repos/%s/deployments/%d/statuses", full, d.ID),
		"repository_url":           s.api("repos/%s", full),
		"transient_environment":    d.Transient,
		"production_environment":   d.Production,
		"performed_via_github_app": s.appOrNil(d.App),
	}
}

func (s *Sim) appOrNil(a *App) any {
	if a == nil {
		return nil
	}
	return s.appJSON(a)
}

func (s *Sim) deploymentStatusJSON(r *Repo, d *Deployment, st *DeploymentStatus) obj {
	full := r.FullName()
	return obj{
		"url": s.api("repos/%s/deployments/%d/statuses/%d", full, d.ID, st.ID), "id": st.ID,
		"node_id": nodeID("DeploymentStatus", st.ID), "state": st.State, "creator": s.userJSON(st.Creator),
		"description": st.Description, "environment": st.Environment, "target_url": st.LogURL,
		"log_url": st.LogURL, "environment_url": st.EnvironmentURL,
		"created_at": ts(st.CreatedAt), "updated_at": ts(st.CreatedAt),
		"deployment_url": s.api("repos/%s/deployments/%d", full, d.ID),
		"repository_url": s.api("repos/%s", full),
	}
}

func (s *Sim) statusJSON(r *Repo, st *Status) obj {
	return obj{
		"url": s.api("repos/%s/statuses/%s", r.FullName(), st.SHA), "id": st.ID, "node_id": nodeID("Status", st.ID),
		"state": st.State, "description": nilIfEmpty(st.Description), "target_url": nilIfEmpty(st.TargetURL),
		"context": st.Context, "created_at": ts(st.CreatedAt), "updated_at": ts(st.CreatedAt),
		"creator": s.userJSON(st.Creator), "avatar_url": nil,
	}
}

func (s *Sim) refJSON(r *Repo, ref gitRef) obj {
	full := r.FullName()
	typ := ref.Type
	urlKind := "commits"
	if typ == "tag" {
		urlKind = "tags"
	}
	return obj{
		"ref": ref.Name, "node_id": nodeID("Ref", int64(len(ref.Name))),
		"url":    s.api("repos/%s/git/%s", full, ref.Name),
		"object": obj{"type": typ, "sha": ref.Object, "url": s.api("repos/%s/git/%s/%s", full, urlKind, ref.Object)},
	}
}
