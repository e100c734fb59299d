package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingClock is a Clock whose Sleep returns at once and records the
// wait, moving its own time on.
type recordingClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *recordingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *recordingClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		return nil // a time already past: no wait, and time never runs back
	}
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

type step struct {
	status int
	header map[string]string
	body   string
}

func TestRetryTransport(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name      string
		method    string
		steps     []step
		deadline  time.Duration // 0: none
		wantCalls int
		wantCode  int
		wantSlept []time.Duration
	}{
		{"read retried on 502", "GET", []step{{status: 502}, {status: 200}}, 0, 2, 200, []time.Duration{200 * time.Millisecond}},
		{"read backs off exponentially", "GET", []step{{status: 503}, {status: 500}, {status: 200}}, 0, 3, 200, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		{"read gives up after max attempts", "GET", []step{{status: 502}, {status: 502}, {status: 502}, {status: 502}, {status: 200}}, 0, 4, 502, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
		{"write not retried on 502", "POST", []step{{status: 502}, {status: 201}}, 0, 1, 502, nil},
		{"write retried after secondary limit Retry-After", "POST", []step{{status: 403, header: map[string]string{"Retry-After": "2"}}, {status: 201}}, 0, 2, 201, []time.Duration{2 * time.Second}},
		{"429 with Retry-After", "PATCH", []step{{status: 429, header: map[string]string{"Retry-After": "5"}}, {status: 200}}, 0, 2, 200, []time.Duration{5 * time.Second}},
		{"primary limit waits for reset", "GET", []step{{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(start.Add(30*time.Second).Unix(), 10)}}, {status: 200}}, 0, 2, 200, []time.Duration{31 * time.Second}},
		{"secondary limit by message waits a minute", "POST", []step{{status: 403, body: `{"message":"You have exceeded a secondary rate limit."}`}, {status: 201}}, 0, 2, 201, []time.Duration{time.Minute}},
		{"plain 403 is final", "POST", []step{{status: 403, body: `{"message":"Resource not accessible by integration"}`}, {status: 201}}, 0, 1, 403, nil},
		{"wait beyond the inline wait goes back to the queue", "POST", []step{{status: 403, header: map[string]string{"Retry-After": "3600"}}, {status: 201}}, 0, 1, 403, nil},
		{"wait beyond deadline is not waited", "GET", []step{{status: 429, header: map[string]string{"Retry-After": "30"}}, {status: 200}}, 10 * time.Second, 1, 429, nil},
		{"404 is final", "GET", []step{{status: 404}, {status: 200}}, 0, 1, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			var bodies []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				st := tt.steps[calls]
				calls++
				b, _ := io.ReadAll(r.Body)
				bodies = append(bodies, string(b))
				mu.Unlock()
				for k, v := range st.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(st.status)
				_, _ = w.Write([]byte(st.body))
			}))
			defer srv.Close()
			clock := &recordingClock{now: start}
			rt := &retryTransport{next: http.DefaultTransport, clock: clock, maxAttempts: 4, inlineWait: time.Minute, baseBackoff: 200 * time.Millisecond}

			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				clock.now = time.Now() // the deadline is on the real clock
				ctx, cancel = context.WithDeadline(ctx, clock.now.Add(tt.deadline))
				defer cancel()
			}
			var body io.Reader
			if tt.method != "GET" {
				body = strings.NewReader(`{"name":"x"}`)
			}
			req, _ := http.NewRequestWithContext(ctx, tt.method, srv.URL, body)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			// Backoffs are jittered (half to one and a half times); rate
			// limit waits are exact.
			ok := len(clock.slept) == len(tt.wantSlept)
			for i := 0; ok && i < len(clock.slept); i++ {
				got, want := clock.slept[i], tt.wantSlept[i]
				if want < time.Second {
					ok = got >= want/2 && got <= want*3/2
				} else {
					ok = got == want
				}
			}
			if !ok {
				t.Errorf("slept %v, want about %v", clock.slept, tt.wantSlept)
			}
			for i, b := range bodies {
				if tt.method != "GET" && b != `{"name":"x"}` {
					t.Errorf("attempt %d sent body %q; a retry must resend the body", i, b)
				}
			}
		})
	}
}

// A rate limit blocks the installation: its next requests are not sent
// until it lifts (short waits waited out, long ones refused at once), other
// installations go on, and writes are paced.
func TestRateLimitsBlockTheInstallation(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	limited := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls[r.URL.Path]++
		if r.URL.Path == "/limited" && limited {
			limited = false
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	clock := &recordingClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMetrics()
	rt := &retryTransport{next: http.DefaultTransport, clock: clock, limits: newLimits(clock, m), maxAttempts: 4, inlineWait: 10 * time.Second, baseBackoff: 200 * time.Millisecond}
	get := func(inst int64, path string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(WithInstallation(context.Background(), inst), "GET", srv.URL+path, nil)
		return rt.RoundTrip(req)
	}
	resp, err := get(7, "/limited")
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a 2-minute secondary limit: %v %v, want the 403 back (the queue waits)", resp, err)
	}
	resp.Body.Close()
	if _, err := get(7, "/other"); err == nil {
		t.Fatal("a blocked installation's next request was sent")
	} else {
		var be *BlockedError
		if !errors.As(err, &be) || be.Installation != 7 {
			t.Fatalf("err = %v, want a BlockedError", err)
		}
	}
	if calls["/other"] != 0 {
		t.Error("the blocked request reached GitHub")
	}
	if resp, err := get(8, "/other"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("another installation was held: %v", err)
	}
	clock.Sleep(context.Background(), 115*time.Second)
	if resp, err := get(7, "/other"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("5 s before the limit lifts, the request should wait it out: %v", err)
	}
	if got := clock.slept[len(clock.slept)-1]; got != 5*time.Second {
		t.Errorf("waited %s, want the 5 s left", got)
	}

	// Writes: a burst of 10 at once, then one a second.
	before := len(clock.slept)
	for i := 0; i < 13; i++ {
		req, _ := http.NewRequestWithContext(WithInstallation(context.Background(), 9), "POST", srv.URL+"/repos/o/r/labels", strings.NewReader("{}"))
		if resp, err := rt.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}
	if paced := clock.slept[before:]; len(paced) != 3 {
		t.Errorf("paced waits %v, want 3 after a burst of 10", paced)
	}
}
