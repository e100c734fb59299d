package policy

import (
	"strings"
	"testing"
	"time"
)

func sha(c byte) string { return strings.Repeat(string(c), 40) }

var (
	prodSHA = sha('0' + 9)
	shaA    = sha('a')
	shaB    = sha('b')
	shaC    = sha('c')
)

// at is a moment of the story, in seconds after 03:00:00.
func at(sec int) time.Time {
	return time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
}

// devHistory: dev created hotfix/x at production (03:00:10), pushed A
// (03:00:20) and B (03:00:30); B is the head.
func devHistory() PushHistory {
	return PushHistory{Branch: "hotfix/x", Complete: true, Entries: []PushEntry{
		{Before: shaA, After: shaB, At: at(30), Actor: "dev", Kind: "push"},
		{Before: prodSHA, After: shaA, At: at(20), Actor: "dev", Kind: "push"},
		{Before: ZeroSHA, After: prodSHA, At: at(10), Actor: "dev", Kind: "branch_creation"},
	}}
}

func mine(login string) Identity {
	return Identity{Name: login, Email: login + "@users.noreply.github.com", Login: login}
}

// approvalFacts: dev's pull request, head B, whose commits A and B dev
// wrote; A and B have different trees.
func approvalFacts(labels map[string]LabelFact) ApprovalFacts {
	return ApprovalFacts{
		Head: shaB, Opener: "dev", History: devHistory(),
		Commits: []ChangeCommit{{SHA: shaA, Author: mine("dev"), Committer: mine("dev")}, {SHA: shaB, Author: mine("dev"), Committer: mine("dev")}},
		Trees:   map[string]string{shaA: "tree-a", shaB: "tree-b", prodSHA: "tree-p"},
		Labels:  labels,
	}
}

func label(by string, perm Permission, when time.Time) LabelFact {
	return LabelFact{Present: true, AddedBy: by, Permission: perm, Role: string(perm), AddedAt: when}
}

func TestApproval(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		fact   *LabelFact
		valid  bool
		reason string
	}{
		{"valid, on the head", nil, ptr(label("bob", PermissionWrite, at(100))), true, "added by @bob (write) at 03:01:40 UTC on `bbbbbbb`"},
		{"missing", nil, nil, false, "missing: after reviewing, someone with write permission or more who wrote none of the change adds it"},
		{"removed", nil, &LabelFact{Present: false, AddedBy: "bob"}, false, "missing"},
		{"by the opener", nil, ptr(label("dev", PermissionAdmin, at(100))), false, "added by @dev, who opened the pull request, created the branch, pushed `bbbbbbb`, `aaaaaaa`, authored and committed `aaaaaaa`, `bbbbbbb`: an author of this change"},
		{"by an author, allowed", func(c *Config) { c.Approval.AllowAuthor = true }, ptr(label("dev", PermissionAdmin, at(100))), true, "added by @dev"},
		{"read-only user", nil, ptr(label("intern", PermissionRead, at(100))), false, "added by @intern, whose permission is read; approval needs write or more"},
		{"custom role below", func(c *Config) { c.Approval.Permission = PermissionMaintain },
			&LabelFact{Present: true, AddedBy: "qa", Permission: PermissionWrite, Role: "qa-lead", AddedAt: at(100)}, false, "whose permission is write (role qa-lead); approval needs maintain"},
		{"bot", nil, &LabelFact{Present: true, AddedBy: "renovate[bot]", AddedByBot: true, Permission: PermissionWrite, AddedAt: at(100)}, false, "added by the bot @renovate[bot]"},
		{"unknown adder", nil, &LabelFact{Present: true}, false, "does not say who added it"},
		// An approval counts for the code it was given on.
		{"given on other code", nil, ptr(label("bob", PermissionWrite, at(25))), false, "added by @bob at 03:00:25 UTC on `aaaaaaa`, whose content differs from the head `bbbbbbb`: review the new code and add it again"},
		{"given on other code, reset off", func(c *Config) { c.Approval.ResetOnPush = false }, ptr(label("bob", PermissionWrite, at(25))), false, "whose content differs from the head"},
		{"in the second of a push", nil, ptr(label("bob", PermissionWrite, at(30))), false, "in the same second as a push to `hotfix/x` (`bbbbbbb` at 03:00:30 UTC)"},
		{"before the branch existed", nil, ptr(label("bob", PermissionWrite, at(5))), false, "`hotfix/x` did not exist yet at 03:00:05 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			if tt.mutate != nil {
				tt.mutate(&c)
			}
			f := approvalFacts(map[string]LabelFact{})
			if tt.fact != nil {
				f.Labels["hotfix-approved"] = *tt.fact
			}
			v := c.Approve(f, c.RequiredLabels(false))
			if len(v) != 1 || v[0].Valid != tt.valid || !strings.Contains(v[0].Reason, tt.reason) {
				t.Fatalf("verdict = %+v, want valid=%v reason %q", v, tt.valid, tt.reason)
			}
			r := c.EvaluateApproval(v, f)
			want := map[bool]string{true: Success, false: Failure}[tt.valid]
			if r.Conclusion != want || !strings.Contains(r.Summary, "hotfix-approved") {
				t.Errorf("check = %s %q", r.Conclusion, r.Summary)
			}
		})
	}
	if got := Default().RequiredLabels(true); strings.Join(got, ",") != "hotfix-approved,schema-approved" {
		t.Errorf("RequiredLabels(schema) = %v", got)
	}
}

