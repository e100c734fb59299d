// Package harness runs hotfix-bot for real against the GitHub simulator:
// the server wiring `serve` uses (HTTP, signed webhooks, JWT app auth,
// installation tokens, the async queue), one or more replicas, and the
// scenario repository of the demo. Lifecycle tests, benchmarks and
// `hotfix-bot demo` share it.
package harness

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	hclock "github.com/hotfix-bot/hotfix-bot/clock"
	"github.com/hotfix-bot/hotfix-bot/handlers"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/rs/zerolog"
)

// Options adjust a harness.
type Options struct {
	// Replicas is how many bot servers receive the webhooks (default 1).
	Replicas int
	// Latency is added by the simulator to every API call (benchmarks).
	Latency time.Duration
	// Log receives the bots' JSON logs (default: discarded).
	Log io.Writer
	// QueueSize and Workers size each replica's queue (defaults 100, 4).
	QueueSize, Workers int
	// ClientTimeout bounds each GitHub request (default 30s).
	ClientTimeout time.Duration
	// SlackWebhookURL, when set, is where the bots post notifications.
	SlackWebhookURL string
	// RedeliveryMax bounds the redeliveries one sweep asks for (default
	// the server's).
	RedeliveryMax int
	// Start is the simulated time at creation (default the simulator's:
	// 2026-11-23 03:00 UTC).
	Start time.Time
	// GHES lays the simulator out as GitHub Enterprise Server does (the
	// API under /api/v3, the web pages at the root) and configures the
	// bots with both URLs; writes are recorded whole, to be searched.
	GHES bool
	// RealTime runs the bots on the wall clock, as in production: write
	// pacing and rate-limit waits take real time (latency benchmarks).
	// The simulator's clock starts at the wall clock's now. Tests leave
	// it off: simulated time moves instead of making them wait.
	RealTime bool
}

// Harness is a running simulator with bots attached.
type Harness struct {
	Sim  *ghsim.Sim
	App  *ghsim.App
	Bots []*app.Server

	servers   []*httptest.Server
	transport *http.Transport // the replicas' calls to the simulator
	cancel    context.CancelFunc
	opts      Options
	cfg       app.Config
}

