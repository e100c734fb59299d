package ghsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
)

var allPermissions = map[string]string{
	"checks": "write", "contents": "write", "deployments": "write", "issues": "write",
	"pull_requests": "write", "metadata": "read", "members": "read", "statuses": "read",
}

type fixture struct {
	sim    *Sim
	app    *App
	inst   *Installation
	repo   *Repo
	client *github.Client
	alice  *User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	app, err := sim.RegisterApp(AppOptions{Slug: "hotfix-bot", Permissions: allPermissions,
		Events: []string{"push", "pull_request", "issue_comment", "deployment_status", "check_run"}})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := sim.CreateRepo("acme", "pay")
	if err != nil {
		t.Fatal(err)
	}
	inst := sim.Install(app, repo)
	f := &fixture{sim: sim, app: app, inst: inst, repo: repo, alice: sim.User("alice")}
	f.client = f.clientFor(t, app, inst)
	t.Cleanup(func() {
		for _, v := range sim.Violations() {
			t.Errorf("contract violation: %s", v)
		}
	})
	return f
}

func (f *fixture) clientFor(t *testing.T, app *App, inst *Installation) *github.Client {
	t.Helper()
	tr, err := ghinstallation.New(http.DefaultTransport, app.ID, inst.ID, []byte(app.PrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	tr.BaseURL = strings.TrimSuffix(f.sim.URL(), "/")
	c, err := github.NewClient(&http.Client{Transport: tr}).WithEnterpriseURLs(f.sim.URL(), f.sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL, _ = c.BaseURL.Parse(f.sim.URL())
	return c
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var ctx = context.Background()

func TestAuth(t *testing.T) {
	f := newFixture(t)
	// No credentials.
	resp, err := http.Get(f.sim.URL() + "repos/acme/pay")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %v %v", resp.Status, err)
	}
	// The app's JWT identifies the app.
	atr, _ := ghinstallation.NewAppsTransport(http.DefaultTransport, f.app.ID, []byte(f.app.PrivateKeyPEM))
	atr.BaseURL = strings.TrimSuffix(f.sim.URL(), "/")
	appClient := github.NewClient(&http.Client{Transport: atr})
	appClient.BaseURL, _ = appClient.BaseURL.Parse(f.sim.URL())
	a, _, err := appClient.Apps.Get(ctx, "")
	if err != nil || a.GetSlug() != "hotfix-bot" {
		t.Fatalf("GET /app: %v %v", a, err)
	}
	// A JWT signed by another key is refused.
	strange, _ := rsa.GenerateKey(rand.Reader, 2048)
	strangePEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(strange)})
	forged, _ := ghinstallation.NewAppsTransport(http.DefaultTransport, f.app.ID, strangePEM)
	forged.BaseURL = atr.BaseURL
	fc := github.NewClient(&http.Client{Transport: forged})
	fc.BaseURL = appClient.BaseURL
	if _, resp, err := fc.Apps.Get(ctx, ""); err == nil || resp.StatusCode != 401 {
		t.Errorf("forged JWT accepted: %v", err)
	}
	// Installation token: in scope yes, other repositories no.
	if _, _, err := f.client.Repositories.Get(ctx, "acme", "pay"); err != nil {
		t.Fatalf("in-scope repository: %v", err)
	}
	_, _ = f.sim.CreateRepo("acme", "secret")
	if _, resp, err := f.client.Repositories.Get(ctx, "acme", "secret"); err == nil || resp.StatusCode != 404 {
		t.Errorf("repository outside the installation: %v", err)
	}
	// Permissions come from the app's registration.
	weak, _ := f.sim.RegisterApp(AppOptions{Slug: "weak", Permissions: map[string]string{"metadata": "read", "checks": "read"}})
	wc := f.clientFor(t, weak, f.sim.Install(weak, f.repo))
	must[string](t)(f.repo.Push(f.alice, "main", "init", Files{"a": "1"}))
	_, gresp, err := wc.Checks.CreateCheckRun(ctx, "acme", "pay", github.CreateCheckRunOptions{Name: "x", HeadSHA: f.repo.Branch("main")})
	if err == nil || gresp.StatusCode != 403 {
		t.Errorf("write without checks:write: %v", err)
	}
}

func TestCompareIsComputedByGit(t *testing.T) {
	f := newFixture(t)
	r, alice := f.repo, f.alice
	c1 := must[string](t)(r.Push(alice, "main", "init", Files{"README.md": "x"}))
	must[string](t)(r.CreateBranch(alice, "develop", "main"))
	d1 := must[string](t)(r.Push(alice, "develop", "feature", Files{"feature.go": "1"}))
	m2 := must[string](t)(r.Push(alice, "main", "hotfix", Files{"fix.go": "1"}))

	tests := []struct {
		base, head, status string
		ahead, behind      int
		mergeBase          string
	}{
		{"main", "main", "identical", 0, 0, m2},
		{c1, "main", "ahead", 1, 0, c1},
		{"main", c1, "behind", 0, 1, c1},
		{"main", "develop", "diverged", 1, 1, c1},
		{"develop", d1, "identical", 0, 0, d1},
	}
	for _, tt := range tests {
		cmp, _, err := f.client.Repositories.CompareCommits(ctx, "acme", "pay", tt.base, tt.head, nil)
		if err != nil {
			t.Fatalf("%s...%s: %v", tt.base, tt.head, err)
		}
		if cmp.GetStatus() != tt.status || cmp.GetAheadBy() != tt.ahead || cmp.GetBehindBy() != tt.behind || cmp.GetMergeBaseCommit().GetSHA() != tt.mergeBase {
			t.Errorf("%s...%s = %s +%d -%d base %s; want %s +%d -%d base %s", tt.base, tt.head,
				cmp.GetStatus(), cmp.GetAheadBy(), cmp.GetBehindBy(), cmp.GetMergeBaseCommit().GetSHA(),
				tt.status, tt.ahead, tt.behind, tt.mergeBase)
		}
	}

	// Branch names with slashes travel query-escaped in one segment.
	must[string](t)(r.CreateBranch(alice, "hotfix/pay", "main"))
	if cmp, _, err := f.client.Repositories.CompareCommits(ctx, "acme", "pay", "main", "hotfix/pay", nil); err != nil || cmp.GetStatus() != "identical" {
		t.Errorf("compare with a slash in the branch: %v %v", cmp.GetStatus(), err)
	}

	// Files stop at 300, like GitHub's compare; the PR files list goes on.
	many := Files{}
	for i := 0; i < 305; i++ {
		many[fmt.Sprintf("db/migrations/%03d.sql", i)] = "select 1;"
	}
	big := must[string](t)(r.Push(alice, "hotfix/pay", "huge", many))
	cmp, _, err := f.client.Repositories.CompareCommits(ctx, "acme", "pay", "main", big, nil)
	if err != nil || len(cmp.Files) != 300 || cmp.GetAheadBy() != 1 {
		t.Fatalf("big compare: %d files, %v", len(cmp.Files), err)
	}
	n := must[int](t)(r.OpenPR(alice, "hotfix/pay", "main", "Huge"))
	var all []*github.CommitFile
	opts := &github.ListOptions{PerPage: 100}
	for {
		files, resp, err := f.client.PullRequests.ListFiles(ctx, "acme", "pay", n, opts)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, files...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(all) != 305 {
		t.Errorf("PR files = %d, want 305", len(all))
	}
	// A commit's files page at 300.
	commit, resp, err := f.client.Repositories.GetCommit(ctx, "acme", "pay", big, nil)
	if err != nil || len(commit.Files) != 300 || resp.NextPage != 2 {
		t.Errorf("commit files page 1 = %d (next %d), %v", len(commit.Files), resp.NextPage, err)
	}
}

func TestMergesAndPullRequests(t *testing.T) {
	f := newFixture(t)
	r, alice := f.repo, f.alice
	must[string](t)(r.Push(alice, "main", "init", Files{"app.go": "v1\n"}))
	must[string](t)(r.CreateBranch(alice, "hotfix/a", "main"))
	head := must[string](t)(r.Push(alice, "hotfix/a", "fix", Files{"fix.go": "1"}))
	n := must[int](t)(r.OpenPR(alice, "hotfix/a", "main", "Fix"))

	// The sha guard: a stale head is 409.
	_, resp, err := f.client.PullRequests.Merge(ctx, "acme", "pay", n, "", &github.PullRequestOptions{SHA: "0000000000000000000000000000000000000001", MergeMethod: "merge"})
	if err == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("stale sha merge: %v", err)
	}
	res, _, err := f.client.PullRequests.Merge(ctx, "acme", "pay", n, "", &github.PullRequestOptions{SHA: head, MergeMethod: "merge"})
	if err != nil || !res.GetMerged() {
		t.Fatalf("merge: %v %v", res, err)
	}
	if pr, _ := r.PR(n); !pr.PR.Merged || pr.State != "closed" || r.Branch("main") != res.GetSHA() {
		t.Errorf("after merge: %+v main=%s", pr.PR, r.Branch("main"))
	}
	if ok, _ := r.git.isAncestor(head, r.Branch("main")); !ok {
		t.Error("the merged head is not in main")
	}

	// Rebase and squash merges replay the change onto the base.
	for _, method := range []string{"rebase", "squash"} {
		branch := "hotfix/" + method
		must[string](t)(r.CreateBranch(alice, branch, "main"))
		must[string](t)(r.Push(alice, branch, "one", Files{method + "1.go": "1"}))
		must[string](t)(r.Push(alice, branch, "two", Files{method + "2.go": "2"}))
		must[string](t)(r.Push(alice, "main", "moved on", Files{"other-" + method + ".go": "x"}))
		num := must[int](t)(r.OpenPR(alice, branch, "main", method))
		before := r.Branch("main")
		res, _, err := f.client.PullRequests.Merge(ctx, "acme", "pay", num, "", &github.PullRequestOptions{MergeMethod: method})
		if err != nil || !res.GetMerged() {
			t.Fatalf("%s merge: %v", method, err)
		}
		infos, _ := r.git.commits(r.Branch("main"))
		want := map[string]int{"rebase": 2, "squash": 1}[method]
		if n, _ := r.git.count(before, r.Branch("main")); n != want || len(infos[0].Parents) != 1 {
			t.Errorf("%s merge added %d commits with %d parents, want %d linear", method, n, len(infos[0].Parents), want)
		}
		for _, file := range []string{method + "1.go", method + "2.go", "other-" + method + ".go"} {
			if _, err := r.git.readFile("main", file); err != nil {
				t.Errorf("%s merge lost %s", method, file)
			}
		}
	}

	// POST /merges: 201, then 204 (nothing to merge), 409 on conflict.
	must[string](t)(r.CreateBranch(alice, "develop", "main"))
	must[string](t)(r.Push(alice, "main", "m", Files{"main.txt": "1"}))
	if _, resp, err := f.client.Repositories.Merge(ctx, "acme", "pay", &github.RepositoryMergeRequest{Base: github.String("develop"), Head: github.String("main")}); err != nil || resp.StatusCode != 201 {
		t.Errorf("merge main into develop: %v", err)
	}
	if _, resp, err := f.client.Repositories.Merge(ctx, "acme", "pay", &github.RepositoryMergeRequest{Base: github.String("develop"), Head: github.String("main")}); err != nil || resp.StatusCode != 204 {
		t.Errorf("merge again: %d %v", resp.StatusCode, err)
	}
	must[string](t)(r.Push(alice, "main", "a", Files{"app.go": "main\n"}))
	must[string](t)(r.Push(alice, "develop", "b", Files{"app.go": "develop\n"}))
	if _, resp, err := f.client.Repositories.Merge(ctx, "acme", "pay", &github.RepositoryMergeRequest{Base: github.String("develop"), Head: github.String("main")}); err == nil || resp.StatusCode != 409 {
		t.Errorf("conflicting merge: %v", err)
	}
	// A conflicting PR is not mergeable (405) and says so.
	n2 := must[int](t)(r.OpenPR(alice, "main", "develop", "Sync"))
	// GitHub computes mergeability in the background: the first read
	// does not know yet.
	pr, _, _ := f.client.PullRequests.Get(ctx, "acme", "pay", n2)
	if pr.Mergeable != nil || pr.GetMergeableState() != "unknown" {
		t.Errorf("first read: mergeable=%v state=%s, want not computed yet", pr.Mergeable, pr.GetMergeableState())
	}
	pr, _, _ = f.client.PullRequests.Get(ctx, "acme", "pay", n2)
	if pr.Mergeable == nil || pr.GetMergeable() || pr.GetMergeableState() != "dirty" {
		t.Errorf("conflicting PR mergeable=%v state=%s", pr.GetMergeable(), pr.GetMergeableState())
	}
	if _, resp, err := f.client.PullRequests.Merge(ctx, "acme", "pay", n2, "", nil); err == nil || resp.StatusCode != 405 {
		t.Errorf("merging a conflicting PR: %v", err)
	}
	// Creating a second PR for the same head and base is refused.
	if _, resp, err := f.client.PullRequests.Create(ctx, "acme", "pay", &github.NewPullRequest{Title: github.String("again"), Head: github.String("main"), Base: github.String("develop")}); err == nil || resp.StatusCode != 422 {
		t.Errorf("duplicate PR: %v", err)
	}
}

func TestCheckRunsLabelsEvents(t *testing.T) {
	f := newFixture(t)
	r, alice := f.repo, f.alice
	sha := must[string](t)(r.Push(alice, "main", "init", Files{"a": "1"}))
	cr, _, err := f.client.Checks.CreateCheckRun(ctx, "acme", "pay", github.CreateCheckRunOptions{
		Name: "hotfix-bot/base", HeadSHA: sha, Status: github.String("in_progress"),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.client.Checks.UpdateCheckRun(ctx, "acme", "pay", cr.GetID(), github.UpdateCheckRunOptions{
		Name: "hotfix-bot/base", Conclusion: github.String("failure"),
		Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s")},
	})
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := f.client.Checks.ListCheckRunsForRef(ctx, "acme", "pay", sha, &github.ListCheckRunsOptions{CheckName: github.String("hotfix-bot/base"), AppID: github.Int64(f.app.ID)})
	if err != nil || list.GetTotal() != 1 || list.CheckRuns[0].GetConclusion() != "failure" || list.CheckRuns[0].GetStatus() != "completed" {
		t.Fatalf("list check runs: %+v %v", list, err)
	}
	// A completed run needs a conclusion.
	if _, resp, err := f.client.Checks.CreateCheckRun(ctx, "acme", "pay", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Status: github.String("completed")}); err == nil || resp.StatusCode != 422 {
		t.Errorf("completed without conclusion: %v", err)
	}
	// Unknown sha.
	if _, resp, err := f.client.Checks.CreateCheckRun(ctx, "acme", "pay", github.CreateCheckRunOptions{Name: "x", HeadSHA: strings.Repeat("1", 40)}); err == nil || resp.StatusCode != 422 {
		t.Errorf("unknown sha: %v", err)
	}

	must[string](t)(r.CreateBranch(alice, "hotfix/x", "main"))
	must[string](t)(r.Push(alice, "hotfix/x", "fix", Files{"b": "2"}))
	n := must[int](t)(r.OpenPR(alice, "hotfix/x", "main", "Fix"))
	bob := f.sim.User("bob")
	if err := r.AddLabel(bob, n, "hotfix-approved"); err != nil {
		t.Fatal(err)
	}
	// The object form: the only one GitHub's description documents.
	req, _ := f.client.NewRequest("POST", fmt.Sprintf("repos/acme/pay/issues/%d/labels", n), map[string]any{"labels": []string{"hotfix"}})
	if _, err := f.client.Do(ctx, req, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Issues.RemoveLabelForIssue(ctx, "acme", "pay", n, "hotfix-approved"); err != nil {
		t.Fatal(err)
	}
	if resp, err := f.client.Issues.RemoveLabelForIssue(ctx, "acme", "pay", n, "hotfix-approved"); err == nil || resp.StatusCode != 404 {
		t.Errorf("removing an absent label: %v", err)
	}
	events, _, err := f.client.Issues.ListIssueEvents(ctx, "acme", "pay", n, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.GetEvent()+":"+e.GetLabel().GetName()+":"+e.GetActor().GetLogin())
	}
	want := "labeled:hotfix-approved:bob labeled:hotfix:hotfix-bot[bot] unlabeled:hotfix-approved:hotfix-bot[bot]"
	if strings.Join(got, " ") != want {
		t.Errorf("events = %v, want %s", got, want)
	}
	if l := r.Labels(n); strings.Join(l, ",") != "hotfix" {
		t.Errorf("labels = %v", l)
	}
	// Adding a label the repository lacks created it, as GitHub does:
	// grey, without a description; it can be styled afterwards.
	if l, _, err := f.client.Issues.GetLabel(ctx, "acme", "pay", "hotfix"); err != nil || l.GetColor() != "ededed" || l.GetDescription() != "" {
		t.Errorf("the label made by adding it: %+v, %v; want grey, no description", l, err)
	}
	if _, _, err := f.client.Issues.EditLabel(ctx, "acme", "pay", "hotfix", &github.Label{Color: github.String("d93f0b"), Description: github.String("Production hotfix")}); err != nil {
		t.Fatal(err)
	}
	if l, _, err := f.client.Issues.GetLabel(ctx, "acme", "pay", "hotfix"); err != nil || l.GetColor() != "d93f0b" || l.GetDescription() != "Production hotfix" {
		t.Errorf("the label after its update: %+v, %v", l, err)
	}
	if _, resp, err := f.client.Issues.EditLabel(ctx, "acme", "pay", "nope", &github.Label{Color: github.String("000000")}); err == nil || resp.StatusCode != 404 {
		t.Errorf("updating a missing label: %v", err)
	}

	// Roles: role_name, and custom roles fall back in `permission`.
	r.SetRole("bob", "maintain")
	r.DefineCustomRole("release-captain", "write")
	r.SetRole("carol", "release-captain")
	for login, want := range map[string][2]string{"bob": {"maintain", "write"}, "carol": {"release-captain", "write"}, "alice": {"none", "none"}} {
		p, _, err := f.client.Repositories.GetPermissionLevel(ctx, "acme", "pay", login)
		if err != nil || p.GetUser().GetRoleName() != want[0] || p.GetPermission() != want[1] {
			t.Errorf("%s: role %q permission %q (%v), want %v", login, p.GetUser().GetRoleName(), p.GetPermission(), err, want)
		}
	}
}

func TestConditionalRequestsCostNothing(t *testing.T) {
	f := newFixture(t)
	must[string](t)(f.repo.Push(f.alice, "main", "init", Files{"a": "1"}))
	req, _ := f.client.NewRequest("GET", "repos/acme/pay", nil)
	resp, err := f.client.Do(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("ETag")
	used, _ := f.sim.RateLimit(f.inst)
	req, _ = f.client.NewRequest("GET", "repos/acme/pay", nil)
	req.Header.Set("If-None-Match", etag)
	resp, _ = f.client.Do(ctx, req, nil)
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional request: %d", resp.StatusCode)
	}
	if after, _ := f.sim.RateLimit(f.inst); after != used {
		t.Errorf("a 304 cost rate limit: %d -> %d", used, after)
	}
	calls := f.sim.Calls()
	if last := calls[len(calls)-1]; !last.Conditional || last.Charged {
		t.Errorf("accounting of the 304: %+v", last)
	}
}

func TestFaults(t *testing.T) {
	f := newFixture(t)
	f.sim.Inject(&Fault{Op: "repos/get", Times: 1, Status: 502})
	if _, resp, err := f.client.Repositories.Get(ctx, "acme", "pay"); err == nil || resp.StatusCode != 502 {
		t.Errorf("injected 502: %v", err)
	}
	if _, _, err := f.client.Repositories.Get(ctx, "acme", "pay"); err != nil {
		t.Errorf("after the fault: %v", err)
	}
	f.sim.Inject(&Fault{Op: "repos/get", Times: 1, RetryAfter: 30 * time.Second})
	_, resp, err := f.client.Repositories.Get(ctx, "acme", "pay")
	if err == nil || resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("secondary rate limit: %v %v", resp.Header, err)
	}
	var rle *github.AbuseRateLimitError
	if !errorsAs(err, &rle) {
		t.Errorf("go-github does not see a secondary rate limit: %T %v", err, err)
	}
	// go-github now refuses requests itself until Retry-After passes (real
	// time); carry on with a fresh client.
	f.client = f.clientFor(t, f.app, f.inst)
	// Primary limit: 403 until the reset, in simulated time.
	f.sim.ExhaustRateLimit(f.inst, time.Minute)
	if _, resp, err := f.client.Repositories.Get(ctx, "acme", "pay"); err == nil || resp.StatusCode != 403 || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("exhausted limit: %v", err)
	}
	f.sim.Clock().Advance(2 * time.Minute)
	if _, _, err := f.client.Repositories.Get(ctx, "acme", "pay"); err != nil {
		t.Errorf("after the reset: %v", err)
	}
	// A write that happened although the answer was an error.
	must[string](t)(f.repo.Push(f.alice, "main", "init", Files{"a": "1"}))
	f.sim.Inject(&Fault{Op: "issues/create", Times: 1, Status: 502, AfterEffect: true})
	if _, _, err := f.client.Issues.Create(ctx, "acme", "pay", &github.IssueRequest{Title: github.String("x")}); err == nil {
		t.Error("after-effect fault answered success")
	}
	if len(f.repo.Issues()) != 1 {
		t.Error("the after-effect write did not happen")
	}
}

