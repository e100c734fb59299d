// Package app wires the server: configuration, go-githubapp's event
// dispatcher on a bounded queue, the GitHub client creator with its HTTP
// cache, retries and metrics, health and readiness, and graceful shutdown
// that drains the queue. It knows nothing of hotfix rules (policy/) or of
// what handlers do (handlers/); it must not import either.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gregjones/httpcache"
	"github.com/hotfix-bot/hotfix-bot/clock"
	"github.com/hotfix-bot/hotfix-bot/notify"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Version is the bot's version, set at build time with
// -ldflags "-X github.com/hotfix-bot/hotfix-bot/app.Version=v1.2.3".
var Version = "dev"

// Deps is what the server hands to event handlers.
type Deps struct {
	ClientCreator githubapp.ClientCreator
	Identity      *Identity
	Clock         Clock
	Config        Config
	// Notifier posts chat notifications (notify.Discard when none is
	// configured).
	Notifier notify.Notifier
	// Metrics are the server's metrics (nil in tests that build handlers
	// without a server).
	Metrics *Metrics
}

// Options adjust a server for tests, the demo and the simulator. The zero
// value is production.
type Options struct {
	Logger zerolog.Logger
	// Handlers builds the event handlers; nil means none (every event is
	// acknowledged and ignored).
	Handlers func(Deps) []githubapp.EventHandler
	// Clock defaults to real time.
	Clock Clock
	// Transport is the base transport for GitHub calls (default
	// http.DefaultTransport).
	Transport http.RoundTripper
	// Identity, when set, skips discovery (tests).
	Identity *Identity
	// Pages builds the read-only web pages served under /details/ (the
	// details page check runs link to); nil serves none.
	Pages func(Deps) http.Handler
	// RetryDelays are the waits before an event that failed on a
	// transient GitHub error is handled again (nil: DefaultRetryDelays;
	// empty: never again).
	RetryDelays []time.Duration
	// Reports builds the read-only report pages served under /report/;
	// nil serves none.
	Reports func(Deps) http.Handler
}

// Server is one hotfix-bot replica.
type Server struct {
	cfg      Config
	logger   zerolog.Logger
	clock    Clock
	metrics  *Metrics
	cc       githubapp.ClientCreator
	identity *Identity
	queue    *queue
	mux      *http.ServeMux
	cache    *responseCache
	deps     Deps
	slack    *notify.Slack
	limits   *limits
	refused  *refusals
}

// New wires a server. It makes no network calls: GitHub being unreachable
// is reported by Ready, not by New.
func New(cfg Config, opts Options) (*Server, error) {
	s := &Server{
		cfg:      cfg,
		logger:   opts.Logger,
		clock:    opts.Clock,
		metrics:  NewMetrics(),
		identity: opts.Identity,
		mux:      http.NewServeMux(),
	}
	if s.clock == nil {
		s.clock = clock.Real()
	}
	if s.identity == nil {
		s.identity = NewIdentity(cfg.GitHub.App.IntegrationID)
	}
	s.limits = newLimits(s.clock, s.metrics)

	clientOpts := []githubapp.ClientOption{
		githubapp.WithClientUserAgent("hotfix-bot/" + Version),
		githubapp.WithClientTimeout(time.Duration(cfg.GitHub.ClientTimeout)),
		githubapp.WithClientMiddleware(
			drainBodies,
			func(next http.RoundTripper) http.RoundTripper {
				return &retryTransport{next: next, clock: s.clock, limits: s.limits, maxAttempts: 4, inlineWait: 10 * time.Second, baseBackoff: 200 * time.Millisecond}
			},
			githubapp.ClientMetrics(s.metrics.GitHub),
		),
	}
	if cfg.Cache.MaxBytes > 0 {
		s.cache = newResponseCache(cfg.Cache.MaxBytes)
		clientOpts = append(clientOpts, githubapp.WithClientCaching(true, func() httpcache.Cache { return s.cache.Namespace() }))
	}
	if opts.Transport != nil {
		clientOpts = append(clientOpts, githubapp.WithTransport(opts.Transport))
	}
	cc, err := githubapp.NewDefaultCachingClientCreator(cfg.GitHubAppConfig(), clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("client creator: %w", err)
	}
	s.cc = cc

	s.queue = newQueue(cfg.Queue.Size, cfg.Queue.Workers, cfg.Queue.PerInstallation, time.Duration(cfg.HandlerTimeout), opts.RetryDelays,
		s.clock, s.limits, s.metrics, githubapp.MetricsAsyncErrorCallback(s.metrics.GitHub))
	s.refused = newRefusals(s.metrics)
	s.queue.refused = s.refused

	var notifier notify.Notifier = notify.Discard{}
	if url := cfg.Notify.SlackWebhookURL; url != "" {
		s.slack = notify.NewSlack(url, notify.Options{Logger: s.logger, Clock: s.clock})
		notifier = s.slack
	}
	s.deps = Deps{ClientCreator: cc, Identity: s.identity, Clock: s.clock, Config: cfg, Notifier: notifier, Metrics: s.metrics}
	var handlers []githubapp.EventHandler
	if opts.Handlers != nil {
		handlers = opts.Handlers(s.deps)
	}
	dispatcher := newWebhooks(handlers, cfg.GitHub.App.WebhookSecret, s.queue, s.onDispatchError, s.onDispatchResponse)
	s.mux.Handle(githubapp.DefaultWebhookRoute, s.withLogger(s.limitBody(dispatcher)))
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("/readyz", s.serveReady)
	if opts.Pages != nil {
		s.mux.Handle("/details/", s.withLogger(opts.Pages(s.deps)))
	}
	if opts.Reports != nil {
		s.mux.Handle("/report/", s.withLogger(opts.Reports(s.deps)))
	}
	s.mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	return s, nil
}

