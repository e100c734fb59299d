package ghsim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Apps and installation tokens.

func (s *Sim) getApp(c *call) (int, any) { return http.StatusOK, s.appJSON(c.app) }

func (s *Sim) createToken(c *call) (int, any) {
	id, _ := strconv.ParseInt(c.param("installation_id"), 10, 64)
	in, ok := s.installs[id]
	if !ok || in.App != c.app {
		return notFound()
	}
	t := &token{value: "ghs_" + randomHex(18), install: in, expires: time.Now().Add(time.Hour)}
	s.tokens[t.value] = t
	repos := []any{}
	for _, r := range in.Repos {
		repos = append(repos, s.repoJSON(r))
	}
	return http.StatusCreated, obj{
		"token": t.value, "expires_at": t.expires.UTC().Format(time.RFC3339),
		"permissions": in.App.Permissions, "repository_selection": "selected", "repositories": repos,
	}
}

// Repositories, contents, branches, tags, commits, comparisons.

func (s *Sim) getRepo(c *call) (int, any) { return http.StatusOK, s.repoJSON(c.repo) }

// getRepoInstallation finds the calling app's installation on a
// repository (404 when the app is not installed there).
func (s *Sim) getRepoInstallation(c *call) (int, any) {
	full := c.param("owner") + "/" + c.param("repo")
	for _, in := range s.installs {
		if in.App != c.app {
			continue
		}
		for name := range in.Repos {
			if strings.EqualFold(name, full) {
				return http.StatusOK, obj{
					"id": in.ID, "app_id": c.app.ID, "app_slug": c.app.Slug, "target_type": in.Account.Type,
					"account":           s.userJSON(in.Account),
					"access_tokens_url": s.api("app/installations/%d/access_tokens", in.ID),
					"repositories_url":  s.api("installation/repositories"),
					"html_url":          s.web("settings/installations/%d", in.ID),
					"permissions":       c.app.Permissions, "events": c.app.Events,
					"repository_selection": "selected", "created_at": ts(s.clock.Now()), "updated_at": ts(s.clock.Now()),
				}
			}
		}
	}
	return notFound()
}

func (s *Sim) getContent(c *call) (int, any) {
	r := c.repo
	ref := c.query("ref")
	if ref == "" {
		ref = r.DefaultBranch
	}
	sha, err := r.resolveLocked(ref)
	if err != nil {
		return notFound()
	}
	path := strings.Trim(c.param("path"), "/")
	if r.git.isDir(sha, path) {
		return http.StatusOK, []any{} // directory listings are not modelled
	}
	content, err := r.git.readFile(sha, path)
	if err != nil {
		return notFound()
	}
	name := path[strings.LastIndex(path, "/")+1:]
	full := r.FullName()
	return http.StatusOK, obj{
		"type": "file", "encoding": "base64", "size": len(content), "name": name, "path": path,
		"content": base64.StdEncoding.EncodeToString(content), "sha": fmt.Sprintf("%x", len(content)),
		"url":      s.api("repos/%s/contents/%s?ref=%s", full, path, ref),
		"git_url":  s.api("repos/%s/git/blobs/%s", full, sha),
		"html_url": s.web("%s/blob/%s/%s", full, ref, path), "download_url": s.web("%s/raw/%s/%s", full, ref, path),
		"_links": obj{"self": s.api("repos/%s/contents/%s", full, path), "git": nil, "html": nil},
	}
}

func (s *Sim) branchJSON(r *Repo, name, sha string) obj {
	return obj{
		"name":      name,
		"commit":    obj{"sha": sha, "url": s.api("repos/%s/commits/%s", r.FullName(), sha)},
		"protected": r.isProtected(name),
	}
}

