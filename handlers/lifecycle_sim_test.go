package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// The lifecycle's decisions, handler by handler, against the simulator:
// the gates on a push and a pull request, /promote, the deployment's
// success (tag, merge, lock, sync-back) and failure (automatic rollback,
// incident issue).

func TestGatesOnAPushAndAPullRequest(t *testing.T) {
	s := newSimBot(t)
	head := s.hotfix("fix")
	s.settle()
	s.expectCheck(head, policy.CheckBase, policy.Success, "Starts at production (v1.0.0)")
	s.expectCheck(head, policy.CheckSchema, policy.Success)
	n, err := s.gh.OpenPR(s.dana, "hotfix/fix", "main", "Raise the timeout")
	if err != nil {
		t.Fatal(err)
	}
	s.settle()
	if got := strings.Join(s.gh.Labels(n), ","); got != "hotfix" {
		t.Errorf("labels = %q", got)
	}
	s.expectCheck(head, policy.CheckApproval, policy.Failure, "missing")
	if err := s.gh.AddLabel(s.rob, n, "hotfix-approved"); err != nil {
		t.Fatal(err)
	}
	s.settle()
	s.expectCheck(head, policy.CheckApproval, policy.Success, "@rob (maintain)")
}

func TestPromoteThenSuccess(t *testing.T) {
	s := newSimBot(t)
	n, head := s.approved("fix")
	id := s.comment(s.rob, n, "/promote")
	s.reply(n, id, "Promoting #")
	ds, ps := s.botDeployments()
	if len(ds) != 1 || ds[0].SHA != head || ps[0].NextTag != "v1.0.1" || ps[0].CommentID != id {
		t.Fatalf("deployments %+v %+v", ds, ps)
	}
	if !s.lockHeld() {
		t.Error("the lock is not held while the deployment runs")
	}
	s.report(ds[0].ID, "success")
	if s.gh.TagCommit("v1.0.1") != head {
		t.Error("v1.0.1 is not at the deployed head")
	}
	if pr, _ := s.gh.PR(n); !pr.PR.Merged {
		t.Error("not merged")
	}
	if s.lockHeld() {
		t.Error("the lock is still held")
	}
	if got := s.pullsInto("develop", "hotfix-bot/sync/"); len(got) != 1 {
		t.Errorf("%d sync PRs into develop", len(got))
	}
	if got := s.pullsInto("release/1.1", "hotfix-bot/sync/"); len(got) != 1 || !got[0].PR.Draft {
		t.Errorf("sync PRs into release/1.1: %+v (a conflicting sync is a draft)", got)
	}
	if got := s.botComments(n, "hotfix-bot:deployed:"); len(got) != 1 || !strings.Contains(got[0], "is in production as v1.0.1") {
		t.Errorf("summaries %v", got)
	}
}

func TestFailedHotfixIsRolledBackWithAnIncident(t *testing.T) {
	s := newSimBot(t)
	n, _ := s.approved("fix")
	s.comment(s.rob, n, "/promote")
	ds, _ := s.botDeployments()
	s.report(ds[0].ID, "failure")
	ds, ps := s.botDeployments()
	if len(ds) != 2 || ds[1].Task != policy.TaskRollback || ds[1].SHA != s.v100 || !ps[1].Automatic || ps[1].FailedDeployment != ds[0].ID {
		t.Fatalf("rollback %+v %+v", ds, ps)
	}
	if got := s.botComments(n, "hotfix-bot:failed:"); len(got) != 1 || !strings.Contains(got[0], "Rolling production back to v1.0.0 automatically") {
		t.Errorf("failure reports %v", got)
	}
	s.report(ds[1].ID, "success")
	var incidents []string
	for _, is := range s.gh.Issues() {
		if is.PR == nil && strings.Contains(is.Title, "Incident") {
			incidents = append(incidents, is.Title+"\n"+is.Body)
		}
	}
	if len(incidents) != 1 || !strings.Contains(incidents[0], "automatic") {
		t.Errorf("incident issues: %v", incidents)
	}
	if s.lockHeld() {
		t.Error("the lock is held after the rollback finished")
	}
	if pr, _ := s.gh.PR(n); pr.PR.Merged {
		t.Error("a failed hotfix was merged")
	}
}

