package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

const secret = "s3cret-s3cret-s3cret-s3cret-s3cret" // minimalEnv's

func sign(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "fixtures", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder is an event handler that records what it is given and can be
// told to block, panic or fail.
type recorder struct {
	events  []string
	mu      sync.Mutex
	calls   chan string
	release chan struct{} // when non-nil, Handle waits for it
	started chan struct{}
	panics  bool
	sawDead atomic.Bool
}

func newRecorder() *recorder {
	return &recorder{calls: make(chan string, 100), started: make(chan struct{}, 100)}
}

func (r *recorder) Handles() []string { return []string{"push", "pull_request", "ping"} }

func (r *recorder) Handle(ctx context.Context, event, delivery string, _ []byte) error {
	r.started <- struct{}{}
	if r.release != nil {
		select {
		case <-r.release:
		case <-ctx.Done():
			r.sawDead.Store(true)
			return ctx.Err()
		}
	}
	if r.panics {
		panic("boom")
	}
	r.mu.Lock()
	r.events = append(r.events, event+"/"+delivery)
	r.mu.Unlock()
	r.calls <- event + "/" + delivery
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func testConfig(t testing.TB) Config {
	c, err := LoadConfig("", env(minimalEnv(t)))
	if err != nil {
		t.Fatal(err)
	}
	c.Redelivery.Interval = 0 // tests that step the clock would see the sweep's waits
	return c
}

func newTestServer(t testing.TB, cfg Config, h githubapp.EventHandler) *Server {
	t.Helper()
	buf := &lockedBuffer{}
	s, err := New(cfg, Options{
		Logger:   zerolog.New(buf),
		Identity: KnownIdentity(cfg.GitHub.App.IntegrationID, "hotfix-bot"),
		Handlers: func(Deps) []githubapp.EventHandler {
			if h == nil {
				return nil
			}
			return []githubapp.EventHandler{h}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(buf.String(), secret) || strings.Contains(buf.String(), "PRIVATE KEY") {
			t.Errorf("log leaks a secret:\n%s", buf.String())
		}
	})
	return s
}

// lockedBuffer collects log output written from many goroutines; the
// queue's error callback may still be logging when a test ends.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func deliver(t *testing.T, h http.Handler, event, id string, body []byte, signature string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, githubapp.DefaultWebhookRoute, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func waitIdle(t *testing.T, s *Server) {
	t.Helper()
	select {
	case <-s.Idle():
	case <-time.After(10 * time.Second):
		t.Fatal("server never went idle")
	}
}

func TestWebhookSignatures(t *testing.T) {
	rec := newRecorder()
	s := newTestServer(t, testConfig(t), rec)
	body := payload(t, "push.json")

	tests := []struct {
		name       string
		event      string
		signature  string
		wantStatus int
		dispatched bool
	}{
		{"valid", "push", sign(body, secret), http.StatusOK, true},
		{"wrong secret", "push", sign(body, "guess"), http.StatusBadRequest, false},
		{"missing signature", "push", "", http.StatusBadRequest, false},
		{"garbage signature", "push", "sha256=zz", http.StatusBadRequest, false},
		{"unknown event acknowledged and ignored", "star", sign(body, secret), http.StatusAccepted, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.count()
			w := deliver(t, s.Handler(), tt.event, fmt.Sprintf("d-%d", i), body, tt.signature)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.wantStatus, w.Body)
			}
			waitIdle(t, s)
			if got := rec.count() - before; (got == 1) != tt.dispatched {
				t.Errorf("dispatched %d events, want dispatched=%v", got, tt.dispatched)
			}
		})
	}

	// A tampered body with the original signature is rejected.
	tampered := bytes.Replace(body, []byte(`"deleted": false`), []byte(`"deleted": true`), 1)
	if w := deliver(t, s.Handler(), "push", "tampered", tampered, sign(body, secret)); w.Code != http.StatusBadRequest {
		t.Errorf("tampered body: status %d, want 400", w.Code)
	}
}

