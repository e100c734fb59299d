package facts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

// counted wraps a mocked client and records every request path (with its
// query), so a test can assert which pages were read.
type counted struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (c *counted) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.RequestURI())
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *counted) matching(s string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.reqs {
		if strings.Contains(r, s) {
			out = append(out, r)
		}
	}
	return out
}

func mockedRepo(opts ...mock.MockBackendOption) (*Repo, *counted) {
	hc := mock.NewMockedHTTPClient(opts...)
	rec := &counted{next: hc.Transport}
	hc.Transport = rec
	r := NewRepo(github.NewClient(hc), "acme", "pay", "main", 42)
	r.Clock = instant{}
	return r, rec
}

// instant is a clock whose waits take no time.
type instant struct{}

func (instant) Now() time.Time                                   { return time.Unix(0, 0) }
func (instant) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func writeJSON(w http.ResponseWriter, v any) { _ = json.NewEncoder(w).Encode(v) }

// act is an activity log entry as GitHub lists it.
func act(typ, before, after, actor string, at time.Time) map[string]any {
	return map[string]any{"id": at.Unix(), "node_id": "A", "ref": "refs/heads/hotfix/x", "activity_type": typ,
		"before": before, "after": after, "timestamp": at.Format(time.RFC3339), "actor": map[string]any{"login": actor, "type": "User"}}
}

func TestPushHistory(t *testing.T) {
	at := time.Date(2026, 11, 23, 3, 5, 0, 0, time.UTC)
	const zero = policy.ZeroSHA
	t.Run("back to the branch's creation, across pages, by the log's cursor", func(t *testing.T) {
		r, rec := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposActivityByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Query().Get("ref") != "refs/heads/hotfix/x" {
				t.Errorf("ref = %q", req.URL.Query().Get("ref"))
			}
			if req.URL.Query().Get("after") == "" {
				w.Header().Set("Link", `<https://api.github.com/repositories/1/activity?after=CURSOR&per_page=100>; rel="next"`)
				writeJSON(w, []any{act("push", "a", "b", "eve", at.Add(time.Minute))})
				return
			}
			writeJSON(w, []any{act("push", "p", "a", "dana", at), act("branch_creation", zero, "p", "dana", at.Add(-time.Minute)),
				act("push", "x", "y", "someone", at.Add(-time.Hour))})
		})))
		h, err := r.PushHistory(context.Background(), "hotfix/x", "b")
		if err != nil || !h.Complete || len(h.Entries) != 3 || h.Entries[0].Actor != "eve" || !h.Entries[1].At.Equal(at) {
			t.Fatalf("PushHistory = %+v, %v", h, err)
		}
		if pages := rec.matching("after=CURSOR"); len(pages) != 1 {
			t.Errorf("second page requests = %v", pages)
		}
		pushers, why := h.Pushers("b")
		if why != "" || len(pushers) != 2 || len(pushers["eve"].Pushed) != 1 || len(pushers["dana"].Pushed) != 1 || !pushers["dana"].Created {
			t.Errorf("Pushers = %v %q, want eve and dana (an earlier life of the branch left out)", pushers, why)
		}
	})
	t.Run("the log lags the head's push: the bot waits for it", func(t *testing.T) {
		calls := 0
		r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposActivityByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls++
			entries := []any{act("branch_creation", zero, "a", "dana", at)}
			if calls >= 3 {
				entries = append([]any{act("push", "a", "b", "dana", at.Add(time.Minute))}, entries...)
			}
			writeJSON(w, entries)
		})))
		h, err := r.PushHistory(context.Background(), "hotfix/x", "b")
		if ok, why := h.Caught("b"); err != nil || !ok || calls != 3 {
			t.Errorf("after %d reads: caught %v (%s), %v", calls, ok, why, err)
		}
	})
	t.Run("the log never shows the push: told, not an error", func(t *testing.T) {
		calls := 0
		r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposActivityByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls++
			writeJSON(w, []any{act("branch_creation", zero, "a", "dana", at)})
		})))
		h, err := r.PushHistory(context.Background(), "hotfix/x", "b")
		if ok, why := h.Caught("b"); err != nil || ok || !strings.Contains(why, "does not show the push of `b`") || calls != 1+len(historyWaits) {
			t.Errorf("caught %v (%s), %v after %d reads", ok, why, err, calls)
		}
	})
	t.Run("a branch that moved past the head is not waited for", func(t *testing.T) {
		calls := 0
		r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposActivityByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls++
			writeJSON(w, []any{act("push", "b", "c", "dana", at), act("branch_creation", zero, "b", "dana", at.Add(-time.Minute))})
		})))
		if _, err := r.PushHistory(context.Background(), "hotfix/x", "b"); err != nil || calls != 1 {
			t.Errorf("%d reads, %v", calls, err)
		}
	})
	t.Run("no activity log (older GitHub Enterprise Server)", func(t *testing.T) {
		r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposActivityByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mock.WriteError(w, http.StatusNotFound, "Not Found")
		})))
		h, err := r.PushHistory(context.Background(), "hotfix/x", "abc")
		if err != nil || !strings.Contains(h.Unknown, "no repository activity log") {
			t.Errorf("PushHistory = %+v, %v; want it unknown, saying why", h, err)
		}
	})
	t.Run("GitHub failing is an error", func(t *testing.T) {
		r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposActivityByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mock.WriteError(w, http.StatusBadGateway, "Bad Gateway")
		})))
		if _, err := r.PushHistory(context.Background(), "hotfix/x", "abc"); !IsTransient(err) {
			t.Errorf("err = %v, want transient", err)
		}
	})
}