func TestRollbackCommand(t *testing.T) {
	s := newSimBot(t)
	n, _ := s.approved("fix")
	s.comment(s.rob, n, "/promote")
	ds, _ := s.botDeployments()
	s.report(ds[0].ID, "success")
	// Ivan may read, not roll back.
	refused := s.comment(s.ivan, n, "/rollback")
	s.reply(n, refused, "permission")
	if ds, _ := s.botDeployments(); len(ds) != 1 {
		t.Fatalf("a refused rollback deployed: %+v", ds)
	}
	id := s.comment(s.rob, n, "/rollback")
	s.reply(n, id, "Rolling production back from v1.0.1 to v1.0.0")
	ds, ps := s.botDeployments()
	if len(ds) != 2 || ds[1].SHA != s.v100 || ps[1].CommentID != id || ps[1].Kind != "rollback" {
		t.Fatalf("deployments %+v %+v", ds, ps)
	}
	// The same comment delivered again changes nothing.
	for _, d := range s.sim.Deliveries() {
		if d.Event == "issue_comment" && strings.Contains(string(d.Payload), `"id":`+itoa(id)) {
			s.receive(d.Event, d.ID, d.Payload)
		}
	}
	s.settle()
	if ds, _ := s.botDeployments(); len(ds) != 2 {
		t.Errorf("a re-delivered /rollback deployed again: %d deployments", len(ds))
	}
	s.report(ds[1].ID, "success")
	// Rolling back to a tag that never ran in production is refused.
	s.must(s.gh.Tag(s.dana, "v0.9.0", "develop"))
	bad := s.comment(s.rob, n, "/rollback v0.9.0")
	s.reply(n, bad, "v0.9.0")
	if ds, _ := s.botDeployments(); len(ds) != 2 {
		t.Errorf("rolled back to a tag that never ran: %d deployments", len(ds))
	}
}

func TestHotfixStartHelpAndUnlock(t *testing.T) {
	s := newSimBot(t)
	issue := s.gh.CreateIssue(s.rob, "Payments time out", "")
	s.settle()
	id := s.comment(s.dana, issue, "/hotfix start timeout")
	s.reply(issue, id, "Created `hotfix/timeout` at production v1.0.0", "git switch hotfix/timeout")
	if s.gh.Branch("hotfix/timeout") != s.v100 {
		t.Errorf("hotfix/timeout at %s", s.gh.Branch("hotfix/timeout"))
	}
	again := s.comment(s.dana, issue, "/hotfix start timeout")
	s.reply(issue, again, "is there already")
	s.must(s.gh.Push(s.dana, "hotfix/timeout", "Fix", map[string]string{"a.go": "package a\n"}))
	s.settle()
	moved := s.comment(s.dana, issue, "/hotfix start timeout")
	s.reply(issue, moved, "exists already", "not at production")

	help := s.comment(s.ivan, issue, "/help")
	s.reply(issue, help, "/promote --dry-run", "/unlock")

	n, _ := s.approved("fix")
	s.comment(s.rob, n, "/promote")
	if !s.lockHeld() {
		t.Fatal("no lock to release")
	}
	prHelp := s.comment(s.ivan, n, "/help")
	s.reply(n, prHelp, "This pull request's gates now", "Production lock: held")
	denied := s.comment(s.dana, n, "/unlock")
	s.reply(n, denied, "maintain")
	unlock := s.comment(s.rob, n, "/unlock")
	s.reply(n, unlock, "Released the production lock")
	if s.lockHeld() {
		t.Error("the lock is still held")
	}
	nothing := s.comment(s.rob, n, "/unlock")
	s.reply(n, nothing, "nothing to unlock")
}

func TestPromoteRefusalsAndDryRun(t *testing.T) {
	s := newSimBot(t)
	head := s.hotfix("fix")
	n, err := s.gh.OpenPR(s.dana, "hotfix/fix", "main", "Raise the timeout")
	if err != nil {
		t.Fatal(err)
	}
	s.settle()
	dry := s.comment(s.ivan, n, "/promote --dry-run")
	s.reply(n, dry, "hotfix-bot/approval", "missing")
	id := s.comment(s.rob, n, "/promote")
	s.reply(n, id, "`hotfix-bot/approval`")
	if ds, _ := s.botDeployments(); len(ds) != 0 || s.lockHeld() {
		t.Fatalf("a refused /promote deployed or locked: %+v", ds)
	}
	if err := s.gh.AddLabel(s.rob, n, "hotfix-approved"); err != nil {
		t.Fatal(err)
	}
	s.settle()
	s.gh.SetDraft(n, true)
	draft := s.comment(s.rob, n, "/promote")
	s.reply(n, draft, "draft")
	s.gh.SetDraft(n, false)
	if ds, _ := s.botDeployments(); len(ds) != 0 {
		t.Errorf("deployed on a refused command: %+v", ds)
	}
	s.expectCheck(head, policy.CheckApproval, policy.Success)
}

