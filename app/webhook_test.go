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
	"sync/atomic"
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
	sized := func(n int) []byte { // a body of exactly n bytes
		return fmt.Appendf(nil, `{"skip":false,"fill":"%s"}`, strings.Repeat("y", n-len(`{"skip":false,"fill":""}`)))
	}
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
		{"4 KiB", sized(4096), "application/json", 0, "X-Hub-Signature-256", sign(sized(4096), secret), 200, string(sized(4096))},
		{"one byte over 4 KiB", sized(4097), "application/json", 0, "X-Hub-Signature-256", sign(sized(4097), secret), 200, string(sized(4097))},
		{"64 KiB", sized(pooledBody), "application/json", 0, "X-Hub-Signature-256", sign(sized(pooledBody), secret), 200, string(sized(pooledBody))},
		{"larger than a buffer", large, "application/json", 0, "X-Hub-Signature-256", sign(large, secret), 200, string(large)},
		{"shorter than declared", json, "application/json", int64(len(json) + 10), "X-Hub-Signature-256", sign(json, secret), 400, ""},
		{"another content type", json, "text/plain", 0, "X-Hub-Signature-256", sign(json, secret), 400, ""},
		{"json with a charset, as a proxy may send it", json, "Application/JSON; charset=utf-8", 0, "X-Hub-Signature-256", sign(json, secret), 200, string(json)},
		{"no content type", json, "", 0, "X-Hub-Signature-256", sign(json, secret), 400, ""},
		{"empty body", []byte{}, "application/json", 0, "X-Hub-Signature-256", sign(nil, secret), 400, ""},
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

// A buffer holds the declared length and at most twice it (a request
// holds no more before it is verified than io.ReadAll would).
func TestBodyBufferSizes(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 4096, 4097, 8192, 20000, 32769, pooledBody} {
		buf, pool := bodyBuffer(n)
		if got := len(*buf); got < n || got > max(2*n, 4096) {
			t.Errorf("a body of %d bytes got a buffer of %d", n, got)
		}
		pool.Put(buf)
		if again, _ := bodyBuffer(n); len(*again) < n {
			t.Errorf("a body of %d bytes got a reused buffer of %d", n, len(*again))
		}
	}
}

// again is a handler that asks, on its first run, to be handled again.
type againHandler struct {
	runs    atomic.Int32
	later   chan func() bool
	closing chan (<-chan struct{})
}

func (h *againHandler) Handles() []string { return []string{"push"} }
func (h *againHandler) Handle(ctx context.Context, _, _ string, _ []byte) error {
	if h.runs.Add(1) == 1 {
		again, closing := Again(ctx)
		h.later <- again
		h.closing <- closing
	}
	return nil
}

// Again queues the delivery once more, as a new arrival, until the
// server shuts down; outside the queue there is nothing to queue.
func TestAgainHandlesTheDeliveryOnceMore(t *testing.T) {
	if again, _ := Again(context.Background()); again != nil {
		t.Fatal("Again outside the queue")
	}
	h := &againHandler{later: make(chan func() bool, 1), closing: make(chan (<-chan struct{}), 1)}
	s := newTestServer(t, testConfig(t), h)
	b := []byte(`{"installation":{"id":7}}`)
	if w := deliver(t, s.Handler(), "push", "d-1", b, sign(b, secret)); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	again, closing := <-h.later, <-h.closing
	waitIdle(t, s)
	if !again() {
		t.Fatal("the queue did not take the delivery again")
	}
	waitIdle(t, s)
	if n := h.runs.Load(); n != 2 {
		t.Fatalf("handled %d times, want 2", n)
	}
	select {
	case <-closing:
		t.Fatal("closing before the server stops")
	default:
	}
	s.Close(context.Background())
	if again() {
		t.Fatal("a stopped server took the delivery again")
	}
	select {
	case <-closing:
	default:
		t.Fatal("closing still open after the server stopped")
	}
}
