package facts

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Permission is a person's repository permission as GitHub reports it.
type Permission struct {
	Level policy.Permission
	// Role is GitHub's role_name: a base role or a custom role's name.
	Role string
}

// Permission asks GitHub for a user's permission on the repository
// (GET /collaborators/{user}/permission): role_name decides, custom roles
// fall back to the legacy permission field. A user GitHub does not know
// has no permission.
func (r *Repo) Permission(ctx context.Context, login string) (Permission, error) {
	r.mu.Lock()
	if p, ok := r.permissions[login]; ok {
		r.mu.Unlock()
		return p, nil
	}
	r.mu.Unlock()

	// go-github v60 does not decode the top-level role_name.
	req, err := r.Client.NewRequest("GET", fmt.Sprintf("repos/%s/%s/collaborators/%s/permission", r.Owner, r.Name, url.PathEscape(login)), nil)
	if err != nil {
		return Permission{}, err
	}
	var body struct {
		Permission string `json:"permission"`
		RoleName   string `json:"role_name"`
		User       struct {
			RoleName string `json:"role_name"`
		} `json:"user"`
	}
	p := Permission{Level: policy.PermissionNone, Role: "none"}
	if _, err := r.Client.Do(ctx, req, &body); err != nil && !IsNotFound(err) {
		return Permission{}, fmt.Errorf("permission of %s: %w", login, err)
	} else if err == nil {
		role := body.RoleName
		if role == "" {
			role = body.User.RoleName
		}
		p = Permission{Level: policy.PermissionFromGitHub(role, body.Permission), Role: role}
	}
	r.mu.Lock()
	r.permissions[login] = p
	r.mu.Unlock()
	return p, nil
}

// LabelEvent is the latest `labeled` event of one label.
type LabelEvent struct {
	Label string
	Actor string
	Bot   bool
	At    time.Time
}

// LabelHistory reads a pull request's event log and returns, per label
// (lower-case), who added it last and when.
func (r *Repo) LabelHistory(ctx context.Context, number int) (map[string]LabelEvent, error) {
	events, err := all(ctx, "list issue events", func(o github.ListOptions) ([]*github.IssueEvent, *github.Response, error) {
		return r.Client.Issues.ListIssueEvents(ctx, r.Owner, r.Name, number, &o)
	})
	if err != nil {
		return nil, err
	}
	latest := map[string]LabelEvent{}
	for _, e := range events {
		if e.GetEvent() != "labeled" || e.Label == nil {
			continue
		}
		key := strings.ToLower(e.GetLabel().GetName())
		at := e.GetCreatedAt().Time
		if prev, ok := latest[key]; ok && prev.At.After(at) {
			continue
		}
		latest[key] = LabelEvent{Label: e.GetLabel().GetName(), Actor: e.GetActor().GetLogin(), Bot: e.GetActor().GetType() == "Bot", At: at}
	}
	return latest, nil
}

// activity is one entry of GET /repos/{owner}/{repo}/activity (go-github
// v60 has no type for it).
type activity struct {
	Before    string    `json:"before"`
	After     string    `json:"after"`
	Ref       string    `json:"ref"`
	Timestamp time.Time `json:"timestamp"`
	Type      string    `json:"activity_type"`
}

// activityPages bounds the search for a push in the activity log.
const activityPages = 3

// PushedAt returns when sha became the tip of branch, from GitHub's
// repository activity log (server time, like label events), or the zero
// time if the log does not say.
func (r *Repo) PushedAt(ctx context.Context, branch, sha string) (time.Time, error) {
	for page := 1; page <= activityPages; page++ {
		u := fmt.Sprintf("repos/%s/%s/activity?ref=%s&per_page=100", r.Owner, r.Name, url.QueryEscape("refs/heads/"+branch))
		if page > 1 {
			u += fmt.Sprintf("&page=%d", page)
		}
		req, err := r.Client.NewRequest("GET", u, nil)
		if err != nil {
			return time.Time{}, err
		}
		var list []activity
		resp, err := r.Client.Do(ctx, req, &list)
		if err != nil {
			if IsNotFound(err) {
				return time.Time{}, nil // older GitHub Enterprise Server
			}
			return time.Time{}, fmt.Errorf("activity of %s: %w", branch, err)
		}
		for _, a := range list { // newest first
			if a.After == sha {
				return a.Timestamp, nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
	}
	return time.Time{}, nil
}
