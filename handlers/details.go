package handlers

import (
	"bytes"
	"context"
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
// capability: /details/OWNER/REPO/SHA?t=TOKEN, where TOKEN is an HMAC of
// the path under a key derived from the webhook secret. Only someone who
// was shown the link (on a check run, visible to those who can see the
// repository) can open it; any other address, a repository the app is not
// installed on, or an unknown commit is a plain 404.

// DetailsTTL is how long a rendered page is served from memory.
const DetailsTTL = 30 * time.Second

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

// detailsKey derives the page links' key from the webhook secret, so every
// replica shares it without another setting.
func detailsKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("hotfix-bot details page v1"))
	return m.Sum(nil)
}

func detailsToken(key []byte, owner, repo, sha string) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s/%s/%s", strings.ToLower(owner), strings.ToLower(repo), strings.ToLower(sha))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// detailsLink is the details page of a commit, "" when no public URL is
// configured.
func (g *Bot) detailsLink(owner, repo, sha string) string {
	if g.publicURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/details/%s/%s/%s?t=%s", g.publicURL, url.PathEscape(owner), url.PathEscape(repo), sha,
		detailsToken(g.detailsKey, owner, repo, sha))
}

// DetailsLink is the details page of a commit under a server
// configuration, "" without server.public_url (the demo prints it; tests
// build addresses with it).
func DetailsLink(cfg app.Config, owner, repo, sha string) string {
	g := &Bot{publicURL: strings.TrimSuffix(cfg.Server.PublicURL, "/"), detailsKey: detailsKey(cfg.GitHub.App.WebhookSecret)}
	return g.detailsLink(owner, repo, sha)
}

// Pages serves the details pages (app.Options.Pages).
func Pages(d app.Deps) http.Handler {
	return &detailsServer{g: NewBot(d), slots: make(chan struct{}, detailsRenders), pages: map[string]cachedPage{}}
}

type detailsServer struct {
	g      *Bot
	slots  chan struct{}
	flight singleflight.Group

	mu    sync.Mutex
	pages map[string]cachedPage
}

type cachedPage struct {
	html []byte
	at   time.Time
}

var (
	shaPattern  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	namePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	errNotFound = errors.New("not found")
	errNotReady = errors.New("the server does not know the app's identity yet")
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
	token := r.URL.Query().Get("t")
	if len(parts) != 3 || !namePattern.MatchString(parts[0]) || !namePattern.MatchString(parts[1]) || !shaPattern.MatchString(parts[2]) ||
		s.g.publicURL == "" || !hmac.Equal([]byte(token), []byte(detailsToken(s.g.detailsKey, parts[0], parts[1], parts[2]))) {
		http.NotFound(w, r)
		return
	}
	owner, repo, sha := parts[0], parts[1], parts[2]
	key := strings.ToLower(owner + "/" + repo + "/" + sha)
	now := s.g.clock.Now()
	s.mu.Lock()
	cached, ok := s.pages[key]
	s.mu.Unlock()
	if !ok || now.Sub(cached.at) > DetailsTTL {
		v, err, _ := s.flight.Do(key, func() (any, error) {
			select {
			case s.slots <- struct{}{}:
				defer func() { <-s.slots }()
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
			defer cancel()
			page, complete, err := s.render(ctx, owner, repo, sha)
			if err != nil {
				return nil, err
			}
			if complete { // a page with gaps is read again next time
				s.keep(key, cachedPage{html: page, at: s.g.clock.Now()})
			}
			return page, nil
		})
		switch {
		case errors.Is(err, errNotFound):
			http.NotFound(w, r)
			return
		case errors.Is(err, errNotReady):
			http.Error(w, "hotfix-bot is starting; reload in a minute.", http.StatusServiceUnavailable)
			return
		case err != nil:
			zerolog.Ctx(r.Context()).Warn().Err(err).Str("repository", owner+"/"+repo).Msg("Details page could not be read from GitHub")
			http.Error(w, "GitHub did not answer; reload in a minute.", http.StatusServiceUnavailable)
			return
		}
		cached = cachedPage{html: v.([]byte)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(DetailsTTL/time.Second)))
	_, _ = w.Write(cached.html)
}

// keep stores a page, dropping the oldest beyond detailsKept.
func (s *detailsServer) keep(key string, p cachedPage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages[key] = p
	if len(s.pages) <= detailsKept {
		return
	}
	oldest, at := "", time.Time{}
	for k, v := range s.pages {
		if oldest == "" || v.at.Before(at) {
			oldest, at = k, v.at
		}
	}
	delete(s.pages, oldest)
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
	var b bytes.Buffer
	if err := detailsTmpl.Execute(&b, v); err != nil {
		return nil, false, err
	}
	return b.Bytes(), len(v.Missing) == 0, nil
}
