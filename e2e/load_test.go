package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
)

// BenchmarkLoad is the load run: the real `hotfix-bot serve` binary, its
// own process (so its memory is its own), behind loopback, against the
// simulator with 30 ms per API call. Thousands of signed deliveries across
// many installations are posted back to back by many senders; the run
// reports what the bot sustained:
//
//   - deliveries/s: accepted deliveries ÷ the time from the first post to
//     the queue being empty and every handler done;
//   - 503s: deliveries refused because the queue was full (the target for
//     deliveries that need no work is none: the door answers them);
//   - answer p50/p99: how long a sender waited for the bot's answer;
//   - CPU-s-per-1000: the bot process's CPU time (user and system, from
//     /proc) per 1,000 deliveries;
//   - queue-wait p50/p99: from the bot's hotfixbot_queue_wait_seconds
//     histogram (interpolated within its buckets);
//   - peak-RSS-MiB: the process's high-water resident memory (VmHWM);
//   - idle-RSS-MiB: resident memory after start-up and one event per
//     installation, doing nothing.
//
// "irrelevant" is what most of an installation's events are: pushes to
// feature branches, pull requests into develop, comments without a
// command, pings; 5,000 from 32 senders in 1.6 s, the burst the issue
// that asked for these figures describes ("irrelevant-flat-out": as fast
// as the senders go, which on two cores shared with the bot measures the
// machine's saturation as much as the bot). "mixed" offers 200
// deliveries a second from 8 senders, one in 40 a `/help` command (each: a
// reaction, the permission, the reply, and so on: several calls of 30 ms
// and two paced writes), spread over the installations.
//
//	go test -run '^$' -bench 'Load$' -benchtime 2x ./e2e/
func BenchmarkLoad(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the process's memory from /proc")
	}
	lw := newLoadWorld(b, 50, true)
	b.Run("idle", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		b.ReportMetric(lw.idleRSS, "idle-RSS-MiB")
	})
	for _, mix := range []loadMix{irrelevant, {"irrelevant-flat-out", 0, 0, 5000, 32}, {"mixed", 40, 200, 4000, 8}, {"mixed-burst", 20, 0, 5000, 8}} {
		b.Run(mix.name, func(b *testing.B) { lw.run(b, mix) })
	}
}

// BenchmarkLoadCold is the irrelevant mix on a bot that has seen one push
// per installation and nothing else: it has not read the policy that
// governs pull requests into develop, so the first burst's pull requests
// are queued (the door cannot tell whether they matter) until each
// repository's policy is read. A new bot each time; its first iteration
// is the cold one, so run it with -benchtime 1x.
//
//	go test -run '^$' -bench LoadCold -benchtime 1x -count 3 ./e2e/
func BenchmarkLoadCold(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the process's memory from /proc")
	}
	b.Run("irrelevant", func(b *testing.B) {
		b.StopTimer()
		lw := newLoadWorld(b, 50, false)
		b.StartTimer()
		lw.run(b, irrelevant)
	})
}

// irrelevant is the issue's burst: 5,000 deliveries that need no work
// from 32 senders in 1.6 s.
var irrelevant = loadMix{"irrelevant", 0, 5000 / 1.6, 5000, 32}

// loadMix is one kind of load: how many deliveries, how fast, from how
// many senders, and how often one needs work.
type loadMix struct {
	name          string
	relevantEvery int
	rate          float64 // deliveries/s offered; 0: as fast as the senders go
	perOp         int
	senders       int
}

// run sends b.N rounds of a mix and reports what the bot sustained.
func (lw *loadWorld) run(b *testing.B, mix loadMix) {
	perOp := mix.perOp
	var accepted, refused, other int64
	var elapsed time.Duration
	var answers []float64
	before := lw.metrics(b)
	cpuBefore := lw.cpu(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bodies := lw.deliveries(b, perOp, mix.relevantEvery)
		b.StartTimer()
		start := time.Now()
		a, r, o, took := lw.send(b, bodies, mix.rate, mix.senders)
		lw.waitIdle(b)
		elapsed += time.Since(start)
		accepted, refused, other = accepted+a, refused+r, other+o
		answers = append(answers, took...)
	}
	cpu := lw.cpu(b) - cpuBefore
	after := lw.metrics(b)
	if other > 0 {
		b.Errorf("%d deliveries answered neither 2xx nor 503", other)
	}
	b.ReportMetric(float64(accepted)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(refused), "503s")
	b.ReportMetric(percentile(answers, 0.5), "answer-p50-ms")
	b.ReportMetric(percentile(answers, 0.99), "answer-p99-ms")
	b.ReportMetric(cpu/float64(perOp*b.N)*1000, "CPU-s-per-1000")
	wait := after.histogram("hotfixbot_queue_wait_seconds").minus(before.histogram("hotfixbot_queue_wait_seconds"))
	b.ReportMetric(wait.quantile(0.5)*1000, "queue-wait-p50-ms")
	b.ReportMetric(wait.quantile(0.99)*1000, "queue-wait-p99-ms")
	b.ReportMetric(lw.rss(b, "VmHWM"), "peak-RSS-MiB")
	if errs := after.sum("hotfixbot_handler_runs_total", `outcome="error"`) + after.sum("hotfixbot_handler_runs_total", `outcome="panic"`); errs > 0 {
		b.Errorf("%v handler runs failed", errs)
	}
}