func TestEmergencyPromotionOpensAnAuditIssue(t *testing.T) {
	s := newSimBot(t, map[string]string{".github/hotfix-bot.yml": "commands:\n  emergency:\n    users: [rob]\n"})
	head := s.hotfix("fix")
	n, err := s.gh.OpenPR(s.dana, "hotfix/fix", "main", "Raise the timeout")
	if err != nil {
		t.Fatal(err)
	}
	s.settle()
	noReason := s.comment(s.rob, n, "/promote --emergency")
	s.reply(n, noReason, "reason")
	notListed := s.comment(s.dana, n, "/promote --emergency payments are down")
	s.reply(n, notListed, "commands.emergency")
	id := s.comment(s.rob, n, "/promote --emergency payments are down")
	s.reply(n, id, "Promoting #")
	ds, ps := s.botDeployments()
	if len(ds) != 1 || ds[0].SHA != head || !ps[0].Emergency || ps[0].AuditIssue == 0 {
		t.Fatalf("deployments %+v %+v", ds, ps)
	}
	audit, _ := s.gh.PR(ps[0].AuditIssue)
	if !strings.Contains(audit.Body, "payments are down") || !strings.Contains(audit.Body, "@rob") {
		t.Errorf("audit issue:\n%s\n%s", audit.Title, audit.Body)
	}
}

func TestStagedChainAdvancesOnSuccess(t *testing.T) {
	s := newSimBot(t, map[string]string{".github/hotfix-bot.yml": "promote:\n  environments: [staging, production]\n"})
	n, head := s.approved("fix")
	id := s.comment(s.rob, n, "/promote")
	ds, ps := s.botDeployments()
	if len(ds) != 1 || ds[0].Environment != "staging" || ps[0].ChainIndex != 0 {
		t.Fatalf("first step %+v %+v\n%v", ds, ps, s.botComments(n, ""))
	}
	s.report(ds[0].ID, "success")
	ds, ps = s.botDeployments()
	if len(ds) != 2 || ds[1].Environment != "production" || ds[1].SHA != head || ps[1].ChainIndex != 1 {
		t.Fatalf("second step %+v %+v", ds, ps)
	}
	if s.gh.TagCommit("v1.0.1") != "" {
		t.Error("tagged after staging")
	}
	s.reply(n, id, "✅ succeeded")
	s.report(ds[1].ID, "success")
	if s.gh.TagCommit("v1.0.1") != head {
		t.Error("not tagged after production")
	}
}

func TestAPushResetsApprovalsAndARerunReevaluates(t *testing.T) {
	s := newSimBot(t)
	n, _ := s.approved("fix")
	head := s.must(s.gh.Push(s.dana, "hotfix/fix", "Also log it", map[string]string{"pay/log.go": "package pay\n"}))
	s.settle()
	if got := s.gh.Labels(n); strings.Contains(strings.Join(got, ","), "hotfix-approved") {
		t.Errorf("labels after a push: %v", got)
	}
	if got := s.botComments(n, "Approvals reset"); len(got) != 1 {
		t.Errorf("reset comments: %v", got)
	}
	s.expectCheck(head, policy.CheckApproval, policy.Failure)
	cr, _ := s.gh.CheckRun(head, policy.CheckBase)
	if err := s.gh.RerequestCheckRun(s.dana, cr.ID); err != nil {
		t.Fatal(err)
	}
	s.settle()
	s.expectCheck(head, policy.CheckBase, policy.Success)
	mine := 0
	for _, r := range s.gh.CheckRuns(head) {
		if r.App == s.app {
			mine++
		}
	}
	if mine != 3 {
		t.Errorf("%d of the bot's check runs after a re-run, want 3", mine)
	}
}

