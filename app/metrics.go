package app

import (
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	gometrics "github.com/rcrowley/go-metrics"
)

// Metrics are the server's Prometheus metrics. go-githubapp instruments
// GitHub requests (status classes, cache hits, rate limits per
// installation) and its queue in a go-metrics registry; Metrics exports
// that registry next to its own counters, on one /metrics page.
type Metrics struct {
	Registry *prometheus.Registry
	// GitHub is the go-metrics registry handed to go-githubapp.
	GitHub gometrics.Registry

	Deliveries      *prometheus.CounterVec
	HandlerRuns     *prometheus.CounterVec
	HandlerDuration *prometheus.HistogramVec
	Ready           prometheus.Gauge

	// The queue.
	QueueDepth   prometheus.Gauge
	QueueWaiting *prometheus.GaugeVec
	QueueRunning prometheus.Gauge
	Yields       prometheus.Counter
	QueueDelayed prometheus.Gauge
	QueueWait    prometheus.Histogram
	Requeued     *prometheus.CounterVec
	// GitHub's limits.
	RateLimited *prometheus.CounterVec
	Blocked     prometheus.Gauge
	PacedWrites prometheus.Counter
	PacedWait   *prometheus.CounterVec
	// The redelivery sweep, and the deliveries refused for want of room.
	Redelivered *prometheus.CounterVec
	Refused     *prometheus.CounterVec
	// Commands set aside: their comment no longer gives them, or they
	// are too old.
	CommandsNotRun *prometheus.CounterVec
	// CostLimited counts requests anyone can make that the cost guard
	// answered without doing the work (dry runs, /help, details pages).
	CostLimited *prometheus.CounterVec
	// Hotfixes production runs that a target (develop, a release branch)
	// lacks, by their open sync-back pull requests, and the oldest's age.
	HotfixesNotInTarget *prometheus.GaugeVec
	OldestNotInTarget   *prometheus.GaugeVec
}

// Delivery outcomes, as counted by hotfixbot_webhook_deliveries_total.
const (
	OutcomeQueued    = "queued"    // accepted and queued for a handler
	OutcomeSkipped   = "skipped"   // needs no work: answered at the door, never queued
	OutcomeUnhandled = "unhandled" // acknowledged; no handler for the event
	OutcomeInvalid   = "invalid"   // bad or missing signature, bad headers
	OutcomeTooLarge  = "too_large" // body over server.max_body_bytes
	OutcomeDropped   = "dropped"   // queue full (503)
	OutcomeShutdown  = "shutdown"  // arrived while draining (503)
)

