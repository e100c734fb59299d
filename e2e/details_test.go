package e2e

import (
	"context"
	"fmt"
	"io"
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

// released hotfix with its details page address (from its check run).
func (w *world) detailsOfReleased(t *testing.T) (link string, n int, head string) {
	t.Helper()
	n, head = w.approvedHotfix("hotfix/payment-timeout")
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")
	link = w.check(head, policy.CheckBase).DetailsURL
	if !strings.HasPrefix(link, w.h.PublicURL()+"/details/acme/payments/"+head+"?e=") {
		t.Fatalf("the check run links to %q, want the bot's details page", link)
	}
	return link, n, head
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDetailsPage(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	link, n, head := w.detailsOfReleased(t)
	// A title with markup, which the page must show as text.
	noErr(t, r.EditPR(in.Dana, n, "Raise the timeout <script>alert(1)</script>"))
	w.settle()

	w.h.Sim.ResetCalls()
	code, page := get(t, link)
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, page)
	}
	for _, want := range []string{
		"hotfix-bot/base", "Starts at production", "hotfix-bot/schema", "hotfix-bot/approval", "Approved",
		"v1.4.3", "production", "success", "Sync v1.4.3 into develop", "Sync v1.4.3 into release/1.5",
		"merged into main", "opened by @dana", "lock", "free", "&lt;script&gt;",
		"conflicts: needs a person to merge release/1.5 into it",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("a pull request title was rendered as markup")
	}
	for row, want := range map[string]int{`<tr class="gate">`: 3, `<tr class="deployment">`: 1, `<tr class="sync">`: 2} {
		if got := strings.Count(page, row); got != want {
			t.Errorf("%d rows %s, want %d", got, row, want)
		}
	}
	if strings.Contains(page, "could not be read") {
		t.Error("the page says facts are missing when GitHub answered every read")
	}
	// Reading the page wrote nothing to GitHub.
	calls := w.h.Sim.Calls()
	for _, c := range calls {
		if c.Write && !strings.HasSuffix(c.Path, "/access_tokens") {
			t.Errorf("a GET of the page wrote: %s %s", c.Method, c.Path)
		}
	}
	// Served again from memory.
	w.h.Sim.ResetCalls()
	if code, again := get(t, link); code != http.StatusOK || again != page {
		t.Error("the page changed within its cache time")
	}
	if n := len(w.h.Sim.Calls()); n != 0 {
		t.Errorf("%d GitHub calls for a page read moments ago", n)
	}

	// Nothing but the exact signed address shows anything.
	other := ghsim.Files{"x.go": "package x\n"}
	elsewhere := must[*ghsim.Repo](t)(w.h.Sim.CreateRepo("acme", "elsewhere")) // the app is not installed there
	must[string](t)(elsewhere.Push(in.Dana, "main", "init", other))
	cfg := w.h.Config()
	for name, u := range map[string]string{
		"no token":                                 strings.SplitN(link, "?", 2)[0],
		"another commit's token":                   strings.Replace(link, head, in.V142, 1),
		"a commit without checks":                  handlers.DetailsLink(cfg, "acme", "payments", in.V142, w.h.Sim.Clock().Now()),
		"a repository the app is not installed on": handlers.DetailsLink(cfg, "acme", "elsewhere", head, w.h.Sim.Clock().Now()),
		"a bad path":                               w.h.PublicURL() + "/details/acme/../payments/" + head,
	} {
		if code, body := get(t, u); code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404:\n%s", name, code, body)
		}
	}
	resp, err := http.Post(link, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

// A fact GitHub will not give is shown as missing, never guessed; GitHub
// down for the commit's own checks is a 503 that says to reload, and the
// failure is not kept: the next read, GitHub back, renders the page.
func TestDetailsPageWhenGitHubFails(t *testing.T) {
	w := start(t, harness.Options{})
	link, _, _ := w.detailsOfReleased(t)

	w.h.Sim.Inject(&ghsim.Fault{Op: "repos/list-deployments", Status: http.StatusBadGateway})
	code, page := get(t, link)
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, page)
	}
	for _, want := range []string{"Some facts could not be read from GitHub", "production:", "the deployments:", "Reload in a minute", "Starts at production"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, `<tr class="deployment">`) || strings.Contains(page, "None yet") {
		t.Error("deployments it could not read are shown as known")
	}
	// A page with gaps is kept briefly (a reload storm costs GitHub
	// nothing), then read again.
	w.h.Sim.ClearFaults()
	w.h.Sim.Inject(&ghsim.Fault{Op: "checks/list-for-ref", Status: http.StatusBadGateway})
	calls := len(w.h.Sim.Calls())
	if code, again := get(t, link); code != http.StatusOK || again != page || len(w.h.Sim.Calls()) != calls {
		t.Errorf("a reload within %s: status %d, %d requests; want the kept page and none", handlers.DetailsGapTTL, code, len(w.h.Sim.Calls())-calls)
	}
	w.h.Sim.Clock().Advance(handlers.DetailsGapTTL + time.Second)
	if code, body := get(t, link); code != http.StatusServiceUnavailable || !strings.Contains(body, "reload in a minute") {
		t.Errorf("GitHub down: status %d, want 503 saying to reload:\n%s", code, body)
	}
	if !strings.Contains(w.log.String(), "Details page could not be read from GitHub") {
		t.Error("the failed page read is not in the log")
	}
	// GitHub failing is kept briefly too; then the page is read again.
	w.h.Sim.ClearFaults()
	calls = len(w.h.Sim.Calls())
	if code, _ := get(t, link); code != http.StatusServiceUnavailable || len(w.h.Sim.Calls()) != calls {
		t.Errorf("a reload right after GitHub failed: status %d, %d requests; want 503 and none", code, len(w.h.Sim.Calls())-calls)
	}
	w.h.Sim.Clock().Advance(handlers.DetailsGapTTL + time.Second)
	if code, body := get(t, link); code != http.StatusOK || !strings.Contains(body, `<tr class="deployment">`) {
		t.Errorf("GitHub back: status %d, want the whole page:\n%s", code, body)
	}
}