func TestSchemaChangeIsLabelledAndNeedsItsApproval(t *testing.T) {
	s := newSimBot(t)
	s.must(s.gh.CreateBranch(s.dana, "hotfix/migrate", "v1.0.0"))
	head := s.must(s.gh.Push(s.dana, "hotfix/migrate", "Add an index", map[string]string{"db/migrations/002_index.sql": "create index i on t(a);\n"}))
	n, err := s.gh.OpenPR(s.dana, "hotfix/migrate", "main", "Add an index")
	if err != nil {
		t.Fatal(err)
	}
	s.settle()
	s.expectCheck(head, policy.CheckSchema, policy.ActionRequired, "db/migrations/002_index.sql")
	if got := strings.Join(s.gh.Labels(n), ","); !strings.Contains(got, "schema-change") {
		t.Errorf("labels %q", got)
	}
	if err := s.gh.AddLabel(s.rob, n, "hotfix-approved"); err != nil {
		t.Fatal(err)
	}
	if err := s.gh.AddLabel(s.rob, n, "schema-approved"); err != nil {
		t.Fatal(err)
	}
	s.settle()
	s.expectCheck(head, policy.CheckSchema, policy.Success)
	s.expectCheck(head, policy.CheckApproval, policy.Success)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// released is an approved hotfix promoted and reported a success.
func (s *simBot) released(name string) (int, string) {
	s.t.Helper()
	n, head := s.approved(name)
	s.comment(s.rob, n, "/promote")
	ds, _ := s.botDeployments()
	s.report(ds[len(ds)-1].ID, "success")
	return n, head
}

func TestSyncBackConflictsSupersedingAndTheStaleLock(t *testing.T) {
	s := newSimBot(t)
	s.released("fix")
	sync := s.pullsInto("release/1.1", "hotfix-bot/sync/")
	if len(sync) != 1 || !strings.Contains(strings.Join(s.gh.Labels(sync[0].Number), ","), "sync-conflict") {
		t.Fatalf("sync PRs into release/1.1: %+v", sync)
	}
	branch := sync[0].PR.HeadRef
	s.expectCheck(s.gh.Branch(branch), policy.CheckSync, policy.Failure)
	// Dana resolves the conflict on the sync branch.
	s.must(s.gh.MergeBranchesResolving(s.dana, branch, "release/1.1", "Merge release/1.1", map[string]string{"pay/timeout.go": "package pay\n\nconst Timeout = 60\n"}))
	s.settle()
	s.expectCheck(s.gh.Branch(branch), policy.CheckSync, policy.Success, "Conflicts resolved")
	if got := s.gh.Labels(sync[0].Number); strings.Contains(strings.Join(got, ","), "sync-conflict") {
		t.Errorf("labels after the resolution: %v", got)
	}
	s.must(s.gh.Push(s.dana, branch, "Oops", map[string]string{"pay/timeout.go": "<<<<<<< HEAD\nconst Timeout = 60\n=======\nconst Timeout = 45\n>>>>>>> release/1.1\n"}))
	s.settle()
	s.expectCheck(s.gh.Branch(branch), policy.CheckSync, policy.Failure, "Conflict markers left in", "pay/timeout.go")

	// A second release supersedes the first's untouched sync into develop.
	old := s.pullsInto("develop", "hotfix-bot/sync/v1.0.1-")
	s.must(s.gh.CreateBranch(s.dana, "hotfix/second", "v1.0.1"))
	s.must(s.gh.Push(s.dana, "hotfix/second", "Another fix", map[string]string{"pay/other.go": "package pay\n"}))
	n, err := s.gh.OpenPR(s.dana, "hotfix/second", "main", "Another fix")
	if err != nil {
		t.Fatal(err)
	}
	s.settle()
	if err := s.gh.AddLabel(s.rob, n, "hotfix-approved"); err != nil {
		t.Fatal(err)
	}
	s.settle()
	s.comment(s.rob, n, "/promote")
	ds, _ := s.botDeployments()
	s.report(ds[len(ds)-1].ID, "success")
	newer := s.pullsInto("develop", "hotfix-bot/sync/v1.0.2-")
	if len(old) != 1 || len(newer) != 1 {
		t.Fatalf("sync PRs into develop: %d v1.0.1, %d v1.0.2", len(old), len(newer))
	}
	if got, _ := s.gh.PR(old[0].Number); got.State != "closed" {
		t.Errorf("the superseded sync PR is %s", got.State)
	}
	if c := s.botComments(old[0].Number, "Superseded by #"+strconv.Itoa(newer[0].Number)); len(c) != 1 {
		t.Errorf("%d superseded comments", len(c))
	}
}

func TestAStaleLockIsTakenOver(t *testing.T) {
	s := newSimBot(t)
	first, _ := s.approved("abandoned")
	s.comment(s.rob, first, "/promote")
	ds, _ := s.botDeployments()
	// CD reports the end, but the delivery is lost: an hour later the
	// lock, waiting for nothing, is stale. (A deployment with no status
	// keeps its lock however old: it may still be waiting for reviewers.)
	if err := s.gh.SetDeploymentStatus(s.cd, ds[0].ID, "failure", "deploy failed"); err != nil {
		t.Fatal(err)
	}
	s.sim.DiscardPending()
	s.sim.Clock().Advance(61 * time.Minute)
	s.must(s.gh.CreateBranch(s.dana, "hotfix/urgent", "v1.0.0"))
	s.must(s.gh.Push(s.dana, "hotfix/urgent", "Another fix", map[string]string{"pay/other.go": "package pay\n"}))
	second, err := s.gh.OpenPR(s.dana, "hotfix/urgent", "main", "Another fix")
	if err != nil {
		t.Fatal(err)
	}
	s.settle()
	if err := s.gh.AddLabel(s.rob, second, "hotfix-approved"); err != nil {
		t.Fatal(err)
	}
	s.settle()
	id := s.comment(s.rob, second, "/promote")
	s.reply(second, id, "The production lock was stale", "took it over", "Promoting #")
	if ds, _ := s.botDeployments(); len(ds) != 2 {
		t.Errorf("%d deployments, want the abandoned one and the urgent one", len(ds))
	}
}

// A details page's facts are read from GitHub as it is: the released
// hotfix's runs, pull request, deployment, tag and sync-back; a commit
// the bot never checked has no page; a fact GitHub will not give is
// missing, the others are read.
func TestDetailsFactsAreGathered(t *testing.T) {
	s := newSimBot(t)
	n, head := s.released("fix")
	r, err := s.bot.repoByName(s.ctx, "acme", "pay")
	if err != nil {
		t.Fatal(err)
	}
	f, err := gatherDetails(s.ctx, r, s.bot.policies, s.sim.Clock().Now(), head)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Runs) != 3 || f.PRNumber != n || f.PR.GetNumber() != n || len(f.Deployments) != 1 || f.Tag != "v1.0.1" || f.TagCommit != head ||
		len(f.Syncs) != 2 || f.Production == nil || f.Production.SHA != head || f.Lock == nil || f.Lock.Held() {
		t.Errorf("facts: runs %d, pr %d/%d, deployments %d, tag %s at %s, syncs %d, production %+v, lock %+v",
			len(f.Runs), f.PRNumber, f.PR.GetNumber(), len(f.Deployments), f.Tag, f.TagCommit, len(f.Syncs), f.Production, f.Lock)
	}
	if v := detailsPage(f); len(v.Missing) != 0 || v.Tag != "v1.0.1" || v.PR == nil || v.PR.State != "merged" {
		t.Errorf("page: %+v", v)
	}
	if _, err := gatherDetails(s.ctx, r.Fresh(), s.bot.policies, s.sim.Clock().Now(), s.v100); err != errNotFound {
		t.Errorf("an unchecked commit: %v, want no page", err)
	}
	if _, err := s.bot.repoByName(s.ctx, "acme", "elsewhere"); !facts.IsNotFound(err) {
		t.Errorf("a repository the app is not installed on: %v", err)
	}

	// The deployments (and so production, found from them) fail; the
	// lock and the policy are still read.
	s.sim.Inject(&ghsim.Fault{Op: "repos/list-deployments", Status: http.StatusBadGateway})
	f, err = gatherDetails(s.ctx, r.Fresh(), s.bot.policies, s.sim.Clock().Now(), head)
	if err != nil || f.DeploymentsErr == nil || f.ProductionErr == nil || f.Lock == nil || f.PolicyErr != nil || len(f.Runs) != 3 {
		t.Errorf("with the deployments failing: %v; deployments %v, production %v, lock %v", err, f.DeploymentsErr, f.ProductionErr, f.Lock)
	}
	if v := detailsPage(f); len(v.Missing) == 0 || v.ChainRead {
		t.Errorf("page with the deployments failing: missing %v, chain read %v", v.Missing, v.ChainRead)
	}
}

