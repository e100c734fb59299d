package handlers

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/rs/zerolog"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"golang.org/x/sync/singleflight"
)

// The details page: each check run links (details_url) to a read-only
// page of the bot's for its commit: the gates, production, the lock, the
// deployment chain, the sync-back pull requests and a timeline, read from
// GitHub when asked (and kept for DetailsTTL). GET never writes.
//
// The page is served without GitHub sign-in, so its address is a
// capability: /details/OWNER/REPO/SHA?e=EXPIRY&t=TOKEN, where TOKEN is an
// HMAC of the path and the expiry under the details key (server.details_key,
// or HKDF of a webhook secret of at least 32 bytes). Only someone who was
// shown the link (on a check run, visible to those who can see the
// repository) can open it, for DetailsLinkLife; any other address, a
// repository the app is not installed on, or an unknown commit is a plain
// 404, and an expired link says so.

// DetailsTTL is how long a rendered page is served from memory;
// DetailsGapTTL how long a page with gaps, or GitHub failing for it, is.
const (
	DetailsTTL    = 30 * time.Second
	DetailsGapTTL = 10 * time.Second
)

// DetailsReadsPerMinute bounds the pages of one repository read from
// GitHub per minute on this replica (each read is tens of requests; a
// public repository's links are anyone's). Beyond it: 429, "reload in a
// minute".
const DetailsReadsPerMinute = 30

// DetailsLinkLife is how long a details link opens its page. A check
// written again carries a fresh link; an evaluation that changes nothing
// else renews the link only once less than DetailsLinkRenew is left (a
// write just for that would be one per event).
const (
	DetailsLinkLife  = 30 * 24 * time.Hour
	DetailsLinkRenew = 15 * 24 * time.Hour
)

// linkSkew is how far in the future an expiry may lie beyond
// DetailsLinkLife (replicas' clocks differ a little); further is forged.
const linkSkew = time.Hour

const (
	detailsRenders = 4   // pages being read from GitHub at once
	detailsKept    = 256 // rendered pages kept
)

//go:embed details.tmpl
var detailsFS embed.FS

// checkMarkdown renders check-run summaries as GitHub would: GFM tables,
// and never raw HTML (goldmark drops it unless told it is safe) nor
// dangerous link schemes.
var checkMarkdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

// markdownHTML is a check-run summary as HTML that is safe to embed.
func markdownHTML(md string) template.HTML {
	var b bytes.Buffer
	if err := checkMarkdown.Convert([]byte(md), &b); err != nil {
		return template.HTML("<pre>" + template.HTMLEscapeString(md) + "</pre>")
	}
	return template.HTML(b.String()) // goldmark escaped the text and dropped raw HTML
}

var detailsTmpl = template.Must(template.New("details.tmpl").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}).ParseFS(detailsFS, "details.tmpl"))

// detailsKey is the key the page links are signed with: derived (HKDF) from
// server.details_key, or else from the webhook secret, so every replica
// shares it. nil, and no links, when that secret is shorter than
// app.MinSecretBytes: a link is public wherever the check run is, and a
// short secret could be guessed offline from it (serve refuses such a
// configuration; this is the same rule for anything built otherwise).
func detailsKey(cfg app.Config) []byte {
	secret, info := cfg.Server.DetailsKey, "hotfix-bot details links v2 (details key)"
	if secret == "" {
		secret, info = cfg.GitHub.App.WebhookSecret, "hotfix-bot details links v2 (webhook secret)"
	}
	if len(secret) < app.MinSecretBytes {
		return nil
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, info, sha256.Size)
	if err != nil {
		return nil // cannot happen for SHA-256 and 32 bytes
	}
	return key
}