// loadWorld is the simulator, the installations and the bot process.
type loadWorld struct {
	sim      *ghsim.Sim
	app      *ghsim.App
	hook     string // the bot's webhook URL
	metURL   string
	cmd      *exec.Cmd
	installs []loadInstall
	client   *http.Client
	idleRSS  float64
	log      *syncBuffer // the bot's output (warnings and errors)
	seq      atomic.Int64
	// templates are real payloads of GitHub's (internal/fixtures/webhooks).
	templates map[string]map[string]any
}

type loadInstall struct {
	id    int64
	repo  *ghsim.Repo
	issue int
	dev   *ghsim.User
}

func newLoadWorld(b *testing.B, installations int, warmPullRequests bool) *loadWorld {
	b.Helper()
	sim, err := ghsim.New(ghsim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	// The bot runs on the real clock: the simulator's starts now, so the
	// installation tokens it hands out are valid for the bot.
	if d := time.Until(sim.Clock().Now()); d < 0 {
		sim.Clock().Advance(-d)
	}
	ghApp, err := sim.RegisterApp(ghsim.AppOptions{Slug: "hotfix-bot", Permissions: app.Permissions, Events: app.Events})
	if err != nil {
		b.Fatal(err)
	}
	lw := &loadWorld{sim: sim, app: ghApp, templates: map[string]map[string]any{}}
	for i := 0; i < installations; i++ {
		owner := fmt.Sprintf("team-%02d", i)
		r, err := sim.CreateRepo(owner, "svc")
		if err != nil {
			b.Fatal(err)
		}
		dev := sim.User("dev-" + owner)
		r.SetRole(dev.Login, "write")
		if _, err := r.Push(dev, "main", "Initial", ghsim.Files{"README.md": "# svc\n"}); err != nil {
			b.Fatal(err)
		}
		issue := r.CreateIssue(dev, "Payments are slow", "")
		in := sim.Install(ghApp, r)
		lw.installs = append(lw.installs, loadInstall{id: in.ID, repo: r, issue: issue, dev: dev})
	}
	sim.DiscardPending()
	lw.readTemplates(b)
	sim.SetLatency(30 * time.Millisecond)
	lw.start(b)
	// A push per installation (and a pull request into develop, unless the
	// bot is to be cold): each repository's policy is read (there is none:
	// the defaults) and cached, for pushes and for pull requests into
	// develop, as on a bot that has been up.
	var warm [][2]any
	for _, in := range lw.installs {
		warm = append(warm, [2]any{"push", lw.payload(b, "push-with-commits", in)})
		if warmPullRequests {
			warm = append(warm, [2]any{"pull_request", lw.payload(b, "pull_request.opened", in)})
		}
	}
	lw.send(b, warm, 0, 8)
	lw.waitIdle(b)
	time.Sleep(2 * time.Second)
	lw.idleRSS = lw.rss(b, "VmRSS")
	return lw
}

// readTemplates reads the real payloads deliveries are made from.
func (lw *loadWorld) readTemplates(b *testing.B) {
	for _, name := range []string{"push-with-commits", "pull_request.labeled", "pull_request.opened", "issue_comment.created", "issues.labeled", "ping"} {
		raw, err := os.ReadFile(filepath.Join("..", "internal", "fixtures", "webhooks", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			b.Fatal(err)
		}
		lw.templates[name] = m
	}
}

// start builds the binary and runs `hotfix-bot serve` against the
// simulator, with the defaults a production deployment has.
func (lw *loadWorld) start(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "hotfix-bot")
	build := exec.Command("go", "build", "-o", bin, "../cmd/hotfix-bot")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	keyPath := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(keyPath, []byte(lw.app.PrivateKeyPEM), 0o600); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"GITHUB_APP_INTEGRATION_ID="+strconv.FormatInt(lw.app.ID, 10),
		"GITHUB_APP_PRIVATE_KEY_PATH="+keyPath,
		"GITHUB_APP_WEBHOOK_SECRET="+lw.app.WebhookSecret,
		"GITHUB_V3_API_URL="+lw.sim.URL(),
		"GITHUB_WEB_URL="+strings.TrimSuffix(lw.sim.URL(), "/"),
		"HOST=127.0.0.1", "PORT="+strconv.Itoa(port),
		"HOTFIX_BOT_REDELIVERY_INTERVAL=0",
		"LOG_LEVEL=warn",
	)
	lw.log = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = lw.log, lw.log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lw.cmd = cmd
	b.Cleanup(func() {
		if f := os.Getenv("TMPDUMP"); f != "" {
			defer func() { _ = os.WriteFile(f, []byte(lw.log.String()), 0o644) }()
		}
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	lw.hook, lw.metURL = base+"/api/github/hook", base+"/metrics"
	lw.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := lw.client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the bot never became ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deliveries builds n deliveries: irrelevant ones of four kinds (pushes
// to feature branches, pull requests into develop, comments without a
// command, pings), round robin over the installations, and one /help in
// relevantEvery (0: none), each on a real comment.
func (lw *loadWorld) deliveries(b *testing.B, n, relevantEvery int) [][2]any {
	out := make([][2]any, 0, n)
	for i := 0; i < n; i++ {
		in := lw.installs[i%len(lw.installs)]
		switch {
		case relevantEvery > 0 && i%relevantEvery == 0:
			in = lw.installs[(i/relevantEvery)%len(lw.installs)] // spread over the installations
			id, err := in.repo.Comment(in.dev, in.issue, "/help")
			if err != nil {
				b.Fatal(err)
			}
			p := lw.payload(b, "issue_comment.created", in)
			set(p, "comment.id", id)
			set(p, "comment.body", "/help")
			out = append(out, [2]any{"issue_comment", p})
		case i%4 == 0:
			out = append(out, [2]any{"push", lw.payload(b, "push-with-commits", in)})
		case i%4 == 1:
			out = append(out, [2]any{"pull_request", lw.payload(b, "pull_request.opened", in)})
		case i%4 == 2:
			p := lw.payload(b, "issue_comment.created", in)
			set(p, "comment.body", "Looks good to me, thanks!")
			out = append(out, [2]any{"issue_comment", p})
		default:
			out = append(out, [2]any{"ping", lw.payload(b, "ping", in)})
		}
	}
	lw.sim.DiscardPending()
	return out
}

// payload is a copy of a real example, moved into an installation's
// repository, sent by its developer, on feature branches.
func (lw *loadWorld) payload(b *testing.B, name string, in loadInstall) map[string]any {
	raw, _ := json.Marshal(lw.templates[name])
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatal(err)
	}
	owner := in.repo.Owner.Login
	set(m, "installation", map[string]any{"id": in.id})
	set(m, "repository.name", in.repo.Name)
	set(m, "repository.full_name", owner+"/"+in.repo.Name)
	set(m, "repository.default_branch", "main")
	set(m, "repository.owner.login", owner)
	sender := map[string]any{"login": in.dev.Login, "id": in.dev.ID, "type": "User"}
	set(m, "sender", sender)
	delete(m, "performed_via_github_app")
	switch name {
	case "push-with-commits":
		set(m, "ref", "refs/heads/feature/load")
		set(m, "created", false)
		set(m, "deleted", false)
	case "pull_request.labeled":
		set(m, "pull_request.head.ref", "feature/load")
		set(m, "label.name", "bug")
	case "pull_request.opened":
		set(m, "pull_request.head.ref", "feature/load")
		set(m, "pull_request.base.ref", "develop")
	case "issue_comment.created":
		set(m, "issue.number", in.issue)
		delete(m["issue"].(map[string]any), "pull_request")
		set(m, "comment.user", sender)
		set(m, "comment.created_at", lw.sim.Clock().Now().UTC().Format(time.RFC3339))
		delete(m["comment"].(map[string]any), "performed_via_github_app")
	}
	return m
}

// set sets a dotted path in a decoded JSON object.
func set(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// send posts the deliveries, signed, from `senders` senders at once, at
// most rate a second (0: no limit); it returns how many were accepted,
// refused with 503, and answered otherwise, and how long each answer took
// (ms).
func (lw *loadWorld) send(b *testing.B, deliveries [][2]any, rate float64, senders int) (accepted, refused, other int64, took []float64) {
	// Bodies are encoded and signed before the clock starts: GitHub does
	// that on its own machines, not on the bot's two cores.
	bodies := make([][]byte, len(deliveries))
	signatures := make([]string, len(deliveries))
	for i, d := range deliveries {
		body, err := json.Marshal(d[1])
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], signatures[i] = body, lw.app.Signature256(body)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	var a, r, o atomic.Int64
	took = make([]float64, len(bodies))
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				if rate > 0 {
					time.Sleep(time.Until(begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
				}
				req, _ := http.NewRequest(http.MethodPost, lw.hook, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", deliveries[i][0].(string))
				req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("load-%d", lw.seq.Add(1)))
				req.Header.Set("X-Hub-Signature-256", signatures[i])
				sent := time.Now()
				resp, err := lw.client.Do(req)
				took[i] = float64(time.Since(sent)) / 1e6
				if err != nil {
					o.Add(1)
					continue
				}
				resp.Body.Close()
				switch {
				case resp.StatusCode/100 == 2:
					a.Add(1)
				case resp.StatusCode == http.StatusServiceUnavailable:
					r.Add(1)
				default:
					o.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return a.Load(), r.Load(), o.Load(), took
}

// cpu reads the bot process's CPU time so far (user and system), in
// seconds, from /proc/PID/stat (fields 14 and 15, in clock ticks of
// 1/100 s: Linux's USER_HZ).
func (lw *loadWorld) cpu(b *testing.B) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", lw.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count from its end.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("cannot read the CPU time from %q", raw)
	}
	return (utime + stime) / 100
}

// waitIdle waits until the bot's queue is empty and no handler runs.
func (lw *loadWorld) waitIdle(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		m := lw.metrics(b)
		if m.sum("hotfixbot_queue_depth", "")+m.sum("hotfixbot_queue_running", "")+m.sum("hotfixbot_queue_delayed", "") == 0 {
			return
		}
		select {
		case <-ctx.Done():
			var state []string
			for _, line := range m {
				if strings.HasPrefix(line, "hotfixbot_queue") || strings.HasPrefix(line, "hotfixbot_handler_runs") || strings.Contains(line, "rate_limited") || strings.HasPrefix(line, "hotfixbot_github_requests_") {
					state = append(state, line)
				}
			}
			b.Fatalf("the bot's queue never emptied:\n%s\nthe bot's log:\n%s", strings.Join(state, "\n"), lw.log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// rss reads a memory figure of the bot's process, in MiB.
func (lw *loadWorld) rss(b *testing.B, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", lw.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc status", field)
	return 0
}

// promText is a scrape of the bot's /metrics: sample lines by name.
type promText []string

func (lw *loadWorld) metrics(b *testing.B) promText {
	resp, err := lw.client.Get(lw.metURL)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var lines promText
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

// sum adds the samples of a metric whose labels contain match.
func (p promText) sum(name, match string) float64 {
	total := 0.0
	for _, line := range p {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) || !strings.Contains(series, match) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err == nil {
			total += v
		}
	}
	return total
}

// histogram is a Prometheus histogram's cumulative buckets.
type histogram struct {
	bounds []float64
	counts []float64
}

func (p promText) histogram(name string) histogram {
	var h histogram
	type bucket struct{ le, n float64 }
	var bs []bucket
	for _, line := range p {
		series, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(series, name+"_bucket{") {
			continue
		}
		_, le, _ := strings.Cut(series, `le="`)
		le, _, _ = strings.Cut(le, `"`)
		bound := math.Inf(1)
		if le != "+Inf" {
			bound, _ = strconv.ParseFloat(le, 64)
		}
		n, _ := strconv.ParseFloat(value, 64)
		bs = append(bs, bucket{bound, n})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	for _, bk := range bs {
		h.bounds = append(h.bounds, bk.le)
		h.counts = append(h.counts, bk.n)
	}
	return h
}

func (h histogram) minus(o histogram) histogram {
	out := histogram{bounds: h.bounds, counts: append([]float64(nil), h.counts...)}
	for i := range out.counts {
		if i < len(o.counts) {
			out.counts[i] -= o.counts[i]
		}
	}
	return out
}

// quantile interpolates linearly within the bucket holding q (the last
// finite bound when q falls in +Inf).
func (h histogram) quantile(q float64) float64 {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return 0
	}
	rank := q * h.counts[len(h.counts)-1]
	lower, below := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			if math.IsInf(h.bounds[i], 1) {
				return lower
			}
			if c == below {
				return h.bounds[i]
			}
			return lower + (h.bounds[i]-lower)*(rank-below)/(c-below)
		}
		lower, below = h.bounds[i], c
	}
	return lower
}
