package facts

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Every write facts makes is find-or-create: made twice (a re-delivered
// event, a second replica), it leaves one thing behind, and the second
// time writes nothing.

func TestLabelsCommentsAndIssuesAreWrittenOnce(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	n := s.openPR()
	specs := []LabelSpec{{Name: "hotfix", Color: "d93f0b", Description: "Production hotfix"}, {Name: "Bug", Color: "d73a4a"}}
	s.writes()

	noErr(t, r.EnsureLabels(ctx, specs))
	noErr(t, r.Fresh().EnsureLabels(ctx, specs))
	if w := s.writes(); w["issues/create-label"] != 1 {
		t.Errorf("label creates = %v, want 1 (bug exists, in another case)", w)
	}
	for _, l := range s.gh.RepoLabels() {
		if l.Name == "hotfix" && (l.Color != "d93f0b" || l.Description != "Production hotfix") {
			t.Errorf("hotfix label = %+v", l)
		}
	}

	noErr(t, r.AddLabels(ctx, n, "hotfix"))
	noErr(t, r.AddLabels(ctx, n, "hotfix"))
	if got := s.gh.Labels(n); len(got) != 1 || got[0] != "hotfix" {
		t.Errorf("labels = %v", got)
	}
	if removed, err := r.RemoveLabel(ctx, n, "hotfix"); err != nil || !removed {
		t.Errorf("first removal: %v %v", removed, err)
	}
	if removed, err := r.RemoveLabel(ctx, n, "hotfix"); err != nil || removed {
		t.Errorf("second removal (gone already) = %v %v, want false, no error", removed, err)
	}

	// A person typing the marker does not stand for the bot's comment.
	marker := Marker("reply:1:1")
	if _, err := s.gh.Comment(s.dana, n, "copied "+marker); err != nil {
		t.Fatal(err)
	}
	c, created, err := r.PostComment(ctx, n, marker, "Done. "+marker, time.Time{})
	if err != nil || !created || c.ID == 0 {
		t.Fatalf("first post: %+v %v %v", c, created, err)
	}
	again, created, err := r.PostComment(ctx, n, marker, "Done. "+marker, time.Time{})
	if err != nil || created || again.ID != c.ID {
		t.Errorf("second post: %+v %v %v, want the first comment", again, created, err)
	}
	up, created, err := r.UpsertComment(ctx, n, marker, "Done, twice. "+marker, time.Time{})
	if err != nil || created || up.ID != c.ID {
		t.Errorf("upsert: %+v %v %v", up, created, err)
	}
	s.writes()
	if _, _, err := r.UpsertComment(ctx, n, marker, "Done, twice. "+marker, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if w := s.writes(); len(w) != 0 {
		t.Errorf("an unchanged comment was written: %v", w)
	}
	bots := 0
	for _, cm := range s.gh.Comments(n) {
		if cm.User.Type == "Bot" {
			bots++
			if cm.Body != "Done, twice. "+marker {
				t.Errorf("bot comment = %q", cm.Body)
			}
		}
	}
	if bots != 1 {
		t.Errorf("%d bot comments, want 1", bots)
	}

	noErr(t, r.React(ctx, c.ID, "rocket"))
	noErr(t, r.React(ctx, c.ID, "rocket"))
	for _, cm := range s.gh.Comments(n) {
		if cm.ID == c.ID && len(cm.Reactions) != 1 {
			t.Errorf("reactions = %+v, want one", cm.Reactions)
		}
	}

	is, created, err := r.EnsureIssue(ctx, Marker("incident:7"), "Incident", "Rolled back. "+Marker("incident:7"), []string{"dana"}, time.Time{})
	if err != nil || !created || is.Number == 0 {
		t.Fatalf("first issue: %+v %v %v", is, created, err)
	}
	again2, created, err := r.EnsureIssue(ctx, Marker("incident:7"), "Incident", "Rolled back. "+Marker("incident:7"), nil, time.Time{})
	if err != nil || created || again2.Number != is.Number {
		t.Errorf("second issue: %+v %v %v", again2, created, err)
	}
	if got, _ := s.gh.PR(is.Number); len(got.Assignees) != 1 || got.Assignees[0].Login != "dana" {
		t.Errorf("assignees = %+v", got.Assignees)
	}
	unknown := r.Fresh()
	unknown.BotLogin = ""
	if _, _, err := unknown.EnsureIssue(ctx, Marker("incident:8"), "Incident", "x", nil, time.Time{}); err == nil || !strings.Contains(err.Error(), "identity is not known") {
		t.Errorf("without the bot's login: %v, want a refusal (its issues cannot be found)", err)
	}
}

func TestRefsAreWrittenOnce(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r

	if created, cur, err := r.EnsureBranch(ctx, "hotfix/new", s.v100); err != nil || !created || cur != s.v100 {
		t.Errorf("create: %v %s %v", created, cur, err)
	}
	if created, cur, err := r.EnsureBranch(ctx, "hotfix/new", s.v100); err != nil || created || cur != s.v100 {
		t.Errorf("again at the same commit: %v %s %v", created, cur, err)
	}
	if created, cur, err := r.EnsureBranch(ctx, "hotfix/new", s.main); err != nil || created || cur != s.v100 {
		t.Errorf("again elsewhere: %v %s %v, want it left at %s", created, cur, err, s.v100)
	}

	if created, cur, err := r.EnsureTag(ctx, "v1.0.1", s.fix, "Release 1.0.1"); err != nil || !created || cur != s.fix {
		t.Errorf("tag: %v %s %v", created, cur, err)
	}
	if s.gh.TagCommit("v1.0.1") != s.fix || !strings.Contains(s.gh.Refs("refs/tags/")[1], "v1.0.1") {
		t.Errorf("tag v1.0.1 at %s", s.gh.TagCommit("v1.0.1"))
	}
	if created, cur, err := r.EnsureTag(ctx, "v1.0.1", s.main, "Release 1.0.1"); err != nil || created || cur != s.fix {
		t.Errorf("tag taken meanwhile: %v %s %v, want its commit", created, cur, err)
	}

	noErr(t, r.MoveTag(ctx, "production", s.v100))
	noErr(t, r.MoveTag(ctx, "production", s.fix))
	s.writes()
	noErr(t, r.MoveTag(ctx, "production", s.fix))
	if w := s.writes(); len(w) != 0 || s.gh.TagCommit("production") != s.fix {
		t.Errorf("moving tag at %s; writes %v", s.gh.TagCommit("production"), w)
	}

	noErr(t, r.UpdateBranch(ctx, "hotfix/new", s.fix))
	if s.gh.Branch("hotfix/new") != s.fix {
		t.Error("branch not moved")
	}
	noErr(t, r.DeleteBranch(ctx, "hotfix/new"))
	noErr(t, r.DeleteBranch(ctx, "hotfix/new")) // gone already: fine
	if s.gh.Branch("hotfix/new") != "" {
		t.Error("branch not deleted")
	}

	c, err := r.GitCommit(ctx, s.fix)
	if err != nil || len(c.Parents) != 1 || c.Parents[0].GetSHA() != s.v100 {
		t.Fatalf("commit: %+v %v", c, err)
	}
	made, err := r.CreateCommit(ctx, "Merge", c.GetTree().GetSHA(), s.main, s.fix)
	if err != nil || made == "" {
		t.Fatalf("create commit: %s %v", made, err)
	}
	if mc, err := r.GitCommit(ctx, made); err != nil || len(mc.Parents) != 2 || mc.GetMessage() != "Merge" {
		t.Errorf("written commit: %+v %v", mc, err)
	}
}

func TestMergesThroughGitHub(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	s.must(s.gh.CreateBranch(s.dana, "scratch", "main"))
	if out, err := r.Merge(ctx, "scratch", s.fix, "Merge the fix"); err != nil || out != Merged {
		t.Errorf("a clean merge: %v %v", out, err)
	}
	if out, err := r.Merge(ctx, "scratch", s.v100, "Merge an ancestor"); err != nil || out != NothingToMerge {
		t.Errorf("merging what is there: %v %v", out, err)
	}
	s.must(s.gh.CreateBranch(s.dana, "other", "v1.0.0"))
	other := s.must(s.gh.Push(s.dana, "other", "Lower the timeout", ghsim.Files{"pay/timeout.go": "package pay\n\nconst Timeout = 10\n"}))
	if out, err := r.Merge(ctx, "scratch", other, "Merge a conflicting change"); err != nil || out != Conflicts {
		t.Errorf("a conflict: %v %v", out, err)
	}
}

func TestPullRequestsAreWrittenOnce(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	s.must(s.gh.CreateBranch(s.dana, "hotfix-bot/sync/v1.0.1-to-develop", "hotfix/fix"))
	pr, created, err := r.EnsurePullRequest(ctx, "hotfix-bot/sync/v1.0.1-to-develop", "develop", "Sync v1.0.1 into develop", "body", true)
	if err != nil || !created || !pr.GetDraft() {
		t.Fatalf("open: %+v %v %v", pr, created, err)
	}
	again, created, err := r.EnsurePullRequest(ctx, "hotfix-bot/sync/v1.0.1-to-develop", "develop", "Sync v1.0.1 into develop", "body", true)
	if err != nil || created || again.GetNumber() != pr.GetNumber() {
		t.Errorf("again: %+v %v %v", again, created, err)
	}
	noErr(t, r.RequestReviewers(ctx, pr.GetNumber(), []string{"rob"}))
	noErr(t, r.RequestReviewers(ctx, pr.GetNumber(), nil)) // nobody: no call
	noErr(t, r.AddAssignees(ctx, pr.GetNumber(), "dana"))
	got, _ := s.gh.PR(pr.GetNumber())
	if len(got.PR.Reviewers) != 1 || len(got.Assignees) != 1 {
		t.Errorf("reviewers %+v assignees %+v", got.PR.Reviewers, got.Assignees)
	}
	noErr(t, r.ClosePullRequest(ctx, pr.GetNumber()))
	// Closed, it is still found: a re-run never opens a second.
	if found, created, err := r.EnsurePullRequest(ctx, "hotfix-bot/sync/v1.0.1-to-develop", "develop", "t", "b", false); err != nil || created || found.GetState() != "closed" {
		t.Errorf("after closing: %+v %v %v", found, created, err)
	}

	n := s.openPR()
	open, err := r.OpenPullRequests(ctx, "main")
	if err != nil || len(open) != 1 || open[0].GetNumber() != n {
		t.Errorf("open into main: %v %v", open, err)
	}
	if _, err := r.MergePullRequest(ctx, n, s.main, "merge", "Raise the timeout"); err == nil {
		t.Error("merged although the head is not the one given")
	}
	sha, err := r.MergePullRequest(ctx, n, s.fix, "merge", "Raise the timeout")
	if err != nil || sha == "" {
		t.Fatalf("merge: %s %v", sha, err)
	}
	if again, err := r.MergePullRequest(ctx, n, s.fix, "merge", "Raise the timeout"); err != nil || again != sha {
		t.Errorf("merged again: %s %v, want the first merge %s", again, err, sha)
	}
	if now, err := r.PullRequestNow(ctx, n); err != nil || !now.GetMerged() {
		t.Errorf("read afresh: %+v %v", now, err)
	}
}

func TestDeploymentsAreCreatedOnce(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	cfg := policy.Default()
	req := DeploymentRequest{SHA: s.fix, Environment: "production", Production: true, Task: policy.TaskHotfix, Description: "Hotfix #1",
		Payload: policy.DeploymentPayload{HotfixBot: 1, Kind: "hotfix", PR: 1, CommentID: 77, RequestedBy: "rob", NextTag: "v1.0.1", PreviousRef: s.v100, Chain: []string{"production"}}}
	d, created, err := r.CreateDeployment(ctx, req)
	if err != nil || !created || d.GetSHA() != s.fix || d.Payload.CommentID != 77 {
		t.Fatalf("create: %+v %v %v", d, created, err)
	}
	again, created, err := r.CreateDeployment(ctx, req)
	if err != nil || created || again.GetID() != d.GetID() {
		t.Errorf("the same request again: %+v %v %v", again, created, err)
	}
	other := req
	other.Payload.CommentID = 78
	if d2, created, err := r.CreateDeployment(ctx, other); err != nil || !created || d2.GetID() == d.GetID() {
		t.Errorf("another comment's request: %+v %v %v", d2, created, err)
	}
	if n := len(s.gh.Deployments()); n != 3 {
		t.Errorf("%d deployments, want the seeded one and two", n)
	}
	if got, err := r.Deployment(ctx, d.GetID()); err != nil || got.GetSHA() != s.fix {
		t.Errorf("read: %+v %v", got, err)
	}

	// Production's history comes from its deployments and their statuses,
	// newest first, with the bot's payload on its own.
	noErr(t, s.gh.SetDeploymentStatus(s.cd, d.GetID(), "success", "deployed"))
	noErr(t, s.gh.SetDeploymentStatus(s.cd, d.GetID(), "inactive", "replaced"))
	hist, complete, err := r.ProductionHistory(ctx, cfg)
	if err != nil || !complete || len(hist) != 3 || hist[1].ID != d.GetID() || hist[1].SHA != s.fix || hist[1].Bot == nil ||
		len(hist[1].Statuses) != 2 || hist[1].Statuses[0].State != "success" || hist[1].Statuses[1].State != "inactive" ||
		hist[2].SHA != s.v100 || hist[2].Tag != "v1.0.0" || hist[2].Bot != nil {
		t.Errorf("history: %+v %v %v", hist, complete, err)
	}
	story, err := r.HotfixDeployments(ctx, s.fix, 1)
	// Newest first: the second request's deployment has no status yet.
	if err != nil || len(story) != 2 || story[0].Latest != nil || story[1].Latest.GetState() != "inactive" {
		t.Errorf("the hotfix's deployments: %+v %v", story, err)
	}
	if st, err := r.LatestStatus(ctx, d.GetID()); err != nil || st.GetState() != "inactive" {
		t.Errorf("latest status: %+v %v", st, err)
	}
}

func TestTheLockIsACompareAndSwap(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	free := func(l Lock) bool { return !l.Held() }
	take := func(who string) func(Lock) Lock {
		return func(Lock) Lock {
			return Lock{State: "held", Kind: "promote", Phase: "promoting", RequestedBy: who, PR: 1, CommentID: 9}
		}
	}
	if l, err := r.ReadLock(ctx); err != nil || l.Held() {
		t.Fatalf("a repository without the lock: %+v %v", l, err)
	}
	moved, cur, err := r.TransitionLock(ctx, free, take("rob"))
	if err != nil || !moved || cur.Held() {
		t.Fatalf("take: %v %+v %v", moved, cur, err)
	}
	if moved, cur, err := r.TransitionLock(ctx, free, take("dana")); err != nil || moved || cur.RequestedBy != "rob" {
		t.Errorf("taken again: %v %+v %v, want rob's lock", moved, cur, err)
	}
	l, err := r.ReadLock(ctx)
	if err != nil || !l.Held() || l.RequestedBy != "rob" || l.At.IsZero() || !l.SameOwner(Lock{Kind: "promote", CommentID: 9}) {
		t.Errorf("read: %+v %v", l, err)
	}
	if v := l.View(s.sim.Clock().Now().Add(2*time.Hour), time.Hour); !v.Stale || !v.Held {
		t.Errorf("an hour-old lock is not stale: %+v", v)
	}
	release := func(Lock) Lock { return Lock{State: "free"} }
	if moved, _, err := r.TransitionLock(ctx, func(l Lock) bool { return l.Held() }, release); err != nil || !moved {
		t.Fatalf("release: %v %v", moved, err)
	}

	// Two replicas take it at once: one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 2)
	for _, who := range []string{"rob", "dana"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if moved, _, err := r.Fresh().TransitionLock(ctx, free, take(who)); err == nil && moved {
				wins <- who
			}
		}()
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Errorf("%d replicas took the lock, want 1", n)
	}

	// A lock record the bot did not write holds production: nobody known
	// owns it, so nothing deploys past it.
	tip := s.gh.Ref("refs/" + LockRef)
	forged, err := r.CreateCommit(ctx, "not a lock record", emptyTree, tip)
	noErr(t, err)
	_, _, err = r.client.Git.UpdateRef(ctx, "acme", "pay", &github.Reference{Ref: github.String("refs/" + LockRef), Object: &github.GitObject{SHA: github.String(forged)}}, false)
	noErr(t, err)
	if l, err := r.ReadLock(ctx); err != nil || !l.Held() || l.Kind != "unknown" {
		t.Errorf("a forged record: %+v %v", l, err)
	}
}

// A write whose answer is lost (GitHub acted, then a 502) is found, not
// made again.
func TestAWriteWhoseAnswerWasLostIsNotRepeated(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	n := s.openPR()
	lose := func(op string) *ghsim.Fault {
		f := &ghsim.Fault{Op: op, Times: 1, Status: http.StatusBadGateway, AfterEffect: true}
		s.sim.Inject(f)
		return f
	}
	fired := func(f *ghsim.Fault) {
		t.Helper()
		if s.sim.Hits(f) != 1 {
			t.Errorf("the %s fault did not fire", f.Op)
		}
	}

	f := lose("issues/create-comment")
	c, created, err := r.PostComment(ctx, n, Marker("lost"), "Hi "+Marker("lost"), time.Time{})
	fired(f)
	if err != nil || c == nil || !created {
		// created: the comment found is this call's own (what follows a
		// creation, a chat message, must not be skipped).
		t.Errorf("comment: %+v, created %v, %v; want this call's comment, created", c, created, err)
	}
	if got := len(s.gh.Comments(n)); got != 1 {
		t.Errorf("%d comments, want 1", got)
	}
	// Another process's comment with the marker is found, not created.
	if c, created, err := r.Fresh().PostComment(ctx, n, Marker("lost"), "Hi again "+Marker("lost"), time.Time{}); err != nil || c == nil || created {
		t.Errorf("comment made earlier: %+v, created %v, %v; want it found, not created", c, created, err)
	}

	f = lose("git/create-ref")
	created, cur, err := r.EnsureBranch(ctx, "hotfix/lost", s.v100)
	fired(f)
	if err != nil || cur != s.v100 || created {
		t.Errorf("branch: %v %s %v (found, not created by this call)", created, cur, err)
	}

	s.must(s.gh.CreateBranch(s.dana, "sync", "hotfix/fix"))
	f = lose("pulls/create")
	pr, _, err := r.EnsurePullRequest(ctx, "sync", "develop", "Sync", "", false)
	fired(f)
	if err != nil || pr == nil || len(s.gh.Issues()) != 2 {
		t.Errorf("pull request: %+v %v; %d issues", pr, err, len(s.gh.Issues()))
	}

	f = lose("repos/create-deployment")
	req := DeploymentRequest{SHA: s.fix, Environment: "production", Production: true, Task: policy.TaskHotfix,
		Payload: policy.DeploymentPayload{HotfixBot: 1, Kind: "hotfix", PR: n, CommentID: 5, RequestedBy: "rob", Chain: []string{"production"}}}
	d, _, err := r.CreateDeployment(ctx, req)
	fired(f)
	if err != nil || d == nil || len(s.gh.Deployments()) != 2 {
		t.Errorf("deployment: %+v %v; %d deployments", d, err, len(s.gh.Deployments()))
	}

	f = lose("issues/create")
	is, _, err := r.EnsureIssue(ctx, Marker("audit:1"), "Audit", "x "+Marker("audit:1"), nil, time.Time{})
	fired(f)
	if err != nil || is.Number == 0 || len(s.gh.Issues()) != 3 {
		t.Errorf("issue: %+v %v; %d issues", is, err, len(s.gh.Issues()))
	}

	f = lose("pulls/merge")
	sha, err := r.MergePullRequest(ctx, n, s.fix, "merge", "Raise the timeout")
	fired(f)
	if got, _ := s.gh.PR(n); err != nil || sha == "" || !got.PR.Merged || got.PR.MergeCommitSHA != sha {
		t.Errorf("merge: %s %v; merged %v at %s", sha, err, got.PR.Merged, got.PR.MergeCommitSHA)
	}
}

// GitHub failing is an error of its kind, explained for people; a write
// that keeps failing is tried three times and then given up.
func TestGitHubFailingIsAnErrorOfItsKind(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	f := &ghsim.Fault{Op: "repos/list-tags", Status: http.StatusServiceUnavailable}
	s.sim.Inject(f)
	_, err := r.Tags(ctx)
	var fe *Error
	if !IsTransient(err) || !errors.As(err, &fe) || fe.Status != http.StatusServiceUnavailable || !strings.Contains(Explain(err), "try again in a minute") {
		t.Errorf("a 503: kind %v: %s", KindOf(err), Explain(err))
	}
	s.sim.ClearFaults()

	f = &ghsim.Fault{Op: "issues/create-comment", Status: http.StatusBadGateway}
	s.sim.Inject(f)
	n := s.openPR()
	if _, _, err := r.PostComment(ctx, n, Marker("x"), "x "+Marker("x"), time.Time{}); !IsTransient(err) {
		t.Errorf("a comment GitHub keeps refusing: %v", err)
	}
	if hits := s.sim.Hits(f); hits != writeAttempts {
		t.Errorf("tried %d times, want %d", hits, writeAttempts)
	}
	s.sim.ClearFaults()

	if _, err := r.PullRequestNow(ctx, 99); !IsNotFound(err) || !strings.Contains(Explain(err), "#99") {
		t.Errorf("a missing pull request: %v (%s)", err, Explain(err))
	}
	s.sim.Inject(&ghsim.Fault{Op: "repos/list-deployments", Status: http.StatusForbidden})
	if _, _, err := r.Fresh().ProductionHistory(ctx, policy.Default()); KindOf(err) != Forbidden || !strings.Contains(Explain(err), "permissions") {
		t.Errorf("a 403: %v (%s)", err, Explain(err))
	}
}

// The checks and statuses of other systems on a commit, newest per name;
// this app's own runs are not among them.
func TestOtherChecks(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	ci := s.sim.Bot("ci[bot]")
	s.gh.AddStatus(ci, s.fix, "ci/build", "pending")
	s.gh.AddStatus(ci, s.fix, "ci/build", "success")
	noErr(t, r.CompleteCheck(ctx, s.fix, policy.CheckResult{Name: policy.CheckBase, Conclusion: policy.Success, Title: "ok", Summary: "ok"}, Stamp{}, ""))
	got, err := r.OtherChecks(ctx, s.fix)
	if err != nil || len(got) != 1 || got[0].Name != "ci/build" || got[0].State != "success" || got[0].Kind != "commit status" {
		t.Errorf("other checks: %+v %v", got, err)
	}
}

// The hidden mark of the call that posted a comment is not part of what
// it says: an upsert of the same text writes nothing.
func TestSameTextIgnoresTheAttemptMark(t *testing.T) {
	body := "Hi " + Marker("x")
	for _, tt := range []struct {
		comment string
		want    bool
	}{
		{body, true},
		{body + "\n" + Marker("attempt:ABC"), true},
		{body + "\n" + Marker("attempt:ABC") + "\nmore", false},
		{"Hi there " + Marker("x") + "\n" + Marker("attempt:ABC"), false},
	} {
		if got := sameText(tt.comment, body); got != tt.want {
			t.Errorf("sameText(%q) = %v, want %v", tt.comment, got, tt.want)
		}
	}
	// A body made from the comment read back keeps the mark.
	if !sameText(body+"\n"+Marker("attempt:ABC"), body+"\n"+Marker("attempt:ABC")) {
		t.Error("a body that kept the mark differs from the comment it came from")
	}
}

// A comment posted, read back and upserted with the same text is not
// written again (the body made from it keeps its attempt mark).
func TestUpsertOfAPostedCommentReadBackWritesNothing(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	n := s.openPR()
	m := Marker("plan")
	if _, _, err := r.PostComment(ctx, n, m, "Plan "+m, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		c, err := r.Fresh().FindComment(ctx, n, m, time.Time{})
		if err != nil || c == nil {
			t.Fatalf("read back: %+v %v", c, err)
		}
		s.sim.ResetCalls()
		if _, _, err := r.Fresh().UpsertComment(ctx, n, m, c.Body, time.Time{}); err != nil {
			t.Fatal(err)
		}
		for _, call := range s.sim.Calls() {
			if call.Write {
				t.Errorf("round %d: an unchanged upsert wrote %s %s", round, call.Method, call.Path)
			}
		}
	}
}