func errorsAs(err error, target **github.AbuseRateLimitError) bool {
	e, ok := err.(*github.AbuseRateLimitError)
	if ok {
		*target = e
	}
	return ok
}

func TestWebhookDeliveries(t *testing.T) {
	f := newFixture(t)
	type got struct {
		event, id string
		valid     bool
	}
	var mu sync.Mutex
	var received []got
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := github.ValidatePayload(r, []byte(f.app.WebhookSecret))
		mu.Lock()
		received = append(received, got{r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery"), err == nil})
		mu.Unlock()
		if err == nil {
			if _, err := github.ParseWebHook(r.Header.Get("X-GitHub-Event"), body); err != nil {
				t.Errorf("go-github cannot parse the %s payload: %v", r.Header.Get("X-GitHub-Event"), err)
			}
		}
		w.WriteHeader(http.StatusAccepted)
	})
	a, b := httptest.NewServer(handler), httptest.NewServer(handler)
	defer a.Close()
	defer b.Close()
	f.sim.AddWebhookTarget(f.app, a.URL)
	f.sim.AddWebhookTarget(f.app, b.URL)

	must[string](t)(f.repo.Push(f.alice, "main", "init", Files{"a": "1"}))
	must[string](t)(f.repo.CreateBranch(f.alice, "hotfix/x", "main"))
	must[string](t)(f.repo.Push(f.alice, "hotfix/x", "fix", Files{"b": "1"}))
	n := must[int](t)(f.repo.OpenPR(f.alice, "hotfix/x", "main", "Fix"))
	must[int64](t)(f.repo.Comment(f.alice, n, "/promote"))
	sent, err := f.sim.Deliver(ctx)
	if err != nil || sent != 5 {
		t.Fatalf("Deliver = %d, %v; want 5 (3 pushes, PR opened, comment)", sent, err)
	}
	events := []string{}
	for _, r := range received {
		if !r.valid {
			t.Errorf("delivery %s has a bad signature", r.id)
		}
		events = append(events, r.event)
	}
	if strings.Join(events, ",") != "push,push,push,pull_request,issue_comment" {
		t.Errorf("events = %v", events)
	}
	ds := f.sim.Deliveries()
	if ds[0].Attempts[0].Status != 202 {
		t.Errorf("attempts = %v", ds[0].Attempts)
	}
	// Round-robin: the two replicas each saw some.
	// Re-delivery keeps the delivery id.
	if err := f.sim.Redeliver(ctx, ds[4].ID); err != nil {
		t.Fatal(err)
	}
	if last := received[len(received)-1]; last.id != ds[4].ID || last.event != "issue_comment" {
		t.Errorf("redelivery = %+v, want id %s", last, ds[4].ID)
	}
	// Payloads keep only what belongs to their action: an `opened` event
	// built from another example carries no label or changes.
	for _, d := range f.sim.Deliveries() {
		var top map[string]any
		_ = json.Unmarshal(d.Payload, &top)
		for _, k := range []string{"label", "changes"} {
			if _, ok := top[k]; ok && d.Event == "pull_request" {
				t.Errorf("pull_request.%s payload carries %q from another action", d.Action, k)
			}
		}
	}
	// Duplicate delivery: every replica gets it.
	f.sim.SetDuplicateDelivery(f.app, true)
	must[int64](t)(f.repo.Comment(f.alice, n, "/help"))
	before := len(received)
	if _, err := f.sim.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if len(received)-before != 2 || received[before].id != received[before+1].id {
		t.Errorf("duplicate delivery: %v", received[before:])
	}
}

