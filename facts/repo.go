package facts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Repo is one repository seen through an installation client. Facts are
// fetched on first use and remembered for the life of the Repo, which is
// one event: a handler asks as often as it likes and GitHub is asked once.
type Repo struct {
	Client        *github.Client
	Owner         string
	Name          string
	DefaultBranch string
	// AppID identifies this app's check runs.
	AppID int64

	mu          sync.Mutex
	production  *policy.ProductionState
	tags        []Tag
	compares    map[string]*github.CommitsComparison
	permissions map[string]Permission
	checkRuns   map[string]map[string]*github.CheckRun // sha → name → our newest run
	labelsKnown map[string]bool                        // repository labels, lower-case
}

// NewRepo returns a Repo for one event.
func NewRepo(client *github.Client, owner, name, defaultBranch string, appID int64) *Repo {
	return &Repo{
		Client: client, Owner: owner, Name: name, DefaultBranch: defaultBranch, AppID: appID,
		compares:    map[string]*github.CommitsComparison{},
		permissions: map[string]Permission{},
		checkRuns:   map[string]map[string]*github.CheckRun{},
	}
}

// FullName is "owner/name".
func (r *Repo) FullName() string { return r.Owner + "/" + r.Name }

// IsNotFound reports whether GitHub answered 404.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// statusOf returns the HTTP status of a GitHub error, or 0.
func statusOf(err error) int {
	var ge *github.ErrorResponse
	if errors.As(err, &ge) && ge.Response != nil {
		return ge.Response.StatusCode
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) && rl.Response != nil {
		return rl.Response.StatusCode
	}
	var al *github.AbuseRateLimitError
	if errors.As(err, &al) && al.Response != nil {
		return al.Response.StatusCode
	}
	return 0
}

// maxPages bounds every paginated listing, so one event cannot spend an
// installation's rate limit.
const maxPages = 30

// all collects every page of a listing, up to maxPages.
func all[T any](ctx context.Context, what string, fetch func(opts github.ListOptions) ([]T, *github.Response, error)) ([]T, error) {
	var out []T
	opts := github.ListOptions{PerPage: 100}
	for page := 0; page < maxPages; page++ {
		items, resp, err := fetch(opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, items...)
		if resp == nil || resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}
