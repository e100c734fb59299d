package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
	"github.com/palantir/go-githubapp/githubapp"
)

const appID = 42

// payload reads a real webhook payload from testdata and applies changes
// to it (the payloads are GitHub's examples; tests adapt their fields).
func payload(t *testing.T, name string, change func(map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "fixtures", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(m)
	}
	out, _ := json.Marshal(m)
	return out
}

func set(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// recorder counts and records the requests a handler sends.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string
	body map[string][]string // "METHOD path" → bodies
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	key := req.Method + " " + req.URL.Path
	r.reqs = append(r.reqs, key)
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(strings.NewReader(string(b)))
		if r.body == nil {
			r.body = map[string][]string{}
		}
		r.body[key] = append(r.body[key], string(b))
	}
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// creator hands out clients on the mocked GitHub.
type creator struct {
	githubapp.ClientCreator
	http *http.Client
}

func (c creator) NewInstallationClient(int64) (*github.Client, error) {
	return github.NewClient(c.http), nil
}

func newBot(opts ...mock.MockBackendOption) (*Bot, *recorder) {
	mocked := mock.NewMockedHTTPClient(opts...)
	rec := &recorder{next: mocked.Transport}
	mocked.Transport = rec
	g := NewBot(app.Deps{ClientCreator: creator{http: mocked}, Identity: app.KnownIdentity(appID, "hotfix-bot")})
	return g, rec
}

var (
	noPolicy = []mock.MockBackendOption{
		mock.WithRequestMatchHandler(mock.GetReposContentsByOwnerByRepoByPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mock.WriteError(w, http.StatusNotFound, "Not Found")
		})),
		mock.WithRequestMatchHandler(mock.GetReposByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mock.WriteError(w, http.StatusNotFound, "Not Found")
		})),
		// The production branch the policy is read from (the defaults'
		// main), in a repository that protects no branch.
		mock.WithRequestMatchHandler(mock.GetReposBranchesByOwnerByRepoByBranch, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(mock.MustMarshal(github.Branch{Name: github.String(path.Base(r.URL.Path)), Commit: &github.RepositoryCommit{SHA: github.String("1111111111111111111111111111111111111111")}}))
		})),
		mock.WithRequestMatchHandler(mock.GetReposBranchesByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(mock.MustMarshal([]github.Branch{}))
		})),
	}
	ctx = context.Background()
)

// warm loads the (default) policy of Codertocat/Hello-World, the
// examples' repository, into the Bot's cache: for events without a pull
// request, and for pull requests into master.
func warm(t *testing.T, g *Bot) {
	t.Helper()
	r, _ := g.repo(1, "Codertocat", "Hello-World", "master")
	if _, err := g.policy(ctx, r); err != nil {
		t.Fatal(err)
	}
	// And for pull requests into master, the examples' base.
	if _, err := g.policyFor(ctx, r, "master"); err != nil {
		t.Fatal(err)
	}
}

func TestEventsSkippedWithoutAPICalls(t *testing.T) {
	tests := []struct {
		name    string
		handler func(*Bot) githubapp.EventHandler
		event   string
		payload []byte
		warm    bool
	}{
		{"branch deleted", pushHandler, "push", payload(t, "push.json", func(m map[string]any) {
			m["ref"], m["deleted"] = "refs/heads/hotfix/x", true
		}), false},
		{"new branch without commits of its own", pushHandler, "push", payload(t, "push.json", func(m map[string]any) {
			m["ref"], m["created"], m["commits"] = "refs/heads/hotfix/x", true, []any{}
		}), false},
		{"tag push", pushHandler, "push", payload(t, "push.json", func(m map[string]any) { m["ref"] = "refs/tags/v1.4.3" }), false},
		{"the app's own push", pushHandler, "push", payload(t, "push.json", func(m map[string]any) {
			m["ref"] = "refs/heads/hotfix/x"
			set(m, "sender.login", "hotfix-bot[bot]")
			set(m, "sender.type", "Bot")
		}), false},
		{"feature branch, policy cached", pushHandler, "push", payload(t, "push.json", func(m map[string]any) { m["ref"] = "refs/heads/feature/search" }), true},
		{"check run created", checkRunHandler, "check_run", payload(t, "check_run.created.json", nil), false},
		{"another app's re-run", checkRunHandler, "check_run", payload(t, "check_run.created.json", func(m map[string]any) {
			m["action"] = "rerequested"
			set(m, "check_run.name", policy.CheckBase)
		}), false},
		{"pull request closed", prHandler, "pull_request", payload(t, "pull_request.closed.json", nil), false},
		{"pull request title edit", prHandler, "pull_request", payload(t, "pull_request.opened.json", func(m map[string]any) {
			m["action"] = "edited"
			m["changes"] = map[string]any{"title": map[string]any{"from": "old"}}
		}), false},
		{"unrelated label, policy cached", prHandler, "pull_request", payload(t, "pull_request.labeled.json", nil), true},
		{"our own label", prHandler, "pull_request", payload(t, "pull_request.labeled.json", func(m map[string]any) {
			set(m, "sender.login", "hotfix-bot[bot]")
			set(m, "sender.type", "Bot")
			set(m, "label.name", "hotfix")
		}), false},
		{"our own label, said by the payload's app", prHandler, "pull_request", payload(t, "pull_request.labeled.json", func(m map[string]any) {
			set(m, "performed_via_github_app.id", appID)
			set(m, "label.name", "hotfix-approved")
		}), false},
		{"not a hotfix branch, policy cached", prHandler, "pull_request", payload(t, "pull_request.opened.json", nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, rec := newBot(noPolicy...)
			if tt.warm {
				warm(t, g)
			}
			before := rec.count()
			// The door answers it without queueing it.
			if adm := tt.handler(g).(app.Door).AtDoor(ctx, tt.event, tt.payload); !adm.Skip {
				t.Errorf("the door queued it (%s lane)", adm.Lane)
			}
			if err := tt.handler(g).Handle(ctx, tt.event, "d-1", tt.payload); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if n := rec.count() - before; n != 0 {
				t.Errorf("%d API calls, want none: %v", n, rec.reqs[before:])
			}
		})
	}
}

