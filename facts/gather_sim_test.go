package facts

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Gathering reads what every gate needs from GitHub as it is; policy,
// given those facts, passes an approved hotfix and fails the rest.
func TestGatherGatesAgainstGitHub(t *testing.T) {
	s := newSimRepo(t)
	ctx, cfg := context.Background(), policy.Default()
	n := s.openPR()
	s.sim.Clock().Advance(time.Minute)
	noErr(t, s.gh.AddLabel(s.rob, n, "hotfix-approved"))
	pr, err := s.r.PullRequest(ctx, n)
	noErr(t, err)

	g := s.r.GatherGates(ctx, cfg, GateRequest{Branch: "hotfix/fix", Head: s.fix, PR: pr, RefreshPR: true})
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	f := g.Facts
	if f.Production.SHA != s.v100 || f.Production.Tag != "v1.0.0" {
		t.Errorf("production: %+v", f.Production)
	}
	if f.Base.MergeBase != s.v100 || len(f.Base.Unreleased) != 0 {
		t.Errorf("base: %+v", f.Base)
	}
	if len(f.Schema.Files) != 1 || f.Schema.Files[0] != "pay/timeout.go" {
		t.Errorf("changed files: %+v", f.Schema)
	}
	l := f.Approval.Labels["hotfix-approved"]
	if !l.Present || l.AddedBy != "rob" || l.Permission != policy.PermissionMaintain || f.Approval.Head != s.fix || f.Approval.Opener != "dana" {
		t.Errorf("approval: %+v, label %+v", f.Approval, l)
	}
	if table := cfg.Decide(f); !table.Passed() {
		t.Errorf("an approved hotfix from production does not pass:\n%s", table.Markdown())
	}
	newest, err := s.r.NewestLabelEventID(ctx, n)
	noErr(t, err)
	if g.Stamp.EventID == 0 || g.Stamp.EventID != newest {
		t.Errorf("stamp %+v: not the event log's newest event", g.Stamp)
	}

	// A branch cut from develop carries develop's unreleased commits
	// (main's own since v1.0.0 among them: main is not production).
	s.must(s.gh.CreateBranch(s.dana, "hotfix/from-develop", "develop"))
	head := s.must(s.gh.Push(s.dana, "hotfix/from-develop", "Fix", ghsim.Files{"db/migrations/002.sql": "alter table t;\n"}))
	g = s.r.Fresh().GatherGates(ctx, cfg, GateRequest{Branch: "hotfix/from-develop", Head: head})
	if u := g.Facts.Base.Unreleased; len(u) != 1 || u[0].Branch != "develop" || u[0].Count != 2 || u[0].Commits[0].SHA != s.main || u[0].Commits[1].SHA != s.develop {
		t.Errorf("unreleased: %+v", g.Facts.Base)
	}
	table := cfg.Decide(g.Facts, policy.CheckBase, policy.CheckSchema)
	if base, _ := table.Result(policy.CheckBase); base.Passed() {
		t.Errorf("a branch from develop passes the base gate: %+v", base)
	}
	if schema, _ := table.Result(policy.CheckSchema); schema.Conclusion != policy.ActionRequired {
		t.Errorf("a migration is not flagged: %+v", schema)
	}

	// A fork's head: nothing is read about it.
	s.sim.ResetCalls()
	g = s.r.Fresh().GatherGates(ctx, cfg, GateRequest{Branch: "hotfix/x", Head: s.fix, Fork: "mallory/pay", Gates: []string{policy.CheckBase}})
	for _, c := range s.sim.Calls() {
		if !strings.Contains(c.Path, "check-runs") {
			t.Errorf("a fork's evaluation read %s", c.Path)
		}
	}
}

// A fact GitHub will not give fails the gates that need it, saying which,
// and is returned; the others are still decided.
func TestGatheringFailsClosed(t *testing.T) {
	s := newSimRepo(t)
	ctx, cfg := context.Background(), policy.Default()
	n := s.openPR()
	noErr(t, s.gh.AddLabel(s.rob, n, "hotfix-approved"))
	pr, err := s.r.PullRequest(ctx, n)
	noErr(t, err)
	s.sim.Inject(&ghsim.Fault{Op: "issues/list-events", Status: http.StatusBadGateway})
	g := s.r.GatherGates(ctx, cfg, GateRequest{Branch: "hotfix/fix", Head: s.fix, PR: pr})
	if !IsTransient(g.Err()) {
		t.Errorf("errors: %v", g.Err())
	}
	table := cfg.Decide(g.Facts)
	if a, _ := table.Result(policy.CheckApproval); a.Passed() || !strings.Contains(a.Summary, "502") {
		t.Errorf("approval without its event log: %+v", a)
	}
	if b, _ := table.Result(policy.CheckBase); !b.Passed() {
		t.Errorf("the base gate, which needs no event log: %+v", b)
	}
}

