package ghsim

import (
	"testing"

	"github.com/google/go-github/v60/github"
)

// Commits carry git identities; GitHub maps them to accounts by noreply
// address or verified email, and maps the rest to no one.
func TestCommitIdentitiesMapToAccounts(t *testing.T) {
	f := newFixture(t)
	r, alice := f.repo, f.alice
	bob := f.sim.User("bob")
	f.sim.AddEmail("carol", "Carol@Acme.example")
	base := must[string](t)(r.Push(alice, "main", "init", Files{"a": "1"}))
	// Alice pushes a commit Bob wrote (his ID+login noreply address) and
	// Carol committed (her verified email), co-authored by someone GitHub
	// does not know.
	sha := must[string](t)(r.PushCommit(alice, "main", Commit{
		Message:   "Fix\n\nCo-authored-by: Jo <jo@example.com>\n",
		Author:    &Identity{Name: "Bob", Email: bob.NoreplyEmail()},
		Committer: &Identity{Name: "Carol", Email: "carol@acme.example"},
		Files:     Files{"b": "2"},
	}))
	unknown := must[string](t)(r.PushCommit(alice, "main", Commit{Message: "Stranger", Author: &Identity{Name: "Jo", Email: "jo@example.com"}, Files: Files{"c": "3"}}))
	cmp, _, err := f.client.Repositories.CompareCommits(ctx, "acme", "pay", base, unknown, nil)
	if err != nil || len(cmp.Commits) != 2 {
		t.Fatalf("compare: %v %v", cmp, err)
	}
	c := cmp.Commits[0]
	if c.GetSHA() != sha || c.GetAuthor().GetLogin() != "bob" || c.GetCommitter().GetLogin() != "carol" ||
		c.GetCommit().GetMessage() != "Fix\n\nCo-authored-by: Jo <jo@example.com>" {
		t.Errorf("mapped commit = author %q committer %q message %q", c.GetAuthor().GetLogin(), c.GetCommitter().GetLogin(), c.GetCommit().GetMessage())
	}
	if c := cmp.Commits[1]; c.Author != nil || c.GetCommitter().GetLogin() != "alice" || c.GetCommit().GetAuthor().GetEmail() != "jo@example.com" {
		t.Errorf("unmapped commit = author %+v committer %q", c.Author, c.GetCommitter().GetLogin())
	}
	// A wrong ID in a noreply address maps to no one.
	wrong := must[string](t)(r.PushCommit(alice, "main", Commit{Message: "x", Author: &Identity{Name: "B", Email: "1+bob@users.noreply.github.com"}, Files: Files{"d": "4"}}))
	got, _, err := f.client.Repositories.GetCommit(ctx, "acme", "pay", wrong, nil)
	if err != nil || got.Author != nil {
		t.Errorf("a noreply address with another account's ID mapped to %+v (%v)", got.Author, err)
	}
}

// Rewording a commit makes a new commit with the same tree: the content
// did not change.
func TestRewordKeepsTheTree(t *testing.T) {
	f := newFixture(t)
	r, alice := f.repo, f.alice
	must[string](t)(r.Push(alice, "main", "init", Files{"a": "1"}))
	before := must[string](t)(r.Push(alice, "main", "Fix", Files{"b": "2"}))
	after := must[string](t)(r.Reword(alice, "main", "Fix the timeout"))
	a, _, err1 := f.client.Git.GetCommit(ctx, "acme", "pay", before)
	b, _, err2 := f.client.Git.GetCommit(ctx, "acme", "pay", after)
	if err1 != nil || err2 != nil || after == before || a.GetTree().GetSHA() != b.GetTree().GetSHA() || b.GetMessage() != "Fix the timeout" {
		t.Errorf("reword: %s → %s, trees %s %s (%v %v)", before, after, a.GetTree().GetSHA(), b.GetTree().GetSHA(), err1, err2)
	}
	// The activity log records it as a force push by alice.
	req, _ := f.client.NewRequest("GET", "repos/acme/pay/activity?ref=main", nil)
	var acts []struct {
		Type  string `json:"activity_type"`
		After string `json:"after"`
		Actor struct {
			Login string `json:"login"`
		} `json:"actor"`
	}
	if _, err := f.client.Do(ctx, req, &acts); err != nil || acts[0].Type != "force_push" || acts[0].After != after || acts[0].Actor.Login != "alice" {
		t.Errorf("activity: %+v %v", acts, err)
	}
}