// listBranches filters like GitHub: protected=true lists only branches a
// branch protection rule or ruleset covers, protected=false the others.
func (s *Sim) listBranches(c *call) (int, any) {
	refs, err := c.repo.git.refs(c.repo.refPrefix + "refs/heads/")
	if err != nil {
		return failErr(err)
	}
	only := c.query("protected")
	items := []any{}
	for _, ref := range refs {
		name := strings.TrimPrefix(ref.Name, c.repo.refPrefix+"refs/heads/")
		if (only == "true" && !c.repo.isProtected(name)) || (only == "false" && c.repo.isProtected(name)) {
			continue
		}
		items = append(items, s.branchJSON(c.repo, name, ref.Object))
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) getBranch(c *call) (int, any) {
	name := c.param("branch")
	sha, err := c.repo.git.revParse(c.repo.branchRef(name))
	if err != nil {
		return fail(http.StatusNotFound, "Branch not found")
	}
	infos, _ := c.repo.git.commits(sha)
	b := s.branchJSON(c.repo, name, sha)
	if len(infos) == 1 {
		b["commit"] = s.commitJSON(c.repo, infos[0])
	}
	return http.StatusOK, b
}

func (s *Sim) listTags(c *call) (int, any) {
	refs, err := c.repo.git.refs("refs/tags/")
	if err != nil {
		return failErr(err)
	}
	// GitHub lists tags newest name first.
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name > refs[j].Name })
	items := []any{}
	full := c.repo.FullName()
	for _, ref := range refs {
		name := strings.TrimPrefix(ref.Name, "refs/tags/")
		items = append(items, obj{
			"name":        name,
			"commit":      obj{"sha": ref.Commit(), "url": s.api("repos/%s/commits/%s", full, ref.Commit())},
			"zipball_url": s.api("repos/%s/zipball/refs/tags/%s", full, name),
			"tarball_url": s.api("repos/%s/tarball/refs/tags/%s", full, name),
			"node_id":     nodeID("Ref", int64(len(name))),
		})
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) listCommits(c *call) (int, any) {
	r := c.repo
	from := c.query("sha")
	if from == "" {
		from = r.DefaultBranch
	}
	sha, err := r.resolveLocked(from)
	if err != nil {
		return notFound()
	}
	shas, err := r.git.revList("", sha)
	if err != nil {
		return failErr(err)
	}
	// Newest first, like git log.
	for i, j := 0, len(shas)-1; i < j; i, j = i+1, j-1 {
		shas[i], shas[j] = shas[j], shas[i]
	}
	items := make([]any, len(shas))
	for i, x := range shas {
		items[i] = x
	}
	page := c.page(items, 30, 100)
	ids := make([]string, len(page))
	for i, x := range page {
		ids[i] = x.(string)
	}
	infos, err := r.git.commits(ids...)
	if err != nil {
		return failErr(err)
	}
	out := []any{}
	for _, in := range infos {
		out = append(out, s.commitJSON(r, in))
	}
	return http.StatusOK, out
}

// getCommit lists a commit's files 300 per page, up to 3000, like GitHub.
func (s *Sim) getCommit(c *call) (int, any) {
	r := c.repo
	sha, err := r.resolveLocked(c.param("ref"))
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+c.param("ref"))
	}
	infos, err := r.git.commits(sha)
	if err != nil || len(infos) != 1 {
		return notFound()
	}
	info := infos[0]
	var parent string
	if len(info.Parents) > 0 {
		parent = info.Parents[0]
	}
	files, err := r.git.diff(parent, sha)
	if err != nil {
		return failErr(err)
	}
	if len(files) > 3000 {
		files = files[:3000]
	}
	items := make([]any, len(files))
	adds, dels := 0, 0
	for i, f := range files {
		items[i] = s.fileJSON(r, sha, f)
		adds += f.Additions
		dels += f.Deletions
	}
	o := s.commitJSON(r, info)
	o["stats"] = obj{"total": adds + dels, "additions": adds, "deletions": dels}
	o["files"] = c.page(items, 300, 300)
	return http.StatusOK, o
}