func TestRealPingPayloadAccepted(t *testing.T) {
	s := newTestServer(t, testConfig(t), nil) // no handler for ping
	body := payload(t, "ping.json")
	w := deliver(t, s.Handler(), "ping", "ping-1", body, sign(body, secret))
	if w.Code != http.StatusOK {
		t.Fatalf("ping: status %d, want 200", w.Code)
	}
}

func TestBodySizeCap(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.MaxBodyBytes = 4096
	rec := newRecorder()
	s := newTestServer(t, cfg, rec)
	big := []byte(`{"zen":"` + strings.Repeat("x", 5000) + `"}`)

	if w := deliver(t, s.Handler(), "push", "big", big, sign(big, secret)); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared length over cap: status %d, want 413", w.Code)
	}

	// Without a declared length, the cap applies while reading.
	req := httptest.NewRequest(http.MethodPost, githubapp.DefaultWebhookRoute, io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", sign(big, secret))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed body over cap: status %d, want 413", w.Code)
	}
	waitIdle(t, s)
	if rec.count() != 0 {
		t.Error("an oversized body was dispatched")
	}
	if got := metricValue(t, s, `hotfixbot_webhook_deliveries_total{event="-",outcome="too_large"}`); got != "2" {
		t.Errorf("too_large deliveries = %q, want 2", got)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	s := newTestServer(t, testConfig(t), newRecorder())
	body := payload(t, "push.json")
	deliver(t, s.Handler(), "push", "m-1", body, sign(body, secret))
	deliver(t, s.Handler(), "push", "m-2", body, "sha256=00")
	waitIdle(t, s)

	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	if w := get("/healthz"); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Errorf("/healthz = %d %q", w.Code, w.Body)
	}
	w := get("/readyz")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"app":"hotfix-bot"`) {
		t.Errorf("/readyz = %d %q", w.Code, w.Body)
	}
	for _, want := range []string{
		`hotfixbot_webhook_deliveries_total{event="push",outcome="queued"} 1`,
		`hotfixbot_webhook_deliveries_total{event="-",outcome="invalid"} 1`,
		`hotfixbot_handler_runs_total{event="push",outcome="success"} 1`,
		`hotfixbot_handler_duration_seconds_count{event="push"} 1`,
		`hotfixbot_queue_depth 0`,
		`hotfixbot_queue_running 0`,
		`hotfixbot_queue_wait_seconds_count 1`,
	} {
		if !strings.Contains(get("/metrics").Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func metricValue(t *testing.T, s *Server, series string) string {
	t.Helper()
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func TestQueueFullIsDroppedAndCounted(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.Size = 1
	cfg.Queue.Workers = 1
	rec := newRecorder()
	rec.release = make(chan struct{})
	s := newTestServer(t, cfg, rec)
	body := payload(t, "push.json")

	if w := deliver(t, s.Handler(), "push", "q-1", body, sign(body, secret)); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	<-rec.started // the worker holds the first event
	if w := deliver(t, s.Handler(), "push", "q-2", body, sign(body, secret)); w.Code != 200 {
		t.Fatalf("second (queued): %d", w.Code)
	}
	if w := deliver(t, s.Handler(), "push", "q-3", body, sign(body, secret)); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("third with a full queue: status %d, want 503", w.Code)
	}
	close(rec.release)
	waitIdle(t, s)
	if rec.count() != 2 {
		t.Errorf("handled %d events, want 2", rec.count())
	}
	if got := metricValue(t, s, `hotfixbot_webhook_deliveries_total{event="push",outcome="dropped"}`); got != "1" {
		t.Errorf("dropped deliveries metric = %q, want 1", got)
	}
	if got := metricValue(t, s, `hotfixbot_queue_depth`); got != "0" {
		t.Errorf("queue depth after the drain = %q, want 0", got)
	}
}

func TestHandlerPanicAndTimeoutBecomeErrors(t *testing.T) {
	cfg := testConfig(t)
	rec := newRecorder()
	rec.panics = true
	s := newTestServer(t, cfg, rec)
	body := payload(t, "push.json")
	deliver(t, s.Handler(), "push", "p-1", body, sign(body, secret))
	waitIdle(t, s)
	if got := metricValue(t, s, `hotfixbot_handler_runs_total{event="push",outcome="panic"}`); got != "1" {
		t.Errorf("panic outcome = %q, want 1", got)
	}

	cfg.HandlerTimeout = Duration(50 * time.Millisecond)
	slow := newRecorder()
	slow.release = make(chan struct{}) // never released: only the deadline ends it
	s = newTestServer(t, cfg, slow)
	deliver(t, s.Handler(), "push", "t-1", body, sign(body, secret))
	waitIdle(t, s)
	if !slow.sawDead.Load() {
		t.Error("the handler's context never hit its deadline")
	}
	if got := metricValue(t, s, `hotfixbot_handler_runs_total{event="push",outcome="timeout"}`); got != "1" {
		t.Errorf("timeout outcome = %q, want 1", got)
	}
}

func TestShutdownDrainsQueue(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.Workers = 1
	rec := newRecorder()
	rec.release = make(chan struct{})
	s := newTestServer(t, cfg, rec)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String() + githubapp.DefaultWebhookRoute
	body := payload(t, "push.json")
	for _, id := range []string{"s-1", "s-2"} {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", sign(body, secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	<-rec.started // s-1 running, s-2 queued

	cancel() // SIGTERM
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) before the queue drained", err)
	case <-time.After(50 * time.Millisecond):
		// Not proof by itself; the assertions below are.
	}
	// New deliveries are refused while draining.
	if w := deliver(t, s.Handler(), "push", "s-3", body, sign(body, secret)); w.Code != http.StatusServiceUnavailable {
		t.Errorf("delivery during shutdown: status %d, want 503", w.Code)
	}
	close(rec.release)
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the queue drained")
	}
	if got := rec.count(); got != 2 {
		t.Errorf("handled %d events before exit, want both queued events (2)", got)
	}
}

// fakeGitHub answers the app and installation endpoints the server uses
// at start-up, with ETags so repeated reads can be conditional.
type fakeGitHub struct {
	status      atomic.Int32 // for GET /app; 0 means 200
	conditional atomic.Int32 // 304s served
	userAgent   atomic.Value
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.userAgent.Store(r.Header.Get("User-Agent"))
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/app":
		if code := f.status.Load(); code != 0 {
			w.WriteHeader(int(code))
			_, _ = w.Write([]byte(`{"message":"Bad credentials"}`))
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 42, "slug": "hotfix-bot-test"})
	case r.Method == http.MethodPost && r.URL.Path == "/app/installations/1/access_tokens":
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": "ghs_test", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	case r.Method == http.MethodGet && r.URL.Path == "/repos/o/r":
		const etag = `"v1"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "private, max-age=60, s-maxage=60")
		w.Header().Set("X-RateLimit-Remaining", "4999")
		if r.Header.Get("If-None-Match") == etag {
			f.conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		// A large body, like a comparison: JSON decoding stops before EOF.
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 1, "name": "r", "full_name": "o/r", "description": strings.Repeat("x", 200_000)})
		_, _ = w.Write([]byte("\n\n"))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestReadinessFollowsGitHub(t *testing.T) {
	gh := &fakeGitHub{}
	gh.status.Store(http.StatusUnauthorized)
	srv := httptest.NewServer(gh)
	defer srv.Close()

	cfg := testConfig(t)
	cfg.GitHub.V3APIURL = srv.URL + "/"
	clock := newStepClock()
	s, err := New(cfg, Options{Logger: zerolog.Nop(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)

	clock.waitSleeper(t) // first attempt failed and is backing off
	ok, reason := s.Ready()
	if ok || !strings.Contains(reason, "GitHub rejected the app's credentials (401)") {
		t.Fatalf("Ready() = %v, %q; want not ready naming the credentials", ok, reason)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "credentials") {
		t.Errorf("/readyz while failing = %d %s", w.Code, w.Body)
	}

	gh.status.Store(0) // GitHub recovers
	clock.wake()
	deadline := time.After(10 * time.Second)
	for {
		if ok, _ := s.Ready(); ok {
			break
		}
		select {
		case <-deadline:
			t.Fatal("server never became ready")
		case <-time.After(time.Millisecond):
		}
	}
	if s.identity.Slug() != "hotfix-bot-test" {
		t.Errorf("slug = %q", s.identity.Slug())
	}
}

func TestUnreachableGitHubIsNotAStartupError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := testConfig(t)
	cfg.GitHub.V3APIURL = "http://" + addr + "/"
	clock := newStepClock()
	s, err := New(cfg, Options{Logger: zerolog.Nop(), Clock: clock})
	if err != nil {
		t.Fatalf("New with unreachable GitHub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	// The retry transport backs off first (a read that failed on the
	// network), then discovery gives up this round and reports.
	for i := 0; ; i++ {
		clock.waitSleeper(t)
		if _, reason := s.Ready(); strings.Contains(reason, "cannot reach GitHub") {
			break
		}
		if i == 10 {
			t.Fatal("discovery never reported GitHub unreachable")
		}
		clock.wake()
	}
	if ok, _ := s.Ready(); ok {
		t.Error("ready although GitHub is unreachable")
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != 200 {
		t.Errorf("/healthz while GitHub is unreachable = %d, want 200", w.Code)
	}
}

func TestRepeatedReadsAreConditional(t *testing.T) {
	gh := &fakeGitHub{}
	srv := httptest.NewServer(gh)
	defer srv.Close()
	cfg := testConfig(t)
	cfg.GitHub.V3APIURL = srv.URL + "/"
	s, err := New(cfg, Options{Logger: zerolog.Nop(), Identity: KnownIdentity(42, "x")})
	if err != nil {
		t.Fatal(err)
	}
	client, err := s.ClientCreator().NewInstallationClient(1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		repo, _, err := client.Repositories.Get(context.Background(), "o", "r")
		if err != nil || repo.GetFullName() != "o/r" {
			t.Fatalf("read %d: %v %v", i, repo, err)
		}
	}
	if got := gh.conditional.Load(); got != 2 {
		t.Errorf("conditional (304) answers = %d, want 2 of 3 reads", got)
	}
	if got := metricValue(t, s, "hotfixbot_github_requests_cached_total"); got != "2" {
		t.Errorf("cache hits metric = %q, want 2", got)
	}
	if got := metricValue(t, s, `hotfixbot_github_rate_remaining{installation="1"}`); got != "4999" {
		t.Errorf("rate remaining metric = %q, want 4999", got)
	}
	if got := gh.userAgent.Load(); got == nil || !strings.HasPrefix(got.(string), "hotfix-bot/"+Version) {
		t.Errorf("user agent = %v, want hotfix-bot/%s…", got, Version)
	}
}

// stepClock is a Clock whose Sleep blocks until the test wakes it.
type stepClock struct {
	sleepers chan chan struct{}
	asleep   chan struct{} // the sleeper taken by waitSleeper
}

func newStepClock() *stepClock { return &stepClock{sleepers: make(chan chan struct{}, 10)} }

func (c *stepClock) Now() time.Time { return time.Now() }

func (c *stepClock) Sleep(ctx context.Context, _ time.Duration) error {
	wake := make(chan struct{})
	c.sleepers <- wake
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitSleeper waits until something sleeps on the clock.
func (c *stepClock) waitSleeper(t *testing.T) {
	t.Helper()
	select {
	case c.asleep = <-c.sleepers:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing went to sleep")
	}
}

// wake ends the sleep waitSleeper saw.
func (c *stepClock) wake() { close(c.asleep) }