// The content rule, as a table: the head the label was added on, placed
// by the push history, must have the current head's tree.
func TestApprovalCountsForTheCodeItWasGivenOn(t *testing.T) {
	c := Default()
	sameTree := func(f *ApprovalFacts) { f.Trees[shaA] = "tree-b" }
	tests := []struct {
		name   string
		change func(*ApprovalFacts)
		when   time.Time
		valid  bool
		reason string
	}{
		{"given on the head", nil, at(100), true, "on `bbbbbbb`"},
		{"a reworded commit: same tree", sameTree, at(25), true, "approved on `aaaaaaa`, same content as `bbbbbbb`"},
		{"a push of other code since", nil, at(25), false, "on `aaaaaaa`, whose content differs from the head `bbbbbbb`"},
		{"the tree of the approved commit unread", func(f *ApprovalFacts) {
			delete(f.Trees, shaA)
			f.TreesUnknown = "GitHub answered 502"
		}, at(25), false, "cannot compare that commit's content with the head `bbbbbbb`: GitHub answered 502"},
		{"the log has not caught up with the head's push", func(f *ApprovalFacts) {
			f.History.Entries = f.History.Entries[1:] // B's push not shown yet
		}, at(100), false, "does not show the push of `bbbbbbb` to `hotfix/x` yet"},
		{"a re-pushed old sha, the log lagging", func(f *ApprovalFacts) {
			// B (03:00:20), then A (03:00:30), approved at 03:00:40 on A; B
			// force-pushed again (not in the log yet) is the head.
			f.History.Entries = []PushEntry{
				{Before: shaB, After: shaA, At: at(30), Actor: "dev", Kind: "force_push"},
				{Before: prodSHA, After: shaB, At: at(20), Actor: "dev", Kind: "push"},
				{Before: ZeroSHA, After: prodSHA, At: at(10), Actor: "dev", Kind: "branch_creation"},
			}
		}, at(40), false, "does not show the push of `bbbbbbb`"},
		{"a re-pushed old sha, the log caught up", func(f *ApprovalFacts) {
			f.History.Entries = []PushEntry{
				{Before: shaA, After: shaB, At: at(50), Actor: "dev", Kind: "force_push"},
				{Before: shaB, After: shaA, At: at(30), Actor: "dev", Kind: "force_push"},
				{Before: prodSHA, After: shaB, At: at(20), Actor: "dev", Kind: "push"},
				{Before: ZeroSHA, After: prodSHA, At: at(10), Actor: "dev", Kind: "branch_creation"},
			}
		}, at(40), false, "on `aaaaaaa`, whose content differs"},
		{"approved before a push the log lacks", func(f *ApprovalFacts) {
			f.History.Entries[0].Before = shaC // something moved the branch from A to C unseen
		}, at(25), false, "lacks a push to `hotfix/x` between `aaaaaaa` and `ccccccc`"},
		{"the log does not reach back", func(f *ApprovalFacts) {
			f.History.Entries = f.History.Entries[:2]
			f.History.Complete = false
		}, at(15), false, "does not reach back to 03:00:15 UTC"},
		{"no activity log at all", func(f *ApprovalFacts) {
			f.History = PushHistory{Branch: "hotfix/x", Unknown: "this GitHub has no repository activity log"}
		}, at(100), false, "this GitHub has no repository activity log"},
		{"the branch was deleted then", func(f *ApprovalFacts) {
			f.History.Entries = append([]PushEntry{
				{Before: ZeroSHA, After: shaB, At: at(60), Actor: "dev", Kind: "branch_creation"},
				{Before: shaB, After: ZeroSHA, At: at(40), Actor: "dev", Kind: "branch_deletion"},
			}, f.History.Entries...)
		}, at(50), false, "`hotfix/x` did not exist at 03:00:50 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			c.Approval.AllowAuthor = true // the author set is another table
			f := approvalFacts(map[string]LabelFact{"hotfix-approved": label("bob", PermissionWrite, tt.when)})
			if tt.change != nil {
				tt.change(&f)
			}
			v := c.Approve(f, c.RequiredLabels(false))
			if v[0].Valid != tt.valid || !strings.Contains(v[0].Reason, tt.reason) {
				t.Fatalf("verdict = %+v, want valid=%v reason %q", v[0], tt.valid, tt.reason)
			}
			if tt.valid && !strings.Contains(c.EvaluateApproval(v, f).Summary, strings.TrimPrefix(tt.reason, "on ")) {
				t.Errorf("the check does not say what the approval was given on:\n%s", c.EvaluateApproval(v, f).Summary)
			}
		})
	}
}

