package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/report"
	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"
)

// The report page: /report/OWNER/REPO?t=TOKEN[&since=90d], the numbers a
// team's hotfixes are judged by (report/), read from GitHub when asked
// and kept for ReportTTL, drawn as server-rendered SVG. GET never writes.
// Like the details pages its address is a capability, signed with their
// key: any other address is a plain 404.

// ReportTTL is how long a rendered report is served from memory: its
// reads are many (a deployment's statuses each), and its numbers move
// slowly.
const ReportTTL = 5 * time.Minute

// DefaultReportWindow is how far back a report looks unless told.
const DefaultReportWindow = 90 * 24 * time.Hour

const (
	reportRenders = 2  // reports being read from GitHub at once
	reportsKept   = 64 // rendered reports kept
)

//go:embed report.tmpl
var reportFS embed.FS

var reportTmpl = template.Must(template.New("report.tmpl").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"dur": func(d *report.Duration) string {
		if d == nil {
			return "—"
		}
		return d.String()
	},
}).ParseFS(reportFS, "report.tmpl"))

// reportToken signs a report page's address with the details pages'
// signing (their key, their token over "OWNER/REPO/report/EXPIRES", which
// no commit's page can have): the one place to change when that signing
// changes. Like a details link, a report link expires
// (DetailsLinkLife), and a fresh one is handed out with every /help and
// details page.
func reportToken(key []byte, owner, repo string, expires int64) string {
	return detailsToken(key, owner, repo, "report", expires)
}

// reportLink is the report page of a repository, "" without a public URL.
func (g *Bot) reportLink(owner, repo string) string {
	if g.publicURL == "" {
		return ""
	}
	expires := g.clock.Now().Add(DetailsLinkLife).Unix()
	return fmt.Sprintf("%s/report/%s/%s?e=%d&t=%s", g.publicURL, url.PathEscape(owner), url.PathEscape(repo), expires, reportToken(g.detailsKey, owner, repo, expires))
}

// ReportLink is the report page of a repository under a server
// configuration, "" without server.public_url (the CLI and the demo print
// it); now starts its life.
func ReportLink(cfg app.Config, owner, repo string, now time.Time) string {
	g := &Bot{publicURL: strings.TrimSuffix(cfg.Server.PublicURL, "/"), detailsKey: detailsKey(cfg), clock: fixedClock{now}}
	return g.reportLink(owner, repo)
}

// errBrokenPolicy: the repository's policy does not parse, so which
// environment is production is not known.
var errBrokenPolicy = errors.New("the repository's hotfix-bot policy is invalid")

// Report reads a repository's report over the window ending now, under
// its policy, from GitHub alone: any replica, after any restart, answers
// the same. The page and the CLI share it.
func (g *Bot) Report(ctx context.Context, owner, repo string, window time.Duration) (report.Report, error) {
	if g.identity.BotLogin() == "" {
		return report.Report{}, errNotReady
	}
	r, err := facts.OpenInstalled(ctx, g.cc, owner, repo, g.identity.AppID())
	if err != nil {
		return report.Report{}, err
	}
	r.BotLogin, r.Clock = g.identity.BotLogin(), g.clock
	pol, err := r.Policy(ctx, g.policies)
	if err != nil {
		return report.Report{}, err
	}
	if pol.Broken() {
		return report.Report{}, fmt.Errorf("%w: %s", errBrokenPolicy, pol.Describe())
	}
	now := g.clock.Now()
	f, err := r.ReportFacts(ctx, pol.Config, now.Add(-window), now)
	if err != nil {
		return report.Report{}, err
	}
	return report.Build(f), nil
}

// Reports serves the report pages (app.Options.Reports).
func Reports(d app.Deps) http.Handler {
	return &reportServer{g: NewBot(d), slots: make(chan struct{}, reportRenders), pages: newPageCache(reportsKept)}
}

type reportServer struct {
	g      *Bot
	slots  chan struct{}
	flight singleflight.Group

	pages *pageCache
}

