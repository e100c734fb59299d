package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

const detailsSHA = "384782b9e2d1a8f3f932c738ca857a297f30af07"

// detailsSecret is a webhook secret long enough to derive the details key from.
const detailsSecret = "s3cret-s3cret-s3cret-s3cret-s3cret"

// linkClock is a settable clock for the details pages' expiry.
type linkClock struct{ now time.Time }

func (c *linkClock) Now() time.Time { return c.now }
func (c *linkClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}

func detailsServerFor(identity *app.Identity) (*detailsServer, *recorder) {
	s, rec, _ := detailsServerAt(identity, app.Config{})
	return s, rec
}

func detailsServerAt(identity *app.Identity, cfg app.Config) (*detailsServer, *recorder, *linkClock) {
	mocked := mock.NewMockedHTTPClient()
	rec := &recorder{next: mocked.Transport}
	mocked.Transport = rec
	cfg.Server.PublicURL = "https://hotfix-bot.example.com"
	if cfg.GitHub.App.WebhookSecret == "" {
		cfg.GitHub.App.WebhookSecret = detailsSecret
	}
	clock := &linkClock{now: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}
	h := Pages(app.Deps{Config: cfg, ClientCreator: creator{http: mocked}, Identity: identity, Clock: clock})
	return h.(*detailsServer), rec, clock
}

func serve(s *detailsServer, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(method, strings.TrimPrefix(target, "https://hotfix-bot.example.com"), nil))
	return w
}