// The author set, as a table: who wrote the change never approves it.
func TestAuthorSet(t *testing.T) {
	eveHistory := devHistory()
	eveHistory.Entries[0].Actor = "eve" // eve pushed B onto dev's branch
	tests := []struct {
		name    string
		change  func(*ApprovalFacts)
		adder   string
		valid   bool
		reason  string
		authors string
	}{
		{"a reviewer", nil, "rob", true, "added by @rob", "@dev (opened the pull request, created the branch, pushed"},
		{"a second pusher", func(f *ApprovalFacts) { f.History = eveHistory }, "eve", false, "added by @eve, who pushed `bbbbbbb`: an author of this change", "@eve (pushed `bbbbbbb`)"},
		{"a commit author", func(f *ApprovalFacts) { f.Commits[1].Author = mine("ann") }, "ann", false, "who authored `bbbbbbb`", "@ann (authored `bbbbbbb`)"},
		{"a committer", func(f *ApprovalFacts) { f.Commits[0].Committer = mine("cid") }, "cid", false, "who committed `aaaaaaa`", "@cid (committed `aaaaaaa`)"},
		{"a co-author by noreply address", func(f *ApprovalFacts) {
			f.Commits[1].Message = "Fix\n\nCo-authored-by: Rob R <4242+rob@users.noreply.github.com>\n"
		}, "rob", false, "who co-authored `bbbbbbb`", "@rob (co-authored `bbbbbbb`)"},
		{"a co-author by an email GitHub mapped elsewhere in the change", func(f *ApprovalFacts) {
			f.Commits[0].Author = Identity{Name: "Rob", Email: "rob@acme.example", Login: "rob"}
			f.Commits[1].Message = "Fix\n\nco-authored-by: R <ROB@acme.example>"
		}, "rob", false, "who authored `aaaaaaa`, co-authored `bbbbbbb`", ""},
		{"a commit author GitHub maps to no account", func(f *ApprovalFacts) {
			f.Commits[1].Author = Identity{Name: "Jo", Email: "jo@example.com"}
		}, "rob", false, "the change has code by `Jo <jo@example.com>` (author of `bbbbbbb`), which GitHub maps to no account, so the bot cannot rule out that @rob wrote it", "Unknown to GitHub"},
		{"a co-author GitHub maps to no account", func(f *ApprovalFacts) {
			f.Commits[1].Message = "Fix\n\nCo-authored-by: Someone <someone@example.org>\n"
		}, "rob", false, "`Someone <someone@example.org>` (co-author of `bbbbbbb`)", ""},
		{"opened by a workflow: the pushers decide", func(f *ApprovalFacts) {
			f.Opener, f.OpenerBot = "github-actions[bot]", true
			for i := range f.History.Entries {
				f.History.Entries[i].Actor = "github-actions[bot]"
				f.History.Entries[i].ActorBot = true
			}
			f.History.Entries[0].Actor, f.History.Entries[0].ActorBot = "dev", false
		}, "dev", false, "added by @dev, who pushed `bbbbbbb`", "@github-actions[bot] (created the branch, pushed `aaaaaaa`)"},
		{"opened by a workflow, a person who did not push", func(f *ApprovalFacts) {
			f.Opener, f.OpenerBot = "github-actions[bot]", true
		}, "rob", true, "added by @rob", ""},
		{"who pushed the head is not known yet", func(f *ApprovalFacts) { f.History.Entries = f.History.Entries[1:] }, "rob", false,
			"the bot cannot tell who wrote this change (cannot tell who pushed `bbbbbbb` yet", "cannot be established"},
		{"the log does not reach the branch's creation", func(f *ApprovalFacts) {
			f.History.Entries = f.History.Entries[:2]
			f.History.Complete = false
		}, "rob", false, "does not reach back to the creation of `hotfix/x`", ""},
		{"the commits could not all be read", func(f *ApprovalFacts) { f.CommitsUnknown = "more than 7500 commits" }, "rob", false,
			"cannot list the commits between production and the head: more than 7500 commits", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			f := approvalFacts(map[string]LabelFact{"hotfix-approved": label(tt.adder, PermissionMaintain, at(100))})
			if tt.change != nil {
				tt.change(&f)
			}
			v := c.Approve(f, c.RequiredLabels(false))
			if v[0].Valid != tt.valid || !strings.Contains(v[0].Reason, tt.reason) {
				t.Fatalf("verdict = %+v, want valid=%v reason %q", v[0], tt.valid, tt.reason)
			}
			if r := c.EvaluateApproval(v, f); !strings.Contains(r.Summary, tt.authors) {
				t.Errorf("the check does not list the authors (%q):\n%s", tt.authors, r.Summary)
			}
			// allow_author lifts the two-person rule, nothing else.
			c.Approval.AllowAuthor = true
			// (Unless the content rule fails too: who pushed the head is
			// what places the approval.)
			if v := c.Approve(f, c.RequiredLabels(false)); v[0].Valid == (tt.name == "who pushed the head is not known yet") {
				t.Errorf("allow_author: %+v", v[0])
			}
		})
	}
}