// The issue's own scenario, at the facts level, with the activity log as
// GitHub returns it while it lags: Dana pushes B, then A; Rob approves A;
// Dana force-pushes B again and promotes before the log shows that push.
// The old rule dated B by its earlier push and let Rob's approval count.
func TestRePushedCommitDoesNotKeepAnApprovalOfOtherCode(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	b, a := strings.Repeat("b", 40), strings.Repeat("a", 40)
	lagging := []any{ // newest first; the re-push of B is not there yet
		act("force_push", b, a, "dana", t0.Add(20*time.Second)),
		act("push", "p", b, "dana", t0.Add(10*time.Second)),
		act("branch_creation", policy.ZeroSHA, "p", "dana", t0),
	}
	r, _ := mockedRepo(mock.WithRequestMatch(mock.GetReposActivityByOwnerByRepo, lagging, lagging, lagging, lagging, lagging))
	h, err := r.PushHistory(context.Background(), "hotfix/x", b)
	if err != nil {
		t.Fatal(err)
	}
	f := policy.ApprovalFacts{Head: b, Opener: "dana", History: h, Trees: map[string]string{a: "tree-a", b: "tree-b"},
		Labels: map[string]policy.LabelFact{"hotfix-approved": {Present: true, AddedBy: "rob", Permission: policy.PermissionMaintain, AddedAt: t0.Add(30 * time.Second)}}}
	c := policy.Default()
	if v := c.Approve(f, c.RequiredLabels(false)); v.Valid() || !strings.Contains(v[0].Reason, "does not show the push of `bbbbbbb`") {
		t.Errorf("Rob's approval of A counted for B: %+v", v[0])
	}
}

func TestPermissionRoles(t *testing.T) {
	tests := []struct {
		name  string
		body  map[string]any
		level policy.Permission
		role  string
	}{
		{"base role", map[string]any{"permission": "write", "role_name": "maintain"}, policy.PermissionMaintain, "maintain"},
		{"custom role falls back to the legacy permission", map[string]any{"permission": "write", "role_name": "release-manager"}, policy.PermissionWrite, "release-manager"},
		{"custom role on a read base", map[string]any{"permission": "read", "role_name": "qa"}, policy.PermissionRead, "qa"},
		{"role name only on the user", map[string]any{"permission": "admin", "user": map[string]any{"role_name": "admin"}}, policy.PermissionAdmin, "admin"},
		{"none", map[string]any{"permission": "none", "role_name": "none"}, policy.PermissionNone, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rec := mockedRepo(mock.WithRequestMatch(mock.GetReposCollaboratorsPermissionByOwnerByRepoByUsername, tt.body))
			p, err := r.Permission(context.Background(), "bob")
			if err != nil || p.Level != tt.level || p.Role != tt.role {
				t.Errorf("= %+v, %v; want %s (%s)", p, err, tt.level, tt.role)
			}
			// Asked again within the event: remembered.
			if _, err := r.Permission(context.Background(), "bob"); err != nil || len(rec.matching("/permission")) != 1 {
				t.Errorf("asked GitHub %d times", len(rec.matching("/permission")))
			}
		})
	}
	t.Run("unknown user has no permission", func(t *testing.T) {
		r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposCollaboratorsPermissionByOwnerByRepoByUsername, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mock.WriteError(w, http.StatusNotFound, "Not Found")
		})))
		if p, err := r.Permission(context.Background(), "ghost"); err != nil || p.Level != policy.PermissionNone {
			t.Errorf("= %+v, %v", p, err)
		}
	})
}

// eventPages builds an event log of n pages of 100 events; labeled at
// gives, per global index, a label event.
func eventPages(n int, label map[int]github.IssueEvent) [][]github.IssueEvent {
	var pages [][]github.IssueEvent
	for p := 0; p < n; p++ {
		var page []github.IssueEvent
		for i := 0; i < 100; i++ {
			idx := p*100 + i
			e := github.IssueEvent{ID: github.Int64(int64(idx + 1)), Event: github.String("mentioned")}
			if l, ok := label[idx]; ok {
				l.ID = e.ID
				e = l
			}
			page = append(page, e)
		}
		pages = append(pages, page)
	}
	return pages
}

func labelEvent(kind, label, actor string, at time.Time) github.IssueEvent {
	return github.IssueEvent{Event: github.String(kind), Label: &github.Label{Name: github.String(label)},
		Actor: &github.User{Login: github.String(actor), Type: github.String("User")}, CreatedAt: &github.Timestamp{Time: at}}
}

func TestLabelHistoryNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	pagesOf := func(pages [][]github.IssueEvent) mock.MockBackendOption {
		anyPages := make([]any, len(pages))
		for i, p := range pages {
			anyPages[i] = p
		}
		return mock.WithRequestMatchPages(mock.GetReposIssuesEventsByOwnerByRepoByIssueNumber, anyPages...)
	}
	t.Run("a long log: only the newest pages are read", func(t *testing.T) {
		pages := eventPages(10, map[int]github.IssueEvent{
			5:   labelEvent("labeled", "hotfix-approved", "mallory", t0),
			950: labelEvent("unlabeled", "hotfix-approved", "rob", t0.Add(time.Hour)),
			960: labelEvent("labeled", "Hotfix-Approved", "rob", t0.Add(2*time.Hour)),
		})
		r, rec := mockedRepo(pagesOf(pages))
		h, err := r.LabelHistory(context.Background(), 7, []string{"hotfix-approved"})
		if err != nil {
			t.Fatal(err)
		}
		got := h.Latest["hotfix-approved"]
		if !got.Added || got.Actor != "rob" || !got.At.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("latest = %+v, want rob's newest labeled event", got)
		}
		if h.NewestEventID != 961 {
			t.Errorf("newest label event id = %d, want 961 (rob's; the events after it are not label events)", h.NewestEventID)
		}
		// The first page (for the page count) and the last: nothing between.
		if reads := rec.matching("/events"); len(reads) != 2 {
			t.Errorf("read %d pages, want 2: %v", len(reads), reads)
		}
	})
	t.Run("the app's own label writes are not news", func(t *testing.T) {
		r, _ := mockedRepo(pagesOf(eventPages(1, map[int]github.IssueEvent{
			1: labelEvent("labeled", "hotfix-approved", "rob", t0),
			2: labelEvent("labeled", "hotfix", "hotfix-bot[bot]", t0.Add(time.Minute)),
		})))
		r.BotLogin = "hotfix-bot[bot]"
		h, _ := r.LabelHistory(context.Background(), 7, nil)
		if h.NewestEventID != 2 {
			t.Errorf("newest label event id = %d, want 2 (rob's), not the app's own 3", h.NewestEventID)
		}
	})
	t.Run("a removal is the latest word", func(t *testing.T) {
		r, _ := mockedRepo(pagesOf(eventPages(1, map[int]github.IssueEvent{
			1: labelEvent("labeled", "hotfix-approved", "rob", t0),
			2: labelEvent("unlabeled", "hotfix-approved", "rob", t0.Add(time.Minute)),
		})))
		h, _ := r.LabelHistory(context.Background(), 7, []string{"hotfix-approved", "schema-approved"})
		if got, ok := h.Latest["hotfix-approved"]; !ok || got.Added {
			t.Errorf("latest = %+v, want the removal", got)
		}
		if _, ok := h.Latest["schema-approved"]; ok || h.Undetermined["schema-approved"] {
			t.Error("a label never added must be known absent")
		}
	})
	t.Run("beyond the pages read: undetermined, never absent", func(t *testing.T) {
		pages := eventPages(maxPages+5, map[int]github.IssueEvent{3: labelEvent("labeled", "hotfix-approved", "rob", t0)})
		r, rec := mockedRepo(pagesOf(pages))
		h, err := r.LabelHistory(context.Background(), 7, []string{"hotfix-approved"})
		if err != nil {
			t.Fatal(err)
		}
		if !h.Undetermined["hotfix-approved"] {
			t.Errorf("history = %+v, want hotfix-approved undetermined", h)
		}
		if n := len(rec.matching("/events")); n != maxPages {
			t.Errorf("read %d pages, want the bound %d", n, maxPages)
		}
	})
}

func TestListingsCutShortAreIncomplete(t *testing.T) {
	var pages []any
	for i := 0; i < maxPages+1; i++ {
		pages = append(pages, []github.RepositoryTag{{Name: github.String(fmt.Sprintf("v0.0.%d", i)), Commit: &github.Commit{SHA: github.String("c")}}})
	}
	r, _ := mockedRepo(mock.WithRequestMatchPages(mock.GetReposTagsByOwnerByRepo, pages...))
	_, err := r.Tags(context.Background())
	if KindOf(err) != Incomplete || !strings.Contains(err.Error(), "list tags") {
		t.Errorf("Tags over %d pages: %v, want Incomplete", maxPages, err)
	}
	// Production rests on the tags: it fails, it does not pass a guess.
	r, _ = mockedRepo(mock.WithRequestMatchPages(mock.GetReposTagsByOwnerByRepo, pages...),
		mock.WithRequestMatch(mock.GetReposDeploymentsByOwnerByRepo, []github.Deployment{}))
	if _, err := r.Production(context.Background(), policy.Default()); KindOf(err) != Incomplete {
		t.Errorf("Production = %v, want Incomplete", err)
	}
}

// deployments answers the deployments listing with n deployments (ids n
// down to 1, newest first), paged like GitHub; success lists the ids
// whose latest status is success.
func deploymentsBackend(n int, success map[int64]bool) []mock.MockBackendOption {
	return []mock.MockBackendOption{
		mock.WithRequestMatchHandler(mock.GetReposDeploymentsByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			page = max(page, 1)
			var list []github.Deployment
			for i := (page-1)*per + 1; i <= min(page*per, n); i++ {
				id := int64(n - i + 1)
				list = append(list, github.Deployment{ID: github.Int64(id), SHA: github.String(fmt.Sprintf("sha%d", id))})
			}
			if page*per < n {
				w.Header().Set("Link", fmt.Sprintf(`<https://api.github.com/repos/acme/pay/deployments?page=%d&per_page=%d>; rel="next"`, page+1, per))
			}
			writeJSON(w, list)
		})),
		mock.WithRequestMatchHandler(mock.GetReposDeploymentsStatusesByOwnerByRepoByDeploymentId, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			parts := strings.Split(r.URL.Path, "/")
			id, _ := strconv.ParseInt(parts[len(parts)-2], 10, 64)
			state := "failure"
			if success[id] {
				state = "success"
			}
			writeJSON(w, []github.DeploymentStatus{{State: github.String(state)}})
		})),
		mock.WithRequestMatch(mock.GetReposTagsByOwnerByRepo, []github.RepositoryTag{{Name: github.String("v9.9.9"), Commit: &github.Commit{SHA: github.String("undeployed")}}}),
	}
}

