package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
)

// Benchmarks run the real server against the simulator. Each reports, per
// event: API calls, calls charged to the rate limit, writes, free
// conditional (304) reads, wasted reads (charged although unchanged; the
// target is 0), the wall time from delivery to the last write, and the
// critical path in sequential round trips: iterations alternate between no
// added latency and 20 ms per call, and (mean with - mean without) / 20 ms
// counts the calls the event waits for one after another, free of the
// simulator's own (git) work.
//
//	go test -run '^$' -bench . -benchtime 20x ./e2e/
//
// Figures and their reading: BENCHMARKS.md.

type benchWorld struct {
	h  *harness.Harness
	in *harness.Incident
}

func newBench(b *testing.B, latency time.Duration) *benchWorld {
	b.Helper()
	h, err := harness.New(harness.Options{Latency: latency})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	in, err := h.SetupIncident()
	if err != nil {
		b.Fatal(err)
	}
	// One open release branch, as the figures in BENCHMARKS.md assume.
	if err := in.Repo.DeleteBranch(in.Dana, "release/1.4"); err != nil {
		b.Fatal(err)
	}
	h.Sim.DiscardPending()
	return &benchWorld{h: h, in: in}
}

func (w *benchWorld) settle(b *testing.B) int {
	n, err := w.h.Settle(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// promoted makes a hotfix branch at base with one new file, opens its
// pull request, approves and promotes it, and returns its head and the
// deployment /promote created (not yet reported on).
func (w *benchWorld) promoted(b *testing.B, branch, base, file string) (head string, deployment int64) {
	b.Helper()
	r, in := w.in.Repo, w.in
	if _, err := r.CreateBranch(in.Dana, branch, base); err != nil {
		b.Fatal(err)
	}
	head, err := r.Push(in.Dana, branch, "fix", ghsim.Files{file: "package p\n"})
	if err != nil {
		b.Fatal(err)
	}
	pr, err := r.OpenPR(in.Dana, branch, "main", "Fix")
	if err != nil {
		b.Fatal(err)
	}
	w.settle(b)
	if err := r.AddLabel(in.Rob, pr, "hotfix-approved"); err != nil {
		b.Fatal(err)
	}
	w.settle(b)
	if _, err := r.Comment(in.Rob, pr, "/promote"); err != nil {
		b.Fatal(err)
	}
	w.settle(b)
	deps := r.Deployments()
	if len(deps) == 0 || deps[len(deps)-1].SHA != head {
		b.Fatalf("%s was not deployed", branch)
	}
	return head, deps[len(deps)-1].ID
}

// roundTripLatency is the per-call latency of the critical-path iterations.
const roundTripLatency = 20 * time.Millisecond

// measure runs step b.N times, each after prepare (untimed), and reports
// the API budget of the timed part. Iterations run in pairs with and
// without roundTripLatency (pairs, so that steps alternating between two
// kinds, like adding and removing a label, land in both classes).
func measure(b *testing.B, w *benchWorld, cold bool, prepare func(i int), step func()) {
	var total harness.Budget
	var peak uint64
	var elapsed [2]time.Duration
	var runs [2]int
	var ms runtime.MemStats
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if cold {
			if err := w.h.Restart(); err != nil {
				b.Fatal(err)
			}
		}
		prepare(i)
		w.h.Sim.ResetCalls()
		slow := (i / 2) % 2
		w.h.Sim.SetLatency(time.Duration(slow) * roundTripLatency)
		b.StartTimer()
		start := time.Now()
		step()
		elapsed[slow] += time.Since(start)
		runs[slow]++
		b.StopTimer()
		w.h.Sim.SetLatency(0)
		a := w.h.Account()
		total.Calls += a.Calls
		total.Charged += a.Charged
		total.Writes += a.Writes
		total.Conditional += a.Conditional
		total.Wasted += a.Wasted
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(total.Calls)/n, "calls/op")
	b.ReportMetric(float64(total.Charged)/n, "charged/op")
	b.ReportMetric(float64(total.Writes)/n, "writes/op")
	b.ReportMetric(float64(total.Conditional)/n, "conditional/op")
	b.ReportMetric(float64(total.Wasted)/n, "wasted/op")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	if runs[0] > 0 && runs[1] > 0 {
		fast := float64(elapsed[0]) / float64(runs[0])
		slowMean := float64(elapsed[1]) / float64(runs[1])
		b.ReportMetric(fast/1e6, "ms-delivery-to-last-write")
		b.ReportMetric((slowMean-fast)/float64(roundTripLatency), "critical-path-round-trips")
	}
}

// BenchmarkPushToHotfixBranch: a commit pushed to a hotfix branch without
// a pull request (base and schema gates).
func BenchmarkPushToHotfixBranch(b *testing.B) {
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			{
				w := newBench(b, 0)
				r, dana := w.in.Repo, w.in.Dana
				if _, err := r.CreateBranch(dana, "hotfix/bench", "v1.4.2"); err != nil {
					b.Fatal(err)
				}
				w.settle(b)
				measure(b, w, cold, func(i int) {
					if _, err := r.Push(dana, "hotfix/bench", fmt.Sprintf("fix %d", i), ghsim.Files{"fix.go": fmt.Sprintf("package p // %d\n", i)}); err != nil {
						b.Fatal(err)
					}
				}, func() { w.settle(b) })
			}
		})
	}
}

