package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
)

// simBot is a Bot wired to the GitHub simulator without serving HTTP: the
// server's client wiring (installation tokens, the HTTP cache, retries)
// talks to the simulator, but no webhook server, queue or replica runs.
// The test plays people in the simulator, and settle hands each webhook
// the simulator would send straight to the handlers that take its event,
// one at a time, until nothing is left to send.
//
// acme/pay, one repository: main with v1.0.0 (annotated), which
// production runs (a successful deployment); develop one commit ahead;
// release/1.1 cut from develop, which changed the timeout too (a sync of a
// timeout hotfix into it conflicts). dana (write) writes hotfixes, rob
// (maintain) approves them, ivan has read, deploy-bot reports
// deployments.
type simBot struct {
	t   *testing.T
	ctx context.Context
	sim *ghsim.Sim
	app *ghsim.App
	gh  *ghsim.Repo
	bot *Bot

	handlers []githubapp.EventHandler
	mu       sync.Mutex
	errs     []error // handler errors since the last settle

	dana, rob, ivan, cd *ghsim.User
	v100                string
}

func newSimBot(t *testing.T, files ...ghsim.Files) *simBot {
	t.Helper()
	t.Parallel()
	sim, err := ghsim.New(ghsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ghApp, err := sim.RegisterApp(ghsim.AppOptions{Slug: "hotfix-bot", Permissions: app.Permissions, Events: app.Events})
	if err != nil {
		t.Fatal(err)
	}
	gh, err := sim.CreateRepo("acme", "pay")
	if err != nil {
		t.Fatal(err)
	}
	s := &simBot{t: t, ctx: t.Context(), sim: sim, app: ghApp, gh: gh,
		dana: sim.User("dana"), rob: sim.User("rob"), ivan: sim.User("ivan"), cd: sim.User("deploy-bot")}
	for login, role := range map[string]string{"dana": "write", "rob": "maintain", "ivan": "read", "deploy-bot": "write"} {
		gh.SetRole(login, role)
	}
	initial := ghsim.Files{"README.md": "# pay\n", "pay/timeout.go": "package pay\n\nconst Timeout = 30\n"}
	for _, f := range files {
		for k, v := range f {
			initial[k] = v
		}
	}
	s.v100 = s.must(gh.Push(s.dana, "main", "Initial service", initial))
	s.must(gh.AnnotatedTag(s.dana, "v1.0.0", "main", "Release 1.0.0"))
	if _, err := gh.SeedDeployment(s.cd, s.v100, "production", "success"); err != nil {
		t.Fatal(err)
	}
	s.must(gh.CreateBranch(s.dana, "develop", "main"))
	s.must(gh.Push(s.dana, "develop", "Start 1.1", ghsim.Files{"pay/next.go": "package pay\n"}))
	s.must(gh.CreateBranch(s.dana, "release/1.1", "develop"))
	s.must(gh.Push(s.dana, "release/1.1", "Tune the timeout for 1.1", ghsim.Files{"pay/timeout.go": "package pay\n\nconst Timeout = 45\n"}))
	sim.Install(ghApp, gh)
	// CI (GitHub Actions) reports a successful `test` on every commit
	// pushed from now on.
	ci, err := sim.RegisterApp(ghsim.AppOptions{Slug: "github-actions", Permissions: map[string]string{"checks": "write", "statuses": "write", "metadata": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	sim.Install(ci, gh)
	gh.SetCI(&ghsim.CI{App: ci, Checks: []string{"test"}, Conclusion: "success"})
	sim.DiscardPending() // history from before the app was installed

	cfg := app.Defaults()
	cfg.GitHub.V3APIURL, cfg.GitHub.WebURL = sim.URL(), sim.WebURL()
	cfg.GitHub.App.IntegrationID, cfg.GitHub.App.PrivateKey, cfg.GitHub.App.WebhookSecret = ghApp.ID, ghApp.PrivateKeyPEM, ghApp.WebhookSecret
	srv, err := app.New(cfg, app.Options{Clock: sim.Clock(), Identity: app.KnownIdentity(ghApp.ID, ghApp.Slug)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	s.bot = NewBot(srv.Deps())
	s.handlers = []githubapp.EventHandler{&Push{s.bot}, &PullRequest{s.bot}, &CheckRun{s.bot}, &IssueComment{s.bot}, &DeploymentStatus{s.bot}}
	t.Cleanup(func() {
		for _, v := range sim.Violations() {
			t.Errorf("GitHub would reject: %s", v)
		}
		if left := gh.Refs("refs/hotfix-bot/checks/"); len(left) > 0 {
			t.Errorf("check-run claims left behind: %v", left)
		}
	})
	return s
}

func (s *simBot) must(sha string, err error) string {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
	return sha
}

// settle hands the waiting webhooks to the handlers, and the webhooks
// their writes cause, until none is left. It fails the test on a handler
// error unless the test said it expects some (settleErrs).
func (s *simBot) settle() {
	s.t.Helper()
	if errs := s.settleErrs(); len(errs) > 0 {
		s.t.Fatalf("handlers failed: %v", errors.Join(errs...))
	}
}

// settleErrs is settle returning the handlers' errors.
func (s *simBot) settleErrs() []error {
	s.t.Helper()
	for round := 0; ; round++ {
		if round == 50 {
			s.t.Fatal("the handlers did not go quiet: every round of webhooks caused more")
		}
		if s.sim.DeliverFunc(s.receive) == 0 && s.sim.Pending() == 0 {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := s.errs
	s.errs = nil
	return errs
}

// receive runs the handlers that take an event, as the server's
// dispatcher would (after the signature check), and answers 202.
func (s *simBot) receive(event, id string, payload []byte) int {
	for _, h := range s.handlers {
		for _, e := range h.Handles() {
			if e != event {
				continue
			}
			if err := h.Handle(s.ctx, event, id, payload); err != nil {
				s.mu.Lock()
				s.errs = append(s.errs, fmt.Errorf("%s %s: %w", event, id, err))
				s.mu.Unlock()
			}
		}
	}
	return http.StatusAccepted
}

// hotfix pushes hotfix/<name> at v1.0.0 with one fix to the timeout.
func (s *simBot) hotfix(name string) string {
	s.t.Helper()
	branch := "hotfix/" + name
	s.must(s.gh.CreateBranch(s.dana, branch, "v1.0.0"))
	return s.must(s.gh.Push(s.dana, branch, "Raise the timeout", ghsim.Files{"pay/timeout.go": "package pay\n\nconst Timeout = 60\n"}))
}

// approved is dana's hotfix as a pull request, approved by rob and
// settled: ready for /promote.
func (s *simBot) approved(name string) (int, string) {
	s.t.Helper()
	head := s.hotfix(name)
	n, err := s.gh.OpenPR(s.dana, "hotfix/"+name, "main", "Raise the timeout")
	if err != nil {
		s.t.Fatal(err)
	}
	s.settle()
	if err := s.gh.AddLabel(s.rob, n, "hotfix-approved"); err != nil {
		s.t.Fatal(err)
	}
	s.settle()
	s.expectCheck(head, policy.CheckApproval, policy.Success)
	return n, head
}

// comment posts a comment as who and settles; it returns its id.
func (s *simBot) comment(who *ghsim.User, n int, body string) int64 {
	s.t.Helper()
	id, err := s.gh.Comment(who, n, body)
	if err != nil {
		s.t.Fatal(err)
	}
	s.settle()
	return id
}

// reply is the bot's one answer to comment id; it fails unless there is
// exactly one and it contains each fragment.
func (s *simBot) reply(n int, id int64, fragments ...string) string {
	s.t.Helper()
	var got []string
	for _, c := range s.gh.Comments(n) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, fmt.Sprintf("hotfix-bot:reply:%d:", id)) {
			got = append(got, c.Body)
		}
	}
	if len(got) != 1 {
		s.t.Fatalf("%d replies to comment %d, want 1:\n%s", len(got), id, strings.Join(got, "\n---\n"))
	}
	for _, f := range fragments {
		if !strings.Contains(got[0], f) {
			s.t.Errorf("reply lacks %q:\n%s", f, got[0])
		}
	}
	return got[0]
}

// botComments are the bot's comments on an issue containing fragment.
func (s *simBot) botComments(n int, fragment string) []string {
	var out []string
	for _, c := range s.gh.Comments(n) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, fragment) {
			out = append(out, c.Body)
		}
	}
	return out
}

// expectCheck asserts a check's conclusion and that its text has each
// fragment.
func (s *simBot) expectCheck(sha, name, conclusion string, fragments ...string) {
	s.t.Helper()
	cr, ok := s.gh.CheckRun(sha, name)
	if !ok {
		s.t.Fatalf("no %s check run on %s", name, policy.Short(sha))
	}
	if cr.Status != "completed" || cr.Conclusion != conclusion {
		s.t.Fatalf("%s on %s = %s/%s, want %s\n%s\n%s", name, policy.Short(sha), cr.Status, cr.Conclusion, conclusion, cr.Title, cr.Summary)
	}
	for _, f := range fragments {
		if !strings.Contains(cr.Title+"\n"+cr.Summary, f) {
			s.t.Errorf("%s lacks %q:\n%s\n%s", name, f, cr.Title, cr.Summary)
		}
	}
}

// botDeployments are the app's deployments, oldest first, with payloads.
func (s *simBot) botDeployments() ([]ghsim.Deployment, []policy.DeploymentPayload) {
	var ds []ghsim.Deployment
	var ps []policy.DeploymentPayload
	for _, d := range s.gh.Deployments() {
		if d.Creator != nil && d.Creator.Type == "Bot" {
			var p policy.DeploymentPayload
			if err := json.Unmarshal(d.Payload, &p); err != nil {
				s.t.Fatal(err)
			}
			ds, ps = append(ds, d), append(ps, p)
		}
	}
	return ds, ps
}

// report is the CD system reporting a deployment's status.
func (s *simBot) report(id int64, state string) {
	s.t.Helper()
	if err := s.gh.SetDeploymentStatusWithLog(s.cd, id, state, "CD "+state, fmt.Sprintf("https://ci.example.com/runs/%d", id)); err != nil {
		s.t.Fatal(err)
	}
	s.settle()
}

// lockHeld reports whether the production lock is held.
func (s *simBot) lockHeld() bool {
	sha := s.gh.Ref("refs/hotfix-bot/production-lock")
	return sha != "" && strings.Contains(s.gh.CommitMessage(sha), `"state":"held"`)
}

// pullsInto lists the pull requests into base from branches starting
// with prefix.
func (s *simBot) pullsInto(base, prefix string) []ghsim.Issue {
	var out []ghsim.Issue
	for _, is := range s.gh.Issues() {
		if is.PR != nil && is.PR.BaseRef == base && strings.HasPrefix(is.PR.HeadRef, prefix) {
			out = append(out, is)
		}
	}
	return out
}