func TestProductionPastManyFailedDeployments(t *testing.T) {
	t.Run("the success 120 deployments back is found", func(t *testing.T) {
		r, _ := mockedRepo(deploymentsBackend(200, map[int64]bool{80: true})...)
		p, err := r.Production(context.Background(), policy.Default())
		if err != nil || !p.Known || p.SHA != "sha80" {
			t.Errorf("Production = %+v, %v; want sha80", p, err)
		}
	})
	t.Run("beyond the bound: unknown, never the newest tag", func(t *testing.T) {
		r, _ := mockedRepo(deploymentsBackend(deploymentPages*perPage+50, map[int64]bool{1: true})...)
		p, err := r.Production(context.Background(), policy.Default())
		if KindOf(err) != Incomplete || p.Known || !strings.Contains(err.Error(), "none of the newest 300 deployments") {
			t.Errorf("Production = %+v, %v; want Incomplete", p, err)
		}
	})
	t.Run("deployments exist, none succeeded: unknown, never the newest tag", func(t *testing.T) {
		r, _ := mockedRepo(deploymentsBackend(12, nil)...)
		p, err := r.Production(context.Background(), policy.Default())
		if err == nil || p.Known || !strings.Contains(err.Error(), "none of them has a `success` status") {
			t.Errorf("Production = %+v, %v; want an error", p, err)
		}
	})
	t.Run("no deployments at all: the newest tag on the production branch", func(t *testing.T) {
		r, _ := mockedRepo(append(deploymentsBackend(0, nil),
			mock.WithRequestMatch(mock.GetReposGitRefByOwnerByRepoByRef, github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: github.String("tip")}}),
			mock.WithRequestMatchHandler(mock.GetReposCompareByOwnerByRepoByBasehead, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if !strings.HasSuffix(req.URL.Path, "/compare/tip...undeployed") {
					t.Errorf("compared %s", req.URL.Path)
				}
				writeJSON(w, github.CommitsComparison{Status: github.String("behind")})
			})))...)
		p, err := r.Production(context.Background(), policy.Default())
		if err != nil || p.SHA != "undeployed" || p.Tag != "v9.9.9" {
			t.Errorf("Production = %+v, %v", p, err)
		}
	})
}

func TestBaseFactsMissingDevelop(t *testing.T) {
	prod := policy.ProductionState{Known: true, SHA: "p", Tag: "v1.4.2"}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { mock.WriteError(w, http.StatusNotFound, "Not Found") })
	compare := func(developExists bool) mock.MockBackendOption {
		return mock.WithRequestMatchHandler(mock.GetReposCompareByOwnerByRepoByBasehead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/develop...") {
				notFound(w, r) // no such branch, or no common history
				return
			}
			writeJSON(w, github.CommitsComparison{MergeBaseCommit: &github.RepositoryCommit{SHA: github.String("p")}, AheadBy: github.Int(1)})
		}))
	}
	ref := func(exists bool) mock.MockBackendOption {
		return mock.WithRequestMatchHandler(mock.GetReposGitRefByOwnerByRepoByRef, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !exists {
				notFound(w, r)
				return
			}
			writeJSON(w, github.Reference{Ref: github.String("refs/heads/develop"), Object: &github.GitObject{SHA: github.String("d")}})
		}))
	}
	releases := func() mock.MockBackendOption {
		return mock.WithRequestMatch(mock.EndpointPattern{Pattern: "/repos/{owner}/{repo}/git/matching-refs/{ref:.+}", Method: "GET"}, []github.Reference{})
	}
	prodFn := func() (policy.ProductionState, error) { return prod, nil }

	r, _ := mockedRepo(compare(false), ref(false), releases())
	f, err := r.BaseFacts(context.Background(), policy.Default(), prodFn, "hotfix/x", "h")
	if err != nil || f.MissingDevelop != "develop" {
		t.Fatalf("BaseFacts = %+v, %v; want develop missing", f, err)
	}
	if res := policy.EvaluateBase(f); res.Conclusion != policy.Failure || !strings.Contains(res.Summary, "`branches.develop`") {
		t.Errorf("base = %s: %s", res.Conclusion, res.Summary)
	}

	// The branch exists but shares no history with the hotfix: nothing
	// rides along from it.
	r, _ = mockedRepo(compare(true), ref(true), releases())
	f, err = r.BaseFacts(context.Background(), policy.Default(), prodFn, "hotfix/x", "h")
	if err != nil || f.MissingDevelop != "" || len(f.Unreleased) != 0 {
		t.Errorf("BaseFacts = %+v, %v", f, err)
	}
	if res := policy.EvaluateBase(f); res.Conclusion != policy.Success {
		t.Errorf("base = %s: %s", res.Conclusion, res.Summary)
	}
}