// compareRef resolves one side of a comparison: a branch, tag or sha of
// the repository, or "owner:branch" of a fork.
func (s *Sim) compareRef(r *Repo, ref string) (string, bool) {
	if owner, branch, ok := strings.Cut(ref, ":"); ok {
		fork := s.repos[owner+"/"+r.Name]
		if fork == nil || fork.git != r.git {
			return "", false
		}
		sha, err := fork.resolveLocked(branch)
		return sha, err == nil
	}
	sha, err := r.resolveLocked(ref)
	return sha, err == nil
}

// compare is GET /compare/BASE...HEAD: status, ahead/behind, the merge
// base, commits (the last 250 without paging) and files (at most 300, only
// on the first page), all computed by git.
func (s *Sim) compare(c *call) (int, any) {
	r := c.repo
	basehead := unescape(c.param("basehead"))
	baseRef, headRef, ok := strings.Cut(basehead, "...")
	if !ok {
		return notFound()
	}
	base, ok1 := s.compareRef(r, baseRef)
	head, ok2 := s.compareRef(r, headRef)
	if !ok1 || !ok2 {
		return notFound()
	}
	mb, err := r.git.mergeBase(base, head)
	if err == errNotFound {
		return fail(http.StatusNotFound, fmt.Sprintf("No common ancestor between %s and %s.", baseRef, headRef))
	} else if err != nil {
		return failErr(err)
	}
	ahead, _ := r.git.count(mb, head)
	behind, _ := r.git.count(mb, base)
	status := "diverged"
	switch {
	case ahead == 0 && behind == 0:
		status = "identical"
	case behind == 0:
		status = "ahead"
	case ahead == 0:
		status = "behind"
	}
	shas, err := r.git.revList(mb, head)
	if err != nil {
		return failErr(err)
	}
	paged := c.query("page") != "" || c.query("per_page") != ""
	firstPage := true
	if paged {
		items := make([]any, len(shas))
		for i, x := range shas {
			items[i] = x
		}
		per, _ := strconv.Atoi(c.query("per_page"))
		if per <= 0 {
			per = 250
		}
		page := c.page(items, per, 250)
		shas = shas[:0:0]
		for _, x := range page {
			shas = append(shas, x.(string))
		}
		p, _ := strconv.Atoi(c.query("page"))
		firstPage = p <= 1
	} else if len(shas) > 250 {
		shas = shas[len(shas)-250:]
	}
	// git show prints a commit once however often it is named: read the
	// base and the merge base apart from the list.
	ends, err := r.git.commits(base, mb)
	if err != nil {
		return failErr(err)
	}
	baseInfo, mbInfo := ends[0], ends[0]
	if len(ends) == 2 {
		mbInfo = ends[1]
	}
	infos, err := r.git.commits(shas...)
	if err != nil {
		return failErr(err)
	}
	commits := []any{}
	for _, in := range infos {
		commits = append(commits, s.commitJSON(r, in))
	}
	files := []any{}
	if firstPage {
		diff, err := r.git.diff(mb, head)
		if err != nil {
			return failErr(err)
		}
		if len(diff) > 300 {
			diff = diff[:300]
		}
		patches, _ := r.git.patches(mb, head)
		for _, f := range diff {
			o := s.fileJSON(r, head, f)
			if p, ok := patches[f.Filename]; ok {
				o["patch"] = p
			}
			files = append(files, o)
		}
	}
	full := r.FullName()
	return http.StatusOK, obj{
		"url":               s.api("repos/%s/compare/%s", full, basehead),
		"html_url":          s.web("%s/compare/%s", full, basehead),
		"permalink_url":     s.web("%s/compare/%s...%s", full, base, head),
		"diff_url":          s.web("%s/compare/%s.diff", full, basehead),
		"patch_url":         s.web("%s/compare/%s.patch", full, basehead),
		"base_commit":       s.commitJSON(r, baseInfo),
		"merge_base_commit": s.commitJSON(r, mbInfo),
		"status":            status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
		"commits": commits, "files": files,
	}
}

