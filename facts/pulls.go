package facts

import (
	"context"
	"fmt"
	"net/url"

	"github.com/google/go-github/v60/github"
	goquery "github.com/google/go-querystring/query"
)

// PullRequest reads a pull request afresh (once per event).
func (r *Repo) PullRequest(ctx context.Context, number int) (*github.PullRequest, error) {
	return remember(&r.memo, fmt.Sprintf("pull:%d", number), func() (*github.PullRequest, error) {
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
