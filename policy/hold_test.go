package policy

import (
	"strings"
	"testing"
	"time"
)

var (
	holdAt    = time.Date(2026, 11, 23, 3, 10, 0, 0, time.UTC)
	doraHolds = HoldRecord{Held: true, By: "dora", ByID: 7, At: holdAt, Reason: "the migration needs a DBA", Comment: 100}
	robLifts  = HoldRecord{Held: false, By: "rob", ByID: 8, At: holdAt.Add(time.Hour), Comment: 101, Of: 100}
)

// The hold is the newest record of the bot's, or the label: either one
// holds the pull request, so neither a label removed by hand nor a lost
// record lets a hotfix through.
func TestHoldNow(t *testing.T) {
	tests := []struct {
		name    string
		label   bool
		records []HoldRecord
		held    bool
		by      string
		label1  bool // LabelOnly
		removed bool
	}{
		{"nothing", false, nil, false, "", false, false},
		{"a hold and its label", true, []HoldRecord{doraHolds}, true, "dora", false, false},
		{"a hold whose label was removed by hand", false, []HoldRecord{doraHolds}, true, "dora", false, true},
		{"a hold lifted", false, []HoldRecord{doraHolds, robLifts}, false, "", false, false},
		{"a hold lifted, the label left (or put back by hand)", true, []HoldRecord{doraHolds, robLifts}, true, "", true, false},
		{"the label alone", true, nil, true, "", true, false},
		{"held again after a cancel", true, []HoldRecord{doraHolds, robLifts, {Held: true, By: "ivan", Reason: "again", Comment: 102}}, true, "ivan", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := HoldNow(tt.label, tt.records)
			if h.Held != tt.held || h.Record.By != tt.by || h.LabelOnly != tt.label1 || h.LabelRemoved != tt.removed {
				t.Errorf("%+v", h)
			}
			if h.Blocks() != tt.held {
				t.Errorf("blocks = %v", h.Blocks())
			}
		})
	}
	if !(Hold{Unknown: "502"}).Blocks() {
		t.Error("a hold the bot cannot read does not block")
	}
	if got := HoldNow(false, []HoldRecord{doraHolds}).Describe(); got != "on hold by @dora since 2026-11-23 03:10 UTC: the migration needs a DBA (its `hotfix-hold` label was removed, but only `/hold cancel` lifts a hold)" {
		t.Errorf("describe: %s", got)
	}
}

func TestHoldMayCancel(t *testing.T) {
	h := HoldNow(true, []HoldRecord{doraHolds})
	for _, tt := range []struct {
		login string
		id    int64
		perm  Permission
		may   bool
	}{
		{"dora", 7, PermissionWrite, true},
		{"dora-renamed", 7, PermissionWrite, true},
		{"dora", 99, PermissionWrite, false}, // another account that took the login
		{"dora", 0, PermissionWrite, true},   // no id: by login
		{"ivan", 9, PermissionWrite, false},
		{"rob", 8, PermissionMaintain, true},
		{"ada", 10, PermissionAdmin, true},
	} {
		if got := h.MayCancel(tt.login, tt.id, tt.perm); got != tt.may {
			t.Errorf("@%s (%d, %s): %v, want %v", tt.login, tt.id, tt.perm, got, tt.may)
		}
	}
	if !HoldNow(true, nil).MayCancel("ivan", 9, PermissionWrite) {
		t.Error("a label no record explains cannot be lifted by someone allowed commands")
	}
}

// The approval check shows a hold: it fails, naming who and why, above
// what the labels say.
func TestApprovalCheckShowsAHold(t *testing.T) {
	c := Default()
	af := approvalFacts(map[string]LabelFact{"hotfix-approved": {Name: "hotfix-approved", Present: true, AddedBy: "rob", AddedAt: at(100), Permission: PermissionMaintain}})
	f := GateFacts{Head: af.Head, Production: ProductionState{Known: true, SHA: prodSHA}, Schema: SchemaFacts{Files: []string{"a.go"}, Complete: true},
		Approval: &af,
	}
	if r, _ := c.Decide(f).Result(CheckApproval); !r.Passed() {
		t.Fatalf("approved without a hold: %+v", r)
	}
	f.Hold = HoldNow(true, []HoldRecord{doraHolds})
	r, _ := c.Decide(f).Result(CheckApproval)
	if r.Passed() || r.Title != "On hold by @dora: the migration needs a DBA" ||
		!strings.Contains(r.Summary, "@dora, or someone with maintain permission, comments `/hold cancel`") || !strings.Contains(r.Summary, "added by @rob") {
		t.Errorf("%+v", r)
	}
	f.Hold = Hold{Unknown: "list the comments of #5: GitHub answered 502"}
	if r, _ := c.Decide(f).Result(CheckApproval); r.Passed() || !strings.Contains(r.Summary, "counts as on hold") {
		t.Errorf("unknown: %+v", r)
	}
	f.Hold = HoldNow(true, nil)
	if r, _ := c.Decide(f).Result(CheckApproval); r.Passed() || !strings.Contains(r.Title, "the `hotfix-hold` label is on it") {
		t.Errorf("label only: %+v", r)
	}
}

