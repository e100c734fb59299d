package facts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// LockRef is where the production lock lives: a ref outside branches and
// tags (no push event, no CI run, not in tag lists), readable by every
// replica.
const LockRef = "hotfix-bot/production-lock"

// emptyTree is git's empty tree: the lock's commits carry no files.
const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// Lock is the production lock's record, and the state of the promotion
// or rollback that holds it: readable by every replica, so any of them can
// carry the story on. It is kept in a commit message. Every change of the
// lock is a new commit whose parent is the previous state, and moves the
// ref only as a fast-forward: GitHub refuses a non-forced update that is
// not one, so two replicas changing the lock at once cannot both succeed
// (compare-and-swap on a ref). The first lock is created with POST
// /git/refs, which fails when the ref exists.
type Lock struct {
	State string `json:"state"` // "held" or "free"
	// Phase is where the holder is: "promoting" (a command creating the
	// first deployment), "deploying" (Deployment is in flight at chain
	// step Step), "advancing" (creating the next step's deployment),
	// "finishing" (tagging, merging, syncing after success), "rolling-back"
	// (creating a rollback deployment).
	Phase       string `json:"phase,omitempty"`
	Kind        string `json:"kind,omitempty"` // "promote" or "rollback"
	PR          int    `json:"pr,omitempty"`
	CommentID   int64  `json:"comment_id,omitempty"`
	RequestedBy string `json:"requested_by,omitempty"`
	SHA         string `json:"sha,omitempty"`
	Deployment  int64  `json:"deployment,omitempty"`
	Step        int    `json:"step,omitempty"`
	// FailedDeployment names the failed deployment an automatic rollback
	// took the lock over from.
	FailedDeployment int64 `json:"failed_deployment,omitempty"`
	// At is when the lock was taken; Updated its last change (staleness
	// counts from it, so a long staged chain is not taken over).
	At      time.Time `json:"at"`
	Updated time.Time `json:"updated"`
	// Claim names the one handler working under the lock right now
	// (a random id per run) and ClaimFor on what, since ClaimAt: two
	// replicas given the same event do not both act.
	Claim    string    `json:"claim,omitempty"`
	ClaimFor string    `json:"claim_for,omitempty"`
	ClaimAt  time.Time `json:"claim_at,omitempty"`

	// DeploymentState is the latest status of Deployment when the lock
	// was read, for a held lock old enough to be stale ("" when not read,
	// "none" when the deployment has no status yet). It is not part of
	// the record.
	DeploymentState string `json:"-"`
}

// ClaimTTL is how long a claim keeps other handlers off the same work:
// longer than a handler may run, so a live claim is never taken over, and
// a dead replica's claim expires.
const ClaimTTL = 5 * time.Minute

// Held reports whether someone holds the lock.
func (l Lock) Held() bool { return l.State == "held" }

// SameOwner reports whether two locks were taken for the same request:
// the same comment, or the same automatic rollback.
func (l Lock) SameOwner(o Lock) bool {
	if l.Kind != o.Kind {
		return false
	}
	if l.CommentID != 0 || o.CommentID != 0 {
		return l.CommentID == o.CommentID
	}
	return l.FailedDeployment != 0 && l.FailedDeployment == o.FailedDeployment
}

// ClaimedByOther reports whether another handler is working on `what`
// under the lock right now.
func (l Lock) ClaimedByOther(claim, what string, now time.Time) bool {
	return l.Claim != "" && l.Claim != claim && l.ClaimFor == what && now.Sub(l.ClaimAt) < ClaimTTL
}

