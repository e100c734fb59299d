package facts

import (
	"context"
	"fmt"
	"net/url"

	"github.com/google/go-github/v60/github"
	goquery "github.com/google/go-querystring/query"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// PullRequest reads a pull request afresh (once per event).
func (r *Repo) PullRequest(ctx context.Context, number int) (*github.PullRequest, error) {
	return remember(ctx, &r.memo, fmt.Sprintf("pull:%d", number), func() (*github.PullRequest, error) {
		pr, _, err := r.client.PullRequests.Get(ctx, r.Owner, r.Name, number)
		if err != nil {
			return nil, wrap(fmt.Sprintf("read pull request #%d", number), err)
		}
		return pr, nil
	})
}

// OpenPullRequests lists the open pull requests into base.
func (r *Repo) OpenPullRequests(ctx context.Context, base string) ([]*github.PullRequest, error) {
	return all(ctx, "list the open pull requests into "+base, func(o github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return r.client.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{State: "open", Base: base, ListOptions: o})
	})
}

// PullRequestsFor lists the pull requests from a branch of this
// repository into base, in a state ("open", "closed", "all").
func (r *Repo) PullRequestsFor(ctx context.Context, branch, base, state string) ([]*github.PullRequest, error) {
	return all(ctx, fmt.Sprintf("list the pull requests from %s into %s", branch, base), func(o github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return r.client.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{
			State: state, Head: r.Owner + ":" + branch, Base: base, ListOptions: o,
		})
	})
}

// addQuery adds options to a URL path as query parameters.
func addQuery(u string, opts any) (string, error) {
	qs, err := goquery.Values(opts)
	if err != nil {
		return u, err
	}
	if len(qs) == 0 {
		return u, nil
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return u, err
	}
	parsed.RawQuery = qs.Encode()
	return parsed.String(), nil
}

// MergePullRequest merges a pull request with method, only if its head is
// still sha (GitHub's guard: 409 when it moved). A pull request merged
// already (a repeated step) is fine: its merge commit is returned.
func (r *Repo) MergePullRequest(ctx context.Context, number int, sha, method, title string) (string, error) {
	var mergeSHA string
	err := r.retryWrite(ctx, func() error {
		res, _, err := r.client.PullRequests.Merge(ctx, r.Owner, r.Name, number, "", &github.PullRequestOptions{
			CommitTitle: title, SHA: sha, MergeMethod: method})
		if err != nil {
			return wrap(fmt.Sprintf("merge #%d", number), err)
		}
		mergeSHA = res.GetSHA()
		return nil
	}, func() (bool, error) {
		pr, _, err := r.client.PullRequests.Get(ctx, r.Owner, r.Name, number)
		if err != nil {
			return false, wrap(fmt.Sprintf("read pull request #%d", number), err)
		}
		mergeSHA = pr.GetMergeCommitSHA()
		return pr.GetMerged(), nil
	})
	if KindOf(err) == NotAllowed {
		// Merged already (by a first attempt or a person)?
		if pr, _, gerr := r.client.PullRequests.Get(ctx, r.Owner, r.Name, number); gerr == nil && pr.GetMerged() {
			return pr.GetMergeCommitSHA(), nil
		}
	}
	return mergeSHA, err
}

// EnsurePullRequest opens a pull request from branch into base, unless one
// exists already for that head and base in any state (returned, created
// false): a repeated step never opens a second.
func (r *Repo) EnsurePullRequest(ctx context.Context, branch, base, title, body string, draft bool) (*github.PullRequest, bool, error) {
	find := func() (*github.PullRequest, error) {
		prs, err := r.PullRequestsFor(ctx, branch, base, "all")
		if err != nil || len(prs) == 0 {
			return nil, err
		}
		return prs[0], nil
	}
	if pr, err := find(); err != nil || pr != nil {
		return pr, false, err
	}
	var pr *github.PullRequest
	created := false
	err := r.retryWrite(ctx, func() error {
		got, _, err := r.client.PullRequests.Create(ctx, r.Owner, r.Name, &github.NewPullRequest{
			Title: github.String(title), Head: github.String(branch), Base: github.String(base),
			Body: github.String(body), Draft: github.Bool(draft), MaintainerCanModify: github.Bool(false)})
		err = wrap(fmt.Sprintf("open the pull request %s → %s", branch, base), err)
		if IsAlreadyExists(err) {
			pr, err = find()
			return err
		}
		if err == nil {
			pr, created = got, true
		}
		return err
	}, func() (bool, error) {
		found, err := find()
		pr = found
		return found != nil, err
	})
	return pr, created, err
}

// ClosePullRequest closes a pull request (without merging).
func (r *Repo) ClosePullRequest(ctx context.Context, number int) error {
	return r.retryWrite(ctx, func() error {
		_, _, err := r.client.PullRequests.Edit(ctx, r.Owner, r.Name, number, &github.PullRequest{State: github.String("closed")})
		return wrap(fmt.Sprintf("close #%d", number), err)
	}, nil)
}

