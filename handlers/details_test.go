package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

const detailsSHA = "384782b9e2d1a8f3f932c738ca857a297f30af07"

func detailsServerFor(identity *app.Identity) (*detailsServer, *recorder) {
	mocked := mock.NewMockedHTTPClient()
	rec := &recorder{next: mocked.Transport}
	mocked.Transport = rec
	var cfg app.Config
	cfg.Server.PublicURL = "https://hotfix-bot.example.com"
	cfg.GitHub.App.WebhookSecret = "s3cret"
	h := Pages(app.Deps{Config: cfg, ClientCreator: creator{http: mocked}, Identity: identity})
	return h.(*detailsServer), rec
}

// Addresses that are not exactly a signed page answer 404 before any
// GitHub call; the page is read-only; the token is the webhook secret's,
// never the secret itself.
func TestDetailsAddresses(t *testing.T) {
	s, rec := detailsServerFor(app.KnownIdentity(appID, "hotfix-bot"))
	link := s.g.detailsLink("acme", "payments", detailsSHA)
	if !strings.HasPrefix(link, "https://hotfix-bot.example.com/details/acme/payments/"+detailsSHA+"?t=") || strings.Contains(link, "s3cret") {
		t.Fatalf("link %q", link)
	}
	path := strings.TrimPrefix(link, "https://hotfix-bot.example.com")
	token := path[strings.Index(path, "?t=")+3:]
	for name, tc := range map[string]struct {
		method, target string
		want           int
	}{
		"no token":            {"GET", "/details/acme/payments/" + detailsSHA, http.StatusNotFound},
		"wrong token":         {"GET", "/details/acme/payments/" + detailsSHA + "?t=AAAA" + token[4:], http.StatusNotFound},
		"another repository":  {"GET", "/details/acme/other/" + detailsSHA + "?t=" + token, http.StatusNotFound},
		"short sha":           {"GET", "/details/acme/payments/384782b?t=" + token, http.StatusNotFound},
		"upper-case sha":      {"GET", "/details/acme/payments/" + strings.ToUpper(detailsSHA) + "?t=" + token, http.StatusNotFound},
		"extra path":          {"GET", "/details/acme/payments/" + detailsSHA + "/x?t=" + token, http.StatusNotFound},
		"a name with a space": {"GET", "/details/acme/pay%20ments/" + detailsSHA + "?t=" + token, http.StatusNotFound},
		"a write":             {"POST", path, http.StatusMethodNotAllowed},
		"a delete":            {"DELETE", path, http.StatusMethodNotAllowed},
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
		t.Errorf("GitHub was asked about addresses that are not pages: %v", rec.reqs)
	}
}

// Before the server knows who the app is, a page cannot tell the bot's
// comments and deployments from others': 503, no GitHub call, nothing
// kept.
func TestDetailsBeforeTheIdentityIsKnown(t *testing.T) {
	s, rec := detailsServerFor(app.NewIdentity(appID))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", strings.TrimPrefix(s.g.detailsLink("acme", "payments", detailsSHA), "https://hotfix-bot.example.com"), nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "reload in a minute") {
		t.Errorf("%d %q, want 503 saying to reload", w.Code, w.Body.String())
	}
	if len(rec.reqs) != 0 || len(s.pages) != 0 {
		t.Errorf("calls %v, pages kept %d", rec.reqs, len(s.pages))
	}
}

// Without server.public_url there are no pages and no links.
func TestNoDetailsWithoutPublicURL(t *testing.T) {
	if got := DetailsLink(app.Config{}, "acme", "payments", detailsSHA); got != "" {
		t.Errorf("link %q without a public URL", got)
	}
}

// Check-run summaries are Markdown rendered as GitHub does, never with
// raw HTML or script links, whatever the branch names and commit
// messages in them say.
func TestSummaryMarkdownIsSafe(t *testing.T) {
	got := string(markdownHTML("**3 commits** from `develop`:\n- `abc` <script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n| label | counts |\n|---|---|\n| `hotfix-approved` | ❌ |\n\n```sh\ngit rebase --onto v1.4.2 a b\n```\n<!-- hotfix-bot:marker -->"))
	for _, bad := range []string{"<script", "javascript:", "<img", "onerror", "hotfix-bot:marker"} {
		if strings.Contains(got, bad) {
			t.Errorf("rendered summary carries %q:\n%s", bad, got)
		}
	}
	for _, want := range []string{"<strong>3 commits</strong>", "<code>develop</code>", "<table>", "<td><code>hotfix-approved</code></td>", "<pre><code class=\"language-sh\">git rebase --onto v1.4.2 a b"} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered summary lacks %q:\n%s", want, got)
		}
	}
}