// BenchmarkLabeledEvent: a reviewer adds, or removes, the approval label
// on an open hotfix pull request (approval and schema gates).
func BenchmarkLabeledEvent(b *testing.B) {
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			{
				w := newBench(b, 0)
				r, in := w.in.Repo, w.in
				if _, err := r.CreateBranch(in.Dana, "hotfix/bench", "v1.4.2"); err != nil {
					b.Fatal(err)
				}
				if _, err := r.Push(in.Dana, "hotfix/bench", "fix", ghsim.Files{"fix.go": "package p\n"}); err != nil {
					b.Fatal(err)
				}
				n, err := r.OpenPR(in.Dana, "hotfix/bench", "main", "Fix")
				if err != nil {
					b.Fatal(err)
				}
				w.settle(b)
				measure(b, w, cold, func(i int) {
					var err error
					if i%2 == 0 {
						err = r.AddLabel(in.Rob, n, "hotfix-approved")
					} else {
						err = r.RemoveLabel(in.Rob, n, "hotfix-approved")
					}
					if err != nil {
						b.Fatal(err)
					}
				}, func() { w.settle(b) })
			}
		})
	}
}

// BenchmarkDeliveriesPerSecond: bursts of deliveries sent back to back.
// "gates": pushes to 20 hotfix branches, each evaluated in full (bounded by
// the simulator's git work on the same two cores). "skipped": pushes to
// feature branches, which the bot verifies, queues, decodes and drops
// without an API call (the bot's own delivery path).
func BenchmarkDeliveriesPerSecond(b *testing.B) {
	const burst = 20
	for _, kind := range []string{"gates", "skipped"} {
		b.Run(kind, func(b *testing.B) {
			w := newBench(b, 0)
			r, dana := w.in.Repo, w.in.Dana
			prefix := "hotfix/load-"
			if kind == "skipped" {
				prefix = "feature/load-"
				w.hotfixFromProductionBench(b) // caches the policy
			}
			for i := 0; i < burst; i++ {
				if _, err := r.CreateBranch(dana, fmt.Sprintf("%s%02d", prefix, i), "v1.4.2"); err != nil {
					b.Fatal(err)
				}
			}
			w.settle(b)
			delivered := 0
			var elapsed time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j := 0; j < burst; j++ {
					if _, err := r.Push(dana, fmt.Sprintf("%s%02d", prefix, j), fmt.Sprintf("change %d", i), ghsim.Files{"f.go": fmt.Sprintf("package p // %d\n", i)}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start := time.Now()
				delivered += w.settle(b)
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(delivered)/elapsed.Seconds(), "deliveries/s")
		})
	}
}

func (w *benchWorld) hotfixFromProductionBench(b *testing.B) {
	if _, err := w.in.Repo.CreateBranch(w.in.Dana, "hotfix/warm", "v1.4.2"); err != nil {
		b.Fatal(err)
	}
	w.settle(b)
}

// promoteLatency is the per-call latency of BenchmarkPromote's slow
// iterations: larger than roundTripLatency, because a command is a few
// round trips and the measurement would drown in scheduling noise.
const promoteLatency = 20 * time.Millisecond

// BenchmarkPromote: a reviewer's /promote on an approved hotfix pull
// request, from the comment's delivery to the 👀 reaction and to the
// deployment, warm and cold. Reported: the API budget of the whole
// command, and the sequential round trips to 👀 and to the deployment
// (the same with-and-without-latency method as the critical path).
func BenchmarkPromote(b *testing.B) {
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			w := newBench(b, 0)
			r, in := w.in.Repo, w.in
			// Each iteration's deployment fails (releasing the lock, no
			// rollback), so the next promotion starts from the same place.
			if _, err := r.Push(in.Rob, "main", "Configure hotfix-bot", ghsim.Files{".github/hotfix-bot.yml": "rollback:\n  on_failure: false\n"}); err != nil {
				b.Fatal(err)
			}
			w.settle(b)
			var last int64
			var pr int
			var toEyes, toDeploy [2]time.Duration
			var runs [2]int
			var total harness.Budget
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if last != 0 {
					if err := r.SetDeploymentStatus(in.CD, last, "failure", ""); err != nil {
						b.Fatal(err)
					}
				}
				branch := fmt.Sprintf("hotfix/promote-%d", i)
				if _, err := r.CreateBranch(in.Dana, branch, "v1.4.2"); err != nil {
					b.Fatal(err)
				}
				if _, err := r.Push(in.Dana, branch, "fix", ghsim.Files{fmt.Sprintf("fix%d.go", i): "package p\n"}); err != nil {
					b.Fatal(err)
				}
				var err error
				if pr, err = r.OpenPR(in.Dana, branch, "main", "Fix"); err != nil {
					b.Fatal(err)
				}
				w.settle(b)
				if err := r.AddLabel(in.Rob, pr, "hotfix-approved"); err != nil {
					b.Fatal(err)
				}
				w.settle(b)
				if cold {
					if err := w.h.Restart(); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := r.Comment(in.Rob, pr, "/promote"); err != nil {
					b.Fatal(err)
				}
				w.h.Sim.ResetCalls()
				slow := (i / 2) % 2
				w.h.Sim.SetLatency(time.Duration(slow) * promoteLatency)
				b.StartTimer()
				start := time.Now()
				w.settle(b)
				b.StopTimer()
				w.h.Sim.SetLatency(0)
				var eyes, deployed time.Time
				for _, c := range w.h.Sim.Calls() {
					switch {
					case c.Op == "reactions/create-for-issue-comment" && strings.Contains(c.Body, "eyes") && eyes.IsZero():
						eyes = c.Wall
					case c.Op == "repos/create-deployment" && deployed.IsZero():
						deployed = c.Wall
					}
				}
				if eyes.IsZero() || deployed.IsZero() {
					b.Fatal("no 👀 or no deployment")
				}
				toEyes[slow] += eyes.Sub(start)
				toDeploy[slow] += deployed.Sub(start)
				runs[slow]++
				a := w.h.Account()
				total.Calls += a.Calls
				total.Charged += a.Charged
				total.Writes += a.Writes
				total.Wasted += a.Wasted
				deps := r.Deployments()
				last = deps[len(deps)-1].ID
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(float64(total.Calls)/n, "calls/op")
			b.ReportMetric(float64(total.Charged)/n, "charged/op")
			b.ReportMetric(float64(total.Writes)/n, "writes/op")
			b.ReportMetric(float64(total.Wasted)/n, "wasted/op")
			if runs[0] > 0 && runs[1] > 0 {
				rt := func(d [2]time.Duration) float64 {
					return (float64(d[1])/float64(runs[1]) - float64(d[0])/float64(runs[0])) / float64(promoteLatency)
				}
				b.ReportMetric(rt(toEyes), "round-trips-to-eyes")
				b.ReportMetric(rt(toDeploy), "round-trips-to-deployment")
			}
		})
	}
}

