package facts

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// releaseRepo is a repository of the GitHub simulator (real git) with the app
// installed, seen through facts as the bot sees it.
type releaseRepo struct {
	sim  *ghsim.Sim
	app  *ghsim.App
	repo *ghsim.Repo
	dana *ghsim.User
	r    func() *Repo // a fresh view, as each event gets
}

func newReleaseRepo(t *testing.T) *releaseRepo {
	t.Helper()
	sim, err := ghsim.New(ghsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	perms := map[string]string{"checks": "write", "contents": "write", "deployments": "write", "issues": "write", "pull_requests": "write",
		"metadata": "read", "statuses": "read", "actions": "read"}
	app, err := sim.RegisterApp(ghsim.AppOptions{Slug: "hotfix-bot", Permissions: perms, Events: []string{"deployment_protection_rule", "check_run"}})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := sim.CreateRepo("acme", "pay")
	if err != nil {
		t.Fatal(err)
	}
	inst := sim.Install(app, repo)
	tr, err := ghinstallation.New(http.DefaultTransport, app.ID, inst.ID, []byte(app.PrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	tr.BaseURL = strings.TrimSuffix(sim.URL(), "/")
	client := github.NewClient(&http.Client{Transport: tr})
	client.BaseURL, _ = client.BaseURL.Parse(sim.URL())
	s := &releaseRepo{sim: sim, app: app, repo: repo, dana: sim.User("dana")}
	s.r = func() *Repo {
		r := NewRepo(client, "acme", "pay", "main", app.ID)
		r.BotLogin, r.Clock = app.Bot.Login, sim.Clock()
		return r
	}
	t.Cleanup(func() {
		for _, v := range sim.Violations() {
			t.Errorf("GitHub would reject: %s", v)
		}
	})
	return s
}

// sha fails the test on an error and returns the sha.
func sha(t *testing.T) func(string, error) string {
	return func(sha string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return sha
	}
}

// history is production at v1.4.2 (a deployment), develop ahead, and
// release/1.5 cut from develop.
func (s *releaseRepo) history(t *testing.T) {
	t.Helper()
	r, dana := s.repo, s.dana
	sha(t)(r.Push(dana, "main", "init", ghsim.Files{"pay.go": "package pay\n", "timeout.go": "30\n"}))
	sha(t)(r.AnnotatedTag(dana, "v1.4.0", "main", "Release 1.4.0"))
	sha(t)(r.Push(dana, "main", "refunds", ghsim.Files{"refund.go": "package pay\n"}))
	sha(t)(r.AnnotatedTag(dana, "v1.4.2", "main", "Release 1.4.2"))
	if _, err := r.SeedDeployment(dana, "v1.4.2", "production", "success"); err != nil {
		t.Fatal(err)
	}
	sha(t)(r.CreateBranch(dana, "develop", "main"))
	sha(t)(r.Push(dana, "develop", "checkout", ghsim.Files{"checkout.go": "package pay\n"}))
	sha(t)(r.CreateBranch(dana, "release/1.5", "develop"))
	sha(t)(r.Push(dana, "release/1.5", "1.5.0", ghsim.Files{"VERSION": "1.5.0\n"}))
}

// shipHotfix releases a hotfix the way the bot does: a pull request, the
// bot's deployment of its head that succeeded, and (when tag is set) the
// bot's annotated tag. It returns the pull request and the head.
func (s *releaseRepo) shipHotfix(t *testing.T, branch, from, tag, file string) (int, string) {
	t.Helper()
	ctx := context.Background()
	r := s.r()
	sha(t)(s.repo.CreateBranch(s.dana, branch, from))
	head := sha(t)(s.repo.Push(s.dana, branch, "fix "+file, ghsim.Files{file: "fixed\n"}))
	n, err := s.repo.OpenPR(s.dana, branch, "main", "Fix "+file)
	if err != nil {
		t.Fatal(err)
	}
	p := policy.DeploymentPayload{HotfixBot: 1, Kind: "hotfix", PR: n, CommentID: int64(n), RequestedBy: "rob", PreviousRef: from, NextTag: tag, Chain: []string{"production"}}
	d, _, err := r.CreateDeployment(ctx, DeploymentRequest{SHA: head, Environment: "production", Production: true, Task: policy.TaskHotfix, Payload: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.repo.SetDeploymentStatus(s.dana, d.GetID(), "success", "deployed"); err != nil {
		t.Fatal(err)
	}
	if tag != "" {
		msg := tag + ": hotfix #" + itoa(n) + ", Fix " + file + "\n\nPromoted by @rob; deployed to production by deployment 1 (hotfix-bot)."
		if _, _, err := r.EnsureTag(ctx, tag, head, msg); err != nil {
			t.Fatal(err)
		}
	}
	return n, head
}

func itoa(n int) string {
	b := []byte{}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// What production shipped that a release branch lacks, read from real git
// history: the bot's tag with its pull request and sync-back pull
// request, an untagged hotfix found by its successful deployment, nothing
// once merged in.
func TestMissingReleases(t *testing.T) {
	s := newReleaseRepo(t)
	s.history(t)
	ctx := context.Background()
	cfg := policy.Default()
	rel := s.repo.Branch("release/1.5")

	// Production at v1.4.2, which release/1.5 contains (cut after it).
	got, err := s.r().MissingReleases(ctx, cfg, rel, "release/1.5")
	if err != nil || !got.Complete() || got.Production.Tag != "v1.4.2" {
		t.Fatalf("before any hotfix: %+v, %v", got, err)
	}

	n, fix := s.shipHotfix(t, "hotfix/timeout", "v1.4.2", "v1.4.3", "timeout.go")
	sha(t)(s.repo.CreateBranch(s.dana, "hotfix-bot/sync/v1.4.3-to-release/1.5", fix))
	sync, err := s.repo.OpenPR(s.dana, "hotfix-bot/sync/v1.4.3-to-release/1.5", "release/1.5", "Sync v1.4.3 into release/1.5")
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.r().MissingReleases(ctx, cfg, rel, "release/1.5")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Missing) != 1 {
		t.Fatalf("missing %+v, want v1.4.3 alone (v1.4.2 is in release/1.5)", got.Missing)
	}
	m := got.Missing[0]
	if m.Tag != "v1.4.3" || m.SHA != fix || m.PR != n || m.Title != "Fix timeout.go" || len(m.Syncs) != 1 || m.Syncs[0].Number != sync || m.Syncs[0].Target != "release/1.5" {
		t.Errorf("missing %+v", m)
	}
	if line := got.MissingLines()[0]; !strings.Contains(line, "v1.4.3 (#"+itoa(n)+", Fix timeout.go) is not in") || !strings.Contains(line, "merge #"+itoa(sync)+" into `release/1.5` first") {
		t.Errorf("line %q", line)
	}
	// develop lacks it too, but its sync pull request is not develop's.
	dev, err := s.r().MissingReleases(ctx, cfg, s.repo.Branch("develop"), "develop")
	if err != nil || len(dev.Missing) != 1 || !strings.Contains(dev.MissingLines()[0], "no sync-back pull request into it is open") {
		t.Errorf("develop: %+v, %v", dev, err)
	}

	// A second hotfix whose tag was never made: its deployment counts.
	n2, fix2 := s.shipHotfix(t, "hotfix/retry", "v1.4.3", "", "retry.go")
	got, err = s.r().MissingReleases(ctx, cfg, rel, "release/1.5")
	if err != nil || len(got.Missing) != 2 || got.Missing[1].SHA != fix2 || got.Missing[1].PR != n2 || got.Missing[1].Tag != "" {
		t.Fatalf("with an untagged hotfix: %+v, %v", got.Missing, err)
	}

	// Merged in: nothing lacks.
	sha(t)(s.repo.MergeBranches(s.dana, "release/1.5", fix2, "Sync the hotfixes"))
	got, err = s.r().MissingReleases(ctx, cfg, s.repo.Branch("release/1.5"), "release/1.5")
	if err != nil || !got.Complete() {
		t.Errorf("after the merge: %+v, %v", got, err)
	}
}

// A release tag someone else made counts; a commit of production that
// is no release (a merge commit) does not.
func TestMissingReleasesCountsOnlyReleases(t *testing.T) {
	s := newReleaseRepo(t)
	s.history(t)
	ctx := context.Background()
	rel := s.repo.Branch("release/1.5")
	prod := sha(t)(s.repo.Push(s.dana, "main", "a commit, no release", ghsim.Files{"x.go": "package pay\n"}))
	if _, err := s.repo.SeedDeployment(s.dana, prod, "production", "success"); err != nil {
		t.Fatal(err)
	}
	got, err := s.r().MissingReleases(ctx, policy.Default(), rel, "release/1.5")
	if err != nil || !got.Complete() {
		t.Fatalf("an untagged, non-hotfix production commit: %+v, %v", got, err)
	}
	sha(t)(s.repo.AnnotatedTag(s.dana, "v1.4.4", prod, "Release 1.4.4"))
	got, err = s.r().MissingReleases(ctx, policy.Default(), rel, "release/1.5")
	if err != nil || len(got.Missing) != 1 || got.Missing[0].Tag != "v1.4.4" || got.Missing[0].PR != 0 {
		t.Fatalf("a person's release tag: %+v, %v", got.Missing, err)
	}
}

// Fail closed: a read that fails is an error, and the facts say why.
func TestMissingReleasesFailsClosed(t *testing.T) {
	s := newReleaseRepo(t)
	s.history(t)
	s.shipHotfix(t, "hotfix/timeout", "v1.4.2", "v1.4.3", "timeout.go")
	s.sim.Inject(&ghsim.Fault{Op: "repos/list-tags", Status: 502})
	got, err := s.r().MissingReleases(context.Background(), policy.Default(), s.repo.Branch("release/1.5"), "release/1.5")
	if err == nil || got.Unknown == "" || !strings.Contains(got.Unknown, "502") || got.Complete() {
		t.Errorf("with tags unreadable: %+v, %v", got, err)
	}
}

// The protection rule's answer is given once: GitHub refuses a second
// (a redelivery, another replica), which is done, not an error.
func TestReviewProtectionRuleOnce(t *testing.T) {
	s := newReleaseRepo(t)
	sha(t)(s.repo.Push(s.dana, "main", "init", ghsim.Files{"a": "1"}))
	if err := s.repo.EnableProtectionRule("production", s.app); err != nil {
		t.Fatal(err)
	}
	run, err := s.repo.RunDeploymentJob(s.dana, "push", "main", "production")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	answered, err := s.r().ReviewProtectionRule(ctx, run.ID, "production", "rejected", "lacks v1.4.3")
	if err != nil || !answered {
		t.Fatalf("first answer: %v %v", answered, err)
	}
	answered, err = s.r().ReviewProtectionRule(ctx, run.ID, "production", "approved", "ok")
	if err != nil || answered {
		t.Errorf("second answer: %v %v, want quietly not answered", answered, err)
	}
	if got, _ := s.repo.WorkflowRun(run.ID); len(got.Reviews) != 1 || got.Reviews[0].State != "rejected" {
		t.Errorf("reviews %+v", got.Reviews)
	}
	// An answer lost in a 502 that landed is found refused on the retry.
	run2, _ := s.repo.RunDeploymentJob(s.dana, "push", "main", "production")
	r := s.r()
	r.Clock = instant{}
	s.sim.Inject(&ghsim.Fault{Op: "actions/review-custom-gates-for-run", Status: 502, AfterEffect: true, Times: 1})
	if _, err := r.ReviewProtectionRule(ctx, run2.ID, "production", "approved", "ok"); err != nil {
		t.Errorf("after a lost answer: %v", err)
	}
	if got, _ := s.repo.WorkflowRun(run2.ID); len(got.Reviews) != 1 || got.Status != "in_progress" {
		t.Errorf("after a lost answer: %+v", got)
	}
}

// Of two replicas reminding at once, one claims the day.
func TestClaimReminderOncePerDay(t *testing.T) {
	s := newReleaseRepo(t)
	head := sha(t)(s.repo.Push(s.dana, "main", "init", ghsim.Files{"a": "1"}))
	ctx := context.Background()
	day := s.sim.Clock().Now().Format("2006-01-02")
	first, err := s.r().ClaimReminder(ctx, 14, day, head)
	if err != nil || !first {
		t.Fatalf("first claim: %v %v", first, err)
	}
	second, err := s.r().ClaimReminder(ctx, 14, day, head)
	if err != nil || second {
		t.Errorf("second claim: %v %v", second, err)
	}
	next := s.sim.Clock().Now().Add(24 * time.Hour).Format("2006-01-02")
	if ok, err := s.r().ClaimReminder(ctx, 14, next, head); err != nil || !ok {
		t.Errorf("the next day: %v %v", ok, err)
	}
	if err := s.r().ForgetReminder(ctx, 14, day); err != nil {
		t.Fatal(err)
	}
	if left := s.repo.Refs("refs/hotfix-bot/reminders/"); len(left) != 1 {
		t.Errorf("claims left: %v", left)
	}
	if err := s.r().ForgetReminder(ctx, 14, day); err != nil {
		t.Errorf("forgetting twice: %v", err)
	}
}