// Addresses that are not exactly a signed, current page answer 404 (an
// expired one 410, saying what to do) before any GitHub call; the page is
// read-only; the link carries a signature, never a secret.
func TestDetailsAddresses(t *testing.T) {
	s, rec, clock := detailsServerAt(app.KnownIdentity(appID, "hotfix-bot"), app.Config{})
	link := s.g.detailsLink("acme", "payments", detailsSHA)
	expires := clock.now.Add(DetailsLinkLife).Unix()
	if !strings.HasPrefix(link, fmt.Sprintf("https://hotfix-bot.example.com/details/acme/payments/%s?e=%d&t=", detailsSHA, expires)) || strings.Contains(link, "s3cret") {
		t.Fatalf("link %q", link)
	}
	path := strings.TrimPrefix(link, "https://hotfix-bot.example.com")
	query := path[strings.Index(path, "?"):]
	token := path[strings.Index(path, "&t=")+3:]
	later := fmt.Sprintf("?e=%d&t=%s", expires+86400, token)
	for name, tc := range map[string]struct {
		method, target string
		want           int
	}{
		"no token":                   {"GET", "/details/acme/payments/" + detailsSHA, http.StatusNotFound},
		"no expiry":                  {"GET", "/details/acme/payments/" + detailsSHA + "?t=" + token, http.StatusNotFound},
		"wrong token":                {"GET", "/details/acme/payments/" + detailsSHA + fmt.Sprintf("?e=%d&t=AAAA", expires) + token[4:], http.StatusNotFound},
		"an expiry moved by hand":    {"GET", "/details/acme/payments/" + detailsSHA + later, http.StatusNotFound},
		"another repository":         {"GET", "/details/acme/other/" + detailsSHA + query, http.StatusNotFound},
		"another owner's, same name": {"GET", "/details/evil/payments/" + detailsSHA + query, http.StatusNotFound},
		"short sha":                  {"GET", "/details/acme/payments/384782b" + query, http.StatusNotFound},
		"upper-case sha":             {"GET", "/details/acme/payments/" + strings.ToUpper(detailsSHA) + query, http.StatusNotFound},
		"extra path":                 {"GET", "/details/acme/payments/" + detailsSHA + "/x" + query, http.StatusNotFound},
		"a name with a space":        {"GET", "/details/acme/pay%20ments/" + detailsSHA + query, http.StatusNotFound},
		"a write":                    {"POST", path, http.StatusMethodNotAllowed},
		"a delete":                   {"DELETE", path, http.StatusMethodNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			w := serve(s, tc.method, tc.target)
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

// A link opens its page for 30 days; after that it says it expired and
// what to do, and asks GitHub nothing. A link signed for longer than the
// bot ever signs is forged.
func TestDetailsLinksExpire(t *testing.T) {
	s, rec, clock := detailsServerAt(app.KnownIdentity(appID, "hotfix-bot"), app.Config{})
	link := s.g.detailsLink("acme", "payments", detailsSHA)
	clock.now = clock.now.Add(DetailsLinkLife + time.Second)
	w := serve(s, "GET", link)
	if w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "expired on 2026-12-23 03:00 UTC") || !strings.Contains(w.Body.String(), "re-run the check") {
		t.Errorf("an expired link: %d %q", w.Code, w.Body.String())
	}
	if len(rec.reqs) != 0 {
		t.Errorf("an expired link asked GitHub: %v", rec.reqs)
	}

	// Signed, with the real key, for a year: only someone holding the key
	// makes such a link, and the bot never does.
	far := clock.now.Add(365 * 24 * time.Hour).Unix()
	forged := fmt.Sprintf("/details/acme/payments/%s?e=%d&t=%s", detailsSHA, far, detailsToken(s.g.detailsKey, "acme", "payments", detailsSHA, far))
	if w := serve(s, "GET", forged); w.Code != http.StatusNotFound {
		t.Errorf("a link good for a year: %d, want 404", w.Code)
	}
}

// The key: server.details_key when set (a link signed under the webhook
// secret's key then opens nothing), else derived from a webhook secret of
// at least 32 bytes; a shorter secret signs no links at all.
func TestDetailsKey(t *testing.T) {
	own := app.Config{}
	own.Server.DetailsKey = strings.Repeat("k", 32)
	own.GitHub.App.WebhookSecret = detailsSecret
	fromSecret := app.Config{}
	fromSecret.GitHub.App.WebhookSecret = detailsSecret
	if a, b := detailsKey(own), detailsKey(fromSecret); a == nil || b == nil || string(a) == string(b) || strings.Contains(string(b), detailsSecret) {
		t.Fatal("server.details_key and the webhook secret must give different keys, neither the secret itself")
	}
	s, _, _ := detailsServerAt(app.KnownIdentity(appID, "hotfix-bot"), own)
	old, _, _ := detailsServerAt(app.KnownIdentity(appID, "hotfix-bot"), fromSecret)
	if w := serve(s, "GET", old.g.detailsLink("acme", "payments", detailsSHA)); w.Code != http.StatusNotFound {
		t.Errorf("a link signed with the webhook secret's key, server.details_key set: %d, want 404", w.Code)
	}
	short := app.Config{}
	short.GitHub.App.WebhookSecret = "hunter2"
	weak, rec, _ := detailsServerAt(app.KnownIdentity(appID, "hotfix-bot"), short)
	if link := weak.g.detailsLink("acme", "payments", detailsSHA); link != "" {
		t.Errorf("a short webhook secret signs links: %q", link)
	}
	h := hmac.New(sha256.New, []byte("hunter2"))
	h.Write([]byte("hotfix-bot details page v1"))
	guess := fmt.Sprintf("/details/acme/payments/%s?e=%d&t=%s", detailsSHA, time.Now().Unix(), detailsToken(h.Sum(nil), "acme", "payments", detailsSHA, time.Now().Unix()))
	if w := serve(weak, "GET", guess); w.Code != http.StatusNotFound || len(rec.reqs) != 0 {
		t.Errorf("a page under a short secret: %d", w.Code)
	}
}

// A check run's link stays while it is the same page, signed with the
// current key, with at least DetailsLinkRenew left; otherwise the check is
// written once with a fresh one.
func TestDetailsLinkRenewal(t *testing.T) {
	s, _, clock := detailsServerAt(app.KnownIdentity(appID, "hotfix-bot"), app.Config{})
	g := s.g
	have := g.detailsLink("acme", "payments", detailsSHA)
	clock.now = clock.now.Add(time.Hour)
	if want := g.detailsLink("acme", "payments", detailsSHA); want == have || !g.linkStillGood(have, want) {
		t.Error("a link an hour old is rewritten")
	}
	if g.linkStillGood(have, g.detailsLink("acme", "payments", strings.Repeat("b", 40))) {
		t.Error("another commit's link kept")
	}
	other := app.Config{}
	other.Server.DetailsKey = strings.Repeat("z", 40)
	rotated, _, _ := detailsServerAt(app.KnownIdentity(appID, "hotfix-bot"), other)
	if rotated.g.linkStillGood(have, rotated.g.detailsLink("acme", "payments", detailsSHA)) {
		t.Error("a link under the old key kept after the key changed")
	}
	clock.now = clock.now.Add(DetailsLinkLife - DetailsLinkRenew)
	if g.linkStillGood(have, g.detailsLink("acme", "payments", detailsSHA)) {
		t.Error("a link with less than DetailsLinkRenew left is kept")
	}
}

// Before the server knows who the app is, a page cannot tell the bot's
// comments and deployments from others': 503, no GitHub call, nothing
// kept.
func TestDetailsBeforeTheIdentityIsKnown(t *testing.T) {
	s, rec := detailsServerFor(app.NewIdentity(appID))
	w := serve(s, "GET", s.g.detailsLink("acme", "payments", detailsSHA))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "reload in a minute") {
		t.Errorf("%d %q, want 503 saying to reload", w.Code, w.Body.String())
	}
	if len(rec.reqs) != 0 || len(s.pages.pages) != 0 {
		t.Errorf("calls %v, pages kept %d", rec.reqs, len(s.pages.pages))
	}
}

// Without server.public_url there are no pages and no links.
func TestNoDetailsWithoutPublicURL(t *testing.T) {
	if got := DetailsLink(app.Config{}, "acme", "payments", detailsSHA, time.Now()); got != "" {
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