// mergeBranch is POST /merges: 201 with the merge commit, 204 when base
// already contains head, 409 on conflicts, 404 for unknown refs.
func (s *Sim) mergeBranch(c *call) (int, any) {
	r := c.repo
	var req struct {
		Base          string `json:"base"`
		Head          string `json:"head"`
		CommitMessage string `json:"commit_message"`
	}
	if err := c.decode(&req); err != nil {
		return invalid("base", "missing")
	}
	baseSHA, err := r.git.revParse(r.branchRef(req.Base))
	if err != nil {
		return fail(http.StatusNotFound, "Base does not exist")
	}
	headSHA, err := r.resolveLocked(req.Head)
	if err != nil {
		return fail(http.StatusNotFound, "Head does not exist")
	}
	if ok, _ := r.git.isAncestor(headSHA, baseSHA); ok {
		return http.StatusNoContent, nil
	}
	if mb, err := r.git.mergeBase(baseSHA, headSHA); err == nil {
		if st, body, refused := c.refuseWorkflows(r.workflowsChanged(mb, headSHA)); refused {
			return st, body
		}
	}
	tree, conflicts, err := r.git.mergeTree(baseSHA, headSHA, "")
	if err != nil {
		return failErr(err)
	}
	if len(conflicts) > 0 {
		return fail(http.StatusConflict, "Merge conflict")
	}
	msg := req.CommitMessage
	if msg == "" {
		msg = fmt.Sprintf("Merge %s into %s", req.Head, req.Base)
	}
	when := s.clock.tick()
	bot := c.actor()
	sha, err := r.git.commitTree(tree, []string{baseSHA, headSHA}, msg, bot.identity(when), bot.identity(when))
	if err != nil {
		return failErr(err)
	}
	if err := r.moveBranchLocked(bot, req.Base, baseSHA, sha, false, c.app); err != nil {
		return failErr(err)
	}
	infos, _ := r.git.commits(sha)
	return http.StatusCreated, s.commitJSON(r, infos[0])
}

// listActivities is GET /activity: newest first (direction=asc for
// oldest first), filtered by ref and type, paginated with before/after
// cursors like GitHub. Entries younger than the repository's activity lag
// are not listed yet (the log is eventually consistent), and a repository
// whose activity log is off answers 404 (older GitHub Enterprise Server).
func (s *Sim) listActivities(c *call) (int, any) {
	r := c.repo
	if r.activityOff {
		return notFound()
	}
	ref := c.query("ref")
	if ref != "" && !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	typ := c.query("activity_type")
	visible := s.clock.Now().Add(-r.activityLag)
	var items []*Activity
	for i := len(r.activities) - 1; i >= 0; i-- { // newest first
		a := r.activities[i]
		if (ref != "" && a.Ref != ref) || (typ != "" && a.Type != typ) || a.Timestamp.After(visible) {
			continue
		}
		items = append(items, a)
	}
	if c.query("direction") == "asc" {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	if after := c.query("after"); after != "" {
		for i, a := range items {
			if strconv.FormatInt(a.ID, 10) == after {
				items = items[i+1:]
				break
			}
		}
	}
	per := 30
	if v, err := strconv.Atoi(c.query("per_page")); err == nil && v > 0 {
		per = min(v, 100)
	}
	if len(items) > per {
		u := *c.req.URL
		q := u.Query()
		q.Set("after", strconv.FormatInt(items[per-1].ID, 10))
		q.Del("before")
		u.RawQuery = q.Encode()
		c.header.Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, strings.TrimSuffix(s.srv.URL, "/"), u.RequestURI()))
		items = items[:per]
	}
	out := []any{}
	for _, a := range items {
		out = append(out, obj{
			"id": a.ID, "node_id": nodeID("Activity", a.ID), "before": a.Before, "after": a.After,
			"ref": a.Ref, "timestamp": ts(a.Timestamp), "activity_type": a.Type, "actor": s.userJSON(a.Actor),
		})
	}
	return http.StatusOK, out
}