func pushHandler(g *Bot) githubapp.EventHandler     { return &Push{g} }
func prHandler(g *Bot) githubapp.EventHandler       { return &PullRequest{g} }
func checkRunHandler(g *Bot) githubapp.EventHandler { return &CheckRun{g} }

const (
	prodSHA = "1111111111111111111111111111111111111111"
	headSHA = "2222222222222222222222222222222222222222"
)

// gitHubWithProduction mocks a repository whose production is v1.4.2 at
// prodSHA and whose hotfix head sits right on it.
func gitHubWithProduction(extra ...mock.MockBackendOption) []mock.MockBackendOption {
	var nextID int64 = 100
	var mu sync.Mutex
	opts := append([]mock.MockBackendOption{}, noPolicy...)
	opts = append(opts,
		mock.WithRequestMatchHandler(mock.GetReposCommitsCheckRunsByOwnerByRepoByRef, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(mock.MustMarshal(github.ListCheckRunsResults{Total: github.Int(0)}))
		})),
		mock.WithRequestMatchHandler(mock.PostReposCheckRunsByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body github.CreateCheckRunOptions
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			nextID++
			id := nextID
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(mock.MustMarshal(github.CheckRun{ID: github.Int64(id), Name: github.String(body.Name), HeadSHA: github.String(body.HeadSHA), Status: body.Status}))
		})),
		mock.WithRequestMatchHandler(mock.PatchReposCheckRunsByOwnerByRepoByCheckRunId, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body github.UpdateCheckRunOptions
			_ = json.NewDecoder(r.Body).Decode(&body)
			_, _ = w.Write(mock.MustMarshal(github.CheckRun{ID: github.Int64(1), Name: github.String(body.Name), Status: github.String("completed"), Conclusion: body.Conclusion}))
		})),
		mock.WithRequestMatch(mock.GetReposDeploymentsByOwnerByRepo, []github.Deployment{{ID: github.Int64(7), SHA: github.String(prodSHA)}}),
		mock.WithRequestMatch(mock.GetReposDeploymentsStatusesByOwnerByRepoByDeploymentId, []github.DeploymentStatus{{State: github.String("success")}}),
		mock.WithRequestMatch(mock.GetReposTagsByOwnerByRepo, []github.RepositoryTag{{Name: github.String("v1.4.2"), Commit: &github.Commit{SHA: github.String(prodSHA)}}}),
		mock.WithRequestMatchHandler(mock.GetReposCompareByOwnerByRepoByBasehead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Production...head and develop...head: the merge base is
			// production either way; one file changed.
			_, _ = w.Write(mock.MustMarshal(github.CommitsComparison{
				Status: github.String("ahead"), AheadBy: github.Int(1), BehindBy: github.Int(0), TotalCommits: github.Int(1),
				MergeBaseCommit: &github.RepositoryCommit{SHA: github.String(prodSHA)},
				Files:           []*github.CommitFile{{Filename: github.String("payments/timeout.go")}},
			}))
		})),
		mock.WithRequestMatch(mock.EndpointPattern{Pattern: "/repos/{owner}/{repo}/git/matching-refs/{ref:.+}", Method: "GET"}, []github.Reference{}),
	)
	return append(opts, extra...)
}

