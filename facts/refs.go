package facts

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
)

// EnsureBranch creates branch at sha. A branch that exists at sha already
// is fine (created false); one that exists elsewhere is left alone and
// its tip returned, for the caller to decide.
func (r *Repo) EnsureBranch(ctx context.Context, branch, sha string) (created bool, current string, err error) {
	return r.ensureRef(ctx, "heads/"+branch, sha, "create the branch "+branch)
}

// ensureRef creates refs/<ref> at sha, find-or-create: an existing ref is
// reported with where it points (peeled for tags).
func (r *Repo) ensureRef(ctx context.Context, ref, sha, op string) (bool, string, error) {
	created := false
	err := r.retryWrite(ctx, func() error {
		_, _, err := r.client.Git.CreateRef(ctx, r.Owner, r.Name, &github.Reference{Ref: github.String("refs/" + ref), Object: &github.GitObject{SHA: github.String(sha)}})
		if err = wrap(op, err); err == nil {
			created = true
		} else if IsAlreadyExists(err) {
			return nil
		}
		return err
	}, func() (bool, error) {
		cur, err := r.refSHA(ctx, ref)
		return cur == sha, err
	})
	if err != nil {
		return false, "", err
	}
	if created {
		return true, sha, nil
	}
	cur, err := r.refCommit(ctx, ref)
	return false, cur, err
}

// refCommit reads the commit a ref points at, peeling an annotated tag.
func (r *Repo) refCommit(ctx context.Context, ref string) (string, error) {
	got, _, err := r.client.Git.GetRef(ctx, r.Owner, r.Name, ref)
	if err := wrap("read ref "+ref, err); IsNotFound(err) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if got.GetObject().GetType() != "tag" {
		return got.GetObject().GetSHA(), nil
	}
	t, _, err := r.client.Git.GetTag(ctx, r.Owner, r.Name, got.GetObject().GetSHA())
	if err != nil {
		return "", wrap("read tag "+ref, err)
	}
	return t.GetObject().GetSHA(), nil
}

// EnsureTag creates the annotated tag name at sha with message. A tag
// that exists at sha already is fine; one at another commit is returned
// (current) and left alone.
func (r *Repo) EnsureTag(ctx context.Context, name, sha, message string) (created bool, current string, err error) {
	if cur, err := r.refCommit(ctx, "tags/"+name); err != nil || cur != "" {
		return false, cur, err
	}
	var obj *github.Tag
	err = r.retryWrite(ctx, func() (err error) {
		obj, _, err = r.client.Git.CreateTag(ctx, r.Owner, r.Name, &github.Tag{
			Tag: github.String(name), Message: github.String(message),
			Object: &github.GitObject{SHA: github.String(sha), Type: github.String("commit")},
		})
		return wrap("create the tag object "+name, err)
	}, nil) // a tag object nothing points at is harmless
	if err != nil {
		return false, "", err
	}
	created, current, err = r.ensureRef(ctx, "tags/"+name, obj.GetSHA(), "create the tag "+name)
	if created {
		current = sha // the ref points at the tag object, which points at sha
	}
	return created, current, err
}

// MoveTag points a lightweight tag (production.moving_tag) at sha,
// creating it if needed.
func (r *Repo) MoveTag(ctx context.Context, name, sha string) error {
	cur, err := r.refSHA(ctx, "tags/"+name)
	if err != nil {
		return err
	}
	if cur == sha {
		return nil
	}
	if cur == "" {
		created, now, err := r.ensureRef(ctx, "tags/"+name, sha, "create the tag "+name)
		if err != nil || created || now == sha {
			return err
		}
	}
	return r.retryWrite(ctx, func() error {
		_, _, err := r.client.Git.UpdateRef(ctx, r.Owner, r.Name, &github.Reference{Ref: github.String("refs/tags/" + name), Object: &github.GitObject{SHA: github.String(sha)}}, true)
		return wrap("move the tag "+name, err)
	}, nil)
}

// UpdateBranch moves a branch to sha (force: the bot's own scratch
// branches only).
func (r *Repo) UpdateBranch(ctx context.Context, branch, sha string) error {
	return r.retryWrite(ctx, func() error {
		_, _, err := r.client.Git.UpdateRef(ctx, r.Owner, r.Name, &github.Reference{Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: github.String(sha)}}, true)
		return wrap("move the branch "+branch, err)
	}, nil)
}

// DeleteBranch deletes a branch; one already gone is fine.
func (r *Repo) DeleteBranch(ctx context.Context, branch string) error {
	return r.retryWrite(ctx, func() error {
		_, err := r.client.Git.DeleteRef(ctx, r.Owner, r.Name, "heads/"+branch)
		err = wrap("delete the branch "+branch, err)
		if IsNotFound(err) || KindOf(err) == Validation { // "Reference does not exist"
			return nil
		}
		return err
	}, nil)
}

// GitCommit reads a commit object (its tree, parents, author, message).
func (r *Repo) GitCommit(ctx context.Context, sha string) (*github.Commit, error) {
	return remember(ctx, &r.memo, "gitcommit:"+sha, func() (*github.Commit, error) {
		c, _, err := r.client.Git.GetCommit(ctx, r.Owner, r.Name, sha)
		if err != nil {
			return nil, wrap("read commit "+shortSHA(sha), err)
		}
		return c, nil
	})
}

// CreateCommit writes a commit object on tree with parents (no ref moves).
func (r *Repo) CreateCommit(ctx context.Context, message, tree string, parents ...string) (string, error) {
	c := &github.Commit{Message: github.String(message), Tree: &github.Tree{SHA: github.String(tree)}}
	for _, p := range parents {
		c.Parents = append(c.Parents, &github.Commit{SHA: github.String(p)})
	}
	var made *github.Commit
	err := r.retryWrite(ctx, func() (err error) {
		made, _, err = r.client.Git.CreateCommit(ctx, r.Owner, r.Name, c, nil)
		return wrap("write a commit", err)
	}, nil)
	return made.GetSHA(), err
}

// MergeOutcome is what a merge through POST /merges did.
type MergeOutcome int

// The outcomes of a trial merge.
const (
	Merged MergeOutcome = iota
	NothingToMerge
	Conflicts
)

// Merge merges head into the branch base through GitHub (POST /merges):
// Conflicts on 409; an error for anything else, e.g. GitHub refusing a
// workflow change to an app without the `workflows` permission.
func (r *Repo) Merge(ctx context.Context, base, head, message string) (MergeOutcome, error) {
	var out MergeOutcome
	err := r.retryWrite(ctx, func() error {
		_, resp, err := r.client.Repositories.Merge(ctx, r.Owner, r.Name, &github.RepositoryMergeRequest{
			Base: github.String(base), Head: github.String(head), CommitMessage: github.String(message)})
		err = wrap(fmt.Sprintf("merge %s into %s", shortRef(head), base), err)
		switch {
		case err == nil && resp != nil && resp.StatusCode == 204:
			out = NothingToMerge
		case err == nil:
			out = Merged
		case KindOf(err) == Conflict:
			out = Conflicts
			return nil
		}
		return err
	}, nil)
	return out, err
}

// IsWorkflowsRefusal reports whether GitHub refused a write because it
// would create or update a workflow file and the app lacks the
// `workflows` permission.
func IsWorkflowsRefusal(err error) bool {
	return err != nil && strings.Contains(err.Error(), "without `workflows` permission")
}