// A link stops opening its page 30 days after the check was last
// written, and says so; the check written again carries a fresh one.
func TestDetailsLinkExpires(t *testing.T) {
	w := start(t, harness.Options{})
	link, n, head := w.detailsOfReleased(t)
	w.h.Sim.Clock().Advance(handlers.DetailsLinkLife + time.Hour)
	if code, body := get(t, link); code != http.StatusGone || !strings.Contains(body, "expired") || !strings.Contains(body, "re-run the check") {
		t.Errorf("an expired link: %d\n%s", code, body)
	}
	// Re-running the check writes it again, with a link good for 30 more days.
	cr := w.check(head, policy.CheckBase)
	noErr(t, w.in.Repo.RerequestCheckRun(w.in.Rob, cr.ID))
	w.settle()
	fresh := w.check(head, policy.CheckBase).DetailsURL
	if fresh == link {
		t.Fatal("the re-run check kept its expired link")
	}
	if code, body := get(t, fresh); code != http.StatusOK || !strings.Contains(body, fmt.Sprintf("#%d", n)) {
		t.Errorf("the renewed link: %d\n%s", code, body)
	}
}

// TestDetailsPageInABrowser renders the page in headless Chromium, as
// people see it, on a phone-sized screen, and writes a screenshot for
// review (HOTFIX_BOT_SCREENSHOTS names the directory; default the test's
// temporary directory, logged).
func TestDetailsPageInABrowser(t *testing.T) {
	browserPath := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			browserPath = p
			break
		}
	}
	if browserPath == "" {
		t.Skip("no Chromium on this machine (install Debian's chromium package; .ci/run does): the details page is not checked in a browser")
	}
	w := start(t, harness.Options{})
	released, _, _ := w.detailsOfReleased(t)
	// And a hotfix cut from develop, whose base gate fails with its fix.
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/from-develop", "develop"))
	bad := must[string](t)(r.Push(in.Dana, "hotfix/from-develop", "Round refunds", ghsim.Files{"payments/refund.go": "package payments\n"}))
	w.settle()
	failing := w.check(bad, policy.CheckBase).DetailsURL

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath), chromedp.NoSandbox, chromedp.WindowSize(412, 915))
	actx, cancel := chromedp.NewExecAllocator(w.ctx, opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	dir := os.Getenv("HOTFIX_BOT_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, page := range []struct {
		file, link string
		want       []string
		open       bool // open the gates' details first
	}{
		{"details-page.png", released, []string{"Gates", "hotfix-bot/base", "Starts at production", "hotfix-bot/approval", "Deployments", "Sync-back", "Timeline", "v1.4.3"}, false},
		{"details-page-failing.png", failing, []string{"hotfix-bot/base", "unreleased commits", "git rebase --onto v1.4.3", "None yet"}, true},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(page.link), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			t.Fatal(err)
		}
		if page.open {
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelectorAll("details").forEach(d => d.open = true), true`)); err != nil {
				t.Fatal(err)
			}
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
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(title, "acme/payments") {
			t.Errorf("%s: title %q", page.file, title)
		}
		for _, want := range page.want {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the rendered page lacks %q:\n%s", page.file, want, text)
			}
		}
		if overflow {
			t.Errorf("%s: the page is wider than a phone's screen", page.file)
		}
		path := filepath.Join(dir, page.file)
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of the details page: %s", path)
	}
}
