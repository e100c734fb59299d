package facts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
)

// The custom deployment protection rule's writes and the reads only it
// needs.

// ReviewProtectionRule answers GitHub for a workflow run waiting on this
// app's protection rule of env (POST /repos/{owner}/{repo}/actions/runs/
// {run_id}/deployment_protection_rule). answered is false when the run no
// longer waits for this app: GitHub refuses a second answer (422 "No
// pending custom deployment requests"), which a re-delivered request, a
// retry or a second replica meets. That is done, not an error.
func (r *Repo) ReviewProtectionRule(ctx context.Context, runID int64, env, state, comment string) (answered bool, err error) {
	body := map[string]string{"environment_name": env, "state": state, "comment": comment}
	op := fmt.Sprintf("answer the %s protection rule of workflow run %d (%s)", env, runID, state)
	err = r.retryWrite(ctx, func() error {
		req, err := r.client.NewRequest("POST", fmt.Sprintf("repos/%s/%s/actions/runs/%d/deployment_protection_rule", r.Owner, r.Name, runID), body)
		if err != nil {
			return err
		}
		_, err = r.client.Do(ctx, req, nil)
		err = wrap(op, err)
		if noLongerWaiting(err) {
			return nil
		}
		if err == nil {
			answered = true
		}
		return err
	}, nil) // a second answer is refused, never doubled
	return answered, err
}

// noLongerWaiting reports whether GitHub refused an answer because the
// run waits for no answer of this app any more.
func noLongerWaiting(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 422 && strings.Contains(strings.ToLower(e.Message), "no pending")
}

// LockDeployment reads the deployment the production lock names and
// returns it with its payload when it is the app's own (nil otherwise).
func (r *Repo) LockDeployment(ctx context.Context, id int64) (*BotDeployment, error) {
	d, err := r.Deployment(ctx, id)
	if err != nil {
		return nil, err
	}
	p, ok := DecodePayload(d.Payload)
	if !ok || !r.ByApp(d) {
		return nil, nil
	}
	return &BotDeployment{Deployment: d, Payload: p}, nil
}

// reminderRef is the claim on one day's reminder of a sync-back pull
// request: creating a ref is atomic, so of two replicas reminding at once
// only one posts.
func reminderRef(number int, day string) string {
	return fmt.Sprintf("hotfix-bot/reminders/%d/%s", number, day)
}

// ClaimReminder claims the reminder of a sync-back pull request for a day
// (the ref refs/hotfix-bot/reminders/<number>/<day>, at its head): true
// when this call made the claim, false when someone made it first.
func (r *Repo) ClaimReminder(ctx context.Context, number int, day, head string) (bool, error) {
	created, _, err := r.ensureRef(ctx, reminderRef(number, day), head, fmt.Sprintf("claim the reminder of #%d for %s", number, day))
	return created, err
}

// ForgetReminder deletes the claim of an earlier day's reminder (one that
// is gone already is fine): each open sync-back pull request keeps at most
// its newest claim.
func (r *Repo) ForgetReminder(ctx context.Context, number int, day string) error {
	return r.retryWrite(ctx, func() error {
		_, err := r.client.Git.DeleteRef(ctx, r.Owner, r.Name, reminderRef(number, day))
		err = wrap("delete "+reminderRef(number, day), err)
		if IsNotFound(err) || KindOf(err) == Validation {
			return nil
		}
		return err
	}, nil)
}

// PullRequestsInto lists the pull requests into base in a state ("open",
// "closed", "all"), newest first.
func (r *Repo) PullRequestsInto(ctx context.Context, base, state string) ([]*github.PullRequest, error) {
	return all(ctx, fmt.Sprintf("list the pull requests into %s", base), func(o github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return r.client.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{State: state, Base: base, ListOptions: o})
	})
}