// Handler is the server's HTTP surface: webhooks, health, readiness and
// metrics.
func (s *Server) Handler() http.Handler { return s.mux }

// Metrics exposes the server's metrics (tests and benchmarks).
func (s *Server) Metrics() *Metrics { return s.metrics }

// ClientCreator exposes the GitHub client creator (tests).
func (s *Server) ClientCreator() githubapp.ClientCreator { return s.cc }

// Deps are the dependencies the server gave its handlers (tests use them
// to call handler entry points that no webhook reaches yet).
func (s *Server) Deps() Deps { return s.deps }

// Close stops the server's workers and sends the queued notifications
// (bounded by ctx); Serve calls it after draining.
func (s *Server) Close(ctx context.Context) {
	s.queue.Close()
	if s.slack != nil {
		s.slack.Close(ctx)
	}
}

// Kill stops the server as a crash would: running handlers are cut off
// where they are, queued events are lost (tests of interrupted work).
func (s *Server) Kill() { s.queue.Kill() }

// FlushNotifications waits until the chat notifications queued so far are
// sent (tests and the demo).
func (s *Server) FlushNotifications(ctx context.Context) error {
	if s.slack == nil {
		return nil
	}
	return s.slack.Flush(ctx)
}

// Idle returns a channel closed when no event is queued or running.
func (s *Server) Idle() <-chan struct{} { return s.queue.Idle() }

// Ready reports whether the server can do its job, and why not.
func (s *Server) Ready() (bool, string) { return s.identity.status() }

// WaitReady blocks until the app's identity is known (the server is
// ready) or ctx ends.
func (s *Server) WaitReady(ctx context.Context) error {
	select {
	case <-s.identity.ready:
		return nil
	case <-ctx.Done():
		_, reason := s.Ready()
		return fmt.Errorf("not ready: %s: %w", reason, ctx.Err())
	}
}

// Start begins identity discovery, the redelivery sweep and the fetching
// back of refused deliveries in the background; it returns at once.
func (s *Server) Start(ctx context.Context) {
	ctx = s.logger.WithContext(ctx)
	s.queue.mu.Lock()
	s.queue.fetchBack, s.queue.fetchCtx = s.fetchBack, ctx
	s.queue.mu.Unlock()
	go s.redeliveryLoop(ctx)
	if ok, _ := s.identity.status(); ok {
		s.metrics.Ready.Set(1)
		return
	}
	go func() {
		s.identity.discover(ctx, s.cc, s.clock, s.cfg.GitHub.V3APIURL)
		if ok, _ := s.identity.status(); ok {
			s.metrics.Ready.Set(1)
		}
	}()
}

// Serve answers on ln until ctx ends, then shuts down gracefully: it stops
// accepting connections, lets in-flight deliveries finish, drains the queue
// (every accepted event is handled) and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.Start(ctx)
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.logger.Info().Str("address", ln.Addr().String()).Msg("Listening")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.logger.Info().Msg("Shutting down: no new deliveries, draining the queue")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Duration(s.cfg.Server.ShutdownTimeout))
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("stop HTTP server: %w", err)
	}
	if err := s.queue.Drain(shutdownCtx); err != nil {
		return err
	}
	s.Close(shutdownCtx)
	s.logger.Info().Msg("Queue drained; bye")
	return nil
}