func TestErrorKinds(t *testing.T) {
	resp := func(status int, msg string, errs ...github.Error) error {
		return &github.ErrorResponse{Response: &http.Response{StatusCode: status}, Message: msg, Errors: errs}
	}
	tests := []struct {
		err  error
		kind Kind
	}{
		{resp(404, "Not Found"), NotFound},
		{resp(422, "Reference already exists"), AlreadyExists},
		{resp(422, "Validation Failed", github.Error{Code: "already_exists", Field: "name"}), AlreadyExists},
		{resp(422, "Validation Failed", github.Error{Code: "custom", Message: "A pull request already exists for acme:x."}), AlreadyExists},
		{resp(422, "Validation Failed", github.Error{Code: "missing_field"}), Validation},
		{resp(409, "Head branch was modified"), Conflict},
		{resp(405, "Pull Request is not mergeable"), NotAllowed},
		{resp(403, "Resource not accessible by integration"), Forbidden},
		{resp(403, "You have exceeded a secondary rate limit"), RateLimited},
		{resp(502, "Bad Gateway"), Transient},
		{context.DeadlineExceeded, Transient},
		{fmt.Errorf("boom"), Other},
	}
	for _, tt := range tests {
		if got := KindOf(wrap("op", tt.err)); got != tt.kind {
			t.Errorf("%v: kind %s, want %s", tt.err, got, tt.kind)
		}
	}
}

func TestCompleteCheckFindsWhatALostCreateMade(t *testing.T) {
	var mu sync.Mutex
	creates, lists := 0, 0
	r, _ := mockedRepo(
		mock.WithRequestMatchHandler(mock.GetReposCommitsCheckRunsByOwnerByRepoByRef, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			lists++
			res := github.ListCheckRunsResults{Total: github.Int(0)}
			if creates > 0 {
				// The first create took effect although its answer was lost.
				res.CheckRuns = []*github.CheckRun{{ID: github.Int64(7), Name: github.String(policy.CheckBase), Status: github.String("completed"), Conclusion: github.String("success")}}
				res.Total = github.Int(1)
			}
			writeJSON(w, res)
		})),
		mock.WithRequestMatchHandler(mock.PostReposCheckRunsByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			creates++
			mu.Unlock()
			mock.WriteError(w, http.StatusBadGateway, "Bad Gateway")
		})),
	)
	res := policy.CheckResult{Name: policy.CheckBase, Conclusion: policy.Success, Title: "t", Summary: "s"}
	if err := r.CompleteCheck(context.Background(), "h", res, Stamp{}, ""); err != nil {
		t.Fatal(err)
	}
	// Listings: the first look, the look for what the lost create made,
	// the look for a duplicate.
	if creates != 1 || lists != 3 {
		t.Errorf("%d creates and %d listings, want 1 create, then a listing that finds it", creates, lists)
	}
}

// A run that already shows the result is not written again, unless its
// Details link changed (the server's public URL was set, or the webhook
// secret that signs the links rotated): then once.
func TestCompleteCheckRewritesOnlyAStaleLink(t *testing.T) {
	res := policy.CheckResult{Name: policy.CheckBase, Conclusion: policy.Success, Title: "t", Summary: "s"}
	for _, tt := range []struct {
		name, has, want string
		writes          int
	}{
		{"same result, same link", "https://bot.example.com/details/a", "https://bot.example.com/details/a", 0},
		{"same result, no link asked", "https://bot.example.com/details/a", "", 0},
		{"same result, new link", "https://github.com/apps/hotfix-bot", "https://bot.example.com/details/a", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var patched []string
			r, _ := mockedRepo(
				mock.WithRequestMatch(mock.GetReposCommitsCheckRunsByOwnerByRepoByRef, github.ListCheckRunsResults{Total: github.Int(1), CheckRuns: []*github.CheckRun{{
					ID: github.Int64(7), Name: github.String(policy.CheckBase), Status: github.String("completed"), Conclusion: github.String(policy.Success),
					ExternalID: github.String(Stamp{}.String()), DetailsURL: github.String(tt.has),
					Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s")},
				}}}),
				mock.WithRequestMatchHandler(mock.PatchReposCheckRunsByOwnerByRepoByCheckRunId, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					b, _ := io.ReadAll(req.Body)
					mu.Lock()
					patched = append(patched, string(b))
					mu.Unlock()
					writeJSON(w, github.CheckRun{ID: github.Int64(7), Name: github.String(policy.CheckBase)})
				})),
			)
			if err := r.CompleteCheck(context.Background(), "h", res, Stamp{}, tt.want); err != nil {
				t.Fatal(err)
			}
			if len(patched) != tt.writes || tt.writes == 1 && !strings.Contains(patched[0], tt.want) {
				t.Errorf("writes %v, want %d with %q", patched, tt.writes, tt.want)
			}
		})
	}
}

