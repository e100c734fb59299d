package policy

import (
	"strings"
	"testing"
)

func TestDecideStatus(t *testing.T) {
	const (
		v142 = "1420000000000000000000000000000000000000"
		fix  = "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1"
		v150 = "1500000000000000000000000000000000000000"
	)
	hotfix := DeploymentPayload{HotfixBot: 1, Kind: "hotfix", PR: 5, CommentID: 11, RequestedBy: "rob", PreviousRef: v142, PreviousTag: "v1.4.2",
		NextTag: "v1.4.3", Chain: []string{"production"}}
	staging := hotfix
	staging.Chain = []string{"staging", "production"}
	rollback := DeploymentPayload{HotfixBot: 1, Kind: "rollback", PR: 5, CommentID: 12, RequestedBy: "rob", PreviousRef: fix, Target: "v1.4.2", Chain: []string{"production"}}
	onV142 := ProductionState{Known: true, SHA: v142, Tag: "v1.4.2", Deployment: 3}
	onFix := ProductionState{Known: true, SHA: fix, Tag: "v1.4.3", Deployment: 20}
	onV150 := ProductionState{Known: true, SHA: v150, Tag: "v1.5.0", Deployment: 30}
	other := LockState{Held: true, Kind: "promote", RequestedBy: "sam", PR: 9}

	on := Default()
	off := Default()
	off.Rollback.OnFailure = false

	tests := []struct {
		name     string
		cfg      Config
		facts    StatusFacts
		action   StatusAction
		release  bool
		whyParts []string
	}{
		{"a status the deployment replaced since", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", Superseded: true, Lock: LockNamesThis},
			StatusIgnore, false, nil},
		{"the creator is still writing (a CD that reports at once)", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", Lock: LockCreating, Production: onV142},
			StatusWait, false, nil},
		{"another handler works on this story", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "success", Lock: LockNamesThis, Claimed: true, Production: onFix},
			StatusWait, false, nil},

		{"staging succeeded while the lock names it", on,
			StatusFacts{Payload: staging, Deployment: 20, SHA: fix, State: "success", Lock: LockNamesThis, Production: onV142},
			StatusAdvance, true, nil},
		{"a late staging success after /unlock", on,
			StatusFacts{Payload: staging, Deployment: 20, SHA: fix, State: "success", Lock: LockFree, Production: onV142},
			StatusLate, false, []string{"not waiting on this deployment", "lock is free"}},
		{"staging failed while the lock names it", on,
			StatusFacts{Payload: staging, Deployment: 20, SHA: fix, State: "failure", Lock: LockNamesThis, Production: onV142},
			StatusStopChain, true, nil},
		{"a late staging failure once production's step holds the lock", on,
			StatusFacts{Payload: staging, Deployment: 20, SHA: fix, State: "failure", Lock: LockMovedOn, Production: onV142},
			StatusLate, false, []string{"moved on"}},

		{"production success: what production runs", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "success", Lock: LockNamesThis, Production: onFix},
			StatusFinishHotfix, true, nil},
		{"production success after /unlock: still finished, the lock left alone", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "success", Lock: LockOther, LockView: other, Production: onFix},
			StatusFinishHotfix, false, nil},
		{"a success on an older deployment moves nothing", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "success", Lock: LockFree, Production: onV150},
			StatusLate, false, []string{"production now runs v1.5.0 (deployment 30)", "nothing was tagged, merged, moved or synced"}},

		{"production failed: roll back", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", Lock: LockNamesThis, Production: onV142},
			StatusRollback, true, nil},
		{"production failed with the lock free and nothing newer: roll back", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "error", Lock: LockFree, Production: onV142},
			StatusRollback, false, nil},
		{"a late failure after a newer deployment succeeded", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", Lock: LockFree, NewerDeployment: 30, Production: onV150},
			StatusLate, false, []string{"deployment 30 to `production` was created after it", "production now runs v1.5.0", "nothing was rolled back"}},
		{"a failure while another promotion holds the lock", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", Lock: LockOther, LockView: other, Production: onV142},
			StatusLate, false, []string{"held by @sam", "nothing was rolled back"}},
		{"a failure after the same deployment succeeded (a re-run job)", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", SucceededBefore: true, Lock: LockFree, Production: onV142},
			StatusFailHotfix, false, []string{"reported success before"}},
		{"automatic rollback off", off,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", Lock: LockNamesThis, Production: onV142},
			StatusFailHotfix, true, []string{"rollback.on_failure: false"}},
		{"production no longer runs what the hotfix replaced", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", Lock: LockNamesThis, Production: onV150},
			StatusFailHotfix, true, []string{"v1.5.0 (deployment 30)", "does not guess"}},
		{"production unknown", on,
			StatusFacts{Payload: hotfix, Deployment: 20, SHA: fix, State: "failure", Lock: LockNamesThis, Production: ProductionState{Unknown: "GitHub answered 502"}},
			StatusFailHotfix, true, []string{"cannot tell what production ran last: GitHub answered 502"}},

		{"rollback succeeded", on,
			StatusFacts{Payload: rollback, Deployment: 21, SHA: v142, State: "success", Lock: LockNamesThis, Production: ProductionState{Known: true, SHA: v142, Deployment: 21}},
			StatusFinishRollback, true, nil},
		{"a late rollback success", on,
			StatusFacts{Payload: rollback, Deployment: 21, SHA: v142, State: "success", Lock: LockFree, Production: onV150},
			StatusLate, false, []string{"v1.5.0", "no incident issue"}},
		{"rollback failed", on,
			StatusFacts{Payload: rollback, Deployment: 21, SHA: v142, State: "failure", Lock: LockNamesThis, Production: onFix},
			StatusFailRollback, true, nil},
		{"a late rollback failure", on,
			StatusFacts{Payload: rollback, Deployment: 21, SHA: v142, State: "failure", Lock: LockFree, NewerDeployment: 30, Production: onV150},
			StatusLate, false, []string{"deployment 30"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.cfg.DecideStatus(tt.facts)
			if d.Action != tt.action || d.ReleaseLock != tt.release {
				t.Fatalf("DecideStatus = %v (release %v), want %v (release %v); why: %s", d.Action, d.ReleaseLock, tt.action, tt.release, d.Why)
			}
			for _, part := range tt.whyParts {
				if !strings.Contains(d.Why, part) {
					t.Errorf("why lacks %q: %s", part, d.Why)
				}
			}
		})
	}
}