// ListenAndServe listens on the configured address and port and serves
// until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := net.JoinHostPort(s.cfg.Server.Address, strconv.Itoa(s.cfg.Server.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	ok, reason := s.Ready()
	body := map[string]any{"ready": ok}
	if ok {
		body["app"] = s.identity.Slug()
	} else {
		body["reason"] = reason
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// withLogger puts the server's logger in the request context; go-githubapp
// adds the event type and delivery id, handlers add repository and PR.
// It also carries the note the door leaves on a delivery it answered
// without queueing it.
func (s *Server) withLogger(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(s.logger.WithContext(r.Context()), doorNoteKey{}, &doorNote{})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type doorNoteKey struct{}

// doorNote says what the door decided about a delivery.
type doorNote struct{ skipped bool }

// noteSkipped records that the door answered a delivery without queueing
// it.
func noteSkipped(ctx context.Context) {
	if n, ok := ctx.Value(doorNoteKey{}).(*doorNote); ok {
		n.skipped = true
	}
}

func skipped(ctx context.Context) bool {
	n, ok := ctx.Value(doorNoteKey{}).(*doorNote)
	return ok && n.skipped
}

// limitBody rejects bodies over server.max_body_bytes before reading them
// when the length is declared, and while reading them otherwise.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.Server.MaxBodyBytes {
			s.metrics.Deliveries.WithLabelValues("-", OutcomeTooLarge).Inc()
			zerolog.Ctx(r.Context()).Warn().Int64("length", r.ContentLength).Msg("Rejected webhook: body too large")
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.Server.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) onDispatchResponse(w http.ResponseWriter, r *http.Request, event string, handled bool) {
	outcome := OutcomeUnhandled
	switch {
	case handled && skipped(r.Context()):
		outcome = OutcomeSkipped
	case handled:
		outcome = OutcomeQueued
	}
	s.metrics.Deliveries.WithLabelValues(event, outcome).Inc()
	githubapp.DefaultResponseCallback(w, r, event, handled)
}

func (s *Server) onDispatchError(w http.ResponseWriter, r *http.Request, err error) {
	logger := zerolog.Ctx(r.Context())
	event := r.Header.Get("X-GitHub-Event")
	var ve githubapp.ValidationError
	var tooLarge *http.MaxBytesError
	isValidation := errors.As(err, &ve)
	switch {
	case errors.As(err, &tooLarge) || (isValidation && errors.As(ve.Cause, &tooLarge)):
		s.metrics.Deliveries.WithLabelValues("-", OutcomeTooLarge).Inc()
		logger.Warn().Msg("Rejected webhook: body too large")
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
	case isValidation:
		// The event label of an unverified request is attacker-chosen; it
		// is not used as a metric label. The body is never logged.
		s.metrics.Deliveries.WithLabelValues("-", OutcomeInvalid).Inc()
		logger.Warn().Str("reason", ve.Cause.Error()).Msg("Rejected webhook: invalid signature or headers")
		http.Error(w, "invalid webhook signature or headers", http.StatusBadRequest)
	case errors.Is(err, githubapp.ErrCapacityExceeded):
		s.metrics.Deliveries.WithLabelValues(event, OutcomeDropped).Inc()
		logger.Error().Msg("Dropped webhook: event queue full; redeliver it from the app's Advanced settings")
		http.Error(w, "event queue full, redeliver later", http.StatusServiceUnavailable)
	case errors.Is(err, ErrInvalidPayload):
		s.metrics.Deliveries.WithLabelValues("-", OutcomeInvalid).Inc()
		logger.Warn().Msg("Rejected webhook: a signed body that is not a JSON object")
		http.Error(w, "webhook body is not a JSON object", http.StatusBadRequest)
	case errors.Is(err, ErrShuttingDown):
		s.metrics.Deliveries.WithLabelValues(event, OutcomeShutdown).Inc()
		logger.Warn().Msg("Refused webhook: shutting down")
		http.Error(w, "shutting down, redeliver later", http.StatusServiceUnavailable)
	default:
		logger.Error().Err(err).Msg("Unexpected error dispatching webhook")
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
}
