package ghsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// Call is one API request the simulator answered, for accounting.
type Call struct {
	Op           string // operation id ("" for an unknown path)
	Method       string
	Path         string
	Installation int64
	Status       int
	// Conditional: answered 304 Not Modified, which costs no rate limit.
	Conditional bool
	// Charged: counted against the installation's primary rate limit.
	Charged bool
	// Unchanged: a charged read whose answer is identical to the last one
	// this installation got for the same URL; a client that revalidated
	// (If-None-Match) would have had it for free.
	Unchanged bool
	Write     bool
	// Fault names the injected fault that answered, if any.
	Fault string
	At    time.Time
	// Wall is the real time the answer was ready (benchmarks time the bot
	// with it; At is simulated time).
	Wall time.Time
	// Body is the request body of a write (for benchmarks and
	// scenarios to tell calls apart), at most 1 KiB.
	Body string
}

type authKind int

const (
	authInstallation authKind = iota // installation token, repository in scope
	authApp                          // app JWT
	authOrg                          // installation token, organisation route
	authNone                         // no credentials (the manifest exchange)
)

type route struct {
	op   string
	perm string // "scope:level", alternatives separated by "|"
	auth authKind
	h    handlerFunc
	args []string // path parameter names
}

type handlerFunc func(c *call) (int, any)

// call is one request being answered.
type call struct {
	s      *Sim
	req    *http.Request
	route  *route
	body   []byte
	inst   *Installation
	app    *App
	repo   *Repo
	header http.Header
}

func (c *call) param(name string) string { return c.req.PathValue(name) }

func (c *call) query(name string) string { return c.req.URL.Query().Get(name) }

// actor is who GitHub records as acting: the installation's bot user.
func (c *call) actor() *User { return c.inst.App.Bot }

func (c *call) decode(v any) error {
	if len(c.body) == 0 {
		return errors.New("empty body")
	}
	return json.Unmarshal(c.body, v)
}

// apiErr is an error response in GitHub's shape.
type apiErr struct {
	status int
	msg    string
	errs   []map[string]any
}

func (e *apiErr) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func (e *apiErr) body() obj {
	o := obj{"message": e.msg, "documentation_url": "https://docs.github.com/rest"}
	if len(e.errs) > 0 {
		o["errors"] = e.errs
	}
	return o
}

func fail(status int, msg string) (int, any) {
	return status, (&apiErr{status: status, msg: msg}).body()
}

func failErr(err error) (int, any) {
	var ae *apiErr
	if errors.As(err, &ae) {
		return ae.status, ae.body()
	}
	return fail(http.StatusInternalServerError, err.Error())
}

func notFound() (int, any) { return fail(http.StatusNotFound, "Not Found") }

func invalid(field, code string) (int, any) {
	e := &apiErr{status: 422, msg: "Validation Failed", errs: []map[string]any{{"field": field, "code": code}}}
	return 422, e.body()
}

var paramName = regexp.MustCompile(`\{(\w+)(?:\.\.\.)?\}`)

