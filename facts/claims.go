package facts

import (
	"context"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
)

// GitHub has no conditional create for check runs: two processes that
// both find none on a commit (two replicas given the same delivery, or two
// events for the same new head) would each create one. Creating a ref is
// atomic, so the first creation of the bot's check runs on a commit is
// claimed with refs/hotfix-bot/checks/<sha>: the process whose create
// succeeds makes the check runs and deletes the ref when its event is
// done (ReleaseClaims); a process whose create finds the ref waits for
// those runs and updates them. A claim whose owner died is outwaited
// (ClaimWait) and taken over.

// ClaimWait bounds how long a process waits for the check runs another
// process claimed to create.
var ClaimWait = 20 * time.Second

type claimState int

const (
	claimOwned claimState = iota + 1 // this event creates; it deletes the ref
	claimOther                       // another process creates; wait for it
)

// checkClaims are an event's claims, shared by every fresh look at the
// repository during that event.
type checkClaims struct {
	mu    sync.Mutex
	state map[string]claimState
}

func claimRef(sha string) string { return "hotfix-bot/checks/" + sha }

// claimCreation claims the first creation of check runs on sha; other is
// true when another process holds the claim, taken when this call made
// the claim (the caller then looks again: a process that held the claim
// and released it just before may have made the runs).
func (r *Repo) claimCreation(ctx context.Context, sha string) (other, taken bool, err error) {
	c := r.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.state[sha]; ok {
		return st == claimOther, false, nil
	}
	ref := claimRef(sha)
	mine := false
	err = r.retryWrite(ctx, func() error {
		_, _, err := r.client.Git.CreateRef(ctx, r.Owner, r.Name, &github.Reference{Ref: github.String("refs/" + ref), Object: &github.GitObject{SHA: github.String(sha)}})
		err = wrap("claim the check runs of "+shortSHA(sha), err)
		if err == nil {
			mine = true
		}
		if IsAlreadyExists(err) {
			return nil
		}
		return err
	}, func() (bool, error) {
		// The answer was lost: a ref there now is taken as this
		// attempt's (a double fault at the very moment another process
		// claims could make both create; nothing else can).
		cur, err := r.refSHA(ctx, ref)
		mine = cur != ""
		return mine, err
	})
	if err != nil {
		return false, false, err
	}
	if mine {
		c.state[sha] = claimOwned
		return false, true, nil
	}
	c.state[sha] = claimOther
	return true, false, nil
}

// awaitCheckRun waits, in real time, for the check run another process
// claimed to create. Not there within ClaimWait: the claimer died or
// failed, and this event takes the claim over (it creates the run and
// deletes the ref).
func (r *Repo) awaitCheckRun(ctx context.Context, sha, name string) (*github.CheckRun, error) {
	deadline := time.Now().Add(ClaimWait)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		found, err := r.findCheckRun(ctx, sha, name)
		if err != nil || found != nil {
			return found, err
		}
		if time.Now().Add(wait).After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, wrap("wait for the check runs of "+shortSHA(sha), ctx.Err())
		case <-time.After(wait):
		}
	}
	r.claims.mu.Lock()
	r.claims.state[sha] = claimOwned
	r.claims.mu.Unlock()
	return nil, nil
}

// ReleaseClaims deletes the claims this event made (call it when the
// event's check runs are written). Best effort: a claim left behind is
// outwaited and taken over by the next process that needs it.
func (r *Repo) ReleaseClaims(ctx context.Context) {
	c := r.claims
	c.mu.Lock()
	var owned []string
	for sha, st := range c.state {
		if st == claimOwned {
			owned = append(owned, sha)
		}
	}
	c.state = map[string]claimState{}
	c.mu.Unlock()
	for _, sha := range owned {
		_ = r.retryWrite(ctx, func() error {
			_, err := r.client.Git.DeleteRef(ctx, r.Owner, r.Name, claimRef(sha))
			if err = wrap("release the check-run claim of "+shortSHA(sha), err); IsNotFound(err) || KindOf(err) == Validation {
				return nil
			}
			return err
		}, nil)
	}
}
