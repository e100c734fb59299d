package app

import (
	"errors"
	"io"
	"math/bits"
	"mime"
	"net/http"
	"sync"

	"github.com/google/go-github/v60/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// webhooks reads, verifies and schedules deliveries: what go-githubapp's
// event dispatcher does (the same handlers by event type, the same
// Scheduler, the same ValidationError for a bad signature or header, and
// go-github's signature check), with two differences measured under
// load. A JSON body of declared length is read once, into a reused
// buffer, instead of through io.ReadAll's growing copies (about twice the
// body in garbage per delivery, 27 KB of the 30 KB a delivery that needs
// no work cost); the scheduler copies a payload it keeps
// (queue.Schedule), so the buffer goes back to its pool as soon as the
// delivery is answered. Anything else (a form-encoded body, a body of
// undeclared length or over 64 KiB) takes go-github's own path. And a
// delivery is logged as received at debug level, not info: the metrics
// count deliveries, and thousands a second that need no work would
// drown the log.
type webhooks struct {
	handlers   map[string]githubapp.EventHandler
	secret     []byte
	scheduler  githubapp.Scheduler
	onError    githubapp.ErrorCallback
	onResponse githubapp.ResponseCallback
}

func newWebhooks(handlers []githubapp.EventHandler, secret string, scheduler githubapp.Scheduler, onError githubapp.ErrorCallback, onResponse githubapp.ResponseCallback) *webhooks {
	w := &webhooks{handlers: map[string]githubapp.EventHandler{}, secret: []byte(secret), scheduler: scheduler, onError: onError, onResponse: onResponse}
	for _, h := range handlers {
		for _, event := range h.Handles() {
			w.handlers[event] = h
		}
	}
	return w
}

// Bodies are read into reused buffers of 4, 8, 16, 32 or 64 KiB, the
// smallest that holds the declared length: a request holds at most twice
// its declared length before it is verified, as io.ReadAll's growing
// copies would. GitHub's deliveries are mostly a few KB to a few tens of
// KB; a larger body is read by go-github.
const (
	smallestBuffer = 12 // 4 KiB
	pooledBody     = 64 << 10
)

var bodyBuffers [5]sync.Pool

// bodyBuffer returns a buffer of at least n bytes (n <= pooledBody) and
// the pool it goes back to.
func bodyBuffer(n int) (*[]byte, *sync.Pool) {
	class := max(bits.Len(uint(max(n, 1)-1)), smallestBuffer) - smallestBuffer
	pool := &bodyBuffers[class]
	if b, ok := pool.Get().(*[]byte); ok {
		return b, pool
	}
	b := make([]byte, 1<<(class+smallestBuffer))
	return &b, pool
}

func (wh *webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	eventType := r.Header.Get("X-GitHub-Event")
	deliveryID := r.Header.Get("X-GitHub-Delivery")
	if eventType == "" {
		wh.onError(w, r.WithContext(ctx), githubapp.ValidationError{DeliveryID: deliveryID, Cause: errors.New("missing event type")})
		return
	}
	logger := zerolog.Ctx(ctx).With().
		Str(githubapp.LogKeyEventType, eventType).
		Str(githubapp.LogKeyDeliveryID, deliveryID).
		Logger()
	ctx = logger.WithContext(ctx)
	r = r.WithContext(ctx)

	payload, release, err := wh.read(r)
	defer release()
	if err != nil {
		wh.onError(w, r, githubapp.ValidationError{EventType: eventType, DeliveryID: deliveryID, Cause: err})
		return
	}
	logger.Debug().Msg("Received webhook event")
	handler, ok := wh.handlers[eventType]
	if ok {
		if err := wh.scheduler.Schedule(ctx, githubapp.Dispatch{Handler: handler, EventType: eventType, DeliveryID: deliveryID, Payload: payload}); err != nil {
			wh.onError(w, r, err)
			return
		}
	}
	wh.onResponse(w, r, eventType, ok)
}

// read returns the verified payload and a release that gives its buffer
// back (call it once the delivery is answered; the payload is not to be
// used after).
func (wh *webhooks) read(r *http.Request) (payload []byte, release func(), err error) {
	signature := r.Header.Get(github.SHA256SignatureHeader)
	if signature == "" {
		signature = r.Header.Get(github.SHA1SignatureHeader)
	}
	// As go-github's ValidatePayload: the media type decides, whatever
	// its parameters or capitals (a proxy may add "; charset=utf-8").
	contentType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, func() {}, err
	}
	n := r.ContentLength
	if contentType != "application/json" || n < 0 || n > pooledBody {
		payload, err = github.ValidatePayloadFromBody(contentType, r.Body, signature, wh.secret)
		return payload, func() {}, err
	}
	buf, pool := bodyBuffer(int(n))
	release = func() { pool.Put(buf) }
	body := (*buf)[:n]
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, release, err
	}
	if len(wh.secret) > 0 || signature != "" {
		if err := github.ValidateSignature(signature, body, wh.secret); err != nil {
			return nil, release, err
		}
	}
	return body, release, nil
}
