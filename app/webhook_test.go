package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/palantir/go-githubapp/githubapp"
)

// keeper is a handler with a door: it answers at the door the deliveries
// that say "skip", queues the others and keeps the payloads it handles.
type keeper struct {
	mu       sync.Mutex
	payloads []string
	release  chan struct{}
}

func (k *keeper) Handles() []string { return []string{"push"} }

func (k *keeper) AtDoor(_ context.Context, _ string, payload []byte) Admission {
	return Admission{Skip: bytes.Contains(payload, []byte(`"skip":true`)), Lane: Interactive}
}

func (k *keeper) Handle(_ context.Context, _, _ string, payload []byte) error {
	if k.release != nil {
		<-k.release
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.payloads = append(k.payloads, string(payload))
	return nil
}

// A delivery is read into a reused buffer: the one queued keeps its own
// payload while the deliveries after it, answered at the door, reuse the
// buffer it was read into.
func TestQueuedPayloadOutlivesItsBuffer(t *testing.T) {
	k := &keeper{release: make(chan struct{})}
	s := newTestServer(t, testConfig(t), k)
	body := func(skip bool, fill byte) []byte {
		return fmt.Appendf(nil, `{"skip":%v,"fill":"%s"}`, skip, bytes.Repeat([]byte{fill}, 4000))
	}
	queued := body(false, 'a')
	if w := deliver(t, s.Handler(), "push", "queued", queued, sign(queued, secret)); w.Code != http.StatusOK {
		t.Fatalf("queued delivery: status %d (%s)", w.Code, w.Body)
	}
	for i := range 50 {
		b := body(true, byte('b'+i%20))
		if w := deliver(t, s.Handler(), "push", fmt.Sprint("skipped-", i), b, sign(b, secret)); w.Code != http.StatusOK {
			t.Fatalf("skipped delivery: status %d (%s)", w.Code, w.Body)
		}
	}
	close(k.release)
	waitIdle(t, s)
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.payloads) != 1 || k.payloads[0] != string(queued) {
		t.Fatalf("the handler got %d payloads; the first starts %.40q, want the queued delivery's", len(k.payloads), k.payloads)
	}
}

// Bodies the reused buffer does not take (form-encoded, of undeclared
// length, larger than a buffer, shorter than declared) take go-github's
// own reading, with the same verdicts.
func TestWebhookBodiesOfEveryShape(t *testing.T) {
	k := &keeper{}
	s := newTestServer(t, testConfig(t), k)
	json := []byte(`{"skip":false,"n":1}`)
	form := []byte("payload=" + url.QueryEscape(string(json)))
	large := fmt.Appendf(nil, `{"skip":false,"fill":"%s"}`, strings.Repeat("x", pooledBody))
	sha1Sig := func(b []byte) string {
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write(b)
		return "sha1=" + hex.EncodeToString(mac.Sum(nil))
	}
	for _, tc := range []struct {
		name        string
		body        []byte
		contentType string
		length      int64 // 0: the body's; -1: undeclared; more: a short body
		header      string
		sig         string
		want        int
		kept        string
	}{
		{"json", json, "application/json", 0, "X-Hub-Signature-256", sign(json, secret), 200, string(json)},
		{"json, SHA-1 signature only", json, "application/json", 0, "X-Hub-Signature", sha1Sig(json), 200, string(json)},
		{"json, SHA-1 signature of another body", json, "application/json", 0, "X-Hub-Signature", sha1Sig(form), 400, ""},
		{"form-encoded", form, "application/x-www-form-urlencoded", 0, "X-Hub-Signature-256", sign(form, secret), 200, string(json)},
		{"undeclared length", json, "application/json", -1, "X-Hub-Signature-256", sign(json, secret), 200, string(json)},
		{"larger than a buffer", large, "application/json", 0, "X-Hub-Signature-256", sign(large, secret), 200, string(large)},
		{"shorter than declared", json, "application/json", int64(len(json) + 10), "X-Hub-Signature-256", sign(json, secret), 400, ""},
		{"another content type", json, "text/plain", 0, "X-Hub-Signature-256", sign(json, secret), 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k.mu.Lock()
			k.payloads = nil
			k.mu.Unlock()
			req := httptest.NewRequest(http.MethodPost, githubapp.DefaultWebhookRoute, io.NopCloser(bytes.NewReader(tc.body)))
			req.ContentLength = int64(len(tc.body))
			if tc.length != 0 {
				req.ContentLength = tc.length
			}
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", tc.name)
			req.Header.Set(tc.header, tc.sig)
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
			waitIdle(t, s)
			k.mu.Lock()
			defer k.mu.Unlock()
			switch {
			case tc.kept == "" && len(k.payloads) != 0:
				t.Errorf("a refused delivery was handled")
			case tc.kept != "" && (len(k.payloads) != 1 || k.payloads[0] != tc.kept):
				t.Errorf("handled %d payloads, want the delivery's", len(k.payloads))
			}
		})
	}
}

// What needs no work costs next to nothing: the body's buffer is reused.
func BenchmarkWebhookSkipped(b *testing.B) {
	s := newTestServer(b, testConfig(b), &keeper{})
	body := fmt.Appendf(nil, `{"skip":true,"fill":"%s"}`, strings.Repeat("x", 12000))
	sig := sign(body, secret)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, githubapp.DefaultWebhookRoute, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "d")
		req.Header.Set("X-Hub-Signature-256", sig)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// judge is a door that cannot judge a delivery until it has "read" what
// it needs: until then it queues deliveries and asks to be asked again.
type judge struct {
	keeper
	known   chan struct{} // closed once the door can judge
	started chan struct{}
}

func (j *judge) AtDoor(ctx context.Context, event string, payload []byte) Admission {
	select {
	case <-j.known:
		return j.keeper.AtDoor(ctx, event, payload)
	default:
		return Admission{Lane: Interactive, AskAgain: true}
	}
}

func (j *judge) Handle(ctx context.Context, event, delivery string, payload []byte) error {
	j.started <- struct{}{}
	return j.keeper.Handle(ctx, event, delivery, payload)
}

// A delivery queued because the door could not judge it is judged again
// before its handler runs: what turns out to need no work is dropped
// (counted as a "skipped" run), the rest is handled.
func TestQueuedDeliveryIsAskedAgain(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.PerInstallation = 1
	j := &judge{keeper: keeper{release: make(chan struct{})}, known: make(chan struct{}), started: make(chan struct{}, 10)}
	s := newTestServer(t, cfg, j)
	post := func(id string, skip bool) {
		b := fmt.Appendf(nil, `{"installation":{"id":7},"skip":%v,"id":%q}`, skip, id)
		if w := deliver(t, s.Handler(), "push", id, b, sign(b, secret)); w.Code != http.StatusOK {
			t.Fatalf("%s: status %d (%s)", id, w.Code, w.Body)
		}
	}
	post("first", false) // runs, and holds the installation's one place
	<-j.started
	post("irrelevant", true)
	post("relevant", false)
	close(j.known) // the first event has read what the door needed
	close(j.release)
	waitIdle(t, s)
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.payloads) != 2 || !strings.Contains(j.payloads[1], `"relevant"`) {
		t.Errorf("handled %q, want the first and the relevant delivery", j.payloads)
	}
	if got := metricValue(t, s, `hotfixbot_handler_runs_total{event="push",outcome="skipped"}`); got != "1" {
		t.Errorf("skipped runs = %q, want 1", got)
	}
}