// "Re-run" on hotfix-bot/sync evaluates the sync-back branch again: after
// its target moved on, the check says the branch lacks the new commits.
func TestReRunOfTheSyncCheck(t *testing.T) {
	s := newSimBot(t)
	s.released("fix")
	sync := s.pullsInto("release/1.1", "hotfix-bot/sync/")
	if len(sync) != 1 {
		t.Fatalf("sync PRs into release/1.1: %+v", sync)
	}
	branch := sync[0].PR.HeadRef
	s.must(s.gh.MergeBranchesResolving(s.dana, branch, "release/1.1", "Merge release/1.1", map[string]string{"pay/timeout.go": "package pay\n\nconst Timeout = 60\n"}))
	s.settle()
	head := s.gh.Branch(branch)
	s.expectCheck(head, policy.CheckSync, policy.Success, "Conflicts resolved")
	s.must(s.gh.Push(s.dana, "release/1.1", "Bump the version", map[string]string{"VERSION": "1.1.1\n"}))
	s.settle()
	cr, _ := s.gh.CheckRun(head, policy.CheckSync)
	if err := s.gh.RerequestCheckRun(s.rob, cr.ID); err != nil {
		t.Fatal(err)
	}
	s.settle()
	s.expectCheck(head, policy.CheckSync, policy.Failure, "Does not contain")
}
