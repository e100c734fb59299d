// Package facts is the one place hotfix-bot talks to GitHub for its
// handlers: typed reads (production, comparisons, changed files,
// permissions, label history, push times, the production lock...) and
// idempotent writes (check runs, refs, tags, deployments, pull requests,
// comments), with pagination, error classification (errors.go) and
// find-or-create recovery after a write whose answer was lost.
//
// It knows GitHub, not the rules: decisions are policy's. It must not
// import handlers or app.
package facts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/clock"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"golang.org/x/sync/singleflight"
)

// ReadsInFlight bounds the requests one event has in flight at once; its
// writes go one at a time (GitHub's integrator guidance: no unbounded
// concurrency, no concurrent writes).
const ReadsInFlight = 4

// Repo is one repository seen through an installation client, for one
// event. Facts are fetched on first use and remembered for the life of the
// Repo: any number of goroutines may ask at once and GitHub is asked once
// (singleflight per fact; no lock is held across a request).
type Repo struct {
	client        *github.Client
	Owner         string
	Name          string
	DefaultBranch string
	// HTMLURL is the repository's web address, when it was read
	// (OpenRepository).
	HTMLURL string
	// AppID identifies this app's check runs, comments and deployments.
	AppID int64
	// BotLogin is the app's bot user ("slug[bot]"), "" when unknown.
	BotLogin string
	// SignedCommits: this GitHub signs the commits an app creates through
	// the API (github.com does), so the app's own commits carry a
	// signature GitHub verified.
	SignedCommits bool
	Clock         clock.Clock
	// KeepLink, when set, says whether a check run's details link (have)
	// may stay instead of the one the bot would write now (want): links
	// that carry an expiry differ on every evaluation.
	KeepLink func(have, want string) bool
	// Trees remembers commits' trees across events (nil: per event only).
	Trees *TreeCache

	memo memo
	// batch is the BatchChecks under way, if any.
	batch atomic.Pointer[checkBatch]
}

// NewRepo returns a Repo for one event. Its requests share a bound of
// ReadsInFlight in flight, writes one at a time.
func NewRepo(client *github.Client, owner, name, defaultBranch string, appID int64) *Repo {
	return &Repo{
		client: bounded(client, ReadsInFlight), Owner: owner, Name: name, DefaultBranch: defaultBranch, AppID: appID,
		Clock: clock.Real(),
	}
}

// Fresh is the same repository with nothing remembered (a second look
// after something may have changed).
func (r *Repo) Fresh() *Repo {
	return &Repo{client: r.client, Owner: r.Owner, Name: r.Name, DefaultBranch: r.DefaultBranch, AppID: r.AppID,
		BotLogin: r.BotLogin, SignedCommits: r.SignedCommits, Clock: r.Clock, KeepLink: r.KeepLink, Trees: r.Trees}
}

// FullName is "owner/name".
func (r *Repo) FullName() string { return r.Owner + "/" + r.Name }

// bounded returns a client on the same transport whose requests wait for
// one of n slots, and whose writes also wait for each other.
func bounded(c *github.Client, n int) *github.Client {
	hc := *c.Client()
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &boundedTransport{next: next, slots: make(chan struct{}, n)}
	out := github.NewClient(&hc)
	out.BaseURL, out.UploadURL, out.UserAgent = c.BaseURL, c.UploadURL, c.UserAgent
	return out
}

type boundedTransport struct {
	next  http.RoundTripper
	slots chan struct{}
	write sync.Mutex
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		t.write.Lock()
		defer t.write.Unlock()
	}
	select {
	case t.slots <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	defer func() { <-t.slots }()
	return t.next.RoundTrip(req)
}

// memo remembers facts by key for one event.
type memo struct {
	mu   sync.Mutex
	done map[string]any
	sf   singleflight.Group
}

// remember returns the fact under key, fetching it once however many
// goroutines ask at the same time. A failure is remembered too: within one
// event every question gets the same answer. Except one: a fetch whose
// own context ended (a sibling read failed and its group gave up) says
// nothing about GitHub, so it is not remembered, and a caller whose own
// context (ctx) is alive and that shared it fetches again, to get
// GitHub's answer (the 502 a fail-closed check must name, not "context
// canceled"); it may meet another caller's doomed fetch again, so it
// tries a few times.
func remember[T any](ctx context.Context, m *memo, key string, fetch func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		got, ok := m.get(key)
		if !ok {
			got, _, _ = m.sf.Do(key, func() (any, error) {
				if v, ok := m.get(key); ok {
					return v, nil
				}
				v, err := fetch()
				res := result[T]{v, err}
				if !contextEnded(err) {
					m.put(key, res)
				}
				return res, nil
			})
		}
		res := got.(result[T])
		if attempt < maxSharedRetries && contextEnded(res.err) && ctx.Err() == nil {
			continue
		}
		return res.v, res.err
	}
}

// maxSharedRetries bounds how often a caller fetches again a fact whose
// shared fetch was cancelled under another caller.
const maxSharedRetries = 4

// contextEnded reports whether err is a cancelled context rather than an
// answer (a timeout is an answer: GitHub did not give one in time).
func contextEnded(err error) bool {
	return errors.Is(err, context.Canceled)
}

type result[T any] struct {
	v   T
	err error
}

func (m *memo) get(key string) (any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.done[key]
	return v, ok
}

func (m *memo) put(key string, v any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil {
		m.done = map[string]any{}
	}
	m.done[key] = v
}

// maxPages bounds every paginated listing, so one event cannot spend an
// installation's rate limit. A listing with more is Incomplete, never a
// silent success.
const maxPages = 30

// perPage is the page size of every listing (GitHub's maximum for most).
const perPage = 100

// all collects every page of a listing, up to maxPages. When more pages
// remain it returns what it read with an Incomplete error.
func all[T any](ctx context.Context, what string, fetch func(opts github.ListOptions) ([]T, *github.Response, error)) ([]T, error) {
	var out []T
	opts := github.ListOptions{PerPage: perPage}
	for page := 0; page < maxPages; page++ {
		items, resp, err := fetch(opts)
		if err != nil {
			return nil, wrap(what, err)
		}
		out = append(out, items...)
		if resp == nil || resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return out, &Error{Op: what, Kind: Incomplete,
		Message: fmt.Sprintf("more than %d entries; the bot reads at most %d pages", maxPages*perPage, maxPages)}
}

// shortSHA abbreviates a sha for messages.
func shortSHA(sha string) string { return policy.Short(sha) }
