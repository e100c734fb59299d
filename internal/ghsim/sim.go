// Package ghsim is an in-process GitHub: an HTTP server speaking the parts
// of GitHub's REST API v3 that hotfix-bot uses, backed by real git
// repositories, with GitHub App authentication (JWTs verified against the
// app's public key, installation tokens), signed webhook deliveries built
// from GitHub's own example payloads, a contract check of every request
// against GitHub's OpenAPI description, fault injection, and accounting of
// every call.
//
// Scenarios drive it through Go methods that stand for people (push,
// open a pull request, label, comment, report a deployment); the bot
// drives it through HTTP like it drives GitHub. Nothing here imports the
// bot's packages.
package ghsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a simulator.
type Options struct {
	// Start is the simulated time at creation (default 2026-11-23 03:00 UTC:
	// the on-call engineer's hour).
	Start time.Time
	// Latency is added to every API call, to measure the bot's critical
	// path in benchmarks. Tests leave it zero.
	Latency time.Duration
	// NoContract turns the OpenAPI request check off (never in tests).
	NoContract bool
	// APIPrefix serves the REST API under a path, as GitHub Enterprise
	// Server does ("/api/v3"); web pages (html_url links, the app
	// manifest flow) stay at the root, and requests are checked against
	// GitHub Enterprise Server 3.19's own API description. "" is
	// github.com's layout and description.
	APIPrefix string
	// RecordBodies is how much of each write's body Calls keeps (default
	// 1024 bytes).
	RecordBodies int
}

// Sim is a running simulator. All its state is guarded by one lock.
type Sim struct {
	latency atomic.Int64 // per-call delay, ns
	// serving counts API calls being answered (WaitCalls).
	serving atomic.Int64

	mu    sync.Mutex
	clock *Clock
	opts  Options
	srv   *httptest.Server
	dir   string

	nextID     int64
	users      map[string]*User
	emails     map[string]*User // verified email (lower case) → account
	apps       map[int64]*App
	installs   map[int64]*Installation
	tokens     map[string]*token
	repos      map[string]*Repo
	faults     []*Fault
	calls      []Call
	violations []Violation
	contract   *contract
	lastETag   map[string]string            // installation + URL → last answer's ETag
	teams      map[string]map[string]string // "org/team" → login → membership state

	outbox    []*Delivery
	postponed []*Delivery // taken out of the outbox by Postpone
	delivered []*Delivery

	webUser   string                 // signed in to the web pages
	manifests map[string]*pendingApp // manifest code → app to create
}

// URL is the simulator's API root (with a trailing slash), for
// GITHUB_V3_API_URL.
func (s *Sim) URL() string { return s.srv.URL + s.opts.APIPrefix + "/" }

// WebURL is the simulator's web root (no trailing slash), for
// GITHUB_WEB_URL: where html_url links and the app registration pages are.
func (s *Sim) WebURL() string { return s.srv.URL }

// Clock is the simulator's time, shared with the bot under test.
func (s *Sim) Clock() *Clock { return s.clock }

// WaitCalls waits until no API call is being answered: a call a crashed
// client left behind (a held write, say) has then taken effect or not.
func (s *Sim) WaitCalls(ctx context.Context) error {
	for s.serving.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// New starts a simulator. Close it when done.
func New(opts Options) (*Sim, error) {
	if err := checkGit(); err != nil {
		return nil, err
	}
	opts.APIPrefix = strings.TrimSuffix(opts.APIPrefix, "/")
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	}
	dir, err := os.MkdirTemp(scratchRoot(), "ghsim-")
	if err != nil {
		return nil, err
	}
	s := &Sim{
		clock:    &Clock{now: opts.Start},
		opts:     opts,
		dir:      dir,
		nextID:   1000,
		users:    map[string]*User{},
		emails:   map[string]*User{},
		apps:     map[int64]*App{},
		installs: map[int64]*Installation{},
		tokens:   map[string]*token{},
		repos:    map[string]*Repo{},
		lastETag: map[string]string{},
	}
	if !opts.NoContract {
		file := "github-subset.json"
		if opts.APIPrefix != "" {
			file = "ghes-3.19-subset.json" // GitHub Enterprise Server's own description
		}
		c, err := loadContract(file)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.contract = c
	}
	s.latency.Store(int64(opts.Latency))
	s.srv = httptest.NewServer(s.routes())
	return s, nil
}

// SetLatency changes the delay added to every API call.
func (s *Sim) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Close stops the server and removes the repositories.
func (s *Sim) Close() {
	s.srv.Close()
	os.RemoveAll(s.dir)
}

func (s *Sim) newID() int64 {
	s.nextID++
	return s.nextID
}

// Clock is simulated time. It moves only when told: Advance, Sleep (the bot
// waiting for a Retry-After moves it instead of sleeping), and one second
// per state change, so that every event has a distinct, ordered timestamp.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves simulated time forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Sleep advances simulated time by d at once; it satisfies the bot's Clock.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 { // a time already past needs no wait; time never runs back
		c.Advance(d)
	}
	return nil
}

// tick advances by a second and returns the new time.
func (c *Clock) tick() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// User is a GitHub account: a person, or an app's bot user.
type User struct {
	ID    int64
	Login string
	Type  string // "User", "Bot" or "Organization"
}

// User returns the person with this login, creating them on first use.
func (s *Sim) User(login string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked(login, "User")
}