func TestContractViolationsAreCaught(t *testing.T) {
	sim, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	app, _ := sim.RegisterApp(AppOptions{Slug: "bot", Permissions: allPermissions})
	repo, _ := sim.CreateRepo("acme", "pay")
	inst := sim.Install(app, repo)
	f := &fixture{sim: sim}
	client := f.clientFor(t, app, inst)
	sha := must[string](t)(repo.Push(sim.User("alice"), "main", "init", Files{"a": "1"}))

	// A status GitHub does not have.
	_, resp, err := client.Checks.CreateCheckRun(ctx, "acme", "pay", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Status: github.String("running")})
	if err == nil || resp.StatusCode != 422 {
		t.Errorf("bad enum: %v", err)
	}
	// More than 50 annotations in one request.
	var anns []*github.CheckRunAnnotation
	for i := 0; i < 51; i++ {
		anns = append(anns, &github.CheckRunAnnotation{Path: github.String("a"), StartLine: github.Int(1), EndLine: github.Int(1), AnnotationLevel: github.String("warning"), Message: github.String("m")})
	}
	_, _, _ = client.Checks.CreateCheckRun(ctx, "acme", "pay", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha,
		Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Annotations: anns}})
	// A path GitHub does not have.
	req, _ := client.NewRequest("GET", "repos/acme/pay/hotfixes", nil)
	_, _ = client.Do(ctx, req, io.Discard)

	v := sim.Violations()
	if len(v) != 3 {
		t.Fatalf("violations = %v, want 3", v)
	}
	if v[0].Operation != "checks/create" || !strings.Contains(v[0].Problem, "/status") {
		t.Errorf("enum violation = %s", v[0])
	}
	if v[1].Operation != "checks/create" || !strings.Contains(v[1].Problem, "annotations") {
		t.Errorf("annotation violation = %s", v[1])
	}
	if v[2].Operation != "" || !strings.Contains(v[2].Path, "/hotfixes") {
		t.Errorf("unknown path violation = %s", v[2])
	}
}