// BenchmarkSuccessPath: the CD system reports a hotfix's production
// deployment successful: tag, merge, lock, a sync-back pull request per
// open release branch, re-checks, summary. Rate-limited calls must grow
// linearly with the release branches that need a pull request and stay
// flat with the repository's other branches.
//
//	go test -run '^$' -bench SuccessPath -benchtime 2x ./e2e/
func BenchmarkSuccessPath(b *testing.B) {
	for _, c := range []struct{ releases, others int }{{1, 10}, {10, 10}, {100, 10}, {1, 1000}} {
		b.Run(fmt.Sprintf("releases=%d/branches=%d", c.releases, c.others), func(b *testing.B) {
			w := newBench(b, 0)
			r, in := w.in.Repo, w.in
			// Every release branch is open (it holds a commit production
			// lacks); the other branches are feature branches.
			for i := 0; i < c.releases-1; i++ { // release/1.5 is one
				branch := fmt.Sprintf("release/2.%d", i)
				if _, err := r.CreateBranch(in.Dana, branch, "main"); err != nil {
					b.Fatal(err)
				}
				if _, err := r.Push(in.Dana, branch, "Bump", ghsim.Files{"VERSION": fmt.Sprintf("2.%d.0\n", i)}); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < c.others; i++ {
				if _, err := r.CreateBranch(in.Dana, fmt.Sprintf("feature/f%04d", i), "main"); err != nil {
					b.Fatal(err)
				}
			}
			w.settle(b)
			base := "v1.4.2"
			var total harness.Budget
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				_, deployment := w.promoted(b, fmt.Sprintf("hotfix/success-%d", i), base, fmt.Sprintf("payments/fix%d.go", i))
				if err := r.SetDeploymentStatus(in.CD, deployment, "success", ""); err != nil {
					b.Fatal(err)
				}
				w.h.Sim.ResetCalls()
				b.StartTimer()
				w.settle(b)
				b.StopTimer()
				a := w.h.Account()
				total.Calls += a.Calls
				total.Charged += a.Charged
				total.Writes += a.Writes
				base = fmt.Sprintf("v1.4.%d", 3+i)
				if r.TagCommit(base) == "" {
					b.Fatalf("%s was not released", base)
				}
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(float64(total.Calls)/n, "calls/op")
			b.ReportMetric(float64(total.Charged)/n, "charged/op")
			b.ReportMetric(float64(total.Writes)/n, "writes/op")
		})
	}
}

// BenchmarkDetailsPage reads a released hotfix's details page as people
// do: the first read after a start (every fact fresh from GitHub), a
// re-read once the page's 30 s have passed (GitHub answers what did not
// change with a free 304), and a read within them (served from memory).
// It reports GitHub calls and calls charged to the rate limit per read.
func BenchmarkDetailsPage(b *testing.B) {
	w := newBench(b, 0)
	r, in := w.in.Repo, w.in
	head, deployment := w.promoted(b, "hotfix/page", "v1.4.2", "payments/fix.go")
	if err := r.SetDeploymentStatus(in.CD, deployment, "success", ""); err != nil {
		b.Fatal(err)
	}
	w.settle(b)
	cr, ok := r.CheckRun(head, "hotfix-bot/base")
	if !ok || cr.DetailsURL == "" {
		b.Fatal("no details page link")
	}
	// The page's path (a restart serves it at a new local address).
	path := strings.TrimPrefix(cr.DetailsURL, w.h.PublicURL())
	read := func() {
		resp, err := http.Get(w.h.PublicURL() + path)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for _, mode := range []string{"cold", "expired", "cached"} {
		b.Run(mode, func(b *testing.B) {
			if mode != "cold" {
				read() // warm the caches
			}
			var total harness.Budget
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				switch mode {
				case "cold":
					if err := w.h.Restart(); err != nil {
						b.Fatal(err)
					}
				case "expired":
					w.h.Sim.Clock().Advance(31 * time.Second)
				}
				w.h.Sim.ResetCalls()
				b.StartTimer()
				read()
				b.StopTimer()
				a := w.h.Account()
				total.Calls += a.Calls
				total.Charged += a.Charged
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(float64(total.Calls)/n, "calls/read")
			b.ReportMetric(float64(total.Charged)/n, "charged/read")
		})
	}
}
