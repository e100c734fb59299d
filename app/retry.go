package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hotfix-bot/hotfix-bot/clock"
	"github.com/rs/zerolog"
)

// Clock is the server's time (package clock's, named here for the
// server's own code): real in production; in the end-to-end tests the
// GitHub simulator's clock, so a Retry-After moves simulated time on
// instead of making a test sleep.
type Clock = clock.Clock

// retryTransport retries GitHub requests that failed for reasons that pass,
// and keeps each installation within GitHub's limits:
//   - secondary rate limits (403/429 with Retry-After, or GitHub's
//     "secondary rate limit" message: then at least a minute) and exhausted
//     primary limits (X-RateLimit-Remaining: 0, until X-RateLimit-Reset)
//     block the installation: its next requests are not sent before then.
//     A short wait is waited out in place (any method: GitHub did not act);
//     a longer one fails the request at once, and the queue puts the
//     event back until the installation may call again, so its wait holds
//     no worker other installations need;
//   - server errors (5xx) and network errors on reads (GET, HEAD) are
//     retried with jittered exponential backoff; a write that failed with
//     502 may still have happened, so the facts layer retries writes only
//     after looking for what they made;
//   - writes are paced per installation (a burst, then one a second).
//
// Every wait ends at the caller's deadline.
type retryTransport struct {
	next        http.RoundTripper
	clock       Clock
	limits      *limits
	maxAttempts int
	// inlineWait is the longest rate-limit wait spent inside a request;
	// longer ones go back to the queue.
	inlineWait  time.Duration
	baseBackoff time.Duration
}

// BlockedError is a request not sent because its installation must wait
// for a GitHub rate limit.
type BlockedError struct {
	Installation int64
	Until        time.Time
	Why          string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("installation %d is rate limited by GitHub (%s) until %s: request not sent", e.Installation, e.Why, e.Until.UTC().Format(time.RFC3339))
}

// RateLimitedUntil says when the installation may call GitHub again.
func (e *BlockedError) RateLimitedUntil() time.Time { return e.Until }

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	inst := InstallationFrom(ctx)
	if inst != 0 && t.limits != nil {
		if err := t.waitForInstallation(ctx, inst); err != nil {
			return nil, err
		}
		if !read && !strings.HasPrefix(req.URL.Path, "/app/") && !strings.Contains(req.URL.Path, "/app/installations/") {
			if err := t.limits.paceWrite(ctx, inst, LaneOf(ctx)); err != nil {
				return nil, err
			}
		}
	}
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
			var why string
			wait, retry, why = t.classify(req, resp, attempt)
			if !retry {
				return resp, err
			}
			if why != "" && inst != 0 && t.limits != nil {
				t.limits.block(inst, t.clock.Now().Add(wait), why)
				zerolog.Ctx(ctx).Warn().Int64("installation", inst).Str("limit", why).Dur("wait", wait).Msg("GitHub rate limit: the installation waits")
			}
			if why != "" && wait > t.inlineWait {
				return resp, err // the queue waits, not a worker
			}
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

// waitForInstallation holds a request of a rate-limited installation: a
// short wait in place, a longer one refused at once (BlockedError).
func (t *retryTransport) waitForInstallation(ctx context.Context, inst int64) error {
	until, why := t.limits.blockedUntil(inst)
	if until.IsZero() {
		return nil
	}
	wait := until.Sub(t.clock.Now())
	deadline, hasDeadline := ctx.Deadline()
	if wait > t.inlineWait || (hasDeadline && until.After(deadline)) {
		return &BlockedError{Installation: inst, Until: until, Why: why}
	}
	return t.clock.Sleep(ctx, wait)
}

// backoff is the wait before retry `attempt`: exponential, with jitter
// (between half and one and a half times), so replicas do not retry in
// step.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.baseBackoff << (attempt - 1)
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// classify says whether a response is worth retrying, after how long, and
// which rate limit it was ("" for none).
func (t *retryTransport) classify(req *http.Request, resp *http.Response, attempt int) (time.Duration, bool, string) {
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusTooManyRequests:
		if s := resp.Header.Get("Retry-After"); s != "" {
			if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs >= 0 {
				return time.Duration(secs) * time.Second, true, "secondary"
			}
		}
		if resp.Header.Get("X-RateLimit-Remaining") == "0" {
			if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
				wait := time.Unix(reset, 0).Sub(t.clock.Now())
				if wait < 0 {
					wait = 0
				}
				return wait + time.Second, true, "primary"
			}
		}
		if isSecondaryRateLimit(resp) {
			// GitHub's guidance without Retry-After: wait at least a minute.
			return time.Minute, true, "secondary"
		}
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if read {
			return t.backoff(attempt), true, ""
		}
	}
	return 0, false, ""
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