func TestCoAuthorsAndNoreply(t *testing.T) {
	got := CoAuthors("Fix it\n\nSigned-off-by: A <a@x>\nCo-authored-by: Rob Roe <4242+rob@users.noreply.github.com>\n  co-authored-by:Ann<ann@example.com>\nCo-authored-by: no email\n")
	if len(got) != 2 || got[0].Name != "Rob Roe" || got[0].Email != "4242+rob@users.noreply.github.com" || got[1].Name != "Ann" || got[1].Email != "ann@example.com" {
		t.Errorf("CoAuthors = %+v", got)
	}
	for email, want := range map[string]string{
		"4242+rob@users.noreply.github.com": "rob",
		"rob@users.noreply.github.com":      "rob",
		"Rob-R@USERS.NOREPLY.GITHUB.COM":    "Rob-R",
		"rob@example.com":                   "",
		"rob@users.noreply.github.com.evil": "",
		"+rob@users.noreply.github.com":     "",
	} {
		if got := NoreplyLogin(email); got != want {
			t.Errorf("NoreplyLogin(%q) = %q, want %q", email, got, want)
		}
	}
}

func TestStaleApprovals(t *testing.T) {
	c := Default()
	f := approvalFacts(map[string]LabelFact{
		// Given on A, whose content differs from the head B: stale.
		"hotfix-approved": label("bob", PermissionWrite, at(25)),
		// Given on B, the head: stays.
		"schema-approved": label("dba", PermissionWrite, at(35)),
		// Not an approval label: never touched.
		"bug": label("bob", PermissionWrite, at(25)),
	})
	stale := c.StaleApprovals(f)
	if len(stale) != 1 || stale[0].Name != "hotfix-approved" || stale[0].AddedBy != "bob" {
		t.Errorf("StaleApprovals = %+v, want only hotfix-approved", stale)
	}
	c.Approval.ResetOnPush = false
	if got := c.StaleApprovals(f); len(got) != 0 {
		t.Errorf("reset_on_push off: %+v", got)
	}
	c = Default()
	// A reworded commit (same tree): nothing is stale.
	f.Trees[shaA] = "tree-b"
	if got := c.StaleApprovals(f); len(got) != 0 {
		t.Errorf("an approval of the same content is stale: %+v", got)
	}
	// A head the history cannot place yet: not removed (it counts
	// nothing, and the check says why, until it can be placed).
	f.Trees[shaA] = "tree-a"
	f.History.Entries = f.History.Entries[1:]
	f.Labels["hotfix-approved"] = label("bob", PermissionWrite, at(100))
	if got := c.StaleApprovals(f); len(got) != 0 {
		t.Errorf("an unplaceable approval was removed: %+v", got)
	}
}

