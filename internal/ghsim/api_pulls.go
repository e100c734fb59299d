package ghsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

func (c *call) pull() (*Issue, bool) {
	n, err := strconv.Atoi(c.param("pull_number"))
	if err != nil {
		return nil, false
	}
	is := c.repo.issueLocked(n)
	return is, is != nil && is.PR != nil
}

func (s *Sim) listPulls(c *call) (int, any) {
	r := c.repo
	state := c.query("state")
	if state == "" {
		state = "open"
	}
	headOwner, headBranch, hasHead := strings.Cut(c.query("head"), ":")
	base := c.query("base")
	items := []any{}
	for i := len(r.issues) - 1; i >= 0; i-- { // newest first
		is := r.issues[i]
		pr := is.PR
		if pr == nil || (state != "all" && is.State != state) || (base != "" && pr.BaseRef != base) {
			continue
		}
		if hasHead && (pr.HeadRepo.Owner.Login != headOwner || pr.HeadRef != headBranch) {
			continue
		}
		items = append(items, s.prJSON(r, is))
	}
	return http.StatusOK, c.page(items, 30, 100)
}

func (s *Sim) createPull(c *call) (int, any) {
	var req struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
		Draft bool   `json:"draft"`
	}
	if err := c.decode(&req); err != nil || req.Head == "" || req.Base == "" {
		return invalid("head", "missing_field")
	}
	head := req.Head
	if owner, branch, ok := strings.Cut(head, ":"); ok && owner == c.repo.Owner.Login {
		head = branch
	}
	is, err := c.repo.openPRLocked(c.actor(), head, req.Base, req.Title, req.Body, req.Draft)
	if err != nil {
		return failErr(err)
	}
	return http.StatusCreated, s.prJSON(c.repo, is)
}

// getPull answers like GitHub, which computes mergeability in the
// background: after the head or base moves, the first reads say
// `mergeable: null` (Repo.SetMergeableDelay reads; 1 by default), later
// ones the answer.
func (s *Sim) getPull(c *call) (int, any) {
	is, ok := c.pull()
	if !ok {
		return notFound()
	}
	o := s.prJSON(c.repo, is)
	pr := is.PR
	if pr.Merged || is.State != "open" {
		return http.StatusOK, o
	}
	baseSHA, _ := c.repo.git.revParse(c.repo.branchRef(pr.BaseRef))
	if key := baseSHA + "..." + pr.HeadSHA; pr.mergeKey != key {
		pr.mergeKey, pr.mergeReads = key, 0
	}
	if pr.mergeReads < c.repo.mergeableDelay {
		pr.mergeReads++
		o["mergeable"], o["rebaseable"], o["mergeable_state"] = nil, nil, "unknown"
	}
	return http.StatusOK, o
}

// requestReviewers is POST /pulls/{n}/requested_reviewers. GitHub refuses
// the author and people who are not collaborators (422).
func (s *Sim) requestReviewers(c *call) (int, any) {
	is, ok := c.pull()
	if !ok {
		return notFound()
	}
	var req struct {
		Reviewers     []string `json:"reviewers"`
		TeamReviewers []string `json:"team_reviewers"`
	}
	if err := c.decode(&req); err != nil {
		return invalid("reviewers", "invalid")
	}
	for _, login := range req.Reviewers {
		if login == is.User.Login {
			return fail(http.StatusUnprocessableEntity, "Review cannot be requested from pull request author.")
		}
		if _, ok := c.repo.roles[login]; !ok {
			return fail(http.StatusUnprocessableEntity, "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the "+c.repo.FullName()+" repository.")
		}
	}
	for _, login := range req.Reviewers {
		u := s.users[login]
		dup := false
		for _, x := range is.PR.Reviewers {
			dup = dup || x == u
		}
		if !dup {
			is.PR.Reviewers = append(is.PR.Reviewers, u)
		}
	}
	is.UpdatedAt = s.clock.tick()
	return http.StatusCreated, s.prJSON(c.repo, is)
}

