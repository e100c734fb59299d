package e2e

import (
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// released promotes an approved hotfix and has CD report success: v1.4.3
// is production. It returns the hotfix PR.
func (w *world) released(branch string) int {
	w.t.Helper()
	n, _ := w.approvedHotfix(branch)
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")
	if w.in.Repo.TagCommit("v1.4.3") == "" {
		w.t.Fatal("v1.4.3 was not released")
	}
	return n
}

func TestRollbackToWhatRanBefore(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n := w.released("hotfix/payment-timeout")
	id := w.comment(in.Rob, n, "/rollback")
	w.reply(n, id, "Rolling production back from v1.4.3 to v1.4.2", "incident issue")
	ds := w.botDeployments()
	rb := ds[len(ds)-1]
	p := payloadOf(t, rb)
	if rb.Task != policy.TaskRollback || rb.SHA != in.V142 || p.Kind != "rollback" || p.Target != "v1.4.2" || p.Author != "dana" {
		t.Fatalf("rollback deployment %+v payload %+v", rb, p)
	}
	w.report(rb.ID, "success")
	issues := w.incidentIssues()
	if len(issues) != 1 {
		t.Fatalf("%d incident issues, want 1", len(issues))
	}
	is := issues[0]
	for _, want := range []string{"Verify production is stable", "no data was lost", "Notify stakeholders", "timeline", "root cause",
		"runbooks", "permanent fix", "regression test", "Review the process", "#" + itoa(int64(n)), "@rob"} {
		if !strings.Contains(is.Body, want) {
			t.Errorf("incident issue lacks %q", want)
		}
	}
	if len(is.Assignees) != 1 || is.Assignees[0].Login != "dana" {
		t.Errorf("incident issue assigned to %v, want the hotfix author", is.Assignees)
	}
	if got := w.botComments(n, "Production is back on v1.4.2"); len(got) != 1 {
		t.Errorf("%d rollback summaries", len(got))
	}
	// Production is v1.4.2 again: a new hotfix from it passes the base gate.
	head := w.hotfixFromProduction("hotfix/next")
	w.settle()
	w.expect(head, policy.CheckBase, policy.Success, "Starts at production (v1.4.2)")
	_ = r
	w.noHandlerErrors()
}

func (w *world) incidentIssues() []ghsim.Issue {
	var out []ghsim.Issue
	for _, is := range w.in.Repo.Issues() {
		if is.PR == nil && strings.HasPrefix(is.Title, "Incident:") {
			out = append(out, is)
		}
	}
	return out
}

func TestRollbackToANamedTag(t *testing.T) {
	w := start(t, harness.Options{})
	in := w.in
	n := w.released("hotfix/payment-timeout")
	t.Run("never in production", func(t *testing.T) {
		id := w.comment(in.Rob, n, "/rollback v1.4.1")
		w.reply(n, id, "/rollback refused: ran in production before", "v1.4.1", "never ran in production", "`v1.4.2`")
	})
	t.Run("no such tag", func(t *testing.T) {
		id := w.comment(in.Rob, n, "/rollback v9.9.9")
		w.reply(n, id, "/rollback refused: tag exists", "no tag `v9.9.9`")
	})
	t.Run("production already", func(t *testing.T) {
		id := w.comment(in.Rob, n, "/rollback v1.4.3")
		w.reply(n, id, "/rollback refused: not production already")
	})
	issue := in.Repo.CreateIssue(in.Rob, "Payments are slow", "")
	w.settle()
	id := w.comment(in.Rob, issue, "/rollback v1.4.2")
	w.reply(issue, id, "Rolling production back from v1.4.3 to v1.4.2")
	ds := w.botDeployments()
	if rb := ds[len(ds)-1]; rb.SHA != in.V142 || payloadOf(t, rb).PR != issue {
		t.Errorf("rollback = %+v", rb)
	}
}

func TestRollbackAcrossASchemaChange(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/index", "v1.4.2"))
	must[string](t)(r.Push(in.Dana, "hotfix/index", "Index charges", ghsim.Files{"db/migrations/003_index.sql": "create index i on charges(id);\n"}))
	n := must[int](t)(r.OpenPR(in.Dana, "hotfix/index", "main", "Index charges"))
	w.settle()
	noErr(t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	noErr(t, r.AddLabel(in.Dora, n, "schema-approved"))
	w.settle()
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")

	id := w.comment(in.Rob, n, "/rollback")
	w.reply(n, id, "/rollback refused: schema changes", "db/migrations/003_index.sql", "may not reverse", "/rollback --force")
	if len(w.botDeployments()) != 1 {
		t.Fatal("rolled back across a schema change without --force")
	}
	// A writer may roll back, but not across migrations.
	id = w.comment(in.Dana, n, "/rollback --force")
	w.reply(n, id, "/rollback refused: force permission", "@dana has write permission", "maintain or more", "commands.emergency")
	if len(w.botDeployments()) != 1 {
		t.Fatal("a writer rolled back across a schema change with --force")
	}
	id = w.comment(in.Rob, n, "/rollback --force")
	w.reply(n, id, "Rolling production back", "@rob forced it", "with maintain permission", "db/migrations/003_index.sql")
	if len(w.botDeployments()) != 2 {
		t.Error("--force did not roll back")
	}
}

func TestRollbackPermission(t *testing.T) {
	w := start(t, harness.Options{})
	n := w.released("hotfix/payment-timeout")
	id := w.comment(w.in.Ivan, n, "/rollback")
	w.reply(n, id, "/rollback refused: permission")
	if len(w.botDeployments()) != 1 {
		t.Error("a read-only user rolled back")
	}
}

func TestHotfixStart(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	issue := r.CreateIssue(in.Rob, "Payments time out", "")
	w.settle()
	id := w.comment(in.Dana, issue, "/hotfix start payment-timeout")
	w.reply(issue, id, "Created `hotfix/payment-timeout` at production v1.4.2", "git fetch origin && git switch hotfix/payment-timeout")
	if got := r.Branch("hotfix/payment-timeout"); got != in.V142 {
		t.Errorf("hotfix/payment-timeout at %q, want the production commit", got)
	}
	// Again: the branch is there at production; fine, quietly.
	id = w.comment(in.Dana, issue, "/hotfix start payment-timeout")
	w.reply(issue, id, "is there already, at production v1.4.2")
	// At another commit: refused.
	must[string](t)(r.Push(in.Dana, "hotfix/payment-timeout", "Fix", ghsim.Files{"x.go": "package x\n"}))
	w.settle()
	id = w.comment(in.Dana, issue, "/hotfix start payment-timeout")
	w.reply(issue, id, "/hotfix start refused: branch free", "exists already")

	for _, bad := range []string{"../../x", "refs/heads/main", "-rf", "a b", "x;rm -rf /", "a..b", "x\x07y", strings.Repeat("n", 201), "x~1", "x.lock"} {
		id := w.comment(in.Dana, issue, "/hotfix start "+bad)
		if got := w.replies(issue, id); len(got) != 1 || !strings.Contains(got[0].Body, "Usage: `/hotfix start NAME`") {
			t.Errorf("%q: replies %v", bad, got)
		}
	}
	for _, b := range r.Branches() {
		if strings.Contains(b, "rf") || strings.Contains(b, "..") || strings.HasPrefix(b, "refs") {
			t.Errorf("a bad name made a branch: %q", b)
		}
	}
	id = w.comment(in.Ivan, issue, "/hotfix start nope")
	w.reply(issue, id, "/hotfix start refused: permission")
	w.noHandlerErrors()
}

func TestUnlockAndHelp(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, _ := w.approvedHotfix("hotfix/stuck")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()

	id := w.comment(in.Dana, n, "/unlock")
	w.reply(n, id, "/unlock refused: permission", "maintain")
	id = w.comment(in.Rob, n, "/help")
	w.reply(n, id, "hotfix-bot commands", "| `/promote` | hotfix PR | write or more |", "| `/unlock` | any issue or PR | maintain or more |",
		"This pull request's gates now", "hotfix-bot/approval", "Production lock: held by @rob")
	id = w.comment(in.Rob, n, "/unlock")
	w.reply(n, id, "Released the production lock held by @rob for a promote of #"+itoa(int64(n))+" (deployment "+itoa(d.ID)+").", "deployment "+itoa(d.ID))
	id = w.comment(in.Rob, n, "/unlock")
	w.reply(n, id, "No production lock is held")
	// Anyone may ask for help, anywhere.
	issue := r.CreateIssue(in.Ivan, "How do hotfixes work?", "")
	w.settle()
	id = w.comment(in.Ivan, issue, "/help")
	w.reply(issue, id, "hotfix-bot commands", "`/hotfix start NAME`")
	w.noHandlerErrors()
}

func TestSeveralCommandsInOneComment(t *testing.T) {
	w := start(t, harness.Options{})
	n, _ := w.approvedHotfix("hotfix/many")
	id := w.comment(w.in.Rob, n, "/promote --dry-run\nthen\n/promote --bogus\n/promote")
	replies := w.replies(n, id)
	if len(replies) != 3 {
		t.Fatalf("%d replies, want one per command", len(replies))
	}
	for i, want := range []string{"Dry run", "unknown option", "Promoting #"} {
		if !strings.Contains(replies[i].Body, want) {
			t.Errorf("reply %d lacks %q:\n%s", i, want, replies[i].Body)
		}
	}
	if got := strings.Join(w.reactions(n, id), ","); got != "eyes,rocket,-1" {
		t.Errorf("reactions = %q, want eyes, rocket and -1", got)
	}
}