// createdAlongside is a GitHub where this process's create of "hotfix-bot/base"
// on "h" makes run 10, while other processes made the runs in others (a
// second replica given the same delivery). It counts the listings and
// records the updates by run id.
func createdAlongside(t *testing.T, others ...*github.CheckRun) (*Repo, *createCounts) {
	t.Helper()
	n := &createCounts{updates: map[int64][]string{}}
	r, _ := mockedRepo(
		mock.WithRequestMatchHandler(mock.GetReposCommitsCheckRunsByOwnerByRepoByRef, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.lists++
			if f := req.URL.Query().Get("filter"); f != "all" {
				t.Errorf("listed check runs with filter=%q: a newer run could hide behind filter=latest", f)
			}
			res := github.ListCheckRunsResults{CheckRuns: []*github.CheckRun{}}
			if n.creates > 0 {
				res.CheckRuns = append(append(res.CheckRuns, others...), &github.CheckRun{ID: github.Int64(10), Name: github.String(policy.CheckBase),
					Status: github.String("completed"), Conclusion: github.String(policy.Success)})
			}
			res.Total = github.Int(len(res.CheckRuns))
			writeJSON(w, res)
		})),
		mock.WithRequestMatchHandler(mock.PostReposCheckRunsByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			n.mu.Lock()
			n.creates++
			n.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			writeJSON(w, github.CheckRun{ID: github.Int64(10), Name: github.String(policy.CheckBase), Status: github.String("completed"), Conclusion: github.String(policy.Success)})
		})),
		mock.WithRequestMatchHandler(mock.PatchReposCheckRunsByOwnerByRepoByCheckRunId, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			b, _ := io.ReadAll(req.Body)
			parts := strings.Split(req.URL.Path, "/")
			id, _ := strconv.ParseInt(parts[len(parts)-1], 10, 64)
			n.mu.Lock()
			n.updates[id] = append(n.updates[id], string(b))
			n.mu.Unlock()
			writeJSON(w, github.CheckRun{ID: github.Int64(id), Name: github.String(policy.CheckBase)})
		})),
	)
	return r, n
}

type createCounts struct {
	mu             sync.Mutex
	lists, creates int
	updates        map[int64][]string
}

func baseRun(id int64, conclusion, title string) *github.CheckRun {
	return &github.CheckRun{ID: github.Int64(id), Name: github.String(policy.CheckBase), Status: github.String("completed"),
		Conclusion: github.String(conclusion), Output: &github.CheckRunOutput{Title: github.String(title)}}
}

// The common path: a new commit's run is created and looked at once; no
// claim, no second write.
func TestNewCheckRunCostsOneWrite(t *testing.T) {
	r, n := createdAlongside(t)
	res := policy.CheckResult{Name: policy.CheckBase, Conclusion: policy.Success, Title: "t", Summary: "s"}
	if err := r.CompleteCheck(context.Background(), "h", res, Stamp{}, ""); err != nil {
		t.Fatal(err)
	}
	if n.creates != 1 || len(n.updates) != 0 || n.lists != 2 {
		t.Errorf("%d creates, updates %v, %d listings: want one create, no update, the look before and the look after", n.creates, n.updates, n.lists)
	}
}

// Two processes created the same check on the same commit: the newest
// run wins and the older one is closed as neutral, by whichever creator
// sees both.
func TestDuplicateCheckRunsSettleOnTheNewest(t *testing.T) {
	res := policy.CheckResult{Name: policy.CheckBase, Conclusion: policy.Success, Title: "t", Summary: "s"}
	t.Run("this process created the newer run: it closes the older one", func(t *testing.T) {
		r, n := createdAlongside(t, baseRun(9, policy.Failure, "older"))
		if err := r.CompleteCheck(context.Background(), "h", res, Stamp{}, ""); err != nil {
			t.Fatal(err)
		}
		if len(n.updates[9]) != 1 || !strings.Contains(n.updates[9][0], `"conclusion":"neutral"`) || !strings.Contains(n.updates[9][0], SupersededTitle) {
			t.Errorf("run 9 updates %v, want it closed as neutral, superseded", n.updates[9])
		}
		if len(n.updates[10]) != 0 {
			t.Errorf("the winning run was rewritten: %v", n.updates[10])
		}
	})
	t.Run("another process created a newer run: this one closes its own and uses theirs", func(t *testing.T) {
		r, n := createdAlongside(t, baseRun(11, policy.Success, "t"))
		if err := r.CompleteCheck(context.Background(), "h", res, Stamp{}, ""); err != nil {
			t.Fatal(err)
		}
		if len(n.updates[10]) != 1 || !strings.Contains(n.updates[10][0], SupersededTitle) {
			t.Errorf("own run updates %v, want it closed as superseded", n.updates[10])
		}
		cr, err := r.CheckRun(context.Background(), "h", policy.CheckBase)
		if err != nil || cr.GetID() != 11 {
			t.Errorf("the run this event now writes to is %d (%v), want the newer 11", cr.GetID(), err)
		}
	})
	t.Run("an older run already closed is left alone", func(t *testing.T) {
		r, n := createdAlongside(t, baseRun(9, "neutral", SupersededTitle))
		if err := r.CompleteCheck(context.Background(), "h", res, Stamp{}, ""); err != nil {
			t.Fatal(err)
		}
		if len(n.updates) != 0 {
			t.Errorf("updates %v, want none", n.updates)
		}
	})
}

