package ghsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// The GitHub App manifest flow: a page posts a form with a JSON
// `manifest` to /settings/apps/new?state=… (or
// /organizations/ORG/settings/apps/new), the person confirms, GitHub
// creates the app and redirects to the manifest's redirect_url with a
// one-time `code` and the `state`; the code is exchanged within an hour
// for the app's credentials (POST /app-manifests/{code}/conversions, no
// authentication). The simulator skips the confirmation page: the form's
// POST answers with the redirect at once.

// appManifest is what GitHub reads from a manifest.
type appManifest struct {
	Name           string `json:"name"`
	URL            string `json:"url"`
	Description    string `json:"description"`
	Public         bool   `json:"public"`
	RedirectURL    string `json:"redirect_url"`
	HookAttributes *struct {
		URL    string `json:"url"`
		Active *bool  `json:"active"`
	} `json:"hook_attributes"`
	DefaultPermissions map[string]string `json:"default_permissions"`
	DefaultEvents      []string          `json:"default_events"`
}

// pendingApp is a confirmed manifest waiting for its code's exchange.
type pendingApp struct {
	manifest appManifest
	owner    *User
	org      bool
	expires  time.Time
}

// eventPermission is the permission an app needs to subscribe to an event
// (GitHub refuses a manifest subscribing without it).
var eventPermission = map[string]string{
	"push": "contents", "create": "contents", "delete": "contents",
	"pull_request": "pull_requests", "pull_request_review": "pull_requests",
	"issue_comment": "issues", "issues": "issues", "label": "metadata",
	"deployment": "deployments", "deployment_status": "deployments", "deployment_protection_rule": "deployments",
	"check_run": "checks", "check_suite": "checks", "status": "statuses",
	"member": "members", "team": "members", "membership": "members",
}

var appName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,33}$`)

// validate reports what GitHub would refuse in a manifest.
func (m appManifest) validate() []string {
	var problems []string
	if !appName.MatchString(m.Name) {
		problems = append(problems, "name is missing or longer than 34 characters")
	}
	if u, err := url.Parse(m.URL); err != nil || u.Scheme == "" || u.Host == "" {
		problems = append(problems, "url must be an absolute URL")
	}
	if u, err := url.Parse(m.RedirectURL); err != nil || u.Scheme == "" || u.Host == "" {
		problems = append(problems, "redirect_url must be an absolute URL")
	}
	// GitHub wants hook_attributes.url whenever hook_attributes are
	// given, even for a webhook that is off ("url" wasn't supplied).
	if h := m.HookAttributes; h != nil {
		if u, err := url.Parse(h.URL); err != nil || u.Scheme == "" || u.Host == "" {
			problems = append(problems, `hook_attributes: "url" wasn't supplied`)
		}
	}
	for p, level := range m.DefaultPermissions {
		if level != "read" && level != "write" && level != "admin" {
			problems = append(problems, fmt.Sprintf("default_permissions.%s: %q is not read, write or admin", p, level))
		}
	}
	for _, e := range m.DefaultEvents {
		need, ok := eventPermission[e]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("default_events: %q is not an event an app can subscribe to", e))
		case need != "metadata" && m.DefaultPermissions[need] == "":
			problems = append(problems, fmt.Sprintf("default_events: %q needs the %s permission", e, need))
		}
	}
	return problems
}

// WebUser is who is signed in to the simulator's web pages (the owner of
// apps registered under /settings/apps/new).
func (s *Sim) WebUser(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webUser = login
}

// newAppFromManifest is the form's target: GitHub's "Create GitHub App"
// page, confirmed at once.
func (s *Sim) newAppFromManifest(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	var m appManifest
	dec := json.NewDecoder(strings.NewReader(r.PostForm.Get("manifest")))
	if err := dec.Decode(&m); err != nil {
		http.Error(w, "Invalid GitHub App configuration: the manifest is not JSON", http.StatusUnprocessableEntity)
		return
	}
	if problems := m.validate(); len(problems) > 0 {
		http.Error(w, "Invalid GitHub App configuration:\n"+strings.Join(problems, "\n"), http.StatusUnprocessableEntity)
		return
	}
	s.mu.Lock()
	org := r.PathValue("org")
	owner := s.webUser
	if owner == "" {
		owner = "octocat"
	}
	kind := "User"
	if org != "" {
		owner, kind = org, "Organization"
	}
	code := randomHex(10)
	if s.manifests == nil {
		s.manifests = map[string]*pendingApp{}
	}
	s.manifests[code] = &pendingApp{manifest: m, owner: s.userLocked(owner, kind), org: org != "", expires: s.clock.Now().Add(time.Hour)}
	s.mu.Unlock()
	target, _ := url.Parse(m.RedirectURL)
	q := target.Query()
	q.Set("code", code)
	if state := r.URL.Query().Get("state"); state != "" {
		q.Set("state", state)
	}
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// createFromManifest exchanges a code for the app's credentials, once.
func (s *Sim) createFromManifest(c *call) (int, any) {
	p, ok := s.manifests[c.param("code")]
	if !ok || s.clock.Now().After(p.expires) {
		return notFound()
	}
	delete(s.manifests, c.param("code"))
	m := p.manifest
	slug := strings.ToLower(strings.NewReplacer(" ", "-", ".", "-", "_", "-").Replace(m.Name))
	for _, a := range s.apps {
		if a.Slug == slug {
			return invalid("name", "already_exists")
		}
	}
	// GitHub generates the webhook secret for a manifest that has a
	// webhook (on or off); without hook attributes the app has none.
	secret := ""
	if m.HookAttributes != nil {
		secret = randomHex(20)
	}
	a := &App{
		ID: s.newID(), Slug: slug, Name: m.Name,
		PrivateKeyPEM: s.appKeyPEM(), WebhookSecret: secret,
		Permissions: m.DefaultPermissions, Events: m.DefaultEvents,
		public: &appKey.PublicKey,
	}
	a.Bot = s.userLocked(slug+"[bot]", "Bot")
	if h := m.HookAttributes; h != nil && (h.Active == nil || *h.Active) {
		a.targets = []string{m.HookAttributes.URL}
	}
	s.apps[a.ID] = a
	settings := s.web("settings/apps/%s", slug)
	if p.org {
		settings = s.web("organizations/%s/settings/apps/%s", p.owner.Login, slug)
	}
	now := ts(s.clock.Now())
	return http.StatusCreated, obj{
		"id": a.ID, "slug": slug, "node_id": nodeID("App", a.ID), "name": m.Name, "description": m.Description,
		"owner": s.userJSON(p.owner), "external_url": m.URL, "html_url": settings,
		"created_at": now, "updated_at": now, "permissions": m.DefaultPermissions, "events": m.DefaultEvents,
		"client_id": "Iv1." + randomHex(8), "client_secret": randomHex(20),
		"webhook_secret": nilIfEmpty(secret), "pem": a.PrivateKeyPEM,
	}
}

// AppBySlug returns a registered app, or nil.
func (s *Sim) AppBySlug(slug string) *App {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		if a.Slug == slug {
			return a
		}
	}
	return nil
}