// `/promote` has a "not on hold" and a "not frozen" row. An emergency
// passes a freeze; it passes a hold only when its actor is a maintainer.
func TestDecidePromotionHoldAndFreeze(t *testing.T) {
	c := freezeConfig(t, freezePolicy)
	yes := true
	comment := utc("2026-11-25 10:00") // a Wednesday
	approved := ApprovalVerdict{{Label: "hotfix-approved", Valid: true}}
	good := PromotionFacts{
		PR: PullRequestState{Number: 1, Open: true, Mergeable: &yes, HeadRef: "hotfix/x", BaseRef: "main", HeadSHA: "h"},
		Gates: GateTable{Head: "h", Approval: approved, Results: []CheckResult{
			{Name: CheckBase, Conclusion: Success}, {Name: CheckSchema, Conclusion: Success}, {Name: CheckApproval, Conclusion: Success}}},
		Checks:       CheckFacts{Head: "h", Checks: []CheckState{{Name: "test", Source: "github-actions", State: "success"}}},
		HeadPushedAt: comment.Add(-time.Minute), CommentAt: comment, Now: comment.Add(time.Second),
	}
	d := c.DecidePromotion(good)
	if !d.Allowed() {
		t.Fatalf("refused: %+v", d.Refusals)
	}
	if row := rowOf(d, "not frozen"); row.Verdict != "pass" || !strings.Contains(row.Details, "next freeze: the weekend, nobody watches production") {
		t.Errorf("the dry run does not show the next window: %+v", row)
	}

	held := good
	held.Gates.Hold = HoldNow(true, []HoldRecord{doraHolds})
	held.Gates.Results = append([]CheckResult{}, good.Gates.Results...)
	held.Gates.Results[2] = held.Gates.Hold.WithHold(held.Gates.Results[2])
	frozen := good
	frozen.Now = utc("2026-11-27 16:00") // Friday 17:00 in Berlin

	tests := []struct {
		name       string
		f          PromotionFacts
		emergency  bool
		maintainer bool
		refused    []string // rules; nil: allowed
		why        string
	}{
		{"held", held, false, false, []string{"not on hold"}, "On hold by @dora since 2026-11-23 03:10 UTC: the migration needs a DBA"},
		{"held, an emergency by a writer", held, true, false, []string{"not on hold"}, "passes a hold only when the person promoting has maintain permission"},
		{"held, an emergency by a maintainer", held, true, true, nil, ""},
		{"hold unknown", func() PromotionFacts { f := good; f.Gates.Hold = Hold{Unknown: "502"}; return f }(), false, false, []string{"not on hold"}, "cannot tell whether it is on hold: 502"},
		{"frozen", frozen, false, false, []string{"not frozen"}, "production is frozen: the weekend, nobody watches production (`Fri 16:00 → Mon 08:00 Europe/Berlin`), Fri 2026-11-27 16:00 CET to Mon 2026-11-30 08:00 CET; it opens again Mon 2026-11-30 08:00 CET (in 2 days 15 hours)"},
		{"frozen, an emergency", frozen, true, false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			f.Emergency, f.EmergencyMaintainer = tt.emergency, tt.maintainer
			d := c.DecidePromotion(f)
			var rules []string
			for _, r := range d.Refusals {
				rules = append(rules, r.Rule)
				if r.Next == "" {
					t.Errorf("%s says not what to do", r.Rule)
				}
			}
			if strings.Join(rules, ",") != strings.Join(tt.refused, ",") {
				t.Fatalf("refused by %v, want %v: %+v", rules, tt.refused, d.Refusals)
			}
			if tt.why != "" && !strings.Contains(d.Refusals[0].Why, tt.why) {
				t.Errorf("why: %s", d.Refusals[0].Why)
			}
			if tt.refused == nil && tt.emergency {
				skipped := false
				for _, r := range d.Rows {
					skipped = skipped || (r.Verdict == "skip" && strings.HasPrefix(r.Details, "overridden (emergency"))
				}
				if !skipped {
					t.Errorf("the override is not a skipped row for the audit issue: %+v", d.Rows)
				}
			}
		})
	}
	// The approval row is the labels' verdict: a hold is refused once, by
	// its own row.
	if row := rowOf(c.DecidePromotion(held), CheckApproval); row.Verdict != "pass" {
		t.Errorf("approval row %+v", row)
	}
	// Before the next step of a staged chain too.
	re := held
	re.Recheck, re.PreviousRef, re.Production = true, "p", ProductionState{Known: true, SHA: "p"}
	if d := c.DecidePromotion(re); d.Allowed() || d.Refusals[0].Rule != "not on hold" {
		t.Errorf("a chain went on past a hold: %+v", d.Refusals)
	}
	re = frozen
	re.Recheck, re.PreviousRef, re.Production = true, "p", ProductionState{Known: true, SHA: "p"}
	if d := c.DecidePromotion(re); d.Allowed() || d.Refusals[0].Rule != "not frozen" {
		t.Errorf("a chain went on into a freeze: %+v", d.Refusals)
	}
}