func TestTagsAndDeployments(t *testing.T) {
	f := newFixture(t)
	r, alice := f.repo, f.alice
	c1 := must[string](t)(r.Push(alice, "main", "init", Files{"a": "1"}))
	must[string](t)(r.AnnotatedTag(alice, "v1.4.2", c1, "release 1.4.2"))
	c2 := must[string](t)(r.Push(alice, "main", "next", Files{"a": "2"}))
	must[string](t)(r.Tag(alice, "v1.5.0", c2))
	tags, _, err := f.client.Repositories.ListTags(ctx, "acme", "pay", nil)
	if err != nil || len(tags) != 2 {
		t.Fatalf("tags: %v %v", tags, err)
	}
	for _, tag := range tags {
		want := map[string]string{"v1.4.2": c1, "v1.5.0": c2}[tag.GetName()]
		if tag.GetCommit().GetSHA() != want {
			t.Errorf("tag %s -> %s, want the peeled commit %s", tag.GetName(), tag.GetCommit().GetSHA(), want)
		}
	}
	refs, _, err := f.client.Git.ListMatchingRefs(ctx, "acme", "pay", &github.ReferenceListOptions{Ref: "tags/v1.4"})
	if err != nil || len(refs) != 1 || refs[0].GetObject().GetType() != "tag" {
		t.Fatalf("matching refs: %v %v", refs, err)
	}
	tagObj, _, err := f.client.Git.GetTag(ctx, "acme", "pay", refs[0].GetObject().GetSHA())
	if err != nil || tagObj.GetObject().GetSHA() != c1 {
		t.Errorf("annotated tag object: %v %v", tagObj, err)
	}

	// auto_merge defaults to true: deploying an old commit needs a merge.
	if _, resp, err := f.client.Repositories.CreateDeployment(ctx, "acme", "pay", &github.DeploymentRequest{Ref: github.String(c1), Environment: github.String("production")}); err == nil || resp.StatusCode != 409 {
		t.Errorf("auto-merge deployment of an old commit: %v", err)
	}
	d, _, err := f.client.Repositories.CreateDeployment(ctx, "acme", "pay", &github.DeploymentRequest{
		Ref: github.String(c1), Environment: github.String("production"), AutoMerge: github.Bool(false),
		RequiredContexts: &[]string{}, Payload: map[string]any{"pr": 7}, Task: github.String("deploy:hotfix"),
	})
	if err != nil || d.GetSHA() != c1 || d.GetTask() != "deploy:hotfix" || !strings.Contains(string(d.Payload), `"pr":7`) {
		t.Fatalf("deployment: %v %v", d, err)
	}
	if err := r.SetDeploymentStatus(f.sim.User("cd"), d.GetID(), "success", "deployed"); err != nil {
		t.Fatal(err)
	}
	sts, _, err := f.client.Repositories.ListDeploymentStatuses(ctx, "acme", "pay", d.GetID(), nil)
	if err != nil || len(sts) != 1 || sts[0].GetState() != "success" {
		t.Errorf("statuses: %v %v", sts, err)
	}
	// Activity records pushes with GitHub's timestamps, newest first.
	req, _ := f.client.NewRequest("GET", "repos/acme/pay/activity?ref=main&activity_type=push", nil)
	var acts []map[string]any
	if _, err := f.client.Do(ctx, req, &acts); err != nil || len(acts) != 1 || acts[0]["after"] != c2 {
		t.Errorf("activity: %v %v", acts, err)
	}
}