func hotfixPush(t *testing.T) []byte {
	return payload(t, "push.json", func(m map[string]any) {
		m["ref"] = "refs/heads/hotfix/payment-timeout"
		m["after"] = headSHA
	})
}

func TestPushToHotfixBranchRunsBaseAndSchema(t *testing.T) {
	g, rec := newBot(gitHubWithProduction(mock.WithRequestMatch(mock.GetReposPullsByOwnerByRepo, []github.PullRequest{}))...)
	if err := (&Push{g}).Handle(ctx, "push", "d-1", hotfixPush(t)); err != nil {
		t.Fatal(err)
	}
	// A new commit has no check run to hide: each gate is created once,
	// completed, with no "in progress" write before it.
	created := rec.body["POST /repos/Codertocat/Hello-World/check-runs"]
	if len(created) != 2 || strings.Contains(strings.Join(created, ""), `"status":"in_progress"`) {
		t.Fatalf("check runs created = %v, want base and schema, completed", created)
	}
	if n := len(rec.body["PATCH /repos/Codertocat/Hello-World/check-runs/101"]) + len(rec.body["PATCH /repos/Codertocat/Hello-World/check-runs/102"]); n != 0 {
		t.Errorf("%d check run updates after creating them complete", n)
	}
	updates := strings.Join(created, "")
	for _, want := range []string{`"name":"hotfix-bot/base"`, `"name":"hotfix-bot/schema"`, `"conclusion":"success"`, `Starts at production (v1.4.2)`, `No schema changes`} {
		if !strings.Contains(updates, want) {
			t.Errorf("check run updates lack %s:\n%s", want, updates)
		}
	}
	if strings.Contains(updates, `"conclusion":"failure"`) {
		t.Errorf("a failure on a good hotfix:\n%s", updates)
	}
}

func TestPushDefersToItsPullRequest(t *testing.T) {
	g, rec := newBot(append(noPolicy,
		mock.WithRequestMatch(mock.GetReposPullsByOwnerByRepo, []github.PullRequest{{Number: github.Int(9)}}))...)
	if err := (&Push{g}).Handle(ctx, "push", "d-1", hotfixPush(t)); err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.reqs {
		if strings.Contains(r, "check-runs") {
			t.Errorf("the push wrote checks although its pull request's synchronize event does: %v", rec.reqs)
		}
	}
}

func TestForkPullRequestGetsOnlyAFailingBaseCheck(t *testing.T) {
	fork := &github.Repository{FullName: github.String("mallory/Hello-World"), Name: github.String("Hello-World")}
	pr := &github.PullRequest{
		Number: github.Int(2), State: github.String("open"), HTMLURL: github.String("https://github.com/Codertocat/Hello-World/pull/2"),
		Head: &github.PullRequestBranch{Ref: github.String("hotfix/evil"), SHA: github.String(headSHA), Repo: fork},
		Base: &github.PullRequestBranch{Ref: github.String("main"), Repo: &github.Repository{FullName: github.String("Codertocat/Hello-World")}},
	}
	g, rec := newBot(gitHubWithProduction(mock.WithRequestMatch(mock.GetReposPullsByOwnerByRepoByPullNumber, pr))...)
	ev := payload(t, "pull_request.opened.json", func(m map[string]any) {
		set(m, "pull_request.head.ref", "hotfix/evil")
		set(m, "pull_request.head.sha", headSHA)
		set(m, "pull_request.head.repo.full_name", "mallory/Hello-World")
		set(m, "pull_request.base.ref", "main")
	})
	if err := (&PullRequest{g}).Handle(ctx, "pull_request", "d-1", ev); err != nil {
		t.Fatal(err)
	}
	created := strings.Join(rec.body["POST /repos/Codertocat/Hello-World/check-runs"], "")
	if strings.Count(created, `"name":"`) != 1 || !strings.Contains(created, policy.CheckBase) {
		t.Errorf("check runs created = %s, want only the base check", created)
	}
	if !strings.Contains(created, `"conclusion":"failure"`) || !strings.Contains(created, "hotfix PRs must come from a branch of this repository") {
		t.Errorf("base check = %s", created)
	}
	for _, r := range rec.reqs {
		if strings.Contains(r, "/labels") || strings.Contains(r, "/compare/") {
			t.Errorf("a fork PR caused %s", r)
		}
	}
}