// commentPath is GET /repos/{owner}/{repo}/issues/comments/{comment_id}.
// Go's router would find it ambiguous with the issue routes
// (/issues/{issue_number}/comments: an issue "comments"); GitHub routes
// it to the comment, and so does the simulator, through a router of its
// own.
var commentPath = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues/comments/[^/]+$`)

func (s *Sim) routes() http.Handler {
	mux, comments := http.NewServeMux(), http.NewServeMux()
	addTo := func(m *http.ServeMux, pattern, op, perm string, auth authKind, h handlerFunc) {
		rt := &route{op: op, perm: perm, auth: auth, h: h}
		for _, m := range paramName.FindAllStringSubmatch(pattern, -1) {
			rt.args = append(rt.args, m[1])
		}
		method, path, _ := strings.Cut(pattern, " ")
		m.Handle(method+" "+s.opts.APIPrefix+path, s.serve(rt))
	}
	add := func(pattern, op, perm string, auth authKind, h handlerFunc) { addTo(mux, pattern, op, perm, auth, h) }
	repo := func(method, path, op, perm string, h handlerFunc) {
		add(method+" /repos/{owner}/{repo}"+path, op, perm, authInstallation, h)
	}
	addTo(comments, "GET /repos/{owner}/{repo}/issues/comments/{comment_id}", "issues/get-comment", "issues:read|pull_requests:read", authInstallation, s.getComment)
	add("GET /app", "apps/get-authenticated", "", authApp, s.getApp)
	add("GET /repos/{owner}/{repo}/installation", "apps/get-repo-installation", "", authApp, s.getRepoInstallation)
	add("POST /app-manifests/{code}/conversions", "apps/create-from-manifest", "", authNone, s.createFromManifest)
	add("POST /app/installations/{installation_id}/access_tokens", "apps/create-installation-access-token", "", authApp, s.createToken)
	add("GET /app/hook/deliveries", "apps/list-webhook-deliveries", "", authApp, s.listHookDeliveries)
	add("GET /app/hook/deliveries/{delivery_id}", "apps/get-webhook-delivery", "", authApp, s.getHookDelivery)
	add("POST /app/hook/deliveries/{delivery_id}/attempts", "apps/redeliver-webhook-delivery", "", authApp, s.redeliverHookDelivery)

	repo("GET", "", "repos/get", "metadata:read", s.getRepo)
	repo("GET", "/contents/{path...}", "repos/get-content", "contents:read", s.getContent)
	repo("GET", "/branches", "repos/list-branches", "contents:read", s.listBranches)
	repo("GET", "/branches/{branch...}", "repos/get-branch", "contents:read", s.getBranch)
	repo("GET", "/tags", "repos/list-tags", "contents:read", s.listTags)
	repo("GET", "/commits", "repos/list-commits", "contents:read", s.listCommits)
	repo("GET", "/commits/{ref}", "repos/get-commit", "contents:read", s.getCommit)
	repo("GET", "/compare/{basehead}", "repos/compare-commits-with-basehead", "contents:read", s.compare)
	repo("POST", "/merges", "repos/merge", "contents:write", s.mergeBranch)
	repo("GET", "/activity", "repos/list-activities", "metadata:read", s.listActivities)
	repo("GET", "/collaborators/{username}/permission", "repos/get-collaborator-permission-level", "metadata:read", s.getPermission)

	repo("GET", "/git/ref/{ref...}", "git/get-ref", "contents:read", s.getRef)
	repo("GET", "/git/matching-refs/{ref...}", "git/list-matching-refs", "contents:read", s.matchingRefs)
	repo("POST", "/git/refs", "git/create-ref", "contents:write", s.createRef)
	repo("PATCH", "/git/refs/{ref...}", "git/update-ref", "contents:write", s.updateRef)
	repo("DELETE", "/git/refs/{ref...}", "git/delete-ref", "contents:write", s.deleteRef)
	repo("POST", "/git/tags", "git/create-tag", "contents:write", s.createTag)
	repo("GET", "/git/tags/{tag_sha}", "git/get-tag", "contents:read", s.getTag)
	repo("POST", "/git/commits", "git/create-commit", "contents:write", s.createCommit)
	repo("GET", "/git/commits/{commit_sha}", "git/get-commit", "contents:read", s.getGitCommit)

	repo("GET", "/pulls", "pulls/list", "pull_requests:read", s.listPulls)
	repo("POST", "/pulls", "pulls/create", "pull_requests:write", s.createPull)
	repo("GET", "/pulls/{pull_number}", "pulls/get", "pull_requests:read", s.getPull)
	repo("PATCH", "/pulls/{pull_number}", "pulls/update", "pull_requests:write", s.updatePull)
	repo("GET", "/pulls/{pull_number}/files", "pulls/list-files", "pull_requests:read", s.listPullFiles)
	repo("PUT", "/pulls/{pull_number}/merge", "pulls/merge", "contents:write", s.mergePull)
	repo("POST", "/pulls/{pull_number}/requested_reviewers", "pulls/request-reviewers", "pull_requests:write", s.requestReviewers)

	repo("POST", "/check-runs", "checks/create", "checks:write", s.createCheckRun)
	repo("GET", "/check-runs/{check_run_id}", "checks/get", "checks:read", s.getCheckRun)
	repo("PATCH", "/check-runs/{check_run_id}", "checks/update", "checks:write", s.updateCheckRun)
	repo("GET", "/check-runs/{check_run_id}/annotations", "checks/list-annotations", "checks:read", s.listAnnotations)
	repo("GET", "/commits/{ref}/check-runs", "checks/list-for-ref", "checks:read", s.listCheckRunsForRef)
	repo("GET", "/commits/{ref}/check-suites", "checks/list-suites-for-ref", "checks:read", s.listSuitesForRef)
	repo("POST", "/statuses/{sha}", "repos/create-commit-status", "statuses:write", s.createStatus)
	repo("GET", "/commits/{ref}/statuses", "repos/list-commit-statuses-for-ref", "statuses:read", s.listStatuses)
	repo("GET", "/commits/{ref}/status", "repos/get-combined-status-for-ref", "statuses:read", s.combinedStatus)

	repo("GET", "/issues", "issues/list-for-repo", "issues:read", s.listIssues)
	repo("GET", "/issues/{issue_number}", "issues/get", "issues:read|pull_requests:read", s.getIssue)
	repo("POST", "/issues", "issues/create", "issues:write", s.createIssue)
	repo("PATCH", "/issues/{issue_number}", "issues/update", "issues:write|pull_requests:write", s.updateIssue)
	repo("GET", "/labels", "issues/list-labels-for-repo", "issues:read|pull_requests:read", s.listRepoLabels)
	repo("GET", "/labels/{name}", "issues/get-label", "issues:read|pull_requests:read", s.getLabel)
	repo("POST", "/labels", "issues/create-label", "issues:write|pull_requests:write", s.createLabel)
	repo("PATCH", "/labels/{name}", "issues/update-label", "issues:write|pull_requests:write", s.updateLabel)
	repo("GET", "/issues/{issue_number}/labels", "issues/list-labels-on-issue", "issues:read|pull_requests:read", s.listIssueLabels)
	repo("POST", "/issues/{issue_number}/labels", "issues/add-labels", "issues:write|pull_requests:write", s.addLabels)
	repo("DELETE", "/issues/{issue_number}/labels/{name}", "issues/remove-label", "issues:write|pull_requests:write", s.removeLabel)
	repo("GET", "/issues/{issue_number}/events", "issues/list-events", "issues:read|pull_requests:read", s.listEvents)
	repo("GET", "/issues/{issue_number}/comments", "issues/list-comments", "issues:read|pull_requests:read", s.listComments)
	repo("POST", "/issues/{issue_number}/comments", "issues/create-comment", "issues:write|pull_requests:write", s.createComment)
	repo("PATCH", "/issues/comments/{comment_id}", "issues/update-comment", "issues:write|pull_requests:write", s.updateComment)
	repo("DELETE", "/issues/comments/{comment_id}", "issues/delete-comment", "issues:write|pull_requests:write", s.deleteComment)
	repo("POST", "/issues/{issue_number}/assignees", "issues/add-assignees", "issues:write|pull_requests:write", s.addAssignees)
	repo("POST", "/issues/comments/{comment_id}/reactions", "reactions/create-for-issue-comment", "issues:write|pull_requests:write", s.createReaction)

	repo("GET", "/deployments", "repos/list-deployments", "deployments:read", s.listDeployments)
	repo("POST", "/deployments", "repos/create-deployment", "deployments:write", s.createDeployment)
	repo("GET", "/deployments/{deployment_id}", "repos/get-deployment", "deployments:read", s.getDeployment)
	repo("GET", "/deployments/{deployment_id}/statuses", "repos/list-deployment-statuses", "deployments:read", s.listDeploymentStatuses)
	repo("POST", "/deployments/{deployment_id}/statuses", "repos/create-deployment-status", "deployments:write", s.createDeploymentStatus)
	repo("POST", "/actions/runs/{run_id}/deployment_protection_rule", "actions/review-custom-gates-for-run", "deployments:write", s.reviewCustomGates)

	add("GET /orgs/{org}/teams/{team_slug}/memberships/{username}", "teams/get-membership-for-user-in-org", "members:read", authOrg, s.getTeamMembership)

	// Web pages (not the API): the app manifest flow.
	mux.HandleFunc("POST /settings/apps/new", s.newAppFromManifest)
	mux.HandleFunc("POST /organizations/{org}/settings/apps/new", s.newAppFromManifest)

	mux.HandleFunc("/", s.unknownPath)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && commentPath.MatchString(strings.TrimPrefix(r.URL.Path, s.opts.APIPrefix)) {
			comments.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// unknownPath answers paths the simulator does not serve; if GitHub does
// not have them either, that is a contract violation.
func (s *Sim) unknownPath(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Status: 404, At: s.clock.Now()})
	s.violations = append(s.violations, Violation{Method: r.Method, Path: r.URL.Path,
		Problem: "no operation the simulator serves matches this path (GitHub would answer 404)"})
	s.mu.Unlock()
	writeJSON(w, http.StatusNotFound, (&apiErr{status: 404, msg: "Not Found"}).body())
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

// serve wraps a route handler with everything GitHub does around it.
func (s *Sim) serve(rt *route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.serving.Add(1)
		defer s.serving.Add(-1)
		if d := time.Duration(s.latency.Load()); d > 0 {
			time.Sleep(d)
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 50<<20))
		c := &call{s: s, req: r, route: rt, body: body, header: http.Header{}}
		rec := Call{Op: rt.op, Method: r.Method, Path: r.URL.Path, Write: r.Method != http.MethodGet && r.Method != http.MethodHead}
		if rec.Write {
			limit := s.opts.RecordBodies
			if limit == 0 {
				limit = 1024
			}
			rec.Body = string(body[:min(len(body), limit)])
		}

		status, resp, fault := s.answer(c, &rec)
		if fault == "hang" {
			<-r.Context().Done() // the client gives up: a timeout
			s.record(rec, 0, fault)
			return
		}
		for k, v := range c.header {
			w.Header()[k] = v
		}
		// Recorded before the answer goes out: a client that has its
		// answer finds its call among Calls (a test that resets the calls
		// next never sees a late one).
		s.record(rec, status, fault)
		if status == http.StatusNotModified || status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, resp)
	}
}

func (s *Sim) record(rec Call, status int, fault string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Status, rec.Fault, rec.At, rec.Wall = status, fault, s.clock.Now(), time.Now()
	s.calls = append(s.calls, rec)
}

// answer runs the checks and the handler; it returns the status, the body
// and the name of an injected fault if one answered.
func (s *Sim) answer(c *call, rec *Call) (int, any, string) {
	r := c.req
	// The contract: would GitHub accept this request at all?
	if s.contract != nil {
		params := map[string]string{}
		for _, a := range c.route.args {
			params[a] = r.PathValue(a)
		}
		clone := r.Clone(r.Context())
		clone.Body = io.NopCloser(bytes.NewReader(c.body))
		if bytes.Equal(bytes.TrimSpace(c.body), []byte("null")) {
			// GitHub treats a JSON null body as no body, although its
			// description says otherwise; ghinstallation sends one to
			// create installation tokens.
			clone.Body, clone.ContentLength = http.NoBody, 0
			clone.Header.Del("Content-Type")
		}
		if problems := s.contract.check(c.route.op, clone, params); len(problems) > 0 {
			s.mu.Lock()
			for _, p := range problems {
				s.violations = append(s.violations, Violation{Operation: c.route.op, Method: r.Method, Path: r.URL.Path, Problem: p})
			}
			s.mu.Unlock()
			st, body := fail(http.StatusUnprocessableEntity, "Invalid request.\n\n"+strings.Join(problems, "\n"))
			return st, body, ""
		}
	}

	s.mu.Lock()
	locked := true
	defer func() {
		if locked {
			s.mu.Unlock()
		}
	}()

	if st, body := s.authenticate(c); st != 0 {
		return st, body, ""
	}
	if c.inst != nil {
		rec.Installation = c.inst.ID
	}

	if f := s.matchFault(c); f != nil {
		switch {
		case f.Hang:
			s.mu.Unlock()
			locked = false
			return 0, nil, "hang"
		case f.Hold != nil:
			s.mu.Unlock()
			if f.Holding != nil {
				f.Holding <- struct{}{}
			}
			select {
			case <-f.Hold:
			case <-r.Context().Done():
			}
			s.mu.Lock()
		case f.Latency > 0 && f.Status == 0:
			s.mu.Unlock()
			time.Sleep(f.Latency)
			s.mu.Lock()
		case f.AfterEffect:
			c.run(rec) // GitHub acted, then the answer was lost
			st, body := s.faultResponse(c, f)
			return st, body, f.name()
		default:
			st, body := s.faultResponse(c, f)
			return st, body, f.name()
		}
	}

	if c.inst != nil {
		in := c.inst
		now := s.clock.Now()
		if !now.Before(in.rateReset) {
			in.rateUsed, in.rateReset = 0, now.Add(time.Hour)
		}
		if in.rateUsed >= in.rateLimit {
			s.rateHeaders(c)
			st, body := fail(http.StatusForbidden, fmt.Sprintf("API rate limit exceeded for installation ID %d.", in.ID))
			return st, body, "rate_limit"
		}
	}
	st, body := c.run(rec)
	return st, body, ""
}

// run executes the handler (lock held), then applies conditional requests
// and rate limit accounting.
func (c *call) run(rec *Call) (int, any) {
	s := c.s
	if c.repo == nil && c.route.auth == authInstallation {
		return notFound()
	}
	status, body := c.route.h(c)
	if c.req.Method == http.MethodGet && status == http.StatusOK {
		b, _ := json.Marshal(body)
		sum := sha256.Sum256(b)
		etag := `W/"` + hex.EncodeToString(sum[:20]) + `"`
		c.header.Set("ETag", etag)
		c.header.Set("Cache-Control", "private, max-age=60, s-maxage=60")
		c.header.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
		if match := c.req.Header.Get("If-None-Match"); match != "" && match == etag {
			rec.Conditional = true
			s.rateHeaders(c)
			return http.StatusNotModified, nil
		}
		if c.inst != nil {
			key := fmt.Sprintf("%d %s", c.inst.ID, c.req.URL.RequestURI())
			rec.Unchanged = s.lastETag[key] == etag
			s.lastETag[key] = etag
		}
	}
	if c.inst != nil {
		c.inst.rateUsed++
		rec.Charged = true
	}
	s.rateHeaders(c)
	return status, body
}

func (s *Sim) rateHeaders(c *call) {
	c.header.Set("X-GitHub-Media-Type", "github.v3; format=json")
	c.header.Set("X-GitHub-Request-Id", strings.ToUpper(randomHex(8)))
	if c.inst == nil {
		return
	}
	in := c.inst
	c.header.Set("X-RateLimit-Limit", strconv.Itoa(in.rateLimit))
	c.header.Set("X-RateLimit-Remaining", strconv.Itoa(max(in.rateLimit-in.rateUsed, 0)))
	c.header.Set("X-RateLimit-Used", strconv.Itoa(in.rateUsed))
	c.header.Set("X-RateLimit-Reset", strconv.FormatInt(in.rateReset.Unix(), 10))
	c.header.Set("X-RateLimit-Resource", "core")
}

// authenticate resolves the credentials (lock held). It returns a non-zero
// status when the request must be refused.
func (s *Sim) authenticate(c *call) (int, any) {
	auth := c.req.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(auth, " ")
	switch c.route.auth {
	case authNone:
		return 0, nil
	case authApp:
		if !strings.EqualFold(scheme, "Bearer") {
			return fail(http.StatusUnauthorized, "A JSON web token could not be decoded")
		}
		app, problem := s.verifyJWT(cred)
		if problem != "" {
			return fail(http.StatusUnauthorized, problem)
		}
		c.app = app
		return 0, nil
	}
	tok, ok := s.tokens[cred]
	if !ok || (!strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "Bearer")) || time.Now().After(tok.expires) {
		return fail(http.StatusUnauthorized, "Bad credentials")
	}
	c.inst, c.app = tok.install, tok.install.App
	if c.route.auth == authOrg {
		if c.route.perm != "" && !c.app.can(c.route.perm) {
			return fail(http.StatusForbidden, "Resource not accessible by integration")
		}
		return 0, nil
	}
	full := c.param("owner") + "/" + c.param("repo")
	repo, ok := c.inst.Repos[full]
	if !ok {
		// Outside the installation: GitHub does not reveal it exists.
		return notFound()
	}
	c.repo = repo
	if c.route.perm != "" {
		allowed := false
		for _, p := range strings.Split(c.route.perm, "|") {
			if c.app.can(p) {
				allowed = true
			}
		}
		if !allowed {
			return fail(http.StatusForbidden, "Resource not accessible by integration")
		}
	}
	return 0, nil
}

// verifyJWT checks an app JWT the way GitHub does: RS256, signed by the
// app's key, issued by the app's ID, not expired, at most ten minutes long.
// It returns the app, or GitHub's message for the refusal.
func (s *Sim) verifyJWT(raw string) (*App, string) {
	var claims jwt.RegisteredClaims
	var app *App
	tok, err := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodRS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		id, err := strconv.ParseInt(claims.Issuer, 10, 64)
		if err != nil {
			return nil, errors.New("the issuer (iss) must be the app's ID")
		}
		var ok bool
		if app, ok = s.apps[id]; !ok {
			return nil, errors.New("no such app")
		}
		return app.public, nil
	})
	if err != nil || !tok.Valid {
		return nil, fmt.Sprintf("A JSON web token could not be decoded (%v)", err)
	}
	if claims.ExpiresAt == nil || claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 11*time.Minute {
		return nil, "Expiration time' claim ('exp') is too far in the future"
	}
	return app, ""
}

// page cuts a list per GitHub's pagination (page, per_page) and sets the
// Link header.
func (c *call) page(items []any, perPageDefault, perPageMax int) []any {
	per := perPageDefault
	if v, err := strconv.Atoi(c.query("per_page")); err == nil && v > 0 {
		per = min(v, perPageMax)
	}
	p := 1
	if v, err := strconv.Atoi(c.query("page")); err == nil && v > 0 {
		p = v
	}
	last := max((len(items)+per-1)/per, 1)
	link := func(n int, rel string) string {
		u := *c.req.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(per))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s%s>; rel="%s"`, strings.TrimSuffix(c.s.srv.URL, "/"), u.RequestURI(), rel)
	}
	var links []string
	if p < last {
		links = append(links, link(p+1, "next"), link(last, "last"))
	}
	if p > 1 {
		links = append(links, link(1, "first"), link(p-1, "prev"))
	}
	if len(links) > 0 {
		c.header.Set("Link", strings.Join(links, ", "))
	}
	start := (p - 1) * per
	if start >= len(items) {
		return []any{}
	}
	return items[start:min(start+per, len(items))]
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