func rowOf(d PromotionDecision, rule string) Row {
	for _, r := range d.Rows {
		if r.Rule == rule {
			return r
		}
	}
	return Row{}
}

func TestParseHold(t *testing.T) {
	tests := []struct {
		line   string
		reason string
		cancel bool
		usage  string
	}{
		{"/hold the migration needs a DBA", "the migration needs a DBA", false, ""},
		{"/HOLD   wait for QA  ", "wait for QA", false, ""},
		{"/hold cancel", "", true, ""},
		{"/hold Cancel", "", true, ""},
		{"/hold", "", false, "a hold needs a reason"},
		{"/hold cancel the deploy until QA", "", true, "`/hold cancel` takes nothing after it"},
		{"/hold " + strings.Repeat("x", MaxReason+1), "", false, "longer than 500"},
	}
	for _, tt := range tests {
		cmds, _ := ParseCommands(tt.line)
		if len(cmds) != 1 || cmds[0].Name != CmdHold {
			t.Fatalf("%q: %+v", tt.line, cmds)
		}
		c := cmds[0]
		if (tt.usage == "") != (c.Usage == "") || !strings.Contains(c.Usage, tt.usage) {
			t.Errorf("%q: usage %q, want %q", tt.line, c.Usage, tt.usage)
		}
		if tt.usage == "" && (c.Reason != tt.reason || c.Cancel != tt.cancel) {
			t.Errorf("%q: %+v", tt.line, c)
		}
		if tt.usage == "" && !c.Acts() {
			t.Errorf("%q does not count as changing something: it must be read again and be young enough", tt.line)
		}
	}
}

// The bot's own hold label can never approve anything.
func TestHoldLabelIsTheBots(t *testing.T) {
	if _, err := Parse([]byte("approval:\n  labels: [hotfix-hold]\n")); err == nil || !strings.Contains(err.Error(), "a label the bot adds itself") {
		t.Errorf("%v", err)
	}
}

func TestHoldable(t *testing.T) {
	c := Default()
	for _, tt := range []struct {
		pr   PullRequestState
		want string
	}{
		{PullRequestState{Open: true, HeadRef: "hotfix/x", BaseRef: "main"}, ""},
		{PullRequestState{Open: false, HeadRef: "hotfix/x", BaseRef: "main"}, "it is closed"},
		{PullRequestState{Open: true, HeadRef: "feature/x", BaseRef: "main"}, "`feature/x` → `main`"},
		{PullRequestState{Open: true, HeadRef: "hotfix/x", BaseRef: "develop"}, "`hotfix/x` → `develop`"},
		{PullRequestState{Open: true, HeadRef: "hotfix/x", BaseRef: "main", Fork: "m/r"}, "from a `hotfix/**` branch of this repository"},
	} {
		r := c.Holdable(tt.pr)
		if (r == nil) != (tt.want == "") || (r != nil && (!strings.Contains(r.Why, tt.want) || r.Next == "")) {
			t.Errorf("%+v: %+v, want %q", tt.pr, r, tt.want)
		}
	}
}