// Check suites: one per app and commit. GitHub queues one for every app
// with checks:write on every push; CI fills its own with check runs.
func TestCheckSuites(t *testing.T) {
	f := newFixture(t)
	r, alice := f.repo, f.alice
	ci, err := f.sim.RegisterApp(AppOptions{Slug: "github-actions", Permissions: map[string]string{"checks": "write", "metadata": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	f.sim.Install(ci, r)
	r.SetCI(&CI{App: ci, Checks: []string{"test", "lint"}, Conclusion: "success"})
	sha := must[string](t)(r.Push(alice, "main", "init", Files{"a": "1"}))
	suites := func() map[string]*github.CheckSuite {
		t.Helper()
		res, _, err := f.client.Checks.ListCheckSuitesForRef(ctx, "acme", "pay", sha, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*github.CheckSuite{}
		for _, s := range res.CheckSuites {
			out[s.GetApp().GetSlug()] = s
		}
		return out
	}
	got := suites()
	if got["github-actions"].GetStatus() != "completed" || got["github-actions"].GetConclusion() != "success" {
		t.Errorf("CI's suite = %+v", got["github-actions"])
	}
	// The bot's own suite, queued by GitHub: no run yet.
	if got["hotfix-bot"].GetStatus() != "queued" {
		t.Errorf("the bot's queued suite = %+v", got["hotfix-bot"])
	}
	// A failing and a running run: the suite is in progress, then failed.
	id := r.ReportCheck(ci, sha, "e2e", "in_progress", "")
	if s := suites()["github-actions"]; s.GetStatus() != "in_progress" {
		t.Errorf("suite with a running run = %s", s.GetStatus())
	}
	r.ReportCheck(ci, sha, "e2e", "completed", "failure")
	if s := suites()["github-actions"]; s.GetStatus() != "completed" || s.GetConclusion() != "failure" {
		t.Errorf("suite after a failure = %s/%s (run %d)", s.GetStatus(), s.GetConclusion(), id)
	}
	runs, _, err := f.client.Checks.ListCheckRunsForRef(ctx, "acme", "pay", sha, nil)
	if err != nil || runs.GetTotal() != 3 || runs.CheckRuns[0].GetApp().GetSlug() != "github-actions" {
		t.Errorf("check runs: %v %v", runs, err)
	}
}

// Branch protection: GET /branches/{branch} says protected, and the list
// filters by it.
func TestProtectedBranches(t *testing.T) {
	f := newFixture(t)
	r, alice := f.repo, f.alice
	must[string](t)(r.Push(alice, "main", "init", Files{"a": "1"}))
	must[string](t)(r.CreateBranch(alice, "develop", "main"))
	r.Protect("main", Protection{})
	r.SetDefaultBranch("develop")
	b, _, err := f.client.Repositories.GetBranch(ctx, "acme", "pay", "main", 0)
	if err != nil || !b.GetProtected() {
		t.Errorf("main: %+v %v", b, err)
	}
	list, _, err := f.client.Repositories.ListBranches(ctx, "acme", "pay", &github.BranchListOptions{Protected: github.Bool(true)})
	if err != nil || len(list) != 1 || list[0].GetName() != "main" {
		t.Errorf("protected branches: %v %v", list, err)
	}
	repo, _, err := f.client.Repositories.Get(ctx, "acme", "pay")
	if err != nil || repo.GetDefaultBranch() != "develop" {
		t.Errorf("default branch = %q %v", repo.GetDefaultBranch(), err)
	}
}