func TestRelateLock(t *testing.T) {
	promote := DeploymentPayload{Kind: "hotfix", CommentID: 11, Chain: []string{"staging", "production"}, ChainIndex: 1}
	auto := DeploymentPayload{Kind: "rollback", FailedDeployment: 20, Chain: []string{"production"}}
	tests := []struct {
		name     string
		held     bool
		kind     string
		comment  int64
		failed   int64
		lockDep  int64
		lockStep int
		creating bool
		p        DeploymentPayload
		dep      int64
		want     LockRelation
	}{
		{"free", false, "", 0, 0, 0, 0, false, promote, 31, LockFree},
		{"another comment's", true, "promote", 99, 0, 30, 0, false, promote, 31, LockOther},
		{"names this deployment", true, "promote", 11, 0, 31, 1, false, promote, 31, LockNamesThis},
		{"the next step is being created by a live handler", true, "promote", 11, 0, 30, 0, true, promote, 31, LockCreating},
		{"its creator died after creating it", true, "promote", 11, 0, 30, 0, false, promote, 31, LockNamesThis},
		{"the first deployment is being created", true, "promote", 11, 0, 0, 0, true, DeploymentPayload{Kind: "hotfix", CommentID: 11, Chain: []string{"production"}}, 30, LockCreating},
		{"an earlier step's status once the chain moved on", true, "promote", 11, 0, 31, 1, false, DeploymentPayload{Kind: "hotfix", CommentID: 11, Chain: []string{"staging", "production"}}, 30, LockMovedOn},
		{"the automatic rollback of this failure is being created", true, "rollback", 0, 20, 0, 0, false, DeploymentPayload{Kind: "hotfix", CommentID: 11, Chain: []string{"production"}}, 20, LockNamesThis},
		{"the automatic rollback of this failure is being created by a live handler", true, "rollback", 0, 20, 0, 0, true, DeploymentPayload{Kind: "hotfix", CommentID: 11, Chain: []string{"production"}}, 20, LockCreating},
		{"the automatic rollback of this failure was created", true, "rollback", 0, 20, 40, 0, false, DeploymentPayload{Kind: "hotfix", CommentID: 11, Chain: []string{"production"}}, 20, LockMovedOn},
		{"the automatic rollback names its own deployment", true, "rollback", 0, 20, 40, 0, false, auto, 40, LockNamesThis},
		{"a rollback of another failure", true, "rollback", 0, 19, 40, 0, false, auto, 41, LockOther},
		{"a promotion's lock seen by a rollback", true, "promote", 11, 0, 40, 0, false, auto, 41, LockOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RelateLock(tt.held, tt.kind, tt.comment, tt.failed, tt.lockDep, tt.lockStep, tt.creating, tt.p, tt.dep)
			if got != tt.want {
				t.Errorf("RelateLock = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAutomaticRollbackSchema(t *testing.T) {
	c := Default()
	if why, blocked := c.AutomaticRollbackSchema([]string{"payments/timeout.go"}, true); blocked {
		t.Errorf("no schema file, blocked: %s", why)
	}
	if why, blocked := c.AutomaticRollbackSchema([]string{"db/migrations/002_fee.sql", "payments/fee.go"}, true); !blocked || !strings.Contains(why, "`db/migrations/002_fee.sql`") {
		t.Errorf("a migration: blocked=%v why=%s", blocked, why)
	}
	if why, blocked := c.AutomaticRollbackSchema([]string{"payments/fee.go"}, false); !blocked || !strings.Contains(why, "cannot rule out") {
		t.Errorf("an incomplete listing: blocked=%v why=%s", blocked, why)
	}
}

func TestDecidePromotionRecheck(t *testing.T) {
	c := Default()
	yes := true
	base := PromotionFacts{
		PR:     PullRequestState{Number: 5, Open: true, Mergeable: &yes, HeadRef: "hotfix/pay", BaseRef: "main", HeadSHA: "f1f1f1f1"},
		Gates:  GateTable{Results: []CheckResult{{Name: CheckBase, Conclusion: Success}, {Name: CheckApproval, Conclusion: Success}}},
		Checks: CheckFacts{Checks: []CheckState{{Name: "test", Source: "github-actions", State: "success", Kind: "check run"}}},
		// A lock held by someone else and no push time would both refuse
		// a /promote; the re-check leaves them out.
		Lock:        LockState{Held: true, RequestedBy: "sam"},
		Recheck:     true,
		PreviousRef: "1420000000000000000000000000000000000000",
		Production:  ProductionState{Known: true, SHA: "1420000000000000000000000000000000000000", Tag: "v1.4.2"},
	}
	if d := c.DecidePromotion(base); !d.Allowed() {
		t.Fatalf("unchanged chain refused: %+v", d.Refusals)
	}
	moved := base
	moved.Production = ProductionState{Known: true, SHA: "1500000000000000000000000000000000000000", Tag: "v1.5.0"}
	if d := c.DecidePromotion(moved); d.Allowed() || !strings.Contains(d.Refusals[0].Why, "production now runs v1.5.0") {
		t.Errorf("production moved, decision %+v", d.Refusals)
	}
	unapproved := base
	unapproved.Gates = GateTable{Results: []CheckResult{{Name: CheckBase, Conclusion: Success}, {Name: CheckApproval, Conclusion: Failure, Title: "1 of 1 approval label missing"}}}
	if d := c.DecidePromotion(unapproved); d.Allowed() || d.Refusals[0].Rule != CheckApproval {
		t.Errorf("approval removed during the soak, decision %+v", d.Refusals)
	}
	unapproved.Emergency = true
	if d := c.DecidePromotion(unapproved); !d.Allowed() {
		t.Errorf("an emergency chain re-checked as an emergency: %+v", d.Refusals)
	}
	unknown := base
	unknown.Production = ProductionState{Unknown: "GitHub answered 502"}
	if d := c.DecidePromotion(unknown); d.Allowed() {
		t.Error("production unknown, re-check passed")
	}
}
