package facts

import (
	"context"
	"net/url"
	"testing"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// syncSimRepo is a repository on the GitHub simulator with the app installed,
// and a Repo that talks to it as the app does.
func syncSimRepo(t *testing.T) (*ghsim.Sim, *ghsim.Repo, *ghsim.App, *Repo) {
	t.Helper()
	sim, err := ghsim.New(ghsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	a, err := sim.RegisterApp(ghsim.AppOptions{Slug: "hotfix-bot", Permissions: map[string]string{
		"contents": "write", "pull_requests": "write", "metadata": "read", "issues": "write"}})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := sim.CreateRepo("acme", "payments")
	if err != nil {
		t.Fatal(err)
	}
	in := sim.Install(a, repo)
	client := github.NewClient(nil).WithAuthToken(sim.InstallationToken(in))
	client.BaseURL, _ = url.Parse(sim.URL())
	r := NewRepo(client, "acme", "payments", "main", a.ID)
	r.BotLogin, r.Clock = a.Bot.Login, instant{}
	t.Cleanup(func() {
		for _, v := range sim.Violations() {
			t.Errorf("GitHub would reject: %s", v)
		}
	})
	return sim, repo, a, r
}

func ok[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// What lies at a sync branch name, as the bot reads it: only the app's
// own pull request, or a branch holding exactly the release, is the
// bot's; a branch or pull request someone prepared under its name is not.
func TestSyncBranchTrustsOnlyTheBotsOwn(t *testing.T) {
	ctx := context.Background()
	sim, repo, _, r := syncSimRepo(t)
	mallory := sim.User("mallory")
	repo.SetRole("mallory", "write")
	ok[string](t)(repo.Push(mallory, "main", "Initial", ghsim.Files{"a.go": "package a\n"}))
	ok[string](t)(repo.CreateBranch(mallory, "develop", "main"))
	ok[string](t)(repo.Push(mallory, "develop", "New work", ghsim.Files{"b.go": "package b\n"}))
	release := ok[string](t)(repo.Push(mallory, "main", "The fix", ghsim.Files{"a.go": "package a // fixed\n"}))

	read := func(branch string) policy.SyncBranchFacts {
		t.Helper()
		return ok[policy.SyncBranchFacts](t)(r.Fresh().SyncBranch(ctx, branch, "develop", release))
	}
	expect := func(what string, f policy.SyncBranchFacts, want policy.SyncBranchUse) {
		t.Helper()
		if got := policy.ChooseSyncBranch(f); got.Use != want {
			t.Errorf("%s: %+v → %+v, want %v", what, f, got, want)
		}
	}

	expect("no branch", read("sync/none"), policy.SyncCreate)

	ok[string](t)(repo.CreateBranch(mallory, "sync/at-release", release))
	expect("a branch at the release (whoever made it)", read("sync/at-release"), policy.SyncOpenPR)

	// The bot's own commit: the release's tree on top of it.
	tree := ok[*github.Commit](t)(r.GitCommit(ctx, release)).GetTree().GetSHA()
	mine := ok[string](t)(r.CreateCommit(ctx, "Sync\n\nhotfix-bot sync commit", tree, release))
	ok[bool](t)(func() (bool, error) { c, _, err := r.EnsureBranch(ctx, "sync/bot", mine); return c, err }())
	expect("the bot's one commit on the release", read("sync/bot"), policy.SyncOpenPR)

	ok[string](t)(repo.CreateBranch(mallory, "sync/prepared", release))
	ok[string](t)(repo.Push(mallory, "sync/prepared", "Sync v1.4.3 into develop\n\nhotfix-bot sync commit", ghsim.Files{"backdoor.go": "package a\n"}))
	f := read("sync/prepared")
	expect("a prepared branch with a commit of someone else's", f, policy.SyncForeign)
	if why := policy.ChooseSyncBranch(f).Why; why == "" {
		t.Error("a foreign branch without a reason")
	}

	n := ok[int](t)(repo.OpenPR(mallory, "sync/at-release", "develop", "Sync v1.4.3 into develop"))
	noErr(t, repo.ClosePR(mallory, n))
	f = read("sync/at-release")
	expect("a branch holding the release, with someone else's closed pull request", f, policy.SyncForeign)
	if len(f.ForeignPRs) != 1 || f.ForeignPRs[0].Author != "mallory" || f.ForeignPRs[0].State != "closed" {
		t.Errorf("foreign pull requests = %+v", f.ForeignPRs)
	}

	pr, created := ok2(t)(r.EnsurePullRequest(ctx, "sync/bot", "develop", "Sync", "body", false))
	if !created || !r.OpenedByApp(pr) {
		t.Fatalf("the app's own pull request: created %v, by app %v", created, r.OpenedByApp(pr))
	}
	f = read("sync/bot")
	expect("the app's pull request, still carrying the release", f, policy.SyncReuse)
	if f.OwnPR == nil || f.OwnPR.Number != pr.GetNumber() || !f.OwnPR.ContainsRelease || f.OwnPR.Extra != 1 {
		t.Errorf("own pull request = %+v", f.OwnPR)
	}

	// Someone rewrites the bot's branch to carry something else.
	noErr(t, repo.ForcePush(mallory, "sync/bot", repo.Branch("develop")))
	expect("the app's pull request, its branch rewritten", read("sync/bot"), policy.SyncForeign)
}

func ok2(t *testing.T) func(*github.PullRequest, bool, error) (*github.PullRequest, bool) {
	return func(pr *github.PullRequest, b bool, err error) (*github.PullRequest, bool) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return pr, b
	}
}

// Without the app's identity no pull request can be told to be the
// bot's: the read fails (and is retried) rather than guess.
func TestSyncBranchNeedsTheAppsIdentity(t *testing.T) {
	_, _, _, r := syncSimRepo(t)
	r.BotLogin = ""
	if _, err := r.SyncBranch(context.Background(), "sync/x", "develop", "abc"); KindOf(err) != Transient {
		t.Errorf("err = %v (%v), want a transient error", err, KindOf(err))
	}
}