// RequestReviewers asks people to review a pull request. GitHub refuses
// some (the author, people who are not collaborators): that is returned
// for the caller to report.
func (r *Repo) RequestReviewers(ctx context.Context, number int, logins []string) error {
	if len(logins) == 0 {
		return nil
	}
	return r.retryWrite(ctx, func() error {
		_, _, err := r.client.PullRequests.RequestReviewers(ctx, r.Owner, r.Name, number, github.ReviewersRequest{Reviewers: logins})
		return wrap(fmt.Sprintf("request reviews on #%d", number), err)
	}, nil)
}

// AddAssignees assigns people to an issue or pull request.
func (r *Repo) AddAssignees(ctx context.Context, number int, logins ...string) error {
	return r.retryWrite(ctx, func() error {
		_, _, err := r.client.Issues.AddAssignees(ctx, r.Owner, r.Name, number, logins)
		return wrap(fmt.Sprintf("assign %v to #%d", logins, number), err)
	}, nil)
}

// OtherChecks lists the checks on a commit other than this app's: the
// check runs (newest per name and app), each known by its app's slug, and
// the commit statuses (newest per context and creator), each known by its
// creator's login. Statuses are read from the full list, every page,
// rather than the combined status, which keeps only the newest per
// context whoever posted it: a status anyone with write access posts
// would hide CI's status of the same context there.
func (r *Repo) OtherChecks(ctx context.Context, sha string) ([]policy.CheckState, error) {
	var out []policy.CheckState
	runs, err := all(ctx, "list the checks of "+shortSHA(sha), func(o github.ListOptions) ([]*github.CheckRun, *github.Response, error) {
		res, resp, err := r.client.Checks.ListCheckRunsForRef(ctx, r.Owner, r.Name, sha, &github.ListCheckRunsOptions{Filter: github.String("latest"), ListOptions: o})
		if err != nil {
			return nil, resp, err
		}
		return res.CheckRuns, resp, nil
	})
	if err != nil {
		return nil, err
	}
	for _, cr := range runs {
		if cr.GetApp().GetID() == r.AppID {
			continue
		}
		state := cr.GetConclusion()
		if cr.GetStatus() != "completed" {
			state = "pending"
		}
		out = append(out, policy.CheckState{Name: cr.GetName(), Source: cr.GetApp().GetSlug(), State: state, Kind: "check run", URL: cr.GetHTMLURL()})
	}
	statuses, err := all(ctx, "list the commit statuses of "+shortSHA(sha), func(o github.ListOptions) ([]*github.RepoStatus, *github.Response, error) {
		return r.client.Repositories.ListStatuses(ctx, r.Owner, r.Name, sha, &o)
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range statuses { // newest first
		key := s.GetCreator().GetLogin() + "\x00" + s.GetContext()
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, policy.CheckState{Name: s.GetContext(), Source: s.GetCreator().GetLogin(), State: s.GetState(), Kind: "commit status", URL: s.GetTargetURL()})
	}
	return out, nil
}

// checkSuite is the part of a check suite the bot reads (go-github v60
// lacks latest_check_runs_count).
type checkSuite struct {
	Status string `json:"status"`
	App    struct {
		ID   int64  `json:"id"`
		Slug string `json:"slug"`
	} `json:"app"`
	Runs int `json:"latest_check_runs_count"`
}

// CheckSuites lists the check suites of other apps on a commit (GET
// /repos/{owner}/{repo}/commits/{ref}/check-suites): whether their CI is
// still working on it.
func (r *Repo) CheckSuites(ctx context.Context, sha string) ([]policy.SuiteState, error) {
	suites, err := all(ctx, "list the check suites of "+shortSHA(sha), func(o github.ListOptions) ([]checkSuite, *github.Response, error) {
		req, err := r.client.NewRequest("GET", fmt.Sprintf("repos/%s/%s/commits/%s/check-suites?per_page=%d&page=%d", r.Owner, r.Name, url.PathEscape(sha), o.PerPage, max(o.Page, 1)), nil)
		if err != nil {
			return nil, nil, err
		}
		var res struct {
			Suites []checkSuite `json:"check_suites"`
		}
		resp, err := r.client.Do(ctx, req, &res)
		return res.Suites, resp, err
	})
	if err != nil {
		return nil, err
	}
	var out []policy.SuiteState
	for _, cs := range suites {
		if cs.App.ID == r.AppID {
			continue
		}
		out = append(out, policy.SuiteState{App: cs.App.Slug, Status: cs.Status, Runs: cs.Runs})
	}
	return out, nil
}

// PullRequestNow reads a pull request afresh, whatever this event read
// before (its head or mergeability may have moved).
func (r *Repo) PullRequestNow(ctx context.Context, number int) (*github.PullRequest, error) {
	pr, _, err := r.client.PullRequests.Get(ctx, r.Owner, r.Name, number)
	if err != nil {
		return nil, wrap(fmt.Sprintf("read pull request #%d", number), err)
	}
	return pr, nil
}
