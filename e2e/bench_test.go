package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
// open release branch, re-checks of the open hotfix pull requests,
// summary. Rate-limited calls must grow linearly with what needs a write
// (the release branches that need a pull request, the hotfix pull
// requests re-checked) and stay flat with the repository's other
// branches.
//
//	go test -run '^$' -bench SuccessPath -benchtime 2x ./e2e/
func BenchmarkSuccessPath(b *testing.B) {
	for _, c := range []struct{ releases, others, prs int }{
		{1, 10, 0}, {10, 10, 0}, {100, 10, 0}, {1, 1000, 0}, {1, 10, 1}, {1, 10, 10}, {1, 10, 50},
	} {
		b.Run(fmt.Sprintf("releases=%d/branches=%d/open-prs=%d", c.releases, c.others, c.prs), func(b *testing.B) {
			w := newBench(b, 0)
			r, in := w.in.Repo, w.in
			w.growRepository(b, c.releases, c.others)
			// Open hotfix pull requests, re-checked after each release.
			for i := 0; i < c.prs; i++ {
				branch := fmt.Sprintf("hotfix/open-%02d", i)
				if _, err := r.CreateBranch(in.Dana, branch, "v1.4.2"); err != nil {
					b.Fatal(err)
				}
				if _, err := r.Push(in.Dana, branch, "Fix", ghsim.Files{fmt.Sprintf("open%02d.go", i): "package p\n"}); err != nil {
					b.Fatal(err)
				}
				if _, err := r.OpenPR(in.Dana, branch, "main", "Fix"); err != nil {
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

// growRepository gives the demo's repository more open release branches
// (each holds a commit production lacks; release/1.5 is one) and feature
// branches.
func (w *benchWorld) growRepository(b *testing.B, releases, others int) {
	b.Helper()
	r, in := w.in.Repo, w.in
	for i := 0; i < releases-1; i++ {
		branch := fmt.Sprintf("release/2.%d", i)
		if _, err := r.CreateBranch(in.Dana, branch, "main"); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Push(in.Dana, branch, "Bump", ghsim.Files{"VERSION": fmt.Sprintf("2.%d.0\n", i)}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < others; i++ {
		if _, err := r.CreateBranch(in.Dana, fmt.Sprintf("feature/f%04d", i), "main"); err != nil {
			b.Fatal(err)
		}
	}
	w.settle(b)
}

// BenchmarkPushGrowth: the warm push of a new commit to a hotfix branch
// without a pull request, in repositories with more release branches and
// more other branches: flat writes (its two check runs), one more
// comparison per release branch, nothing for the others.
func BenchmarkPushGrowth(b *testing.B) {
	for _, c := range []struct{ releases, others int }{{1, 10}, {10, 10}, {100, 10}, {1, 1000}} {
		b.Run(fmt.Sprintf("releases=%d/branches=%d", c.releases, c.others), func(b *testing.B) {
			w := newBench(b, 0)
			r, dana := w.in.Repo, w.in.Dana
			w.growRepository(b, c.releases, c.others)
			if _, err := r.CreateBranch(dana, "hotfix/grow", "v1.4.2"); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Push(dana, "hotfix/grow", "fix", ghsim.Files{"fix.go": "package p\n"}); err != nil {
				b.Fatal(err)
			}
			w.settle(b)
			var total harness.Budget
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if _, err := r.Push(dana, "hotfix/grow", fmt.Sprintf("fix %d", i), ghsim.Files{"fix.go": fmt.Sprintf("package p // %d\n", i)}); err != nil {
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

// Latency benchmarks: the bots on the wall clock (harness.Options.RealTime),
// so GitHub's write pacing (a burst of 10, then one write a second per
// installation) takes the real time it takes in production, and 50 ms of
// simulated GitHub latency on every call. Figures are milliseconds from
// the moment the deliveries are posted to the write people see, and are
// reported as p50/p95 over every sample of every iteration.
//
//	go test -run '^$' -bench 'Incident|ManyInstallations' -benchtime 5x -timeout 60m ./e2e/

// githubLatency is the simulated GitHub latency of the latency benchmarks.
const githubLatency = 50 * time.Millisecond

// quietSpell is how long an installation has written nothing before a
// measured moment: long enough for its write pacing to refill a whole
// burst (one write a second).
const quietSpell = 11 * time.Second

// percentile of samples (ms), nearest rank.
func percentile(samples []float64, p float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// burst is what one measured moment wrote, read from the simulator's
// record of calls made after start.
type burst struct {
	start time.Time
	calls []ghsim.Call
}

func (w *benchWorld) since(start time.Time) burst {
	var out []ghsim.Call
	for _, c := range w.h.Sim.Calls() {
		if !c.Wall.Before(start) {
			out = append(out, c)
		}
	}
	return burst{start: start, calls: out}
}

// checksVisible is when the second check run of head was created (ms
// after start), or -1.
func (b burst) checksVisible(head string) float64 {
	n := 0
	for _, c := range b.calls {
		if c.Op == "checks/create" && strings.Contains(c.Body, `"head_sha":"`+head+`"`) {
			if n++; n == 2 {
				return float64(c.Wall.Sub(b.start)) / 1e6
			}
		}
	}
	return -1
}

// eyes is when the 👀 on comment id was written (ms after start), or -1.
func (b burst) eyes(id int64) float64 {
	for _, c := range b.calls {
		if c.Op == "reactions/create-for-issue-comment" && strings.Contains(c.Path, "/comments/"+strconv.FormatInt(id, 10)+"/") && strings.Contains(c.Body, "eyes") {
			return float64(c.Wall.Sub(b.start)) / 1e6
		}
	}
	return -1
}

// last is when the last write happened (ms after start).
func (b burst) last() float64 {
	at := 0.0
	for _, c := range b.calls {
		if c.Write {
			at = max(at, float64(c.Wall.Sub(b.start))/1e6)
		}
	}
	return at
}

func (b burst) writes() int {
	n := 0
	for _, c := range b.calls {
		if c.Write {
			n++
		}
	}
	return n
}

// BenchmarkIncident: push → both checks visible, and /promote → 👀, on a
// quiet installation and during an incident burst on the same
// installation: a production success with three sync targets (develop,
// release/1.5, release/1.6: tag, merge, sync-back, re-checks), five
// hotfix pushes and two `/promote --dry-run`, delivered at once (the dry
// runs last). Bots on the wall clock, pacing on. Targets: checks p95 ≤
// 3 s, 👀 p95 ≤ 2 s.
//
// Iterations alternate between 50 ms of GitHub latency per call (the
// wall-clock figures are theirs) and none: the difference of the means ÷
// 50 ms is the number of GitHub round trips an event waits for one after
// another (its own and those of the work ahead of it), free of the
// simulator's own git work, which on a shared machine is most of the
// wall time. The seconds writes waited for pacing are the bots' own count,
// by lane.
func BenchmarkIncident(b *testing.B) {
	for _, mode := range []string{"quiet", "burst"} {
		b.Run(mode, func(b *testing.B) {
			h, err := harness.New(harness.Options{RealTime: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(h.Close)
			in, err := h.SetupIncident()
			if err != nil {
				b.Fatal(err)
			}
			h.Sim.DiscardPending()
			w := &benchWorld{h: h, in: in}
			r := in.Repo
			// A third sync target: an open release branch besides 1.5.
			if _, err := r.CreateBranch(in.Dana, "release/1.6", "release/1.5"); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Push(in.Dana, "release/1.6", "Bump to 1.6", ghsim.Files{"VERSION": "1.6.0\n"}); err != nil {
				b.Fatal(err)
			}
			// A hotfix under review: the dry runs are asked on it.
			if _, err := r.CreateBranch(in.Dana, "hotfix/review", "v1.4.2"); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Push(in.Dana, "hotfix/review", "Fix", ghsim.Files{"review.go": "package p\n"}); err != nil {
				b.Fatal(err)
			}
			review, err := r.OpenPR(in.Dana, "hotfix/review", "main", "Fix under review")
			if err != nil {
				b.Fatal(err)
			}
			w.settle(b)
			var checks, eyes, done, writes []float64
			var mean [2]struct{ checks, eyes float64 }
			var runs [2]int
			var pacedFG, pacedBG float64
			base := "v1.4.2"
			paced := func(lane string) float64 {
				return testutil.ToFloat64(h.Bots[0].Metrics().PacedWait.WithLabelValues(lane))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var heads []string
				var comments []int64
				pushes, dryRuns := 1, 1
				released := ""
				if mode == "burst" {
					_, deployment := w.promoted(b, fmt.Sprintf("hotfix/incident-%d", i), base, fmt.Sprintf("payments/incident%d.go", i))
					if err := r.SetDeploymentStatus(in.CD, deployment, "success", ""); err != nil {
						b.Fatal(err)
					}
					released = fmt.Sprintf("v1.4.%d", 3+i)
					pushes, dryRuns = 5, 2
				}
				for j := 0; j < pushes; j++ {
					branch := fmt.Sprintf("hotfix/%s-%d-%d", mode, i, j)
					if _, err := r.CreateBranch(in.Dana, branch, base); err != nil {
						b.Fatal(err)
					}
					head, err := r.Push(in.Dana, branch, "Fix", ghsim.Files{fmt.Sprintf("fix%d.go", j): "package p\n"})
					if err != nil {
						b.Fatal(err)
					}
					heads = append(heads, head)
				}
				for j := 0; j < dryRuns; j++ {
					// A different reader each time: the cost guard answers a
					// second dry run by one person within a minute with a
					// short reply and no 👀.
					reader := h.Sim.User(fmt.Sprintf("reader-%d-%d", i, j))
					r.SetRole(reader.Login, "read")
					id, err := r.Comment(reader, review, "/promote --dry-run")
					if err != nil {
						b.Fatal(err)
					}
					comments = append(comments, id)
				}
				// The moment measured comes after a quiet spell: a deployment
				// takes minutes, so the installation's writes are paced from a
				// full burst again, not from what setting up spent.
				time.Sleep(quietSpell)
				slow := i%2 == 0
				if slow {
					h.Sim.SetLatency(githubLatency)
				}
				fg, bg := paced("interactive"), paced("background")
				b.StartTimer()
				start := time.Now()
				w.settle(b)
				b.StopTimer()
				h.Sim.SetLatency(0)
				got := w.since(start)
				k := 0
				if slow {
					k = 1
					pacedFG += paced("interactive") - fg
					pacedBG += paced("background") - bg
				}
				runs[k]++
				for _, head := range heads {
					at := got.checksVisible(head)
					if at < 0 {
						b.Fatalf("no checks on %s", head)
					}
					mean[k].checks += at / float64(len(heads))
					if slow {
						checks = append(checks, at)
					}
				}
				for _, id := range comments {
					at := got.eyes(id)
					if at < 0 {
						b.Fatalf("no 👀 on comment %d", id)
					}
					mean[k].eyes += at / float64(len(comments))
					if slow {
						eyes = append(eyes, at)
					}
				}
				if trace := os.Getenv("HOTFIX_BENCH_TRACE"); slow && trace != "" {
					var out strings.Builder
					for _, c := range got.calls {
						fmt.Fprintf(&out, "%6.0f ms %-5v %s %s %.80s\n", float64(c.Wall.Sub(start))/1e6, c.Write, c.Op, c.Path, c.Body)
					}
					_ = os.WriteFile(fmt.Sprintf("%s-%d", trace, i), []byte(out.String()), 0o644)
				}
				if slow {
					done = append(done, got.last())
					writes = append(writes, float64(got.writes()))
				}
				if released != "" {
					if r.TagCommit(released) == "" {
						b.Fatalf("%s was not released", released)
					}
					base = released
				}
				b.StartTimer()
			}
			b.ReportMetric(percentile(checks, 0.5), "checks-p50-ms")
			b.ReportMetric(percentile(checks, 0.95), "checks-p95-ms")
			b.ReportMetric(percentile(eyes, 0.5), "eyes-p50-ms")
			b.ReportMetric(percentile(eyes, 0.95), "eyes-p95-ms")
			b.ReportMetric(percentile(done, 0.5), "last-write-p50-ms")
			b.ReportMetric(percentile(writes, 0.5), "writes/op")
			if runs[0] > 0 && runs[1] > 0 {
				rt := func(slow, fast float64) float64 {
					return (slow/float64(runs[1]) - fast/float64(runs[0])) / float64(githubLatency/time.Millisecond)
				}
				b.ReportMetric(rt(mean[1].checks, mean[0].checks), "round-trips-to-checks")
				b.ReportMetric(rt(mean[1].eyes, mean[0].eyes), "round-trips-to-eyes")
				b.ReportMetric(pacedFG/float64(runs[1]), "interactive-paced-s/op")
				b.ReportMetric(pacedBG/float64(runs[1]), "background-paced-s/op")
			}
		})
	}
}

// BenchmarkManyInstallations: 20 organisations, one installation each,
// each pushing 10 hotfix branches at once (200 pushes and their 200 branch
// creations posted back to back), with the production defaults (16
// workers, a queue of 1000, 2 events of one installation at once, writes
// paced), bots on the wall clock, 50 ms per GitHub call. Every push must
// get both checks, none refused; reported: the last push's checks, the
// median's, refusals, and the calls charged to the rate limit per push.
func BenchmarkManyInstallations(b *testing.B) {
	const orgs, pushes = 20, 10
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h, err := harness.New(harness.Options{RealTime: true, Latency: githubLatency, Workers: 16, QueueSize: 1000})
		if err != nil {
			b.Fatal(err)
		}
		var heads []string
		var repos []*ghsim.Repo
		var devs []*ghsim.User
		for o := 0; o < orgs; o++ {
			owner := fmt.Sprintf("org-%02d", o)
			r, err := h.Sim.CreateRepo(owner, "svc")
			if err != nil {
				b.Fatal(err)
			}
			dev := h.Sim.User("dev-" + owner)
			r.SetRole(dev.Login, "write")
			if _, err := r.Push(dev, "main", "Initial", ghsim.Files{"svc.go": "package svc\n"}); err != nil {
				b.Fatal(err)
			}
			if _, err := r.CreateBranch(dev, "develop", "main"); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Tag(dev, "v1.0.0", "main"); err != nil {
				b.Fatal(err)
			}
			h.Sim.Install(h.App, r)
			repos = append(repos, r)
			devs = append(devs, dev)
		}
		// The history before the installations is not news; the pushes
		// are made once every organisation has installed the app (a
		// DiscardPending per organisation dropped the others' pushes).
		h.Sim.DiscardPending()
		for o, r := range repos {
			for p := 0; p < pushes; p++ {
				branch := fmt.Sprintf("hotfix/fix-%d", p)
				if _, err := r.CreateBranch(devs[o], branch, "v1.0.0"); err != nil {
					b.Fatal(err)
				}
				head, err := r.Push(devs[o], branch, "Fix", ghsim.Files{fmt.Sprintf("fix%d.go", p): "package svc\n"})
				if err != nil {
					b.Fatal(err)
				}
				heads = append(heads, head)
			}
		}
		h.Sim.ResetCalls()
		w := &benchWorld{h: h}
		b.StartTimer()
		start := time.Now()
		w.settle(b)
		b.StopTimer()
		got := w.since(start)
		var at []float64
		for _, head := range heads {
			t := got.checksVisible(head)
			if t < 0 {
				b.Fatalf("a push got no checks (%s)", head)
			}
			at = append(at, t)
		}
		refused := 0
		for _, d := range h.Sim.Deliveries() {
			for _, a := range d.Attempts {
				if a.Status == http.StatusServiceUnavailable {
					refused++
				}
			}
		}
		a := h.Account()
		b.ReportMetric(percentile(at, 1), "last-checks-ms")
		b.ReportMetric(percentile(at, 0.5), "checks-p50-ms")
		b.ReportMetric(float64(refused), "refused")
		b.ReportMetric(float64(a.Charged)/float64(len(heads)), "charged/push")
		b.ReportMetric(float64(a.Writes)/float64(len(heads)), "writes/push")
		h.Close()
		b.StartTimer()
	}
}
