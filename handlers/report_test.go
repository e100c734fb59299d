package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

func reportServerFor(identity *app.Identity) (*reportServer, *recorder) {
	mocked := mock.NewMockedHTTPClient()
	rec := &recorder{next: mocked.Transport}
	mocked.Transport = rec
	var cfg app.Config
	cfg.Server.PublicURL = "https://hotfix-bot.example.com"
	cfg.GitHub.App.WebhookSecret = "s3cret"
	h := Reports(app.Deps{Config: cfg, ClientCreator: creator{http: mocked}, Identity: identity})
	return h.(*reportServer), rec
}

// Addresses that are not exactly a signed report answer 404 before any
// GitHub call; the window is checked; the page is read-only; the token is
// not the details pages' token of any commit, nor the secret.
func TestReportAddresses(t *testing.T) {
	s, rec := reportServerFor(app.KnownIdentity(appID, "hotfix-bot"))
	link := s.g.reportLink("acme", "payments")
	if !strings.HasPrefix(link, "https://hotfix-bot.example.com/report/acme/payments?t=") || strings.Contains(link, "s3cret") {
		t.Fatalf("link %q", link)
	}
	if link != ReportLink(app.Config{Server: app.ServerConfig{PublicURL: "https://hotfix-bot.example.com/"},
		GitHub: app.GitHubConfig{App: app.AppConfig{WebhookSecret: "s3cret"}}}, "acme", "payments") {
		t.Error("ReportLink and the server disagree")
	}
	path := strings.TrimPrefix(link, "https://hotfix-bot.example.com")
	token := path[strings.Index(path, "?t=")+3:]
	if token == detailsToken(s.g.detailsKey, "acme", "payments", detailsSHA) {
		t.Fatal("a report token is a details token")
	}
	for name, tc := range map[string]struct {
		method, target string
		want           int
	}{
		"no token":                 {"GET", "/report/acme/payments", http.StatusNotFound},
		"wrong token":              {"GET", "/report/acme/payments?t=AAAA" + token[4:], http.StatusNotFound},
		"another repository":       {"GET", "/report/acme/other?t=" + token, http.StatusNotFound},
		"a commit's details token": {"GET", "/report/acme/payments?t=" + detailsToken(s.g.detailsKey, "acme", "payments", detailsSHA), http.StatusNotFound},
		"extra path":               {"GET", "/report/acme/payments/x?t=" + token, http.StatusNotFound},
		"a name with a space":      {"GET", "/report/acme/pay%20ments?t=" + token, http.StatusNotFound},
		"a window too long":        {"GET", path + "&since=400d", http.StatusBadRequest},
		"a window that is not one": {"GET", path + "&since=forever", http.StatusBadRequest},
		"a write":                  {"POST", path, http.StatusMethodNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest(tc.method, tc.target, nil))
			if w.Code != tc.want {
				t.Errorf("%s %s: %d, want %d", tc.method, tc.target, w.Code, tc.want)
			}
			if w.Header().Get("Referrer-Policy") != "no-referrer" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("headers %v", w.Header())
			}
		})
	}
	if len(rec.reqs) != 0 {
		t.Errorf("GitHub was asked about addresses that are not reports: %v", rec.reqs)
	}
}

// Before the server knows who the app is, the bot's deployments and
// issues cannot be told from others': 503, no GitHub call, nothing kept.
func TestReportBeforeTheIdentityIsKnown(t *testing.T) {
	s, rec := reportServerFor(app.NewIdentity(appID))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", strings.TrimPrefix(s.g.reportLink("acme", "payments"), "https://hotfix-bot.example.com"), nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "reload in a minute") {
		t.Errorf("%d %q, want 503 saying to reload", w.Code, w.Body.String())
	}
	if len(rec.reqs) != 0 || len(s.pages) != 0 {
		t.Errorf("calls %v, pages kept %d", rec.reqs, len(s.pages))
	}
}
