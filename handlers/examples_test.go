package handlers

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// quietGitHub answers what a handler may read about a repository it does
// not know (no policy file, no pull requests, no deployments) and records
// every write: a recorded example must never make the bot write.
type quietGitHub struct {
	mu       sync.Mutex
	writes   []string
	requests int
}

// RoundTrip counts the bot's requests as it sends them: a request the bot
// gave up on (a read cancelled when its event ended early) may reach the
// server after the event is done, but it was sent during the event.
func (g *quietGitHub) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	g.requests++
	if r.Method != http.MethodGet && !strings.HasSuffix(r.URL.Path, "/access_tokens") {
		g.writes = append(g.writes, r.Method+" "+r.URL.Path)
	}
	g.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (g *quietGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodGet {
		if strings.HasSuffix(r.URL.Path, "/access_tokens") {
			w.WriteHeader(http.StatusCreated)
			_, _ = fmt.Fprintf(w, `{"token":"ghs_test","expires_at":%q}`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
			return
		}
		w.WriteHeader(http.StatusForbidden)
		return
	}
	switch last := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]; {
	case strings.Contains(r.URL.Path, "/contents/"):
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"Not Found"}`))
	case last == "pulls" || last == "deployments" || last == "tags" || last == "events" || last == "comments" || last == "branches":
		_, _ = w.Write([]byte("[]"))
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"Not Found"}`))
	}
}

const quietSecret = "examples-secret"

// quietServer is the real server against a quietGitHub.
func quietServer(t testing.TB) (*app.Server, *quietGitHub) {
	gh := &quietGitHub{}
	return quietServerVia(t, gh, gh, nil), gh
}

// quietServerVia is the real server against gh, its requests sent
// through transport, on clk (nil: the real clock).
func quietServerVia(t testing.TB, gh *quietGitHub, transport http.RoundTripper, clk app.Clock) *app.Server {
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	cfg := app.Defaults()
	cfg.GitHub.V3APIURL = api.URL + "/"
	cfg.GitHub.App.IntegrationID = appID
	cfg.GitHub.App.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	cfg.GitHub.App.WebhookSecret = quietSecret
	cfg.Redelivery.Interval = 0
	srv, err := app.New(cfg, app.Options{Logger: zerolog.New(io.Discard), Handlers: New, Clock: clk,
		Identity: app.KnownIdentity(appID, "hotfix-bot"), Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	return srv
}

// recordedEvent is one event's examples in GitHub's recorded webhooks.
type recordedEvent struct {
	Name     string            `json:"name"`
	Examples []json.RawMessage `json:"examples"`
}

// recordedExamples are GitHub's recorded webhook examples
// (internal/fixtures/webhooks/all-examples.json.gz).
func recordedExamples(t testing.TB) []recordedEvent {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "internal", "fixtures", "webhooks", "all-examples.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var events []recordedEvent
	if err := json.NewDecoder(zr).Decode(&events); err != nil {
		t.Fatal(err)
	}
	return events
}

// deliver posts a correctly signed delivery to the server.
func deliver(srv *app.Server, event, id string, body []byte) *httptest.ResponseRecorder {
	mac := hmac.New(sha256.New, []byte(quietSecret))
	mac.Write(body)
	req := httptest.NewRequest(http.MethodPost, "/api/github/hook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, req)
	return w
}

// Every one of GitHub's recorded webhook examples (internal/fixtures/webhooks/
// all-examples.json.gz, @octokit/webhooks-examples), delivered through the
// real server, signed, under its own event name: each is accepted, and
// handled or ignored without an error and without a write.
func TestEveryRecordedWebhookIsHandledOrIgnored(t *testing.T) {
	events := recordedExamples(t)
	srv, gh := quietServer(t)
	total := 0
	for _, ev := range events {
		for i, ex := range ev.Examples {
			total++
			w := deliver(srv, ev.Name, fmt.Sprintf("%s-%d", ev.Name, i), ex)
			if w.Code/100 != 2 {
				t.Errorf("%s example %d: status %d %s", ev.Name, i, w.Code, w.Body)
			}
		}
	}
	<-srv.Idle()
	if total < 300 {
		t.Fatalf("only %d examples", total)
	}
	for _, outcome := range []string{"error", "panic", "timeout"} {
		for _, ev := range events {
			if n := testutil.ToFloat64(srv.Metrics().HandlerRuns.WithLabelValues(ev.Name, outcome)); n != 0 {
				t.Errorf("%s: %v handler runs ended in %s", ev.Name, n, outcome)
			}
		}
	}
	// Each is answered at the door (it needs no work) or handled; those
	// that need no work are most of them.
	for _, ev := range events {
		switch ev.Name {
		case "push", "pull_request", "issue_comment", "deployment_status", "check_run", "check_suite":
		default:
			continue
		}
		skipped := testutil.ToFloat64(srv.Metrics().Deliveries.WithLabelValues(ev.Name, app.OutcomeSkipped))
		handled := testutil.ToFloat64(srv.Metrics().HandlerRuns.WithLabelValues(ev.Name, "success"))
		if int(skipped+handled) != len(ev.Examples) {
			t.Errorf("%s: %v skipped at the door and %v handled of %d examples", ev.Name, skipped, handled, len(ev.Examples))
		}
		if skipped == 0 {
			t.Errorf("%s: no example was answered at the door", ev.Name)
		}
	}
	if len(gh.writes) != 0 {
		t.Errorf("recorded examples made the bot write: %v", gh.writes)
	}
}