// View turns the record into policy's view. A held lock is stale after
// timeout (counted from its last change) only when what it waits for is
// over: its deployment has a final status, or it names no deployment and
// the claim of the command that took it expired (the command died before
// deploying). A deployment still waiting (for an environment's required
// reviewers, for a CD system that has not picked it up) keeps its lock
// however old: only /unlock frees it.
func (l Lock) View(now time.Time, timeout time.Duration) policy.LockState {
	since := l.Updated
	if since.IsZero() {
		since = l.At
	}
	over := false
	switch {
	case l.Deployment != 0:
		over = finalState(l.DeploymentState)
	case l.Kind != "unknown":
		over = now.Sub(l.ClaimAt) >= ClaimTTL
	}
	return policy.LockState{Held: l.Held(), Kind: l.Kind, RequestedBy: l.RequestedBy, PR: l.PR, CommentID: l.CommentID,
		Deployment: l.Deployment, DeploymentState: l.DeploymentState, SHA: l.SHA, At: l.At,
		Stale: l.Held() && now.Sub(since) > timeout && over}
}

// finalState reports whether a deployment status ends its deployment.
func finalState(state string) bool {
	switch state {
	case "success", "failure", "error", "inactive":
		return true
	}
	return false
}

// minLockTimeout is the shortest promote.lock_timeout a policy may set:
// a lock younger than it cannot be stale, so its deployment's status is
// not read.
const minLockTimeout = time.Minute

// lockHead is the lock as read: its record and the commit holding it
// ("" when the ref does not exist yet).
type lockHead struct {
	Lock   Lock
	Commit string
}

// ReadLock reads the production lock (two conditional reads: free when
// nothing changed). A ref that does not exist is a free lock.
func (r *Repo) ReadLock(ctx context.Context) (Lock, error) {
	h, err := r.readLock(ctx)
	return h.Lock, err
}

func (r *Repo) readLock(ctx context.Context) (lockHead, error) {
	sha, err := r.refSHA(ctx, LockRef)
	if err != nil || sha == "" {
		return lockHead{Lock: Lock{State: "free"}}, err
	}
	c, _, err := r.client.Git.GetCommit(ctx, r.Owner, r.Name, sha)
	if err != nil {
		return lockHead{}, wrap("read the production lock", err)
	}
	var l Lock
	_, body, _ := strings.Cut(c.GetMessage(), "\n\n")
	if !r.wroteLock(c) || json.Unmarshal([]byte(strings.TrimSpace(body)), &l) != nil || (l.State != "held" && l.State != "free") {
		// Not a record the bot wrote: held by nobody known, so nothing
		// deploys past it until a person looks (or /unlock). Its text is
		// never read: whoever wrote it could say anything.
		return lockHead{Lock: Lock{State: "held", Kind: "unknown", RequestedBy: "an unknown writer", Updated: r.Clock.Now()}, Commit: sha}, nil
	}
	if l.Held() && l.Deployment != 0 && r.Clock.Now().Sub(l.Updated) > minLockTimeout {
		// Old enough to be stale: whether it is depends on its deployment.
		if st, err := r.LatestStatus(ctx, l.Deployment); err == nil {
			l.DeploymentState = st.GetState()
			if st == nil {
				l.DeploymentState = "none"
			}
		}
	}
	return lockHead{Lock: l, Commit: sha}, nil
}

// wroteLock reports whether a lock commit is the app's own: authored and
// committed by the app's bot user (GitHub fills both in for a commit an
// app creates through the API) and, where GitHub signs such commits
// (github.com), carrying the signature GitHub verified; nowhere a
// signature GitHub rejects. git lets anyone with write access push a
// commit under the bot's name: on github.com it would not be signed; on
// GitHub Enterprise Server without web commit signing the name is all
// there is (docs/operations.md says what that means).
func (r *Repo) wroteLock(c *github.Commit) bool {
	if r.BotLogin == "" {
		return false // the bot cannot tell its own commits yet
	}
	for _, who := range []*github.CommitAuthor{c.GetAuthor(), c.GetCommitter()} {
		if who.GetName() != r.BotLogin || !botEmail(who.GetEmail(), r.BotLogin) {
			return false
		}
	}
	v := c.GetVerification()
	if r.SignedCommits {
		return v.GetVerified()
	}
	return v == nil || v.GetVerified() || v.GetReason() == "unsigned"
}