// getPermission answers like GitHub: role_name is the repository role
// (including custom roles); permission is the legacy admin/write/read/none.
func (s *Sim) getPermission(c *call) (int, any) {
	r := c.repo
	login := c.param("username")
	u, ok := s.users[login]
	if !ok {
		return notFound()
	}
	role := r.roles[login]
	legacy := "none"
	switch role {
	case "admin":
		legacy = "admin"
	case "maintain", "write":
		legacy = "write"
	case "triage", "read":
		legacy = "read"
	case "":
		role = "none"
		if !r.Private {
			role, legacy = "read", "read"
		}
	default:
		legacy = r.customRoles[role]
		if legacy == "" {
			legacy = "read"
		}
	}
	user := s.userJSON(u).(obj)
	user["role_name"] = role
	return http.StatusOK, obj{"permission": legacy, "role_name": role, "user": user}
}

// Git references and tags.

func (s *Sim) getRef(c *call) (int, any) {
	name := "refs/" + strings.Trim(unescapeRef(c.param("ref")), "/")
	refs, err := c.repo.git.refs(name)
	if err != nil {
		return failErr(err)
	}
	for _, ref := range refs {
		if ref.Name == name {
			return http.StatusOK, s.refJSON(c.repo, ref)
		}
	}
	return notFound()
}

func unescapeRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = unescape(p)
	}
	return strings.Join(parts, "/")
}

func (s *Sim) matchingRefs(c *call) (int, any) {
	prefix := "refs/" + unescapeRef(c.param("ref"))
	refs, err := c.repo.git.refs(prefix)
	if err != nil {
		return failErr(err)
	}
	items := []any{}
	for _, ref := range refs {
		if strings.HasPrefix(ref.Name, "refs/heads/") || strings.HasPrefix(ref.Name, "refs/tags/") {
			items = append(items, s.refJSON(c.repo, ref))
		}
	}
	return http.StatusOK, items
}

func (s *Sim) createRef(c *call) (int, any) {
	r := c.repo
	var req struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if err := c.decode(&req); err != nil || req.Ref == "" || req.SHA == "" {
		return invalid("ref", "missing_field")
	}
	if !strings.HasPrefix(req.Ref, "refs/") || strings.Count(req.Ref, "/") < 2 {
		return fail(http.StatusUnprocessableEntity, "Reference name is not valid (it must start with 'refs' and have at least two slashes)")
	}
	typ, err := r.git.objectType(req.SHA)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "Object does not exist")
	}
	if _, _, err := r.git.objectName(req.Ref); err == nil {
		return fail(http.StatusUnprocessableEntity, "Reference already exists")
	}
	s.clock.tick()
	if branch, ok := strings.CutPrefix(req.Ref, "refs/heads/"); ok {
		if typ != "commit" {
			return fail(http.StatusUnprocessableEntity, "Object is not a commit")
		}
		if err := r.moveBranchLocked(c.actor(), branch, "", req.SHA, false, c.app); err != nil {
			return failErr(err)
		}
	} else {
		if err := r.git.updateRef(req.Ref, req.SHA); err != nil {
			return failErr(err)
		}
		if strings.HasPrefix(req.Ref, "refs/tags/") {
			commit, _ := r.git.revParse(req.SHA)
			s.emitPush(r, c.actor(), req.Ref, zeroSHA, commit, nil)
		}
	}
	ref := gitRef{Name: req.Ref, Object: req.SHA, Type: typ}
	return http.StatusCreated, s.refJSON(r, ref)
}

