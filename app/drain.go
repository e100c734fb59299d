package app

import (
	"io"
	"net/http"
)

// maxDrain bounds how much of an unread body Close reads.
const maxDrain = 8 << 20

// drainBodies makes closing a response body read what is left of it.
// go-github decodes JSON and closes the body without reading to the end;
// httpcache stores a response only when its body reaches EOF. Without
// this, larger responses were never cached and every repeat read cost
// rate limit instead of being a free conditional request.
func drainBodies(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if resp != nil && resp.Body != nil {
			resp.Body = drainingBody{resp.Body}
		}
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type drainingBody struct{ io.ReadCloser }

func (b drainingBody) Close() error {
	_, _ = io.Copy(io.Discard, io.LimitReader(b.ReadCloser, maxDrain))
	return b.ReadCloser.Close()
}