func (s *Sim) updatePull(c *call) (int, any) {
	is, ok := c.pull()
	if !ok {
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
	if req.Title != nil || req.Body != nil {
		is.UpdatedAt = s.clock.tick()
	}
	if req.State != nil {
		if is.PR.Merged {
			return invalid("state", "invalid")
		}
		if err := c.repo.setStateLocked(is, c.actor(), *req.State, c.app); err != nil {
			return failErr(err)
		}
	}
	return http.StatusOK, s.prJSON(c.repo, is)
}

// listPullFiles lists the pull request's files, at most 3000, paginated.
func (s *Sim) listPullFiles(c *call) (int, any) {
	r := c.repo
	is, ok := c.pull()
	if !ok {
		return notFound()
	}
	baseSHA, _ := r.git.revParse(r.branchRef(is.PR.BaseRef))
	mb, err := r.git.mergeBase(baseSHA, is.PR.HeadSHA)
	if err != nil {
		return failErr(err)
	}
	files, err := r.git.diff(mb, is.PR.HeadSHA)
	if err != nil {
		return failErr(err)
	}
	if len(files) > 3000 {
		files = files[:3000]
	}
	items := make([]any, len(files))
	for i, f := range files {
		items[i] = s.fileJSON(r, is.PR.HeadSHA, f)
	}
	return http.StatusOK, c.page(items, 30, 100)
}

// mergePull is PUT /pulls/{n}/merge: 409 when `sha` is not the head any
// more, 405 when the pull request cannot be merged.
func (s *Sim) mergePull(c *call) (int, any) {
	r := c.repo
	is, ok := c.pull()
	if !ok {
		return notFound()
	}
	var req struct {
		CommitTitle   string `json:"commit_title"`
		CommitMessage string `json:"commit_message"`
		SHA           string `json:"sha"`
		MergeMethod   string `json:"merge_method"`
	}
	if len(c.body) > 0 {
		if err := c.decode(&req); err != nil {
			return invalid("merge_method", "invalid")
		}
	}
	pr := is.PR
	if pr.Merged || is.State != "open" {
		return fail(http.StatusMethodNotAllowed, "Pull Request is not mergeable")
	}
	if req.SHA != "" && req.SHA != pr.HeadSHA {
		return fail(http.StatusConflict, "Head branch was modified. Review and try the merge again.")
	}
	baseSHA, err := r.git.revParse(r.branchRef(pr.BaseRef))
	if err != nil {
		return failErr(err)
	}
	if mb, err := r.git.mergeBase(baseSHA, pr.HeadSHA); err == nil {
		if st, body, refused := c.refuseWorkflows(r.workflowsChanged(mb, pr.HeadSHA)); refused {
			return st, body
		}
	}
	if st, body, refused := r.refuseProtectedMerge(c, pr.BaseRef, pr.HeadSHA); refused {
		return st, body
	}
	bot := c.actor()
	when := s.clock.tick()
	var sha string
	switch method := req.MergeMethod; method {
	case "", "merge", "squash":
		tree, conflicts, err := r.git.mergeTree(baseSHA, pr.HeadSHA, "")
		if err != nil {
			return failErr(err)
		}
		if len(conflicts) > 0 {
			return fail(http.StatusMethodNotAllowed, "Pull Request is not mergeable")
		}
		parents := []string{baseSHA, pr.HeadSHA}
		title := req.CommitTitle
		if title == "" {
			title = fmt.Sprintf("Merge pull request #%d from %s/%s", is.Number, pr.HeadRepo.Owner.Login, pr.HeadRef)
		}
		if method == "squash" {
			parents = parents[:1]
			if req.CommitTitle == "" {
				title = fmt.Sprintf("%s (#%d)", is.Title, is.Number)
			}
		}
		msg := title
		if req.CommitMessage != "" {
			msg += "\n\n" + req.CommitMessage
		} else if method != "squash" {
			msg += "\n\n" + is.Title
		}
		sha, err = r.git.commitTree(tree, parents, msg, bot.identity(when), bot.identity(when))
		if err != nil {
			return failErr(err)
		}
	case "rebase":
		mb, err := r.git.mergeBase(baseSHA, pr.HeadSHA)
		if err != nil {
			return failErr(err)
		}
		commits, err := r.git.revList(mb, pr.HeadSHA)
		if err != nil {
			return failErr(err)
		}
		infos, err := r.git.commits(commits...)
		if err != nil {
			return failErr(err)
		}
		onto := baseSHA
		for _, in := range infos {
			if len(in.Parents) != 1 {
				return fail(http.StatusMethodNotAllowed, "This branch can't be rebased")
			}
			tree, conflicts, err := r.git.mergeTree(onto, in.SHA, in.Parents[0])
			if err != nil {
				return failErr(err)
			}
			if len(conflicts) > 0 {
				return fail(http.StatusMethodNotAllowed, "Pull Request is not mergeable")
			}
			onto, err = r.git.commitTree(tree, []string{onto}, in.Message, in.Author, bot.identity(when))
			if err != nil {
				return failErr(err)
			}
		}
		sha = onto
	default:
		return invalid("merge_method", "invalid")
	}
	if err := r.moveBranchLocked(bot, pr.BaseRef, baseSHA, sha, false, c.app); err != nil {
		return failErr(err)
	}
	now := s.clock.tick()
	pr.Merged, pr.MergedAt, pr.MergedBy, pr.MergeCommitSHA = true, now, bot, sha
	is.State, is.ClosedAt, is.UpdatedAt = "closed", now, now
	e := r.addEvent(is, bot, "merged", nil, c.app)
	e.CommitID = sha
	r.addEvent(is, bot, "closed", nil, c.app)
	s.emit(r, "pull_request", "closed", bot, map[string]any{"number": is.Number, "pull_request": s.prJSON(r, is)})
	return http.StatusOK, obj{"sha": sha, "merged": true, "message": "Pull Request successfully merged"}
}