func (s *Sim) userLocked(login, typ string) *User {
	if u, ok := s.users[login]; ok {
		return u
	}
	u := &User{ID: s.newID(), Login: login, Type: typ}
	s.users[login] = u
	return u
}

func (u *User) identity(when time.Time) Identity {
	return Identity{Name: u.Login, Email: u.Login + "@users.noreply.github.com", When: when}
}

// AddEmail verifies an email for a person's account: GitHub then maps
// commits carrying it to them (author.login, committer.login).
func (s *Sim) AddEmail(login, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emails[strings.ToLower(email)] = s.userLocked(login, "User")
}

// NoreplyEmail is the account's `ID+login@users.noreply.github.com`
// address, the one GitHub gives people who keep their email private.
func (u *User) NoreplyEmail() string {
	return fmt.Sprintf("%d+%s@users.noreply.github.com", u.ID, u.Login)
}

// App is a registered GitHub App.
type App struct {
	ID            int64
	Slug          string
	Name          string
	PrivateKeyPEM string
	WebhookSecret string
	// Permissions granted to installations, e.g. {"checks": "write"}.
	Permissions map[string]string
	// Events the app is subscribed to.
	Events []string
	Bot    *User

	public  *rsa.PublicKey
	targets []string
	next    int // round-robin over targets
	// Duplicate delivers every event to every target (two replicas behind
	// a broken load balancer), instead of round-robin.
	Duplicate bool
}

// AppOptions describe an app to register.
type AppOptions struct {
	Slug        string
	Permissions map[string]string
	Events      []string
}

var (
	keyOnce sync.Once
	appKey  *rsa.PrivateKey
	keyErr  error
)

// RegisterApp creates a GitHub App with a fresh webhook secret and a
// private key (one RSA key per process: generating them is slow).
func (s *Sim) RegisterApp(o AppOptions) (*App, error) {
	keyOnce.Do(func() { appKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if keyErr != nil {
		return nil, keyErr
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &App{
		ID:            s.newID(),
		Slug:          o.Slug,
		Name:          o.Slug,
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey)})),
		WebhookSecret: hex.EncodeToString(secret),
		Permissions:   o.Permissions,
		Events:        o.Events,
		public:        &appKey.PublicKey,
	}
	a.Bot = s.userLocked(o.Slug+"[bot]", "Bot")
	s.apps[a.ID] = a
	return a, nil
}

// appKeyPEM is the private key every simulated app shares, PEM-encoded.
func (s *Sim) appKeyPEM() string {
	keyOnce.Do(func() { appKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if keyErr != nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey)}))
}

// AddWebhookTarget adds a URL that receives the app's deliveries (one per
// bot replica; deliveries round-robin unless Duplicate is set).
func (s *Sim) AddWebhookTarget(a *App, url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.targets = append(a.targets, url)
}

// WebhookTargets are where the app's webhook posts (none while it is off).
func (s *Sim) WebhookTargets(a *App) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), a.targets...)
}

// SetWebhookTargets replaces the app's targets (replicas restarted).
func (s *Sim) SetWebhookTargets(a *App, urls ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.targets = append([]string(nil), urls...)
}

// SetDuplicateDelivery makes every delivery go to every target.
func (s *Sim) SetDuplicateDelivery(a *App, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.Duplicate = on
}

func (a *App) subscribed(event string) bool {
	for _, e := range a.Events {
		if e == event {
			return true
		}
	}
	return false
}

func (a *App) can(perm string) bool {
	scope, level, _ := strings.Cut(perm, ":")
	have := a.Permissions[scope]
	return have == "write" || (have == "read" && level == "read") || (have == "admin")
}

// Installation is an app installed on some repositories.
type Installation struct {
	ID      int64
	App     *App
	Account *User
	Repos   map[string]*Repo

	rateLimit int
	rateUsed  int
	rateReset time.Time
}

// Install installs the app on repositories of one owner.
func (s *Sim) Install(a *App, repos ...*Repo) *Installation {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &Installation{ID: s.newID(), App: a, Repos: map[string]*Repo{}, rateLimit: 5000}
	for _, r := range repos {
		in.Repos[r.FullName()] = r
		in.Account = r.Owner
	}
	in.rateReset = s.clock.Now().Add(time.Hour)
	s.installs[in.ID] = in
	return in
}

// RateLimit reports an installation's primary rate limit: used and left.
func (s *Sim) RateLimit(in *Installation) (used, remaining int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return in.rateUsed, in.rateLimit - in.rateUsed
}

// ExhaustRateLimit spends an installation's primary rate limit; it resets
// after resetIn of simulated time.
func (s *Sim) ExhaustRateLimit(in *Installation, resetIn time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in.rateUsed = in.rateLimit
	in.rateReset = s.clock.Now().Add(resetIn)
}

type token struct {
	value   string
	install *Installation
	expires time.Time
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Sim) errorf(format string, args ...any) error {
	return fmt.Errorf("ghsim: "+format, args...)
}

// Bot returns another app's bot user (Renovate, GitHub Actions...).
func (s *Sim) Bot(login string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked(login, "Bot")
}

// InstallationToken mints an installation token without the JWT exchange,
// for tests that drive the API directly (a facts or handlers test with a
// plain go-github client); it works exactly like one the app asked for.
func (s *Sim) InstallationToken(in *Installation) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &token{value: "ghs_" + randomHex(18), install: in, expires: time.Now().Add(time.Hour)}
	s.tokens[t.value] = t
	return t.value
}