// MadeByApp reports whether a commit is the app's own, by the same rule
// as the lock's commits (wroteLock): authored and committed by the app's
// bot user, with GitHub's signature where GitHub signs them.
func (r *Repo) MadeByApp(c *github.Commit) bool { return r.wroteLock(c) }

// botEmail reports whether an email is a bot user's noreply address:
// login@users.noreply.HOST or ID+login@users.noreply.HOST.
func botEmail(email, login string) bool {
	local, domain, ok := strings.Cut(email, "@")
	return ok && strings.HasPrefix(domain, "users.noreply.") && (local == login || strings.HasSuffix(local, "+"+login))
}

// lockAttempts bounds how often a lock change is retried after losing a
// compare-and-swap to another writer whose change left it possible.
const lockAttempts = 4

// TransitionLock changes the lock in one compare-and-swap: when may
// accepts the current record, it is replaced by next(current). moved says
// whether this call changed it; cur is the record it found (the one it
// replaced, when moved). A lost race is retried while may still accepts.
func (r *Repo) TransitionLock(ctx context.Context, may func(Lock) bool, next func(Lock) Lock) (moved bool, cur Lock, err error) {
	for attempt := 0; attempt < lockAttempts; attempt++ {
		head, err := r.readLock(ctx)
		if err != nil {
			return false, Lock{}, err
		}
		if !may(head.Lock) {
			return false, head.Lock, nil
		}
		to := next(head.Lock)
		now := r.Clock.Now()
		to.Updated = now
		if to.At.IsZero() {
			to.At = now
		}
		ok, err := r.writeLock(ctx, head, to)
		if err != nil {
			return false, head.Lock, err
		}
		if ok {
			return true, head.Lock, nil
		}
	}
	head, err := r.readLock(ctx)
	return false, head.Lock, err
}

// writeLock moves the lock from cur to next; false when another writer
// moved it first.
func (r *Repo) writeLock(ctx context.Context, cur lockHead, next Lock) (bool, error) {
	body, _ := json.Marshal(next)
	title := "hotfix-bot production lock: free"
	if next.Held() {
		title = fmt.Sprintf("hotfix-bot production lock: held by @%s for a %s (%s)", next.RequestedBy, next.Kind, next.Phase)
		if next.PR != 0 {
			title += fmt.Sprintf(", #%d", next.PR)
		}
	}
	commit := &github.Commit{Message: github.String(title + "\n\n" + string(body) + "\n"), Tree: &github.Tree{SHA: github.String(emptyTree)}}
	if cur.Commit != "" {
		commit.Parents = []*github.Commit{{SHA: github.String(cur.Commit)}}
	}
	var made *github.Commit
	err := r.retryWrite(ctx, func() (err error) {
		made, _, err = r.client.Git.CreateCommit(ctx, r.Owner, r.Name, commit, nil)
		return wrap("write the production lock", err)
	}, nil) // an orphan commit from a lost answer is harmless
	if err != nil {
		return false, err
	}
	ref := "refs/" + LockRef
	var moved bool
	err = r.retryWrite(ctx, func() error {
		var err error
		if cur.Commit == "" {
			_, _, err = r.client.Git.CreateRef(ctx, r.Owner, r.Name, &github.Reference{Ref: github.String(ref), Object: &github.GitObject{SHA: made.SHA}})
		} else {
			_, _, err = r.client.Git.UpdateRef(ctx, r.Owner, r.Name, &github.Reference{Ref: github.String(ref), Object: &github.GitObject{SHA: made.SHA}}, false)
		}
		err = wrap("move the production lock", err)
		switch k := KindOf(err); {
		case err == nil:
			moved = true
			return nil
		case k == AlreadyExists || k == Validation || k == Conflict:
			return nil // another writer was first
		}
		return err
	}, func() (bool, error) {
		// Did the lost answer's update land? The ref then points at ours.
		sha, err := r.refSHA(ctx, LockRef)
		moved = sha == made.GetSHA()
		return moved, err
	})
	return moved, err
}