// A result whose verdict, text and link are unchanged is not rewritten
// because the event log moved on (a label event that changes nothing
// costs no write); one that labels no longer decide is.
func TestCompleteCheckIgnoresANewerEventIDAlone(t *testing.T) {
	var mu sync.Mutex
	writes := 0
	r, _ := mockedRepo(
		mock.WithRequestMatch(mock.GetReposCommitsCheckRunsByOwnerByRepoByRef, github.ListCheckRunsResults{Total: github.Int(1), CheckRuns: []*github.CheckRun{{
			ID: github.Int64(7), Name: github.String(policy.CheckApproval), Status: github.String("completed"), Conclusion: github.String(policy.Failure),
			ExternalID: github.String(Stamp{EventID: 5}.String()),
			Output:     &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s")},
		}}}),
		mock.WithRequestMatchHandler(mock.PatchReposCheckRunsByOwnerByRepoByCheckRunId, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			writes++
			mu.Unlock()
			writeJSON(w, github.CheckRun{ID: github.Int64(7), Name: github.String(policy.CheckApproval)})
		})),
	)
	res := policy.CheckResult{Name: policy.CheckApproval, Conclusion: policy.Failure, Title: "t", Summary: "s"}
	if err := r.CompleteCheck(context.Background(), "h", res, Stamp{EventID: 8}, ""); err != nil {
		t.Fatal(err)
	}
	if writes != 0 {
		t.Errorf("%d writes for an unchanged verdict", writes)
	}
	if err := r.CompleteCheck(context.Background(), "h", res, Stamp{}, ""); err != nil {
		t.Fatal(err)
	}
	if writes != 1 {
		t.Errorf("%d writes for a result no label decides any more, want 1", writes)
	}
}

func TestStampRoundTrip(t *testing.T) {
	s := Stamp{EventID: 99}
	if got := ParseStamp(s.String()); got.EventID != 99 {
		t.Errorf("ParseStamp(%q) = %+v", s.String(), got)
	}
	// A check run written before push times left the stamp.
	if got := ParseStamp("pushed=2026-11-23T03:04:05Z;ev=7"); got.EventID != 7 {
		t.Errorf("an old stamp read as %+v", got)
	}
	if got := ParseStamp("something else"); got.EventID != 0 {
		t.Errorf("foreign external_id read as %+v", got)
	}
}

// blocking is a transport whose requests wait to be released, counting how
// many are inside at once.
type blocking struct {
	mu      sync.Mutex
	inside  int
	most    int
	arrived chan string
	release chan struct{}
}

func (b *blocking) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.inside++
	b.most = max(b.most, b.inside)
	b.mu.Unlock()
	b.arrived <- r.Method
	<-b.release
	b.mu.Lock()
	b.inside--
	b.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

func TestRequestsOfOneEventAreBounded(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			b := &blocking{arrived: make(chan string, 20), release: make(chan struct{})}
			tr := &boundedTransport{next: b, slots: make(chan struct{}, ReadsInFlight)}
			const n = 10
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(method, "http://github.invalid/x", nil)
					_, _ = tr.RoundTrip(req)
				}()
			}
			want := ReadsInFlight
			if method != http.MethodGet {
				want = 1 // writes one at a time
			}
			for i := 0; i < want; i++ {
				<-b.arrived
			}
			select {
			case <-b.arrived:
				t.Fatalf("more than %d %s requests in flight", want, method)
			default:
			}
			for i := 0; i < n; i++ {
				b.release <- struct{}{}
				if i+want < n {
					<-b.arrived
				}
			}
			wg.Wait()
			if b.most != want {
				t.Errorf("at most %d in flight, want %d", b.most, want)
			}
		})
	}
}

// Several checks of a new commit written in one batch are looked at once,
// after the last create: the second check does not wait for a look at
// the first, and a duplicate is still settled.
func TestBatchedChecksAreSettledWithOneLook(t *testing.T) {
	var mu sync.Mutex
	lists := 0
	var created []*github.CheckRun
	updates := map[int64][]string{}
	r, _ := mockedRepo(
		mock.WithRequestMatchHandler(mock.GetReposCommitsCheckRunsByOwnerByRepoByRef, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			lists++
			runs := append([]*github.CheckRun{}, created...)
			if len(created) > 0 { // another replica made base too, after us
				runs = append(runs, baseRun(99, policy.Success, "t"))
			}
			writeJSON(w, github.ListCheckRunsResults{Total: github.Int(len(runs)), CheckRuns: runs})
		})),
		mock.WithRequestMatchHandler(mock.PostReposCheckRunsByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			var body github.CreateCheckRunOptions
			_ = json.NewDecoder(req.Body).Decode(&body)
			mu.Lock()
			cr := &github.CheckRun{ID: github.Int64(int64(len(created) + 1)), Name: github.String(body.Name), Status: github.String("completed"), Conclusion: body.Conclusion}
			created = append(created, cr)
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			writeJSON(w, cr)
		})),
		mock.WithRequestMatchHandler(mock.PatchReposCheckRunsByOwnerByRepoByCheckRunId, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			b, _ := io.ReadAll(req.Body)
			parts := strings.Split(req.URL.Path, "/")
			id, _ := strconv.ParseInt(parts[len(parts)-1], 10, 64)
			mu.Lock()
			updates[id] = append(updates[id], string(b))
			mu.Unlock()
			writeJSON(w, github.CheckRun{ID: github.Int64(id)})
		})),
	)
	err := r.BatchChecks(context.Background(), "h", func() error {
		for _, name := range []string{policy.CheckBase, policy.CheckSchema} {
			if err := r.CompleteCheck(context.Background(), "h", policy.CheckResult{Name: name, Conclusion: policy.Success, Title: "t", Summary: "s"}, Stamp{}, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lists != 2 {
		t.Errorf("%d listings, want 2: the look before and one after both creates", lists)
	}
	if len(updates[1]) != 1 || !strings.Contains(updates[1][0], SupersededTitle) || len(updates) != 1 {
		t.Errorf("updates %v, want only our base run (1) closed as superseded by the other replica's 99", updates)
	}
	if cr, _ := r.CheckRun(context.Background(), "h", policy.CheckBase); cr.GetID() != 99 {
		t.Errorf("base now writes to run %d, want 99", cr.GetID())
	}
}

// Two processes given one delivery both find no reply and both post it:
// the newer comment deletes itself and the older one is the reply.
func TestPostCommentSettlesADuplicatePostedAtTheSameMoment(t *testing.T) {
	const marker = "<!-- hotfix-bot:reply:5:1 -->"
	app := map[string]any{"id": 42}
	theirs := map[string]any{"id": 7, "body": "theirs " + marker, "performed_via_github_app": app, "user": map[string]any{"login": "hotfix-bot[bot]"}}
	ours := map[string]any{"id": 9, "body": "ours " + marker, "performed_via_github_app": app, "user": map[string]any{"login": "hotfix-bot[bot]"}}
	var mu sync.Mutex
	lists, deleted := 0, []string{}
	r, _ := mockedRepo(
		mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByIssueNumber, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			lists++
			first := lists == 1
			mu.Unlock()
			if first {
				writeJSON(w, []any{}) // nothing yet: both processes post
				return
			}
			writeJSON(w, []any{theirs, ours})
		})),
		mock.WithRequestMatchHandler(mock.PostReposIssuesCommentsByOwnerByRepoByIssueNumber, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			writeJSON(w, ours)
		})),
		mock.WithRequestMatchHandler(mock.DeleteReposIssuesCommentsByOwnerByRepoByCommentId, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			deleted = append(deleted, req.URL.Path)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})),
	)
	c, created, err := r.PostComment(context.Background(), 5, marker, "ours "+marker, time.Time{})
	if err != nil || created || c == nil || c.ID != 7 {
		t.Errorf("PostComment = %+v, created %v, %v; want the older comment 7, not created by this call", c, created, err)
	}
	if len(deleted) != 1 || !strings.HasSuffix(deleted[0], "/comments/9") {
		t.Errorf("deleted %v, want the newer comment 9", deleted)
	}
}