func TestApprovalFactsUnknown(t *testing.T) {
	c := Default()
	f := approvalFacts(map[string]LabelFact{
		"hotfix-approved": {Present: true, AddedBy: "bob", Permission: PermissionAdmin, AddedAt: at(100), Unknown: "the log lags"},
	})
	if v := c.Approve(f, c.RequiredLabels(false)); v.Valid() || !strings.Contains(v[0].Reason, "cannot tell: the log lags") {
		t.Errorf("a label whose state is unknown counted: %+v", v)
	}
	f.Labels["hotfix-approved"] = label("bob", PermissionAdmin, at(100))
	f.Unknown = "GitHub answered 502"
	if v := c.Approve(f, c.RequiredLabels(false)); v.Valid() || !strings.Contains(v[0].Reason, "GitHub answered 502") {
		t.Errorf("an unreadable event log let a label count: %+v", v)
	}
}

func TestApprovalNotRequired(t *testing.T) {
	c := Default()
	c.Approval.Required = false
	if got := c.RequiredLabels(true); len(got) != 0 {
		t.Errorf("RequiredLabels = %v, want none", got)
	}
	f := approvalFacts(map[string]LabelFact{})
	table := c.Decide(GateFacts{Head: shaB, Production: prod, Base: BaseFacts{Production: prod, MergeBase: prod.SHA},
		Schema: SchemaFacts{Production: prod, Files: []string{"db/migrations/1.sql"}, Complete: true}, Approval: &f})
	for _, name := range []string{CheckApproval, CheckSchema} {
		r, _ := table.Result(name)
		if r.Conclusion != Success || !strings.Contains(r.Summary, "`approval.required` is `false`") {
			t.Errorf("%s = %s %q: it must pass and say so on every pull request", name, r.Conclusion, r.Summary)
		}
	}
}