func (s *reportServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer") // the address is the capability
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/report/"), "/")
	if len(parts) != 2 || !namePattern.MatchString(parts[0]) || !namePattern.MatchString(parts[1]) || s.g.publicURL == "" {
		http.NotFound(w, r)
		return
	}
	now := s.g.clock.Now()
	expires, err := strconv.ParseInt(r.URL.Query().Get("e"), 10, 64)
	if err != nil || !hmac.Equal([]byte(r.URL.Query().Get("t")), []byte(reportToken(s.g.detailsKey, parts[0], parts[1], expires))) ||
		time.Unix(expires, 0).After(now.Add(DetailsLinkLife+linkSkew)) {
		http.NotFound(w, r) // forged, or signed with another key
		return
	}
	if now.After(time.Unix(expires, 0)) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusGone)
		fmt.Fprintf(w, "This report link expired on %s (links last %d days).\n"+
			"Comment /help on a pull request, or open a check run's Details page, for a current one.\n",
			time.Unix(expires, 0).UTC().Format("2006-01-02 15:04 UTC"), int(DetailsLinkLife/(24*time.Hour)))
		return
	}
	window := DefaultReportWindow
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := report.ParseWindow(v)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		window = d
	}
	owner, repo := parts[0], parts[1]
	key := strings.ToLower(owner+"/"+repo) + "@" + window.String()
	cached, ok := s.pages.get(key)
	if !ok || s.g.clock.Now().Sub(cached.at) > ReportTTL {
		v, err, _ := s.flight.Do(key, func() (any, error) {
			select {
			case s.slots <- struct{}{}:
				defer func() { <-s.slots }()
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
			defer cancel()
			rep, err := s.g.Report(ctx, owner, repo, window)
			if err != nil {
				return nil, err
			}
			page, err := renderReport(rep, s.g.reportLink(owner, repo))
			if err != nil {
				return nil, err
			}
			if len(rep.Missing) == 0 { // a report GitHub left gaps in is read again next time
				s.pages.keep(key, cachedPage{html: page, at: s.g.clock.Now()})
			}
			return page, nil
		})
		switch {
		case facts.IsNotFound(err):
			http.NotFound(w, r)
			return
		case errors.Is(err, errNotReady):
			http.Error(w, "hotfix-bot is starting; reload in a minute.", http.StatusServiceUnavailable)
			return
		case errors.Is(err, errBrokenPolicy):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case err != nil:
			zerolog.Ctx(r.Context()).Warn().Err(err).Str("repository", owner+"/"+repo).Msg("Report could not be read from GitHub")
			http.Error(w, "GitHub did not answer; reload in a minute.", http.StatusServiceUnavailable)
			return
		}
		cached = cachedPage{html: v.([]byte)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(ReportTTL/time.Second)))
	_, _ = w.Write(cached.html)
}

// reportView is what the template shows.
type reportView struct {
	R                           report.Report
	Pending                     []report.Hotfix
	Timeline, Lead, Recovery    template.HTML
	Window, Link, LeadN, RecovN string
	HasHotfixes, HasDeployments bool
}

func renderReport(rep report.Report, link string) ([]byte, error) {
	v := reportView{R: rep, Window: rep.WindowText(), Link: link,
		// The SVG is drawn by report/, which escapes every name it writes.
		Timeline: template.HTML(rep.TimelineSVG()),
		Lead:     template.HTML(report.DistributionSVG("lead time", rep.LeadTimes(), report.LeadTimeBuckets)),
		Recovery: template.HTML(report.DistributionSVG("recovery time", rep.RecoveryTimes(), report.RecoveryBuckets)),
		LeadN:    fmt.Sprint(len(rep.LeadTimes())), RecovN: fmt.Sprint(len(rep.RecoveryTimes())),
		HasHotfixes: len(rep.Hotfixes) > 0, HasDeployments: len(rep.Timeline) > 0,
	}
	for _, h := range rep.Hotfixes {
		if len(h.Pending()) > 0 {
			v.Pending = append(v.Pending, h)
		}
	}
	var b bytes.Buffer
	if err := reportTmpl.Execute(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