// A comment read back as GitHub has it now: its edits, its deletion, and
// its created event delivered late or replayed hours later.
func TestCommentsReadBackAndLateDeliveries(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var received []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Action string `json:"action"`
		}
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		received = append(received, r.Header.Get("X-GitHub-Event")+"."+p.Action+" "+r.Header.Get("X-GitHub-Delivery"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer hook.Close()
	f.sim.AddWebhookTarget(f.app, hook.URL)
	must[string](t)(f.repo.Push(f.alice, "main", "init", Files{"a": "1"}))
	n := f.repo.CreateIssue(f.alice, "Payments are down", "")
	id := must[int64](t)(f.repo.Comment(f.alice, n, "/rollback"))
	written := f.sim.Clock().Now()

	got, _, err := f.client.Issues.GetComment(ctx, "acme", "pay", id)
	if err != nil || got.GetBody() != "/rollback" || got.GetUser().GetLogin() != "alice" || !got.GetCreatedAt().Time.Equal(written) {
		t.Fatalf("GET comment = %+v, %v", got, err)
	}
	// The created event is held back; the comment is edited meanwhile.
	late := f.sim.Postpone(func(d Delivery) bool { return d.Event == "issue_comment" && d.Action == "created" })
	if len(late) != 1 {
		t.Fatalf("postponed %v, want the one created event", late)
	}
	noErr(t, f.repo.EditComment(f.alice, id, "never mind"))
	if _, err := f.sim.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, err = f.client.Issues.GetComment(ctx, "acme", "pay", id)
	if err != nil || got.GetBody() != "never mind" || !got.GetCreatedAt().Time.Equal(written) || !got.GetUpdatedAt().Time.After(written) {
		t.Fatalf("edited comment = %+v, %v", got, err)
	}
	before := f.sim.Clock().Now()
	noErr(t, f.sim.DeliverLate(ctx, late[0], 47*time.Minute))
	if moved := f.sim.Clock().Now().Sub(before); moved < 47*time.Minute {
		t.Errorf("the clock moved %s, want 47m", moved)
	}
	if err := f.sim.DeliverLate(ctx, late[0], 0); err == nil {
		t.Error("a postponed delivery was sent twice")
	}
	// Deleted: reading it, or reacting to it, answers 404.
	noErr(t, f.repo.DeleteComment(f.alice, id))
	if _, resp, err := f.client.Issues.GetComment(ctx, "acme", "pay", id); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("a deleted comment: %v", err)
	}
	if _, resp, err := f.client.Reactions.CreateIssueCommentReaction(ctx, "acme", "pay", id, "eyes"); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("a reaction to a deleted comment: %v", err)
	}
	if len(f.repo.Comments(n)) != 0 {
		t.Error("the deleted comment is still listed")
	}
	if _, err := f.sim.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	noErr(t, f.sim.ReplayAfter(ctx, late[0], 3*time.Hour))
	if _, redeliveries := f.sim.DeliveryAttempts(late[0]); redeliveries != 1 {
		t.Errorf("the replay is not a redelivery attempt (%d)", redeliveries)
	}
	mu.Lock()
	defer mu.Unlock()
	var events []string
	for _, r := range received {
		if strings.HasPrefix(r, "issue_comment.") {
			events = append(events, strings.Fields(r)[0])
		}
	}
	if want := "issue_comment.edited,issue_comment.created,issue_comment.deleted,issue_comment.created"; strings.Join(events, ",") != want {
		t.Errorf("events = %v, want %s", events, want)
	}
}
