package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Clock is the server's time: real in production; in the end-to-end tests
// the GitHub simulator's clock, so a Retry-After moves simulated time on
// instead of making a test sleep.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, whichever is first.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

// RealClock is the wall clock.
func RealClock() Clock { return realClock{} }

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryTransport retries GitHub requests that failed for reasons that pass:
//   - secondary rate limits (403/429 with Retry-After, or GitHub's
//     "secondary rate limit" message) and exhausted primary limits
//     (X-RateLimit-Remaining: 0) on any method, because GitHub did not act
//     on the request; waiting as long as GitHub asks, up to maxWait and
//     never past the caller's deadline;
//   - server errors (5xx) and network errors on reads (GET, HEAD) only,
//     because a write that failed with 502 may still have happened; writes
//     are retried by re-running the idempotent handler instead.
type retryTransport struct {
	next        http.RoundTripper
	clock       Clock
	maxAttempts int
	maxWait     time.Duration
	baseBackoff time.Duration
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if attempt >= t.maxAttempts {
			return resp, err
		}
		var wait time.Duration
		switch {
		case err != nil:
			if !read || ctx.Err() != nil {
				return resp, err
			}
			wait = t.backoff(attempt)
		default:
			var retry bool
			wait, retry = t.classify(req, resp, attempt)
			if !retry {
				return resp, err
			}
		}
		if wait > t.maxWait {
			return resp, err
		}
		if deadline, ok := ctx.Deadline(); ok && t.clock.Now().Add(wait).After(deadline) {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			_ = resp.Body.Close()
		}
		zerolog.Ctx(ctx).Debug().Str("method", req.Method).Str("path", req.URL.Path).
			Dur("wait", wait).Int("attempt", attempt).Msg("Retrying GitHub request")
		if err := t.clock.Sleep(ctx, wait); err != nil {
			return nil, err
		}
		if req, err = rewind(req); err != nil {
			return nil, err
		}
	}
}

func (t *retryTransport) backoff(attempt int) time.Duration {
	return t.baseBackoff << (attempt - 1)
}

// classify says whether a response is worth retrying and after how long.
func (t *retryTransport) classify(req *http.Request, resp *http.Response, attempt int) (time.Duration, bool) {
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusTooManyRequests:
		if s := resp.Header.Get("Retry-After"); s != "" {
			if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs >= 0 {
				return time.Duration(secs) * time.Second, true
			}
		}
		if resp.Header.Get("X-RateLimit-Remaining") == "0" {
			if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
				wait := time.Unix(reset, 0).Sub(t.clock.Now())
				if wait < 0 {
					wait = 0
				}
				return wait + time.Second, true
			}
		}
		if isSecondaryRateLimit(resp) {
			// GitHub's guidance without Retry-After: wait at least a minute.
			return time.Minute, true
		}
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if read {
			return t.backoff(attempt), true
		}
	}
	return 0, false
}

// isSecondaryRateLimit peeks at a 403 body for GitHub's secondary rate
// limit message, leaving the body readable.
func isSecondaryRateLimit(resp *http.Response) bool {
	if resp.Body == nil {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<14))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return bytes.Contains(bytes.ToLower(b), []byte("secondary rate limit"))
}

// rewind prepares a request to be sent again.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errNoRewind
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r, nil
}

var errNoRewind = errors.New("cannot retry a request whose body cannot be re-read")