// The policy is read from the default branch and kept for its TTL.
func TestPolicyCacheAgainstGitHub(t *testing.T) {
	s := newSimRepo(t)
	ctx := context.Background()
	s.must(s.gh.Push(s.rob, "main", "Configure hotfix-bot", ghsim.Files{".github/hotfix-bot.yml": "approval:\n  labels: [lgtm]\n"}))
	cache := NewPolicyCache(time.Minute, s.sim.Clock().Now)
	p, err := s.r.Policy(ctx, cache)
	if err != nil || p.Broken() || p.Config.Approval.Labels[0] != "lgtm" {
		t.Fatalf("policy: %+v %v", p, err)
	}
	s.must(s.gh.Push(s.rob, "main", "Break it", ghsim.Files{".github/hotfix-bot.yml": "approval: [\n"}))
	s.sim.ResetCalls()
	if p, _ := s.r.Policy(ctx, cache); p.Broken() || len(s.sim.Calls()) != 0 {
		t.Errorf("within the TTL the cached policy is used without a call: broken %v, %d calls", p.Broken(), len(s.sim.Calls()))
	}
	cache.Forget("acme/pay")
	if p, _ := s.r.Policy(ctx, cache); !p.Broken() {
		t.Error("after Forget the broken file is read")
	}
	cache.ForgetOwner("acme")
	if _, ok := cache.Cached("acme/pay"); ok {
		t.Error("ForgetOwner kept the owner's repository")
	}
	if p, err := s.r.Policy(ctx, nil); err != nil || !p.Broken() || !strings.Contains(p.Describe(), "line") {
		t.Errorf("uncached: %+v %v", p, err)
	}
}

// Check runs: started again (in progress) before a re-evaluation, then
// completed in place; the sync-back pull requests of a tag are found by
// their branches; team membership is read from GitHub.
func TestChecksSyncPullRequestsAndTeams(t *testing.T) {
	s := newSimRepo(t)
	ctx, r := context.Background(), s.r
	res := policy.CheckResult{Name: policy.CheckBase, Conclusion: policy.Success, Title: "ok", Summary: "ok"}
	noErr(t, r.CompleteCheck(ctx, s.fix, res, Stamp{}, ""))
	cr, err := r.Fresh().CheckRun(ctx, s.fix, policy.CheckBase)
	noErr(t, err)
	noErr(t, r.StartCheck(ctx, s.fix, cr))
	if got, _ := s.gh.CheckRun(s.fix, policy.CheckBase); got.Status != "in_progress" {
		t.Errorf("started: %+v", got)
	}
	res.Conclusion, res.Title = policy.Failure, "no"
	noErr(t, r.Fresh().CompleteCheck(ctx, s.fix, res, Stamp{}, ""))
	if runs := s.gh.CheckRuns(s.fix); len(runs) != 1 || runs[0].Conclusion != policy.Failure {
		t.Errorf("runs: %+v", runs)
	}

	for _, target := range []string{"develop", "release/1.1"} {
		branch := policy.SyncBranchName("v1.0.1", target)
		if target == "release/1.1" {
			s.must(s.gh.CreateBranch(s.dana, target, "main"))
		}
		s.must(s.gh.CreateBranch(s.dana, branch, "hotfix/fix"))
		// The app opened the sync into develop; dana opened one from a
		// branch named like the bot's, which proves nothing.
		opener := s.app.Bot
		if target == "release/1.1" {
			opener = s.dana
		}
		if _, err := s.gh.OpenPR(opener, branch, target, "Sync v1.0.1 into "+target); err != nil {
			t.Fatal(err)
		}
	}
	prs, err := r.SyncPullRequests(ctx, "v1.0.1")
	if err != nil || len(prs) != 1 || prs[0].GetBase().GetRef() != "develop" {
		t.Errorf("sync pull requests: %d %v, want the app's one into develop", len(prs), err)
	}

	s.sim.AddTeamMember("acme", "sre", "rob")
	s.sim.InviteTeamMember("acme", "sre", "dana")
	for who, want := range map[string]bool{"rob": true, "dana": false, "ivan": false} {
		if got, err := r.TeamMember(ctx, "acme", "sre", who); err != nil || got != want {
			t.Errorf("%s in acme/sre: %v %v, want %v", who, got, err, want)
		}
	}
}

