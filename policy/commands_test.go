package policy

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseCommands(t *testing.T) {
	tests := []struct {
		body string
		want []Command // only the fields set are compared
	}{
		{"/promote", []Command{{Name: CmdPromote, Line: 1}}},
		{"LGTM\n\n  /promote  ", []Command{{Name: CmdPromote, Line: 3}}},
		{"/Promote", []Command{{Name: CmdPromote, Line: 1}}},
		{"/promote --dry-run", []Command{{Name: CmdPromote, DryRun: true}}},
		{"/promote --emergency checkout is down   for EU", []Command{{Name: CmdPromote, Emergency: true, Reason: "checkout is down   for EU"}}},
		{"/promote --emergency", []Command{{Name: CmdPromote, Emergency: true, Usage: "needs a reason"}}},
		{"/promote --dry-run --emergency x", []Command{{Name: CmdPromote, DryRun: true, Emergency: true, Usage: "do not go together"}}},
		{"/promote --force", []Command{{Name: CmdPromote, Usage: "unknown option `--force`"}}},
		{"/promote --@acme/everyone", []Command{{Name: CmdPromote, Usage: "unknown option `--@acme/everyone`"}}},
		{"/promote x`@acme/everyone`", []Command{{Name: CmdPromote, Usage: "unexpected `` x`@acme/everyone` ``"}}},
		{"/rollback @acme/everyone", []Command{{Name: CmdRollback, Tag: "@acme/everyone"}}},
		{"/promote now", []Command{{Name: CmdPromote, Usage: "unexpected `now`"}}},
		{"/rollback", []Command{{Name: CmdRollback}}},
		{"/rollback v1.4.1 --force", []Command{{Name: CmdRollback, Tag: "v1.4.1", Force: true}}},
		{"/rollback v1 v2", []Command{{Name: CmdRollback, Usage: "one tag at most"}}},
		{"/rollback ../x", []Command{{Name: CmdRollback, Usage: "is not a tag name"}}},
		{"/rollback refs/tags/v1", []Command{{Name: CmdRollback, Usage: "is not a tag name"}}},
		{"/hotfix start payment-timeout", []Command{{Name: CmdHotfixStart, BranchName: "payment-timeout"}}},
		{"/hotfix", []Command{{Name: CmdHotfixStart, Usage: "say what to do"}}},
		{"/hotfix start", []Command{{Name: CmdHotfixStart, Usage: "exactly one branch name"}}},
		{"/hotfix start a b", []Command{{Name: CmdHotfixStart, Usage: "exactly one branch name"}}},
		{"/hotfix start ../../x", []Command{{Name: CmdHotfixStart, Usage: "`..`"}}},
		{"/hotfix start refs/heads/x", []Command{{Name: CmdHotfixStart, Usage: "without `refs/heads/`"}}},
		{"/hotfix start -x", []Command{{Name: CmdHotfixStart, Usage: "must not start with `-`"}}},
		{"/hotfix start x;rm", []Command{{Name: CmdHotfixStart, Usage: "use letters"}}},
		{"/hotfix start x$(id)", []Command{{Name: CmdHotfixStart, Usage: "use letters"}}},
		{"/hotfix start x\x07", []Command{{Name: CmdHotfixStart, Usage: "control characters"}}},
		{"/hotfix start " + strings.Repeat("a", 201), []Command{{Name: CmdHotfixStart, Usage: "longer than 200"}}},
		{"/hotfix start x.lock", []Command{{Name: CmdHotfixStart, Usage: "not a valid git branch name"}}},
		{"/unlock", []Command{{Name: CmdUnlock}}},
		{"/unlock now", []Command{{Name: CmdUnlock, Usage: "takes no arguments"}}},
		{"/help me", []Command{{Name: CmdHelp}}},
		// Not commands.
		{"please /promote", nil},
		{"> /promote", nil},
		{"```\n/promote\n```\n~~~\n/rollback\n~~~", nil},
		{"/deploy\n/assign @me\n/lgtm", nil},
		{"", nil},
		// Several, in order.
		{"/promote --dry-run\n/deploy\n/promote", []Command{{Name: CmdPromote, Line: 1, DryRun: true}, {Name: CmdPromote, Line: 3}}},
		{"```go\n/promote\n```\n/help", []Command{{Name: CmdHelp, Line: 4}}},
	}
	for _, tt := range tests {
		got, _ := ParseCommands(tt.body)
		if len(got) != len(tt.want) {
			t.Errorf("%q: %d commands %+v, want %d", tt.body, len(got), got, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			g := got[i]
			if g.Name != w.Name || g.DryRun != w.DryRun || g.Emergency != w.Emergency || g.Force != w.Force ||
				(w.Reason != "" && g.Reason != w.Reason) || (w.Tag != "" && g.Tag != w.Tag) ||
				(w.BranchName != "" && g.BranchName != w.BranchName) || (w.Line != 0 && g.Line != w.Line) ||
				(w.Usage == "") != (g.Usage == "") || !strings.Contains(g.Usage, w.Usage) {
				t.Errorf("%q: command %d = %+v, want %+v", tt.body, i, g, w)
			}
		}
	}
	many := strings.Repeat("/help\n", MaxCommands+3)
	if got, more := ParseCommands(many); len(got) != MaxCommands || !more {
		t.Errorf("%d commands, more=%v; want %d and more", len(got), more, MaxCommands)
	}
}

func TestHotfixBranch(t *testing.T) {
	c := Default()
	for name, want := range map[string]string{"payment-timeout": "hotfix/payment-timeout", "hotfix/x": "hotfix/x"} {
		if got, ok := c.HotfixBranch(name); !ok || got != want {
			t.Errorf("HotfixBranch(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	c.Branches.Hotfix = "**/emergency-*"
	if got, ok := c.HotfixBranch("x"); ok {
		t.Errorf("a name outside branches.hotfix was accepted: %q", got)
	}
}

func FuzzParseCommands(f *testing.F) {
	for _, s := range []string{"/promote", "/promote --emergency x", "/rollback v1 --force", "/hotfix start a", "```\n/promote\n```", "/unlock\r\n/help"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmds, _ := ParseCommands(body)
		if len(cmds) > MaxCommands {
			t.Fatalf("%d commands", len(cmds))
		}
		for _, c := range cmds {
			if c.Name == "" || c.Line < 1 {
				t.Fatalf("command without a name or line: %+v", c)
			}
			if c.Usage != "" {
				continue
			}
			// What a runnable command carries is safe to use.
			if c.BranchName != "" && HotfixNameProblem(c.BranchName) != "" {
				t.Fatalf("runnable /hotfix start with a bad name %q", c.BranchName)
			}
			if c.Tag != "" && (refNameProblem(c.Tag) != "" || strings.HasPrefix(c.Tag, "refs/")) {
				t.Fatalf("runnable /rollback with a bad tag %q", c.Tag)
			}
			if c.Emergency && (c.Reason == "" || len(c.Reason) > MaxReason) {
				t.Fatalf("runnable emergency with reason %q", c.Reason)
			}
			if !utf8.ValidString(c.Text) && utf8.ValidString(body) {
				t.Fatalf("a valid comment gave an invalid command text %q", c.Text)
			}
		}
	})
}

func TestDecidePromotion(t *testing.T) {
	c := Default()
	yes := true
	green := GateTable{Head: "h", Results: []CheckResult{
		{Name: CheckBase, Conclusion: Success}, {Name: CheckSchema, Conclusion: Success}, {Name: CheckApproval, Conclusion: Success}}}
	comment := time.Date(2026, 11, 23, 3, 30, 0, 0, time.UTC)
	good := PromotionFacts{
		PR:    PullRequestState{Number: 1, Open: true, Mergeable: &yes, HeadRef: "hotfix/x", BaseRef: "main", HeadSHA: "h"},
		Gates: green, HeadPushedAt: comment.Add(-time.Minute), CommentAt: comment,
		Checks: CheckFacts{Head: "h", Checks: []CheckState{{Name: "test", Source: "github-actions", State: "success"}}},
	}
	if d := c.DecidePromotion(good); !d.Allowed() {
		t.Fatalf("a good promotion refused: %+v", d.Refusals)
	}
	tests := []struct {
		name   string
		change func(*PromotionFacts)
		rule   string
	}{
		{"closed", func(f *PromotionFacts) { f.PR.Open = false }, "open"},
		{"draft", func(f *PromotionFacts) { f.PR.Draft = true }, "not a draft"},
		{"mergeability unknown", func(f *PromotionFacts) { f.PR.Mergeable = nil }, "mergeable"},
		{"fork", func(f *PromotionFacts) { f.PR.Fork = "m/r" }, "from this repository"},
		{"not into production", func(f *PromotionFacts) { f.PR.BaseRef = "develop" }, "a hotfix pull request"},
		{"not a hotfix branch", func(f *PromotionFacts) { f.PR.HeadRef = "feature/x" }, "a hotfix pull request"},
		{"base fails", func(f *PromotionFacts) {
			f.Gates = GateTable{Results: []CheckResult{{Name: CheckBase, Conclusion: Failure, Title: "Carries 3"}, {Name: CheckApproval, Conclusion: Success}}}
		}, CheckBase},
		{"no gates", func(f *PromotionFacts) { f.Gates = GateTable{} }, "gates"},
		{"checks failing", func(f *PromotionFacts) { f.Checks.Checks = []CheckState{{Name: "ci", State: "failure"}} }, "required checks"},
		{"checks running", func(f *PromotionFacts) { f.Checks.Checks = []CheckState{{Name: "ci", State: "pending"}} }, "required checks"},
		{"checks unreadable", func(f *PromotionFacts) { f.Checks.Unknown = "502" }, "required checks"},
		{"CI has not reported yet", func(f *PromotionFacts) {
			f.Checks = CheckFacts{Head: "h", PushedAt: comment.Add(-time.Minute), Now: comment}
		}, "required checks"},
		{"lock held", func(f *PromotionFacts) { f.Lock = LockState{Held: true, RequestedBy: "dora", Kind: "promote", PR: 9} }, "production lock"},
		{"lock unreadable", func(f *PromotionFacts) { f.LockUnknown = "502" }, "production lock"},
		{"push time unknown", func(f *PromotionFacts) { f.HeadPushedAt = time.Time{} }, "head seen by you"},
		{"pushed after the comment", func(f *PromotionFacts) { f.HeadPushedAt = comment.Add(time.Second) }, "head seen by you"},
		{"pushed in the comment's second", func(f *PromotionFacts) { f.HeadPushedAt = comment }, "head seen by you"},
	}
	for _, tt := range tests {
		f := good
		tt.change(&f)
		d := c.DecidePromotion(f)
		found := false
		for _, r := range d.Refusals {
			found = found || (r.Rule == tt.rule && r.Why != "" && r.Next != "")
		}
		if !found {
			t.Errorf("%s: refusals %+v, want one by %q with why and what to do", tt.name, d.Refusals, tt.rule)
		}
	}
	// A stale lock is taken over, not refused.
	f := good
	f.Lock = LockState{Held: true, Stale: true, RequestedBy: "dora"}
	if d := c.DecidePromotion(f); !d.Allowed() {
		t.Errorf("a stale lock refused: %+v", d.Refusals)
	}
	// An emergency skips approvals and required checks, never the base.
	f = good
	f.Emergency = true
	f.Gates = GateTable{Results: []CheckResult{{Name: CheckBase, Conclusion: Success}, {Name: CheckSchema, Conclusion: ActionRequired}, {Name: CheckApproval, Conclusion: Failure}}}
	f.Checks.Checks = []CheckState{{Name: "ci", State: "failure"}}
	if d := c.DecidePromotion(f); !d.Allowed() {
		t.Errorf("an emergency refused: %+v", d.Refusals)
	}
	f.Gates.Results[0].Conclusion = Failure
	if d := c.DecidePromotion(f); d.Allowed() {
		t.Error("an emergency skipped the base check")
	}
	f.Gates.Results[0].Conclusion = Success
	f.Gates.Results[1].Conclusion = Failure // the schema facts could not be read
	if d := c.DecidePromotion(f); d.Allowed() {
		t.Error("an emergency skipped a schema gate that failed on facts, not labels")
	}
}

func TestRequiredChecksVerdict(t *testing.T) {
	pushed := time.Date(2026, 11, 23, 3, 10, 0, 0, time.UTC)
	ci := func(name, state string) CheckState {
		return CheckState{Name: name, Source: "github-actions", State: state, Kind: "check run"}
	}
	status := func(name, who, state string) CheckState {
		return CheckState{Name: name, Source: who, State: state, Kind: "commit status"}
	}
	all := RequiredChecks{All: true}
	tests := []struct {
		name     string
		required RequiredChecks
		f        CheckFacts
		verdict  string
		details  string
	}{
		{"all pass", all, CheckFacts{Checks: []CheckState{ci("test", "success"), ci("lint", "skipped"), ci("docs", "neutral")}}, "pass", "1 passing: `test` (github-actions)"},
		{"all: a failure", all, CheckFacts{Checks: []CheckState{ci("test", "failure")}}, "fail", "`test` (github-actions): failure"},
		// A status anyone with write access posts cannot hide a failing
		// check run of the same name: they are two checks.
		{"all: a status shadowing a failing check run", all, CheckFacts{Checks: []CheckState{ci("test", "failure"), status("test", "mallory", "success")}}, "fail", "`test` (github-actions): failure"},
		{"named: a status shadowing a failing check run", RequiredChecks{Names: []string{"test"}}, CheckFacts{Checks: []CheckState{status("test", "mallory", "success"), ci("test", "failure")}}, "fail", "`test` (github-actions): failure"},
		{"named: a running one of the name wins over a success", RequiredChecks{Names: []string{"test"}}, CheckFacts{Checks: []CheckState{status("test", "mallory", "success"), ci("test", "pending")}}, "wait", "still running: `test`"},
		{"named by source: another source's success does not count", RequiredChecks{Names: []string{"github-actions/test"}}, CheckFacts{Checks: []CheckState{status("test", "mallory", "success")}}, "fail", "not reported on the head: `github-actions/test`"},
		{"named by source", RequiredChecks{Names: []string{"github-actions/test"}}, CheckFacts{Checks: []CheckState{ci("test", "success"), status("test", "mallory", "failure")}}, "pass", "1 passing: `github-actions/test`"},
		{"named with a slash in the name", RequiredChecks{Names: []string{"ci/build"}}, CheckFacts{Checks: []CheckState{status("ci/build", "jenkins", "success")}}, "pass", "`ci/build`"},
		{"named, missing", RequiredChecks{Names: []string{"test", "e2e"}}, CheckFacts{Checks: []CheckState{ci("test", "success")}}, "fail", "not reported on the head: `e2e`"},
		{"named: an unnamed failure does not count", RequiredChecks{Names: []string{"test"}}, CheckFacts{Checks: []CheckState{ci("test", "success"), ci("e2e", "failure")}}, "pass", "1 passing"},
		{"all: a suite still running", all, CheckFacts{Checks: []CheckState{ci("test", "success")}, Suites: []SuiteState{{App: "circleci", Status: "in_progress", Runs: 1}}}, "wait", "still running: circleci's check suite (in_progress)"},
		{"all: a suite queued with runs", all, CheckFacts{Suites: []SuiteState{{App: "github-actions", Status: "queued", Runs: 2}}, PushedAt: pushed, Now: pushed.Add(time.Hour)}, "wait", "github-actions's check suite (queued)"},
		{"all: an Actions suite waiting", all, CheckFacts{Suites: []SuiteState{{App: "github-actions", Status: "waiting"}}, PushedAt: pushed, Now: pushed.Add(time.Hour)}, "wait", "(waiting)"},
		// GitHub queues a suite for every app that may write checks; one
		// that never starts is not waited for.
		{"all: a queued suite without runs, after the grace", all, CheckFacts{Suites: []SuiteState{{App: "codeowners", Status: "queued"}}, PushedAt: pushed, Now: pushed.Add(3 * time.Minute)}, "pass", "no other checks on the head, 2m0s after its push"},
		{"all: nothing reported within the grace", all, CheckFacts{Head: "abcdef1234", PushedAt: pushed, Now: pushed.Add(time.Minute)}, "wait", "CI has not reported on `abcdef1` yet (pushed at 03:10:00 UTC; `promote.checks_grace` is 2m0s)"},
		{"all: nothing reported, push time unknown", all, CheckFacts{Head: "abcdef1234", Now: pushed}, "wait", "CI has not reported on `abcdef1` yet, and the bot cannot tell when it was pushed"},
		{"all: nothing reported after the grace", all, CheckFacts{Head: "abcdef1234", PushedAt: pushed, Now: pushed.Add(2 * time.Minute)}, "pass", "no other checks on the head"},
		{"all: only skipped checks reported", all, CheckFacts{Checks: []CheckState{ci("lint", "skipped")}, PushedAt: pushed, Now: pushed}, "pass", "no other checks on the head (skipped and neutral ones aside)"},
		{"unreadable", all, CheckFacts{Unknown: "GitHub answered 502"}, "fail", "could not be read: GitHub answered 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Promote.RequiredChecks = tt.required
			v := c.RequiredChecksVerdict(tt.f)
			if v.Verdict != tt.verdict || !strings.Contains(v.Details, tt.details) {
				t.Errorf("= %+v, want %s with %q", v, tt.verdict, tt.details)
			}
			if v.Verdict != "pass" && v.Next == "" {
				t.Errorf("a refusal without what to do: %+v", v)
			}
		})
	}
}

func TestNextFreeTag(t *testing.T) {
	c := Default()
	prod := ProductionState{Known: true, SHA: "p", Tag: "v1.4.2"}
	if got, _ := c.NextFreeTag(prod, []string{"v1.4.2", "v1.4.3", "v1.5.0-rc.1"}); got != "v1.4.4" {
		t.Errorf("NextFreeTag skipping v1.4.3 = %q, want v1.4.4", got)
	}
	if got, _ := c.NextFreeTag(ProductionState{Known: true, SHA: "p", AncestorTag: "v1.2.0"}, []string{"v1.2.0", "v1.10.1"}); got != "v1.2.1" {
		t.Errorf("untagged production: %q, want a bump of the newest release tag that is its ancestor", got)
	}
	if got, ok := c.NextFreeTag(ProductionState{Known: true, SHA: "p"}, []string{"v1.2.0", "v1.10.1"}); ok {
		t.Errorf("untagged production without an ancestor tag: %q, want none (never a tag off another line)", got)
	}
	if got, ok := c.NextFreeTag(ProductionState{Known: true, SHA: "p", Tag: "v1.5.0-rc.1"}, []string{"v1.5.0-rc.1"}); ok {
		t.Errorf("production v1.5.0-rc.1 released as %q", got)
	}
	if _, ok := c.NextFreeTag(ProductionState{Known: true, SHA: "p"}, nil); ok {
		t.Error("a next tag without any release tag")
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 2, "ab"},
		{"aé", 2, "a"},  // not inside é
		{"a€x", 3, "a"}, // nor inside a 3-byte rune
		{"\xb6\xb6\xb6\xb6\xb6\xb6", 5, "\xb6\xb6\xb6\xb6\xb6"}, // no rune start at all: n bytes (the fuzzer's find)
	} {
		if got := truncateUTF8(tt.s, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
	if cmds, _ := ParseCommands("/" + strings.Repeat("\xb6", 2*maxLine)); len(cmds) != 0 {
		t.Errorf("a line of stray bytes parsed as %+v", cmds)
	}
}