// New starts the simulator, registers the app with the permissions and
// events of app.yml, and starts the replicas. It returns once every
// replica has discovered its identity through GET /app.
func New(opts Options) (*Harness, error) {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = 100
	}
	if opts.Workers == 0 {
		opts.Workers = 4
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	simOpts := ghsim.Options{Latency: opts.Latency, Start: opts.Start}
	if opts.RealTime {
		simOpts.Start = time.Now()
	}
	if opts.GHES {
		simOpts.APIPrefix, simOpts.RecordBodies = "/api/v3", 1<<20
	}
	sim, err := ghsim.New(simOpts)
	if err != nil {
		return nil, err
	}
	ghApp, err := sim.RegisterApp(ghsim.AppOptions{Slug: "hotfix-bot", Permissions: app.Permissions, Events: app.Events})
	if err != nil {
		sim.Close()
		return nil, err
	}
	h := &Harness{Sim: sim, App: ghApp, opts: opts, cancel: func() {}, transport: simTransport()}

	cfg := app.Defaults()
	cfg.GitHub.V3APIURL = sim.URL()
	cfg.GitHub.WebURL = sim.WebURL()
	cfg.GitHub.App.IntegrationID = ghApp.ID
	cfg.GitHub.App.PrivateKey = ghApp.PrivateKeyPEM
	cfg.GitHub.App.WebhookSecret = ghApp.WebhookSecret
	cfg.Queue.Size, cfg.Queue.Workers = opts.QueueSize, opts.Workers
	if opts.ClientTimeout > 0 {
		cfg.GitHub.ClientTimeout = app.Duration(opts.ClientTimeout)
	}
	cfg.Notify.SlackWebhookURL = opts.SlackWebhookURL
	cfg.Redelivery.Interval = 0 // scenarios sweep when they want to (SweepRedeliveries)
	if opts.RedeliveryMax > 0 {
		cfg.Redelivery.Max = opts.RedeliveryMax
	}
	h.cfg = cfg
	if err := h.Restart(); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Restart replaces every replica with a fresh one (empty caches, a new
// identity discovery), as a redeploy would.
func (h *Harness) Restart() error {
	h.cancel()
	for _, s := range h.servers {
		s.Close()
	}
	for _, b := range h.Bots {
		b.Close(context.Background())
	}
	h.servers, h.Bots = nil, nil
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	var urls []string
	// Each replica's address is known before it is built: the first is
	// the public URL (server.public_url) the details pages are linked by.
	listeners := make([]net.Listener, h.opts.Replicas)
	for i := range listeners {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		listeners[i] = l
	}
	h.cfg.Server.PublicURL = "http://" + listeners[0].Addr().String()
	for i := 0; i < h.opts.Replicas; i++ {
		logger := zerolog.New(h.opts.Log).With().Timestamp().Int("replica", i).Logger()
		var clock app.Clock = h.Sim.Clock()
		if h.opts.RealTime {
			clock = hclock.Real()
		}
		srv, err := app.New(h.cfg, app.Options{Logger: logger, Handlers: handlers.New, Pages: handlers.Pages, Reports: handlers.Reports, Clock: clock, Transport: h.transport})
		if err != nil {
			return err
		}
		ts := &httptest.Server{Listener: listeners[i], Config: &http.Server{Handler: srv.Handler()}}
		ts.Start()
		h.servers = append(h.servers, ts)
		h.Bots = append(h.Bots, srv)
		srv.Start(ctx)
		urls = append(urls, ts.URL+"/api/github/hook")
	}
	h.Sim.SetWebhookTargets(h.App, urls...)
	readyCtx, done := context.WithTimeout(ctx, 30*time.Second)
	defer done()
	for _, b := range h.Bots {
		if err := b.WaitReady(readyCtx); err != nil {
			return err
		}
	}
	return nil
}

// simTransport is http.DefaultTransport's, for one harness: connections
// to the simulator are kept for as many calls as the replicas make at
// once (the default keeps two per host), and no other test's closing
// server closes them (httptest.Server.Close closes the default
// transport's idle connections, every test's).
func simTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// Close stops the bots and the simulator.
func (h *Harness) Close() {
	h.cancel()
	for _, s := range h.servers {
		s.Close()
	}
	for _, b := range h.Bots {
		b.Close(context.Background())
	}
	h.Sim.Close()
	h.transport.CloseIdleConnections()
}

// ErrNoQuiet is returned when deliveries keep causing deliveries.
var ErrNoQuiet = errors.New("the bots did not go quiet: every round of deliveries caused more")

// Settle delivers every pending webhook, waits until every replica has
// handled its queue, and repeats while the bots' writes cause new
// deliveries. It returns the number of deliveries sent.
func (h *Harness) Settle(ctx context.Context) (int, error) {
	total := 0
	for round := 0; round < 50; round++ {
		n, err := h.Sim.Deliver(ctx)
		if err != nil {
			return total, err
		}
		total += n
		for _, b := range h.Bots {
			select {
			case <-b.Idle():
			case <-ctx.Done():
				return total, ctx.Err()
			}
		}
		if n == 0 && h.Sim.Pending() == 0 {
			return total, nil
		}
	}
	return total, ErrNoQuiet
}

// FlushNotifications waits until every replica sent its queued chat
// notifications.
func (h *Harness) FlushNotifications(ctx context.Context) error {
	for _, b := range h.Bots {
		if err := b.FlushNotifications(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Kill crashes every replica: running handlers are cut off mid-action and
// queued events are lost. Restart brings up new ones.
func (h *Harness) Kill() {
	for _, b := range h.Bots {
		b.Kill()
	}
}

// Config is the bots' server configuration.
func (h *Harness) Config() app.Config { return h.cfg }

// PublicURL is where the bots' pages are served (the first replica).
func (h *Harness) PublicURL() string { return h.cfg.Server.PublicURL }

// Targets are the replicas' webhook URLs.
func (h *Harness) Targets() []string {
	var out []string
	for _, s := range h.servers {
		out = append(out, s.URL+"/api/github/hook")
	}
	return out
}

// SweepRedeliveries runs the redelivery sweep on one replica.
func (h *Harness) SweepRedeliveries(ctx context.Context, replica int) (app.SweepResult, error) {
	return h.Bots[replica].SweepRedeliveries(ctx)
}

// Violations are the contract violations so far, one line each.
func (h *Harness) Violations() []string {
	var out []string
	for _, v := range h.Sim.Violations() {
		out = append(out, v.String())
	}
	return out
}

// HandlerErrors counts handler runs that ended in an error, panic or
// timeout, over every replica (a run put back for a rate limit is not one).
func (h *Harness) HandlerErrors() (int, error) {
	n := 0
	for _, b := range h.Bots {
		families, err := b.Metrics().Registry.Gather()
		if err != nil {
			return 0, err
		}
		for _, f := range families {
			if f.GetName() != "hotfixbot_handler_runs_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" && l.GetValue() != "success" && l.GetValue() != "requeued" {
						n += int(m.GetCounter().GetValue())
					}
				}
			}
		}
	}
	return n, nil
}

// Budget summarises API calls for one step.
type Budget struct {
	Calls       int // every request
	Charged     int // counted against the rate limit
	Writes      int // non-GET requests
	Conditional int // 304s: free
	// Wasted are charged reads whose answer had not changed: the target is
	// zero (charged = writes + reads whose answers changed).
	Wasted int
	// ByOp counts calls per operation id.
	ByOp map[string]int
}

// Account summarises the calls recorded since the last ResetCalls.
func (h *Harness) Account() Budget {
	b := Budget{ByOp: map[string]int{}}
	for _, c := range h.Sim.Calls() {
		b.Calls++
		b.ByOp[c.Op]++
		if c.Charged {
			b.Charged++
		}
		if c.Write {
			b.Writes++
		}
		if c.Conditional {
			b.Conditional++
		}
		if c.Unchanged {
			b.Wasted++
		}
	}
	return b
}
