package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hotfix-bot/hotfix-bot/handlers"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// reportStory is a quarter's worth of production in a few minutes: v1.4.3
// shipped (its sync-back pull requests still open), then a hotfix whose
// deployment fails and is rolled back automatically, with an incident
// issue. It returns the report page's address.
func (w *world) reportStory() string {
	w.t.Helper()
	r, in := w.in.Repo, w.in
	w.released("hotfix/payment-timeout")
	w.hotfixFromProduction2("hotfix/retry-declines")
	n := must[int](w.t)(r.OpenPR(in.Dana, "hotfix/retry-declines", "main", "Retry card declines"))
	w.settle()
	noErr(w.t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.comment(in.Rob, n, "/promote")
	w.report(w.lastDeployment().ID, "failure")
	rb := w.lastDeployment()
	if rb.Task != policy.TaskRollback {
		w.t.Fatalf("no automatic rollback: %+v", rb)
	}
	w.report(rb.ID, "success")
	return handlers.ReportLink(w.h.Config(), "acme", "payments", w.h.Sim.Clock().Now())
}

// The report page, read from GitHub alone: the numbers, the hotfixes not
// yet synced back listed first, the charts as SVG; reading it writes
// nothing and is kept five minutes; a fact GitHub will not give makes it
// say "incomplete" (and it is read again next time), GitHub down for the
// deployments is a 503, and nothing but the signed address of an
// installed repository shows anything.
func TestReportPage(t *testing.T) {
	w := start(t, harness.Options{})
	link := w.reportStory()

	w.h.Sim.ResetCalls()
	code, page := get(t, link)
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, page)
	}
	for _, want := range []string{
		"Hotfix report", "acme/payments", `<b id="shipped">1</b>`, `<b id="cfr">33% (1 of 3)</b>`,
		"Not yet propagated", "into <code>develop</code>", "into <code>release/1.5</code>",
		"Retry card declines", "failed", "shipped", "Incident: production rolled back to v1.4.3",
		`<svg class="timeline"`, `<svg class="distribution"`, "production deployments to `production` back to",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for mark, want := range map[string]int{`<tr class="hotfix">`: 2, `<li class="unpropagated">`: 2, `<circle class="success"`: 2,
		`<path class="failure"`: 1, `<path class="rollback"`: 1, `<li class="incident">`: 1, `<tr class="failure">`: 1} {
		if got := strings.Count(page, mark); got != want {
			t.Errorf("%d × %s, want %d", got, mark, want)
		}
	}
	if strings.Index(page, "Not yet propagated") > strings.Index(page, "<h2>Hotfixes</h2>") || strings.Contains(page, `id="incomplete"`) || strings.Contains(page, "<script") {
		t.Error("the pending hotfixes are not first, or the page says it is incomplete, or carries a script")
	}
	for _, c := range w.h.Sim.Calls() {
		if c.Write && !strings.HasSuffix(c.Path, "/access_tokens") {
			t.Errorf("a GET of the report wrote: %s %s", c.Method, c.Path)
		}
	}
	w.h.Sim.ResetCalls()
	if code, again := get(t, link); code != http.StatusOK || again != page || len(w.h.Sim.Calls()) != 0 {
		t.Errorf("not served from memory: %d, %d calls", code, len(w.h.Sim.Calls()))
	}

	t.Run("a fact GitHub will not give", func(t *testing.T) {
		w.h.Sim.Inject(&ghsim.Fault{Op: "repos/compare-commits-with-basehead", Status: http.StatusBadGateway})
		defer w.h.Sim.ClearFaults()
		u := link + "&since=7d"
		code, page := get(t, u)
		if code != http.StatusOK || !strings.Contains(page, `id="incomplete"`) || !strings.Contains(page, "the commits of #") || !strings.Contains(page, "its lead time is left out") {
			t.Fatalf("%d:\n%s", code, page)
		}
		w.h.Sim.ResetCalls()
		get(t, u)
		if len(w.h.Sim.Calls()) == 0 {
			t.Error("a report with gaps was kept")
		}
	})
	t.Run("GitHub down", func(t *testing.T) {
		w.h.Sim.Inject(&ghsim.Fault{Op: "repos/list-deployments", Status: http.StatusBadGateway})
		defer w.h.Sim.ClearFaults()
		if code, body := get(t, link+"&since=8d"); code != http.StatusServiceUnavailable || !strings.Contains(body, "reload in a minute") {
			t.Errorf("%d %s", code, body)
		}
	})
	elsewhere := must[*ghsim.Repo](t)(w.h.Sim.CreateRepo("acme", "elsewhere")) // the app is not installed there
	must[string](t)(elsewhere.Push(w.in.Dana, "main", "init", ghsim.Files{"x.go": "package x\n"}))
	for name, u := range map[string]string{
		"no token": strings.SplitN(link, "?", 2)[0],
		"a repository the app is not installed on": handlers.ReportLink(w.h.Config(), "acme", "elsewhere", w.h.Sim.Clock().Now()),
	} {
		if code, _ := get(t, u); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", name, code)
		}
	}
	w.noHandlerErrors()
}

// TestReportPageInABrowser renders the report in headless Chromium on a
// phone-sized screen, as the details page is, and writes a screenshot
// (HOTFIX_BOT_SCREENSHOTS names the directory).
func TestReportPageInABrowser(t *testing.T) {
	browserPath := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			browserPath = p
			break
		}
	}
	if browserPath == "" {
		t.Skip("no Chromium on this machine (install Debian's chromium package; .ci/run does): the report page is not checked in a browser")
	}
	w := start(t, harness.Options{})
	link := w.reportStory()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath), chromedp.NoSandbox, chromedp.WindowSize(412, 915))
	actx, cancel := chromedp.NewExecAllocator(w.ctx, opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		t.Fatal(err)
	}
	// Every chart is drawn, and fits the screen.
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("svg")].filter(s => { const r = s.getBoundingClientRect(); return r.width > 200 && r.height > 40 && r.right <= window.innerWidth + 1 }).length`))
	if err != nil {
		t.Fatal(err)
	}
	marks, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.timeline circle, svg.timeline path").length`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "acme/payments") {
		t.Errorf("title %q", title)
	}
	for _, want := range []string{"Hotfix report", "Not yet propagated", "hotfixes shipped", "change failure rate", "33% (1 of 3)",
		"Lead time", "Recovery time", "Hotfixes", "Failed deployments", "Incident issues", "What was read"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered report lacks %q:\n%s", want, text)
		}
	}
	if overflow {
		t.Error("the report is wider than a phone's screen")
	}
	if charts != 3 || marks != 4 {
		t.Errorf("%d charts drawn on the screen (want 3), %d marks on the timeline (want 4)", charts, marks)
	}
	dir := os.Getenv("HOTFIX_BOT_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "report-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the report page: %s", path)
}
