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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
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

// detailsView is what the template shows.
type detailsView struct {
	Repo, RepoURL, SHA, Short, CommitURL string
	Branch                               string
	PR                                   *prView
	Gates                                []gateView
	Production                           string
	Lock                                 string
	Tag                                  string
	Chain                                []deploymentView
	Syncs                                []prView
	// ChainRead and SyncsRead say the lists were read: an empty list
	// GitHub would not give is "not read", never "none".
	ChainRead, SyncsRead bool
	Timeline             []eventView
	Missing              []string
	Generated            time.Time

	// Freeze is the freeze now or the next one; Hold the pull request's;
	// Report the repository's report page.
	Freeze, Hold, Report string
}

type prView struct {
	Number       int
	Title, URL   string
	State, Base  string
	Author, Head string
}

type gateView struct {
	Name, Conclusion, Icon, Title string
	Summary                       template.HTML
	At                            time.Time
}

type deploymentView struct {
	ID                       int64
	Environment, Task, State string
	Icon, LogURL, By         string
	At                       time.Time
}

type eventView struct {
	At         time.Time
	What, Link string
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
	appClient, err := s.g.cc.NewAppClient()
	if err != nil {
		return nil, false, err
	}
	inst, resp, err := appClient.Apps.FindRepositoryInstallation(ctx, owner, repo)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return nil, false, errNotFound
	}
	if err != nil {
		return nil, false, err
	}
	client, err := s.g.cc.NewInstallationClient(inst.GetID())
	if err != nil {
		return nil, false, err
	}
	gh, _, err := client.Repositories.Get(ctx, owner, repo)
	if err != nil {
		return nil, false, err
	}
	r := facts.NewRepo(client, owner, repo, gh.GetDefaultBranch(), s.g.identity.AppID())
	r.BotLogin, r.Clock = s.g.identity.BotLogin(), s.g.clock
	runs, err := r.CheckRuns(ctx, sha)
	if err != nil {
		if facts.IsNotFound(err) || facts.KindOf(err) == facts.Validation {
			return nil, false, errNotFound
		}
		return nil, false, err
	}
	if len(runs) == 0 {
		return nil, false, errNotFound // not a commit the bot checked
	}
	v := detailsView{Repo: owner + "/" + repo, RepoURL: gh.GetHTMLURL(), SHA: sha, Short: policy.Short(sha),
		CommitURL: gh.GetHTMLURL() + "/commit/" + sha, Generated: s.g.clock.Now(), Report: s.g.reportLink(owner, repo)}
	missing := func(what string, err error) { v.Missing = append(v.Missing, what+": "+facts.Explain(err)) }

	prNumber := 0
	for _, name := range sortedNames(runs) {
		cr := runs[name]
		g := gateView{Name: name, Conclusion: cr.GetConclusion(), Title: cr.GetOutput().GetTitle()}
		if md := cr.GetOutput().GetSummary(); md != "" {
			g.Summary = markdownHTML(md)
		}
		if g.Conclusion == "" {
			g.Conclusion = cr.GetStatus()
		}
		g.Icon = policy.Icon(g.Conclusion)
		if t := cr.GetCompletedAt(); !t.IsZero() {
			g.At = t.Time
			v.Timeline = append(v.Timeline, eventView{At: t.Time, What: fmt.Sprintf("%s %s: %s", g.Icon, name, g.Title)})
		}
		v.Gates = append(v.Gates, g)
		for _, p := range cr.PullRequests {
			if prNumber == 0 {
				prNumber = p.GetNumber()
			}
		}
	}

	// Production and the lock are read under the repository's policy;
	// without it they are not guessed from defaults.
	conflictLabel := policy.Default().Sync.ConflictLabel
	if pol, err := r.Policy(ctx, s.g.policies); err != nil {
		missing("the policy (production and the lock are read under it)", err)
	} else if pol.Broken() {
		v.Missing = append(v.Missing, "the policy: "+pol.Source+" is broken (the checks above quote the error), so production and the lock are not read under it")
	} else {
		cfg := pol.Config
		conflictLabel = cfg.Sync.ConflictLabel
		v.Freeze = cfg.FreezeText(s.g.clock.Now())
		if prod, err := r.Production(ctx, cfg); err != nil {
			missing("production", err)
		} else if prod.Known {
			v.Production = fmt.Sprintf("%s (%s, %s)", prod.Name(), policy.Short(prod.SHA), prod.Source)
		} else {
			v.Production = "unknown: no successful deployment to " + cfg.Production.Environment + " and no release tag"
		}
		if lock, err := r.ReadLock(ctx); err != nil {
			missing("the production lock", err)
		} else if view := lock.View(s.g.clock.Now(), time.Duration(cfg.Promote.LockTimeout)); view.Held {
			v.Lock = "held by " + view.Describe()
		} else {
			v.Lock = "free"
		}
	}

	deps, err := r.HotfixDeployments(ctx, sha, prNumber)
	if err != nil {
		missing("the deployments", err)
	}
	v.ChainRead = err == nil
	for _, d := range deps {
		if prNumber == 0 && d.Payload.PR != 0 && d.Payload.Kind == "hotfix" {
			prNumber = d.Payload.PR
		}
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].GetID() < deps[j].GetID() })
	for _, d := range deps {
		dv := deploymentView{ID: d.GetID(), Environment: d.GetEnvironment(), Task: d.GetTask(), State: "waiting for CD", By: d.Payload.RequestedBy, At: d.GetCreatedAt().Time}
		if d.Latest != nil {
			dv.State, dv.LogURL = d.Latest.GetState(), d.Latest.GetLogURL()
			v.Timeline = append(v.Timeline, eventView{At: d.Latest.GetCreatedAt().Time, What: fmt.Sprintf("deployment %d to %s: %s", d.GetID(), d.GetEnvironment(), dv.State), Link: dv.LogURL})
		}
		dv.Icon = policy.Icon(map[string]string{"success": policy.Success, "failure": policy.Failure, "error": policy.Failure}[dv.State])
		what := fmt.Sprintf("deployment %d to %s created", d.GetID(), d.GetEnvironment())
		if d.Payload.Kind == "rollback" {
			what = fmt.Sprintf("rollback %d to %s created", d.GetID(), d.GetEnvironment())
		}
		if d.Payload.RequestedBy != "" {
			what += " (@" + d.Payload.RequestedBy + ")"
		}
		v.Timeline = append(v.Timeline, eventView{At: dv.At, What: what})
		v.Chain = append(v.Chain, dv)
		if d.Payload.Kind == "hotfix" && d.Payload.NextTag != "" {
			v.Tag = d.Payload.NextTag
		}
	}

	if prNumber != 0 {
		if pr, err := r.PullRequest(ctx, prNumber); err != nil {
			missing(fmt.Sprintf("pull request #%d", prNumber), err)
		} else {
			v.PR = viewPR(pr)
			v.Branch = pr.GetHead().GetRef()
			if pr.GetState() == "open" {
				if h, err := r.Hold(ctx, prNumber, pr.Labels); err != nil {
					missing("whether it is on hold", err)
				} else {
					v.Hold = h.Describe()
				}
			}
			v.Timeline = append(v.Timeline, eventView{At: pr.GetCreatedAt().Time, What: fmt.Sprintf("#%d opened by @%s", pr.GetNumber(), pr.GetUser().GetLogin()), Link: pr.GetHTMLURL()})
			if pr.GetMerged() {
				v.Timeline = append(v.Timeline, eventView{At: pr.GetMergedAt().Time, What: fmt.Sprintf("#%d merged into %s", pr.GetNumber(), pr.GetBase().GetRef()), Link: pr.GetHTMLURL()})
			}
		}
	}
	if v.Tag != "" {
		if at, err := r.TagCommit(ctx, v.Tag); err != nil {
			missing("the tags", err)
		} else if at != sha {
			v.Tag = "" // not (yet) released as that tag
		}
	}
	if v.Tag != "" {
		syncs, err := r.SyncPullRequests(ctx, v.Tag)
		if err != nil {
			missing("the sync-back pull requests", err)
		}
		v.SyncsRead = err == nil
		for _, pr := range syncs {
			sv := viewPR(pr)
			for _, l := range pr.Labels {
				if sv.State != "merged" && sv.State != "closed" && strings.EqualFold(l.GetName(), conflictLabel) {
					sv.State = "conflicts: needs a person to merge " + sv.Base + " into it"
				}
			}
			v.Syncs = append(v.Syncs, *sv)
			v.Timeline = append(v.Timeline, eventView{At: pr.GetCreatedAt().Time, What: fmt.Sprintf("sync-back #%d into %s opened", pr.GetNumber(), pr.GetBase().GetRef()), Link: pr.GetHTMLURL()})
		}
	}
	sort.SliceStable(v.Timeline, func(i, j int) bool { return v.Timeline[i].At.Before(v.Timeline[j].At) })

	var b bytes.Buffer
	if err := detailsTmpl.Execute(&b, v); err != nil {
		return nil, false, err
	}
	return b.Bytes(), len(v.Missing) == 0, nil
}

func viewPR(pr *github.PullRequest) *prView {
	state := pr.GetState()
	if pr.GetMerged() {
		state = "merged"
	} else if pr.GetDraft() && state == "open" {
		state = "draft"
	}
	return &prView{Number: pr.GetNumber(), Title: pr.GetTitle(), URL: pr.GetHTMLURL(), State: state,
		Base: pr.GetBase().GetRef(), Head: pr.GetHead().GetRef(), Author: pr.GetUser().GetLogin()}
}

func sortedNames(m map[string]*github.CheckRun) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