// A read that ended because its own context was cancelled (a sibling read
// failed and the group gave up) is not remembered: a caller whose context
// is alive asks GitHub itself, again if it meets other callers' cancelled
// reads, and gets GitHub's answer; a caller whose own context ended gets
// its cancellation at once.
func TestRememberForgetsACancelledRead(t *testing.T) {
	var m memo
	calls := 0
	cancelled := func() (int, error) { calls++; return 0, fmt.Errorf("compare: %w", context.Canceled) }
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := remember(dead, &m, "k", cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled caller: %v", err)
	}
	if calls != 1 {
		t.Errorf("the cancelled caller fetched %d times, want once", calls)
	}
	// A live caller meets two more cancelled fetches (other callers'),
	// then GitHub's answer.
	tries := 0
	flaky := func() (int, error) {
		calls++
		if tries++; tries < 3 {
			return 0, fmt.Errorf("compare: %w", context.Canceled)
		}
		return 0, errors.New("502")
	}
	if _, err := remember(context.Background(), &m, "k", flaky); err == nil || err.Error() != "502" {
		t.Errorf("the live caller got %v, want GitHub's 502", err)
	}
	if _, err := remember(context.Background(), &m, "k", cancelled); err == nil || err.Error() != "502" {
		t.Errorf("the next caller got %v, want the remembered 502", err)
	}
	if calls != 4 {
		t.Errorf("%d fetches, want 4 (one cancelled, then three until the answer, which is kept)", calls)
	}
}

// An upsert that meets a same-moment duplicate keeps the older comment and
// writes its own text on it: the newest text is the one that stays.
func TestUpsertCommentWritesOnTheDuplicateThatStayed(t *testing.T) {
	const marker = "<!-- hotfix-bot:summary:5 -->"
	app := map[string]any{"id": 42}
	theirs := map[string]any{"id": 7, "body": "older text " + marker, "performed_via_github_app": app, "user": map[string]any{"login": "hotfix-bot[bot]"}}
	ours := map[string]any{"id": 9, "body": "newer text " + marker, "performed_via_github_app": app, "user": map[string]any{"login": "hotfix-bot[bot]"}}
	var mu sync.Mutex
	lists := 0
	var edited []string
	r, _ := mockedRepo(
		mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByIssueNumber, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			lists++
			first := lists <= 2 // the upsert's look, then the post's own look
			mu.Unlock()
			if first {
				writeJSON(w, []any{})
				return
			}
			writeJSON(w, []any{theirs, ours})
		})),
		mock.WithRequestMatchHandler(mock.PostReposIssuesCommentsByOwnerByRepoByIssueNumber, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			writeJSON(w, ours)
		})),
		mock.WithRequestMatchHandler(mock.DeleteReposIssuesCommentsByOwnerByRepoByCommentId, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})),
		mock.WithRequestMatchHandler(mock.PatchReposIssuesCommentsByOwnerByRepoByCommentId, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			edited = append(edited, req.URL.Path)
			mu.Unlock()
			writeJSON(w, theirs)
		})),
	)
	c, _, err := r.UpsertComment(context.Background(), 5, marker, "newer text "+marker, time.Time{})
	if err != nil || c == nil || c.ID != 7 || c.Body != "newer text "+marker {
		t.Errorf("UpsertComment = %+v, %v; want comment 7 with the newer text", c, err)
	}
	if len(edited) != 1 || !strings.HasSuffix(edited[0], "/comments/7") {
		t.Errorf("edited %v, want comment 7", edited)
	}
}
