package ghsim

import (
	"net/http"
	"strings"
)

// createCommit is POST /git/commits: a commit object for an existing tree
// and parents (no ref moves). GitHub accepts git's well-known empty tree.
func (s *Sim) createCommit(c *call) (int, any) {
	r := c.repo
	var req struct {
		Message string   `json:"message"`
		Tree    string   `json:"tree"`
		Parents []string `json:"parents"`
		Author  *struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"author"`
	}
	if err := c.decode(&req); err != nil || req.Message == "" || req.Tree == "" {
		return invalid("tree", "missing_field")
	}
	if typ, err := r.git.objectType(req.Tree); req.Tree != emptyTree && (err != nil || typ != "tree") {
		return fail(http.StatusUnprocessableEntity, "Tree SHA does not exist")
	}
	for _, p := range req.Parents {
		if typ, err := r.git.objectType(p); err != nil || typ != "commit" {
			return fail(http.StatusUnprocessableEntity, "Parent SHA does not exist or is not a commit object")
		}
	}
	who := c.actor().identity(s.clock.tick())
	if req.Author != nil {
		who.Name, who.Email = req.Author.Name, req.Author.Email
	}
	sha, err := r.git.commitTree(req.Tree, req.Parents, req.Message, who, c.actor().identity(s.clock.Now()))
	if err != nil {
		return failErr(err)
	}
	if req.Author == nil {
		r.signLocked(sha) // GitHub signs what an app commits as itself
	}
	return http.StatusCreated, s.gitCommitJSON(r, sha)
}

// emptyTree is git's empty tree, which every repository has.
const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

func (s *Sim) getGitCommit(c *call) (int, any) {
	sha := c.param("commit_sha")
	if typ, err := c.repo.git.objectType(sha); err != nil || typ != "commit" {
		return notFound()
	}
	return http.StatusOK, s.gitCommitJSON(c.repo, sha)
}

func (s *Sim) gitCommitJSON(r *Repo, sha string) obj {
	infos, err := r.git.commits(sha)
	if err != nil || len(infos) != 1 {
		return obj{"sha": sha}
	}
	in := infos[0]
	full := r.FullName()
	parents := []any{}
	for _, p := range in.Parents {
		parents = append(parents, obj{"sha": p, "url": s.api("repos/%s/git/commits/%s", full, p), "html_url": s.web("%s/commit/%s", full, p)})
	}
	person := func(id Identity) obj { return obj{"name": id.Name, "email": id.Email, "date": ts(id.When)} }
	return obj{
		"sha": in.SHA, "node_id": nodeID("Commit", int64(len(in.SHA))),
		"url":      s.api("repos/%s/git/commits/%s", full, in.SHA),
		"html_url": s.web("%s/commit/%s", full, in.SHA),
		"author":   person(in.Author), "committer": person(in.Committer), "message": in.Message,
		"tree":         obj{"sha": in.Tree, "url": s.api("repos/%s/git/trees/%s", full, in.Tree)},
		"parents":      parents,
		"verification": r.verificationJSON(in.SHA),
	}
}

// workflowsChanged lists the files under .github/workflows/ that differ
// between two commits: what GitHub refuses to let an app without the
// `workflows` permission write.
func (r *Repo) workflowsChanged(from, to string) []string {
	files, err := r.git.diff(from, to)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range files {
		for _, p := range []string{f.Filename, f.PreviousFilename} {
			if strings.HasPrefix(p, ".github/workflows/") {
				out = append(out, p)
			}
		}
	}
	return out
}

// refuseWorkflows is GitHub's answer to an app without the `workflows`
// permission whose write would create or update a workflow file.
func (c *call) refuseWorkflows(files []string) (int, any, bool) {
	if len(files) == 0 || c.app.can("workflows:write") {
		return 0, nil, false
	}
	st, body := fail(http.StatusForbidden, "refusing to allow a GitHub App to create or update workflow `"+files[0]+"` without `workflows` permission")
	return st, body, true
}