func (s *Sim) updateRef(c *call) (int, any) {
	r := c.repo
	name := "refs/" + strings.Trim(unescapeRef(c.param("ref")), "/")
	var req struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if err := c.decode(&req); err != nil || req.SHA == "" {
		return invalid("sha", "missing_field")
	}
	old, _, err := r.git.objectName(name)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "Reference does not exist")
	}
	typ, err := r.git.objectType(req.SHA)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "Object does not exist")
	}
	if branch, ok := strings.CutPrefix(name, "refs/heads/"); ok {
		if ff, _ := r.git.isAncestor(old, req.SHA); !ff && !req.Force {
			return fail(http.StatusUnprocessableEntity, "Update is not a fast forward")
		}
		s.clock.tick()
		if err := r.moveBranchLocked(c.actor(), branch, old, req.SHA, req.Force, c.app); err != nil {
			return failErr(err)
		}
	} else {
		if !req.Force {
			if ff, _ := r.git.isAncestor(old, req.SHA); !ff {
				return fail(http.StatusUnprocessableEntity, "Update is not a fast forward")
			}
		}
		if err := r.git.updateRef(name, req.SHA); err != nil {
			return failErr(err)
		}
		if strings.HasPrefix(name, "refs/tags/") {
			commit, _ := r.git.revParse(req.SHA)
			s.emitPush(r, c.actor(), name, old, commit, nil)
		}
	}
	return http.StatusOK, s.refJSON(r, gitRef{Name: name, Object: req.SHA, Type: typ})
}

func (s *Sim) deleteRef(c *call) (int, any) {
	r := c.repo
	name := "refs/" + strings.Trim(unescapeRef(c.param("ref")), "/")
	old, _, err := r.git.objectName(name)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "Reference does not exist")
	}
	s.clock.tick()
	if branch, ok := strings.CutPrefix(name, "refs/heads/"); ok {
		if err := r.moveBranchLocked(c.actor(), branch, old, "", false, c.app); err != nil {
			return failErr(err)
		}
	} else if err := r.git.deleteRef(name); err != nil {
		return failErr(err)
	}
	return http.StatusNoContent, nil
}

func (s *Sim) createTag(c *call) (int, any) {
	r := c.repo
	var req struct {
		Tag     string `json:"tag"`
		Message string `json:"message"`
		Object  string `json:"object"`
		Type    string `json:"type"`
		Tagger  *struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"tagger"`
	}
	if err := c.decode(&req); err != nil || req.Tag == "" || req.Object == "" {
		return invalid("tag", "missing_field")
	}
	if typ, err := r.git.objectType(req.Object); err != nil || typ != req.Type {
		return fail(http.StatusUnprocessableEntity, "Object does not exist")
	}
	who := c.actor().identity(s.clock.tick())
	if req.Tagger != nil {
		who.Name, who.Email = req.Tagger.Name, req.Tagger.Email
	}
	sha, err := r.git.mktag(req.Tag, req.Object, req.Type, req.Message, who)
	if err != nil {
		return failErr(err)
	}
	t, _ := r.git.readTag(sha)
	return http.StatusCreated, s.tagJSON(r, t)
}

func (s *Sim) tagJSON(r *Repo, t tagObject) obj {
	full := r.FullName()
	return obj{
		"node_id": nodeID("Tag", int64(len(t.SHA))), "tag": t.Tag, "sha": t.SHA,
		"url": s.api("repos/%s/git/tags/%s", full, t.SHA), "message": t.Message,
		"tagger":       obj{"name": t.Tagger.Name, "email": t.Tagger.Email, "date": ts(t.Tagger.When)},
		"object":       obj{"type": t.ObjectType, "sha": t.Object, "url": s.api("repos/%s/git/commits/%s", full, t.Object)},
		"verification": obj{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
	}
}

func (s *Sim) getTag(c *call) (int, any) {
	t, err := c.repo.git.readTag(c.param("tag_sha"))
	if err != nil {
		return notFound()
	}
	return http.StatusOK, s.tagJSON(c.repo, t)
}