// NewMetrics creates the metrics on a fresh registry (no global state).
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		GitHub:   gometrics.NewRegistry(),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_webhook_deliveries_total",
			Help: "Webhook deliveries received, by event and outcome (queued, skipped, unhandled, invalid, too_large, dropped, shutdown).",
		}, []string{"event", "outcome"}),
		HandlerRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_handler_runs_total",
			Help: "Handler runs, by event and outcome (success, error, panic, timeout, requeued, abandoned).",
		}, []string{"event", "outcome"}),
		HandlerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotfixbot_handler_duration_seconds",
			Help:    "Time a handler took, from leaving the queue to returning.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"event"}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotfixbot_ready",
			Help: "1 when the app's GitHub credentials work and the server takes events.",
		}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotfixbot_queue_depth", Help: "Events waiting for a worker (not counting those waiting for a rate limit).",
		}),
		QueueWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotfixbot_queue_waiting", Help: "Work waiting for a worker, by lane (interactive, background).",
		}, []string{"lane"}),
		Yields: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotfixbot_queue_yields_total", Help: "Times background work stepped aside for waiting interactive work.",
		}),
		QueueRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotfixbot_queue_running", Help: "Events being handled.",
		}),
		QueueDelayed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotfixbot_queue_delayed", Help: "Events put back until their installation's GitHub rate limit lifts.",
		}),
		QueueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hotfixbot_queue_wait_seconds", Help: "Time from a delivery's arrival to its handler starting.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600},
		}),
		Requeued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_queue_requeued_total", Help: "Events put back in the queue, by reason (rate_limited, transient).",
		}, []string{"reason"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_github_rate_limited_total", Help: "Times GitHub rate-limited an installation, by limit (primary, secondary).",
		}, []string{"limit"}),
		Blocked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotfixbot_github_blocked_installations", Help: "Installations waiting for a GitHub rate limit to lift.",
		}),
		PacedWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotfixbot_github_paced_writes_total", Help: "Writes held back to pace an installation's bursts.",
		}),
		PacedWait: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_github_paced_wait_seconds_total",
			Help: "Seconds writes waited for their slot, by lane (background writes also wait for interactive work).",
		}, []string{"lane"}),
		Redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_redeliveries_total", Help: "Failed webhook deliveries the sweep asked GitHub to redeliver, by outcome (requested, failed).",
		}, []string{"outcome"}),
		CommandsNotRun: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_commands_not_run_total",
			Help: "Commands not run because their comment, read again from GitHub, no longer gives them (deleted, edited, other_author), or because they were older than commands.max_age (too_old).",
		}, []string{"reason"}),
		CostLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_cost_limited_total", Help: "Requests over the cost guard's limits, answered with a short reply instead (per replica), by what (dry_run, help, details_page).",
		}, []string{"what"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfixbot_refused_deliveries_total",
			Help: "Deliveries refused because the queue was full, by what became of them (refused, fetched_back, handled_elsewhere, left_to_sweep).",
		}, []string{"outcome"}),
		HotfixesNotInTarget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotfix_bot_hotfixes_not_in_target",
			Help: "Hotfixes production runs that a branch (develop, a release branch) does not contain yet: its open sync-back pull requests, as last looked over.",
		}, []string{"repository", "target"}),
		OldestNotInTarget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotfix_bot_hotfix_not_in_target_oldest_seconds",
			Help: "Age of the oldest open sync-back pull request into a branch, as last looked over.",
		}, []string{"repository", "target"}),
	}
	m.Registry.MustRegister(
		m.Deliveries, m.HandlerRuns, m.HandlerDuration, m.Ready,
		m.QueueDepth, m.QueueWaiting, m.QueueRunning, m.Yields, m.QueueDelayed, m.QueueWait, m.Requeued,
		m.RateLimited, m.Blocked, m.PacedWrites, m.PacedWait, m.Redelivered, m.Refused, m.CommandsNotRun, m.CostLimited,
		m.HotfixesNotInTarget, m.OldestNotInTarget,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		goMetricsCollector{m.GitHub},
	)
	return m
}

// goMetricsCollector exports a go-metrics registry. go-githubapp names
// metrics like "github.requests.2xx" and "github.rate.remaining[installation:42]";
// they become hotfixbot_github_requests_2xx_total and
// hotfixbot_github_rate_remaining{installation="42"}.
type goMetricsCollector struct{ reg gometrics.Registry }

// Describe sends no descriptors: the metric set grows as installations
// appear, which makes this an unchecked collector.
func (goMetricsCollector) Describe(chan<- *prometheus.Desc) {}

var labelPart = regexp.MustCompile(`^(.*)\[(.*)\]$`)

func (c goMetricsCollector) Collect(ch chan<- prometheus.Metric) {
	c.reg.Each(func(name string, metric any) {
		base, labels := splitGoMetricsName(name)
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		values := make([]string, len(keys))
		for i, k := range keys {
			values[i] = labels[k]
		}
		promName := "hotfixbot_" + sanitize(base)
		switch m := metric.(type) {
		case gometrics.Counter:
			desc := prometheus.NewDesc(promName+"_total", "go-githubapp counter "+base, keys, nil)
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(m.Count()), values...)
		case gometrics.Gauge: // FunctionalGauge too: queue depth, active workers
			desc := prometheus.NewDesc(promName, "go-githubapp gauge "+base, keys, nil)
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(m.Value()), values...)
		case gometrics.Histogram:
			snap := m.Snapshot()
			desc := prometheus.NewDesc(promName, "go-githubapp histogram "+base, keys, nil)
			qs := map[float64]float64{}
			for _, q := range []float64{0.5, 0.9, 0.99} {
				qs[q] = snap.Percentile(q)
			}
			ch <- prometheus.MustNewConstSummary(desc, uint64(snap.Count()), float64(snap.Sum()), qs, values...)
		}
	})
}

func splitGoMetricsName(name string) (string, map[string]string) {
	labels := map[string]string{}
	m := labelPart.FindStringSubmatch(name)
	if m == nil {
		return name, labels
	}
	for _, kv := range strings.Split(m[2], ",") {
		k, v, ok := strings.Cut(kv, ":")
		if ok {
			labels[sanitize(k)] = v
		}
	}
	return m[1], labels
}

var nonMetricChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func sanitize(s string) string { return nonMetricChar.ReplaceAllString(s, "_") }
