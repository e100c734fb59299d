package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

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
	if !strings.HasPrefix(link, "https://hotfix-bot.example.com/report/acme/payments?e=") || strings.Contains(link, "s3cret") {
		t.Fatalf("link %q", link)
	}
	if link != ReportLink(app.Config{Server: app.ServerConfig{PublicURL: "https://hotfix-bot.example.com/"},
		GitHub: app.GitHubConfig{App: app.AppConfig{WebhookSecret: "s3cret"}}}, "acme", "payments", s.g.clock.Now()) {
		t.Error("ReportLink and the server disagree")
	}
	path := strings.TrimPrefix(link, "https://hotfix-bot.example.com")
	u, _ := url.Parse(path)
	e, token := u.Query().Get("e"), u.Query().Get("t")
	exp, _ := strconv.ParseInt(e, 10, 64)
	if token == detailsToken(s.g.detailsKey, "acme", "payments", detailsSHA, exp) {
		t.Fatal("a report token is a details token")
	}
	signed := func(expires int64) string {
		return fmt.Sprintf("/report/acme/payments?e=%d&t=%s", expires, reportToken(s.g.detailsKey, "acme", "payments", expires))
	}
	now := s.g.clock.Now()
	for name, tc := range map[string]struct {
		method, target string
		want           int
	}{
		"no token":                 {"GET", "/report/acme/payments", http.StatusNotFound},
		"no expiry":                {"GET", "/report/acme/payments?t=" + token, http.StatusNotFound},
		"wrong token":              {"GET", "/report/acme/payments?e=" + e + "&t=AAAA" + token[4:], http.StatusNotFound},
		"another expiry":           {"GET", "/report/acme/payments?e=" + strconv.FormatInt(exp+1, 10) + "&t=" + token, http.StatusNotFound},
		"another repository":       {"GET", "/report/acme/other?e=" + e + "&t=" + token, http.StatusNotFound},
		"a commit's details token": {"GET", "/report/acme/payments?e=" + e + "&t=" + detailsToken(s.g.detailsKey, "acme", "payments", detailsSHA, exp), http.StatusNotFound},
		"signed to live too long":  {"GET", signed(now.Add(DetailsLinkLife + 24*time.Hour).Unix()), http.StatusNotFound},
		"expired":                  {"GET", signed(now.Add(-time.Hour).Unix()), http.StatusGone},
		"extra path":               {"GET", "/report/acme/payments/x?e=" + e + "&t=" + token, http.StatusNotFound},
		"a name with a space":      {"GET", "/report/acme/pay%20ments?e=" + e + "&t=" + token, http.StatusNotFound},
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
	if len(rec.reqs) != 0 || len(s.pages.pages) != 0 {
		t.Errorf("calls %v, pages kept %d", rec.reqs, len(s.pages.pages))
	}
}
