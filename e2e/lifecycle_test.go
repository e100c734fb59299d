// Lifecycle tests: the real server wiring against the GitHub simulator,
// driven through whole hotfix stories. Expected outcomes are asserted on
// simulator state (check runs, labels, comments), never on logs.
package e2e

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

type world struct {
	t   *testing.T
	h   *harness.Harness
	in  *harness.Incident
	ctx context.Context
	log *syncBuffer
	// crashed: a bot process was killed mid-action.
	crashed bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start builds a world for t: a simulator with the incident repository,
// and the bots. Worlds share nothing, so t runs in parallel with the
// other tests (and subtests) that start one; a test that shares its world
// with its subtests runs them one after the other.
func start(t *testing.T, opts harness.Options) *world {
	t.Helper()
	parallel(t)
	log := &syncBuffer{}
	opts.Log = log
	h, err := harness.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	in, err := h.SetupIncident()
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	w := &world{t: t, h: h, in: in, ctx: ctx, log: log}
	t.Cleanup(func() {
		for _, v := range h.Violations() {
			t.Errorf("GitHub would reject: %s", v)
		}
		if !w.crashed {
			// Check runs are created without a claim ref (older
			// versions made refs/hotfix-bot/checks/<sha>).
			if left := in.Repo.Refs("refs/hotfix-bot/checks/"); len(left) > 0 {
				t.Errorf("check-run claim refs made: %v", left)
			}
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", log.String())
		}
		cancel()
		h.Close()
	})
	return w
}

// parallel marks t parallel, once (a test may build several worlds).
func parallel(t *testing.T) {
	if _, already := parallelTests.LoadOrStore(t, true); !already {
		t.Parallel()
	}
}

var parallelTests sync.Map // *testing.T → true

// settle delivers webhooks until the bots are quiet, and fails the test if
// a handler failed without the test expecting it.
func (w *world) settle() {
	w.t.Helper()
	if _, err := w.h.Settle(w.ctx); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) noHandlerErrors() {
	w.t.Helper()
	if n, err := w.h.HandlerErrors(); err != nil || n != 0 {
		w.t.Fatalf("%d handler runs failed (%v)", n, err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (w *world) check(sha, name string) ghsim.CheckRun {
	w.t.Helper()
	cr, ok := w.in.Repo.CheckRun(sha, name)
	if !ok {
		w.t.Fatalf("no %s check run on %s", name, policy.Short(sha))
	}
	return cr
}

// expect asserts a check's conclusion and that its text contains each of
// the fragments.
func (w *world) expect(sha, name, conclusion string, fragments ...string) ghsim.CheckRun {
	w.t.Helper()
	cr := w.check(sha, name)
	if cr.Status != "completed" || cr.Conclusion != conclusion {
		w.t.Fatalf("%s on %s = %s/%s, want %s\n%s\n%s", name, policy.Short(sha), cr.Status, cr.Conclusion, conclusion, cr.Title, cr.Summary)
	}
	for _, f := range fragments {
		if !strings.Contains(cr.Title+"\n"+cr.Summary, f) {
			w.t.Errorf("%s lacks %q:\n%s\n%s", name, f, cr.Title, cr.Summary)
		}
	}
	return cr
}

// botRuns are the bot's own check runs on a commit (CI reports on every
// pushed commit too).
func (w *world) botRuns(sha string) []ghsim.CheckRun {
	var out []ghsim.CheckRun
	for _, cr := range w.in.Repo.CheckRuns(sha) {
		if cr.App != nil && cr.App.Slug == w.h.App.Slug {
			out = append(out, cr)
		}
	}
	return out
}

// onePerName asserts that every check name has one run on a commit that
// counts: a duplicate two replicas created at the same moment is closed
// as neutral, "superseded", and the newest run is the one that counts.
func (w *world) onePerName(sha string) {
	w.t.Helper()
	counting := map[string]int{}
	newest := map[string]ghsim.CheckRun{}
	for _, cr := range w.in.Repo.CheckRuns(sha) {
		if cr.ID > newest[cr.Name].ID {
			newest[cr.Name] = cr
		}
		if cr.Conclusion == "neutral" && cr.Title == facts.SupersededTitle {
			continue
		}
		counting[cr.Name]++
	}
	for name, n := range counting {
		if n != 1 {
			w.t.Errorf("%d %s check runs on %s count, want 1", n, name, policy.Short(sha))
		}
	}
	for name, cr := range newest {
		if cr.Title == facts.SupersededTitle {
			w.t.Errorf("the newest %s on %s is the superseded one", name, policy.Short(sha))
		}
	}
}

// hotfixFromProduction is Dana's good hotfix: a branch at v1.4.2 with one
// fix, pushed.
func (w *world) hotfixFromProduction(branch string) string {
	w.t.Helper()
	r, dana := w.in.Repo, w.in.Dana
	must[string](w.t)(r.CreateBranch(dana, branch, "v1.4.2"))
	return must[string](w.t)(r.Push(dana, branch, "Raise the payment timeout to 60s", ghsim.Files{
		"payments/timeout.go": "package payments\n\nconst Timeout = 60 // seconds\n",
	}))
}

func TestGoodHotfix(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	head := w.hotfixFromProduction("hotfix/payment-timeout")
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success, "Starts at production (v1.4.2)")
	w.expect(head, policy.CheckSchema, policy.Success, "No schema files changed (1 file checked")
	if _, ok := r.CheckRun(head, policy.CheckApproval); ok {
		t.Error("approval check on a branch without a pull request")
	}
	// Creating the branch at v1.4.2 put none of the bot's checks on the
	// production commit, which main shares.
	if runs := w.botRuns(in.V142); len(runs) != 0 {
		t.Errorf("check runs on the production commit: %+v", runs)
	}

	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/payment-timeout", "main", "Raise the payment timeout"))
	w.settle()
	if got := strings.Join(r.Labels(n), ","); got != "hotfix" {
		t.Errorf("labels = %q, want hotfix", got)
	}
	w.expect(head, policy.CheckApproval, policy.Failure, "`hotfix-approved`", "missing")
	labels := map[string]bool{}
	for _, l := range r.RepoLabels() {
		labels[l.Name] = true
	}
	for _, want := range []string{"hotfix", "schema-change", "hotfix-approved", "schema-approved", "sync-back", "sync-conflict"} {
		if !labels[want] {
			t.Errorf("label %q was not created", want)
		}
	}

	if err := r.AddLabel(in.Rob, n, "hotfix-approved"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Success, "`hotfix-approved` by @rob (maintain)")
	w.expect(head, policy.CheckBase, policy.Success)
	w.expect(head, policy.CheckSchema, policy.Success)
	w.onePerName(head)
	w.noHandlerErrors()
}