func detailsToken(key []byte, owner, repo, sha string, expires int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s/%s/%s/%d", strings.ToLower(owner), strings.ToLower(repo), strings.ToLower(sha), expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// detailsLink is the details page of a commit, good for DetailsLinkLife
// from now; "" when no public URL (or no usable key) is configured.
func (g *Bot) detailsLink(owner, repo, sha string) string {
	if g.publicURL == "" || g.detailsKey == nil {
		return ""
	}
	expires := g.clock.Now().Add(DetailsLinkLife).Unix()
	return fmt.Sprintf("%s/details/%s/%s/%s?e=%d&t=%s", g.publicURL, url.PathEscape(owner), url.PathEscape(repo), sha, expires,
		detailsToken(g.detailsKey, owner, repo, sha, expires))
}

// linkStillGood reports whether a check run's current link (have) may
// stay instead of a fresh one (want): the same page, signed with the
// current key, and good for DetailsLinkRenew more at least. It keeps an
// evaluation that changes nothing else from writing the check just for a
// newer expiry.
func (g *Bot) linkStillGood(have, want string) bool {
	hu, err1 := url.Parse(have)
	wu, err2 := url.Parse(want)
	if err1 != nil || err2 != nil || hu.Scheme != wu.Scheme || hu.Host != wu.Host || hu.Path != wu.Path || g.detailsKey == nil {
		return false
	}
	parts := strings.Split(strings.TrimPrefix(hu.Path, "/details/"), "/")
	if len(parts) != 3 {
		return false
	}
	expires, ok := g.verifyLink(parts[0], parts[1], parts[2], hu.Query())
	return ok && time.Unix(expires, 0).Sub(g.clock.Now()) >= DetailsLinkRenew
}

// verifyLink checks a page address's signature and expiry field; ok is
// false for a forged one (whatever its expiry).
func (g *Bot) verifyLink(owner, repo, sha string, q url.Values) (expires int64, ok bool) {
	expires, err := strconv.ParseInt(q.Get("e"), 10, 64)
	if err != nil || g.detailsKey == nil {
		return 0, false
	}
	return expires, hmac.Equal([]byte(q.Get("t")), []byte(detailsToken(g.detailsKey, owner, repo, sha, expires)))
}

// DetailsLink is the details page of a commit under a server
// configuration as the bot would link it at now, "" without
// server.public_url (the demo prints it; tests build addresses with it).
func DetailsLink(cfg app.Config, owner, repo, sha string, now time.Time) string {
	g := &Bot{publicURL: strings.TrimSuffix(cfg.Server.PublicURL, "/"), detailsKey: detailsKey(cfg), clock: fixedClock{now}}
	return g.detailsLink(owner, repo, sha)
}

// fixedClock is a moment, as a Clock.
type fixedClock struct{ at time.Time }

func (c fixedClock) Now() time.Time                                   { return c.at }
func (c fixedClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// Pages serves the details pages (app.Options.Pages).
func Pages(d app.Deps) http.Handler {
	return &detailsServer{g: NewBot(d), slots: make(chan struct{}, detailsRenders), pages: newPageCache(detailsKept), budgets: map[string]*readBudget{}}
}

type detailsServer struct {
	g      *Bot
	slots  chan struct{}
	flight singleflight.Group

	pages   *pageCache
	mu      sync.Mutex
	budgets map[string]*readBudget
}

// cachedPage is a page as read (gaps: some facts could not be read), or
// GitHub failing for it.
type cachedPage struct {
	html   []byte
	at     time.Time
	gaps   bool
	failed bool
}

// ttl is how long the page is served from memory: a whole page
// DetailsTTL, one with gaps or a failure DetailsGapTTL (long enough that
// reloading costs GitHub nothing, short enough that a reload a few
// seconds later asks again).
func (p cachedPage) ttl() time.Duration {
	if p.gaps || p.failed {
		return DetailsGapTTL
	}
	return DetailsTTL
}

type readBudget struct {
	tokens float64
	at     time.Time
}

var (
	shaPattern    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	errNotFound   = errors.New("not found")
	errNotReady   = errors.New("the server does not know the app's identity yet")
	errOverBudget = errors.New("the repository's page reads for this minute are spent")
)

func (s *detailsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer") // the address is the capability
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/details/"), "/")
	if len(parts) != 3 || !namePattern.MatchString(parts[0]) || !namePattern.MatchString(parts[1]) || !shaPattern.MatchString(parts[2]) || s.g.publicURL == "" {
		http.NotFound(w, r)
		return
	}
	owner, repo, sha := parts[0], parts[1], parts[2]
	now := s.g.clock.Now()
	expires, ok := s.g.verifyLink(owner, repo, sha, r.URL.Query())
	if !ok || time.Unix(expires, 0).After(now.Add(DetailsLinkLife+linkSkew)) {
		http.NotFound(w, r) // forged, or signed with another key
		return
	}
	if now.After(time.Unix(expires, 0)) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusGone)
		fmt.Fprintf(w, "This details link expired on %s (links last %d days).\n"+
			"Open Details on the check run on GitHub for a current one; if that link has expired too, re-run the check (it renews the link).\n",
			time.Unix(expires, 0).UTC().Format("2006-01-02 15:04 UTC"), int(DetailsLinkLife/(24*time.Hour)))
		return
	}
	key := strings.ToLower(owner + "/" + repo + "/" + sha)
	cached, ok := s.pages.get(key)
	if !ok || now.Sub(cached.at) > cached.ttl() {
		v, err, _ := s.flight.Do(key, func() (any, error) {
			if !s.renderBudget(strings.ToLower(owner+"/"+repo), s.g.clock.Now()) {
				return nil, errOverBudget
			}
			select {
			case s.slots <- struct{}{}:
				defer func() { <-s.slots }()
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
			defer cancel()
			page, complete, err := s.render(ctx, owner, repo, sha)
			switch {
			case errors.Is(err, errNotFound) || errors.Is(err, errNotReady):
				return nil, err
			case err != nil:
				// GitHub failing is kept briefly too: a reload storm
				// must not become a request storm.
				s.pages.keep(key, cachedPage{failed: true, at: s.g.clock.Now()})
				return nil, err
			}
			s.pages.keep(key, cachedPage{html: page, at: s.g.clock.Now(), gaps: !complete})
			return page, nil
		})
		switch {
		case errors.Is(err, errNotFound):
			http.NotFound(w, r)
			return
		case errors.Is(err, errNotReady):
			http.Error(w, "hotfix-bot is starting; reload in a minute.", http.StatusServiceUnavailable)
			return
		case errors.Is(err, errOverBudget):
			s.g.countLimited(limitedDetails)
			w.Header().Set("Retry-After", "60")
			http.Error(w, "Too many details pages of this repository are being read right now; reload in a minute.", http.StatusTooManyRequests)
			return
		case err != nil:
			zerolog.Ctx(r.Context()).Warn().Err(err).Str("repository", owner+"/"+repo).Msg("Details page could not be read from GitHub")
			http.Error(w, "GitHub did not answer; reload in a minute.", http.StatusServiceUnavailable)
			return
		}
		cached = cachedPage{html: v.([]byte)}
	} else if cached.failed {
		http.Error(w, "GitHub did not answer; reload in a minute.", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(cached.ttl()/time.Second)))
	_, _ = w.Write(cached.html)
}

// renderBudget takes one of a repository's page reads from GitHub: at
// most DetailsReadsPerMinute (in a burst, then steadily), however many
// different commits' links are opened.
func (s *detailsServer) renderBudget(repo string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.budgets[repo]
	if !ok {
		if len(s.budgets) > guardEntries {
			clear(s.budgets)
		}
		b = &readBudget{tokens: DetailsReadsPerMinute, at: now}
		s.budgets[repo] = b
	}
	b.tokens = min(DetailsReadsPerMinute, b.tokens+now.Sub(b.at).Minutes()*DetailsReadsPerMinute)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// pageCache keeps rendered pages in memory, at most max of them (the
// oldest goes first). The details and report pages share it.
type pageCache struct {
	max   int
	mu    sync.Mutex
	pages map[string]cachedPage
}

func newPageCache(max int) *pageCache {
	return &pageCache{max: max, pages: map[string]cachedPage{}}
}

func (c *pageCache) get(key string) (cachedPage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pages[key]
	return p, ok
}

// keep stores a page, dropping the oldest beyond max.
func (c *pageCache) keep(key string, p cachedPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pages[key] = p
	if len(c.pages) <= c.max {
		return
	}
	oldest, at := "", time.Time{}
	for k, v := range c.pages {
		if oldest == "" || v.at.Before(at) {
			oldest, at = k, v.at
		}
	}
	delete(c.pages, oldest)
}

// render reads the commit's story from GitHub and renders the page, and
// says whether every fact was read; an uninstalled repository or an
// unknown commit is errNotFound.
func (s *detailsServer) render(ctx context.Context, owner, repo, sha string) (page []byte, complete bool, err error) {
	if s.g.identity.BotLogin() == "" {
		// Before GitHub has told the server who it is, the bot's own
		// comments and deployments cannot be told from others'.
		return nil, false, errNotReady
	}
	r, err := s.g.repoByName(ctx, owner, repo)
	if facts.IsNotFound(err) {
		return nil, false, errNotFound
	}
	if err != nil {
		return nil, false, err
	}
	f, err := gatherDetails(ctx, r, s.g.policies, s.g.clock.Now(), sha)
	if err != nil {
		return nil, false, err
	}
	v := detailsPage(f)
	v.Report = s.g.reportLink(owner, repo)
	var b bytes.Buffer
	if err := detailsTmpl.Execute(&b, v); err != nil {
		return nil, false, err
	}
	return b.Bytes(), len(v.Missing) == 0, nil
}