// A repository named by a request (not a webhook) is opened through the
// app's installation on it; one the app is not installed on is NotFound.
func TestOpenRepository(t *testing.T) {
	s := newSimRepo(t)
	ctx := context.Background()
	r, err := OpenRepository(ctx, s.clients(), "acme", "pay", s.app.ID)
	if err != nil || r.DefaultBranch != "main" || !strings.HasSuffix(r.HTMLURL, "/acme/pay") || r.AppID != s.app.ID {
		t.Fatalf("open: %+v %v", r, err)
	}
	if runs, err := r.CheckRuns(ctx, s.fix); err != nil || len(runs) != 0 {
		t.Errorf("reading through it: %v %v", runs, err)
	}
	if _, err := s.sim.CreateRepo("acme", "elsewhere"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"elsewhere", "nowhere"} {
		if _, err := OpenRepository(ctx, s.clients(), "acme", name, s.app.ID); !IsNotFound(err) {
			t.Errorf("acme/%s: %v, want not found", name, err)
		}
	}
}

// Past its TTL, the door is told once that there is no policy (that
// delivery is queued and reads it again); the others are judged with the
// expired one while it is read, for at most DoorStale, and again told
// there is none if the read has not come within refreshLapse.
func TestPolicyCacheForDoor(t *testing.T) {
	s := newSimRepo(t)
	ctx := context.Background()
	clk := s.sim.Clock()
	cache := NewPolicyCache(time.Minute, clk.Now)
	if _, ok := cache.ForDoor("acme/pay", ""); ok {
		t.Fatal("a policy never read counts at the door")
	}
	if _, err := s.r.Policy(ctx, cache); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.ForDoor("acme/pay", ""); !ok {
		t.Fatal("a fresh policy does not count at the door")
	}
	clk.Advance(time.Minute)
	if _, ok := cache.CachedFor("acme/pay", ""); ok {
		t.Fatal("an expired policy counts in a handler")
	}
	if _, ok := cache.ForDoor("acme/pay", ""); ok {
		t.Fatal("the first delivery after the TTL was not sent to read the policy again")
	}
	for range 3 {
		if _, ok := cache.ForDoor("acme/pay", ""); !ok {
			t.Fatal("while the policy is read again, the door does not judge with the expired one")
		}
	}
	if _, ok := cache.ForDoor("acme/pay", "develop"); ok {
		t.Fatal("another base's entry (never read) counts")
	}
	clk.Advance(refreshLapse)
	if _, ok := cache.ForDoor("acme/pay", ""); ok {
		t.Fatal("a read that never came is not asked for again after refreshLapse")
	}
	if _, ok := cache.ForDoor("acme/pay", ""); !ok {
		t.Fatal("after asking again, the door does not judge with the expired one")
	}
	clk.Advance(DoorStale)
	if _, ok := cache.ForDoor("acme/pay", ""); ok {
		t.Fatal("a policy DoorStale past its TTL counts at the door")
	}
	if _, ok := cache.ForDoor("acme/pay", ""); ok {
		t.Fatal("a policy DoorStale past its TTL counts at the door the second time")
	}
	if _, err := s.r.Policy(ctx, cache); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.ForDoor("acme/pay", ""); !ok {
		t.Fatal("a policy read again does not count")
	}
	clk.Advance(time.Minute + time.Second)
	cache.ForDoor("acme/pay", "") // the re-read is claimed
	cache.Forget("acme/pay")
	if _, ok := cache.ForDoor("acme/pay", ""); ok {
		t.Fatal("a forgotten policy counts at the door")
	}
}

// A handler ends (app.MaxHandlerTimeout) well before the claim on its
// work lapses: a live handler's claim is never taken over.
func TestHandlerTimeoutWithinClaim(t *testing.T) {
	if app.MaxHandlerTimeout >= ClaimTTL-15*time.Second {
		t.Fatalf("handler_timeout may reach %s, the claim lapses after %s", app.MaxHandlerTimeout, ClaimTTL)
	}
}
