package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// One dry run (and one /help) per person per pull request per minute;
// a redelivered comment is not a new request; others, other pull requests
// and other commands are not limited.
func TestCostGuard(t *testing.T) {
	metrics := app.NewMetrics()
	clock := &linkClock{now: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}
	g := NewBot(app.Deps{Identity: app.KnownIdentity(appID, "hotfix-bot"), Clock: clock, Metrics: metrics})
	var id int64
	ask := func(who string, pr int, body string) []string {
		id++
		ev := &commentEvent{}
		ev.Comment.ID, ev.Comment.User.Login, ev.Issue.Number = id, who, pr
		ev.Repository.Name, ev.Repository.Owner.Login = "payments", "acme"
		cmds, _ := policy.ParseCommands(body)
		return g.overLimit(ev, cmds)
	}
	if got := ask("ivan", 1, "/promote --dry-run"); got[0] != "" {
		t.Fatalf("the first dry run limited: %q", got[0])
	}
	got := ask("ivan", 1, "/promote --dry-run")
	if !strings.Contains(got[0], "One dry run per person per minute on a pull request") || !strings.Contains(got[0], "Ask again in 60 s") {
		t.Errorf("the second dry run: %q", got[0])
	}
	// Redelivered: the same comment is let through (it finds its answer).
	ev := &commentEvent{}
	ev.Comment.ID, ev.Comment.User.Login, ev.Issue.Number = 1, "ivan", 1
	ev.Repository.Name, ev.Repository.Owner.Login = "payments", "acme"
	cmds, _ := policy.ParseCommands("/promote --dry-run")
	if again := g.overLimit(ev, cmds); again[0] != "" {
		t.Errorf("a redelivery of the admitted comment was limited: %q", again[0])
	}
	for name, c := range map[string]struct {
		who  string
		pr   int
		body string
	}{
		"someone else":         {"dana", 1, "/promote --dry-run"},
		"another pull request": {"ivan", 2, "/promote --dry-run"},
		"a real /promote":      {"ivan", 1, "/promote"},
		"a usage error":        {"ivan", 1, "/promote --dry-run now"},
		"/help":                {"ivan", 1, "/help"},
	} {
		if got := ask(c.who, c.pr, c.body); got[0] != "" {
			t.Errorf("%s limited: %q", name, got[0])
		}
	}
	if got := ask("ivan", 1, "/help\n/help <!-- hotfix-bot:plan:1 -->"); got[0] == "" || got[1] == "" || strings.Contains(got[1], "<!--") {
		t.Errorf("/help twice in a minute (the second carrying a marker): %q", got)
	}
	// Several dry runs in one comment are several requests.
	if got := ask("dora", 3, "/promote --dry-run\n/promote --dry-run"); got[0] != "" || got[1] == "" {
		t.Errorf("two dry runs in one comment: %q", got)
	}
	clock.now = clock.now.Add(DryRunEvery)
	if got := ask("ivan", 1, "/promote --dry-run"); got[0] != "" {
		t.Errorf("a dry run a minute later limited: %q", got[0])
	}
	if n := testutil.ToFloat64(metrics.CostLimited.WithLabelValues(limitedDryRun)); n != 2 {
		t.Errorf("dry runs counted as limited: %v, want 2", n)
	}
	if n := testutil.ToFloat64(metrics.CostLimited.WithLabelValues(limitedHelp)); n != 2 {
		t.Errorf("/help counted as limited: %v, want 2", n)
	}
}

// appCreator also hands out the app's own client.
type appCreator struct{ creator }

func (c appCreator) NewAppClient() (*github.Client, error) { return github.NewClient(c.http), nil }

// One repository's pages are read from GitHub at most
// DetailsReadsPerMinute times a minute, however many commits' links are
// opened: beyond that 429 and no request; the budget refills.
func TestDetailsPageReadBudget(t *testing.T) {
	mocked := mock.NewMockedHTTPClient(mock.WithRequestMatchHandler(mock.GetReposInstallationByOwnerByRepo,
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { mock.WriteError(w, http.StatusNotFound, "Not Found") })))
	rec := &recorder{next: mocked.Transport}
	mocked.Transport = rec
	var cfg app.Config
	cfg.Server.PublicURL = "https://hotfix-bot.example.com"
	cfg.GitHub.App.WebhookSecret = detailsSecret
	clock := &linkClock{now: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}
	metrics := app.NewMetrics()
	s := Pages(app.Deps{Config: cfg, ClientCreator: appCreator{creator{http: mocked}}, Identity: app.KnownIdentity(appID, "hotfix-bot"), Clock: clock, Metrics: metrics}).(*detailsServer)
	page := func(i int) int {
		return serve(s, "GET", s.g.detailsLink("acme", "payments", fmt.Sprintf("%040x", i))).Code
	}
	for i := 0; i < DetailsReadsPerMinute; i++ {
		if code := page(i); code != http.StatusNotFound {
			t.Fatalf("page %d: %d, want 404 (the app is not installed)", i, code)
		}
	}
	calls := rec.count()
	w := serve(s, "GET", s.g.detailsLink("acme", "payments", fmt.Sprintf("%040x", 999)))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "reload in a minute") {
		t.Errorf("over the budget: %d %q", w.Code, w.Body.String())
	}
	if rec.count() != calls {
		t.Error("a page over the budget asked GitHub")
	}
	if n := testutil.ToFloat64(metrics.CostLimited.WithLabelValues(limitedDetails)); n != 1 {
		t.Errorf("limited pages counted: %v", n)
	}
	if other := serve(s, "GET", s.g.detailsLink("acme", "other", fmt.Sprintf("%040x", 1))); other.Code != http.StatusNotFound {
		t.Errorf("another repository's page: %d, want its own budget", other.Code)
	}
	clock.now = clock.now.Add(2 * time.Second)
	if code := page(1000); code != http.StatusNotFound {
		t.Errorf("two seconds later (one read refilled): %d", code)
	}
}
