package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "policy", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDefaults(t *testing.T) {
	d := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", d.Version, 1},
		{"branches.production", d.Branches.Production, "main"},
		{"branches.develop", d.Branches.Develop, "develop"},
		{"branches.hotfix", d.Branches.Hotfix, "hotfix/**"},
		{"branches.release", d.Branches.Release, "release/**"},
		{"production.environment", d.Production.Environment, "production"},
		{"production.tag_pattern", d.Production.TagPattern, "v*"},
		{"production.tag_template", d.Production.TagTemplate, "v{major}.{minor}.{patch}"},
		{"production.moving_tag", d.Production.MovingTag, ""},
		{"schema.paths", d.Schema.Paths, []string{"**/migrations/**", "**/migrate/**", "**/*.sql", "**/schema.rb", "**/structure.sql", "**/schema.prisma", "**/*.ddl"}},
		{"approval.required", d.Approval.Required, true},
		{"approval.labels", d.Approval.Labels, []string{"hotfix-approved"}},
		{"approval.schema_labels", d.Approval.SchemaLabels, []string{"schema-approved"}},
		{"approval.permission", d.Approval.Permission, PermissionWrite},
		{"approval.allow_author", d.Approval.AllowAuthor, false},
		{"approval.reset_on_push", d.Approval.ResetOnPush, true},
		{"commands.permission", d.Commands.Permission, PermissionWrite},
		{"commands.emergency.users", len(d.Commands.Emergency.Users), 0},
		{"commands.emergency.teams", len(d.Commands.Emergency.Teams), 0},
		{"commands.max_age", time.Duration(d.Commands.MaxAge), 10 * time.Minute},
		{"promote.required_checks", d.Promote.RequiredChecks, RequiredChecks{All: true}},
		{"promote.checks_grace", time.Duration(d.Promote.ChecksGrace), 2 * time.Minute},
		{"promote.merge_method", d.Promote.MergeMethod, "merge"},
		{"promote.lock_timeout", time.Duration(d.Promote.LockTimeout), 60 * time.Minute},
		{"promote.environments", d.Promote.Environments, []string{"production"}},
		{"rollback.on_failure", d.Rollback.OnFailure, true},
		{"rollback.incident_issue", d.Rollback.IncidentIssue, true},
		{"sync.enabled", d.Sync.Enabled, true},
		{"sync.labels", d.Sync.Labels, []string{"sync-back"}},
		{"sync.conflict_label", d.Sync.ConflictLabel, "sync-conflict"},
		{"freeze", d.Freeze, []FreezeWindow{}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for name, src := range map[string]string{
		"empty":         "",
		"comments only": "# nothing here\n",
		"empty mapping": "{}\n",
		"testdata":      string(readTestdata(t, "empty.yml")),
		"document mark": "---\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse([]byte(src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(cfg, Default()) {
				t.Errorf("Parse(%q) = %+v, want defaults", src, cfg)
			}
		})
	}
}

// The example in DESIGN.md spells out every default; parsing it must give
// exactly the defaults.
func TestParseDesignExample(t *testing.T) {
	cfg, err := Parse(readTestdata(t, "design-example.yml"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("design example parsed to\n%+v\nwant\n%+v", cfg, Default())
	}
}

func TestParseStaged(t *testing.T) {
	cfg, err := Parse(readTestdata(t, "staged.yml"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Branches.Production = "master"
	want.Branches.Hotfix = "hotfix/*"
	want.Production.TagPattern = "release-*"
	want.Production.TagTemplate = "release-{major}.{minor}.{patch}"
	want.Production.MovingTag = "production"
	want.Schema.Paths = []string{"db/**"}
	want.Approval.Labels = []string{"hotfix-approved", "qa-approved"}
	want.Approval.Permission = PermissionMaintain
	want.Commands.Emergency = Emergency{Users: []string{"oncall-lead"}, Teams: []string{"acme/sre"}}
	want.Promote.RequiredChecks = RequiredChecks{Names: []string{"ci/build", "ci/test"}}
	want.Promote.MergeMethod = "squash"
	want.Promote.LockTimeout = Duration(30 * time.Minute)
	want.Promote.Environments = []string{"staging", "production"}
	want.Freeze = []FreezeWindow{{From: "Fri 16:00", To: "Mon 08:00", Zone: "Europe/Berlin", Reason: "the weekend: nobody watches production"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each "line N: message fragment"
	}{
		{"syntax: unclosed list", "branches:\n  hotfix: [unclosed\n", []string{"line 2: did not find expected ',' or ']'"}},
		{"syntax: bad indent", "version: 1\napproval:\n  - a\n  b: 2\n", []string{"line 3: did not find expected '-' indicator"}},
		{"syntax: stray bracket", "version: 1\nschema: [a, b]]\n", []string{"line 2: did not find expected key"}},
		{"syntax: tab", "version: 1\n\tbranches: {}\n", []string{"line 2: found a tab character"}},
		{"unknown top-level key", "version: 1\nbranchez: {}\n", []string{`line 2: unknown key "branchez" at the top level`}},
		{"unknown nested key", "promote:\n  enviroments: [production]\n", []string{`line 2: unknown key "enviroments" in promote; known keys: required_checks, checks_grace, merge_method, lock_timeout, environments`}},
		{"key twice", "approval:\n  labels: [a]\n  labels: [b]\n", []string{"line 3: "}},
		{"null value", "approval:\n  labels:\n", []string{"line 2: approval.labels: has no value"}},
		{"top level not a mapping", "- a\n- b\n", []string{"line 1: the policy file must be a mapping"}},
		{"section not a mapping", "branches: main\n", []string{"line 1: branches: must be a mapping of keys (production, develop, hotfix, release)"}},
		{"list expected", "schema:\n  paths: \"**/*.sql\"\n", []string{"line 2: schema.paths: must be a list"}},
		{"string expected", "branches:\n  production: [main]\n", []string{"line 2: branches.production: must be a single value"}},
		{"bool expected", "approval:\n  allow_author: maybe\n", []string{"line 2: approval.allow_author: must be true or false"}},
		{"int expected", "version: one\n", []string{"line 1: version: must be a whole number"}},
		{"version", "version: 2\n", []string{"line 1: version: unsupported version 2"}},
		{"bad branch name", "branches:\n  production: \"ma in\"\n", []string{"line 2: branches.production: \"ma in\" must not contain spaces"}},
		{"empty branch", "branches:\n  develop: \"\"\n", []string{"line 2: branches.develop: must not be empty"}},
		{"bad glob", "branches:\n  hotfix: \"hotfix/[x\"\n", []string{`line 2: branches.hotfix: "hotfix/[x" is not a valid glob`}},
		{"hotfix glob matches production", "branches:\n  hotfix: \"**\"\n", []string{`line 2: branches.hotfix: "**" also matches the branch "main"`}},
		{"same hotfix and release", "branches:\n  hotfix: \"x/**\"\n  release: \"x/**\"\n", []string{"line 3: branches.release: is the same pattern"}},
		{"empty environment", "production:\n  environment: \"\"\npromote:\n  environments: [\"\"]\n", []string{"line 2: production.environment: must not be empty", "line 4: promote.environments[0]: must not be empty"}},
		{"bad tag pattern", "production:\n  tag_pattern: \"v[\"\n", []string{"line 2: production.tag_pattern: \"v[\" is not a valid glob"}},
		{"template placeholder", "production:\n  tag_template: \"v{major}.{minor}.{build}\"\n", []string{"line 2: production.tag_template: unknown placeholder {build}"}},
		{"template missing patch", "production:\n  tag_template: \"v{major}.{minor}\"\n", []string{"line 2: production.tag_template: \"v{major}.{minor}\" must contain {patch} exactly once"}},
		{"template outside pattern", "production:\n  tag_template: \"release-{major}.{minor}.{patch}\"\n", []string{`line 2: production.tag_template: renders tags like "release-1.4.3", which tag_pattern "v*" does not match`}},
		{"template bad ref", "production:\n  tag_pattern: \"*\"\n  tag_template: \"v {major}.{minor}.{patch}\"\n", []string{"line 3: production.tag_template: renders tags like \"v 1.4.3\""}},
		{"moving tag in pattern", "production:\n  moving_tag: vprod\n", []string{`line 2: production.moving_tag: "vprod" matches tag_pattern "v*"`}},
		{"moving tag bad name", "production:\n  moving_tag: \"prod:uction\"\n", []string{"line 2: production.moving_tag: \"prod:uction\" must not contain"}},
		{"bad schema glob", "schema:\n  paths: [\"db/**\", \"{a\"]\n", []string{`line 2: schema.paths[1]: "{a" is not a valid glob`}},
		{"schema path not string", "schema:\n  paths:\n    - db/**\n    - {a: b}\n", []string{"line 4: schema.paths[1]: must be a single value"}},
		{"bad permission", "approval:\n  permission: superuser\n", []string{`line 2: approval.permission: "superuser" is not a permission; use read, triage, write, maintain or admin`}},
		{"none is not a permission", "commands:\n  permission: none\n", []string{`line 2: commands.permission: "none" is not a permission`}},
		{"approval label is a bot label", "approval:\n  labels: [hotfix]\n", []string{`line 2: approval.labels[0]: "hotfix" is a label the bot adds itself`}},
		{"schema label is sync label", "approval:\n  schema_labels: [sync-back]\n", []string{`line 2: approval.schema_labels[0]: "sync-back" is a label the bot adds itself`}},
		{"label too long", "approval:\n  labels: [\"" + strings.Repeat("x", 51) + "\"]\n", []string{"line 2: approval.labels[0]: \"" + strings.Repeat("x", 51) + "\" is longer than GitHub's 50-character label limit"}},
		{"label twice", "approval:\n  labels: [ok, OK]\n", []string{`line 2: approval.labels[1]: "OK" is listed twice`}},
		{"empty label", "approval:\n  labels: [\"\"]\n", []string{"line 2: approval.labels[0]: must not be empty"}},
		{"bad login", "commands:\n  emergency:\n    users: [\"-bad\"]\n", []string{`line 3: commands.emergency.users[0]: "-bad" is not a GitHub login`}},
		{"bad team", "commands:\n  emergency:\n    teams: [\"a/b/c\"]\n", []string{`line 3: commands.emergency.teams[0]: "a/b/c" is not a team`}},
		{"required checks word", "promote:\n  required_checks: some\n", []string{"line 2: promote.required_checks: must be `all` or a list of check names"}},
		{"approval labels empty", "approval:\n  labels: []\n", []string{"line 2: approval.labels: must name at least one label; to ship hotfixes without any approval, say so with `approval.required: false`"}},
		{"schema labels empty", "approval:\n  schema_labels: []\n", []string{"line 2: approval.schema_labels: must name at least one label"}},
		{"required checks empty", "promote:\n  required_checks: []\n", []string{"line 2: promote.required_checks: must name at least one check (`name` or `source/name`), or be `all`"}},
		{"checks grace negative", "promote:\n  checks_grace: -1s\n", []string{"line 2: promote.checks_grace: -1s is out of range"}},
		{"checks grace too long", "promote:\n  checks_grace: 2h\n", []string{"line 2: promote.checks_grace: 2h0m0s is out of range; use between 0s and 1h"}},
		{"required checks empty name", "promote:\n  required_checks: [\"\"]\n", []string{"line 2: promote.required_checks[0]: must not be empty"}},
		{"merge method", "promote:\n  merge_method: fast-forward\n", []string{`line 2: promote.merge_method: "fast-forward" is not a merge method; use merge, squash or rebase`}},
		{"bad duration", "promote:\n  lock_timeout: soon\n", []string{`line 2: promote.lock_timeout: "soon" is not a duration`}},
		{"duration out of range", "promote:\n  lock_timeout: 10s\n", []string{"line 2: promote.lock_timeout: 10s is out of range; use between 1m and 24h"}},
		{"duration too long", "promote:\n  lock_timeout: 25h\n", []string{"line 2: promote.lock_timeout: 25h0m0s is out of range"}},
		{"command age not a duration", "commands:\n  max_age: a while\n", []string{`line 2: commands.max_age: "a while" is not a duration`}},
		{"command age too short", "commands:\n  max_age: 30s\n", []string{"line 2: commands.max_age: 30s is out of range; use between 1m and 24h"}},
		{"command age too long", "commands:\n  max_age: 48h\n", []string{"line 2: commands.max_age: 48h0m0s is out of range; use between 1m and 24h"}},
		{"environments empty", "promote:\n  environments: []\n", []string{`line 2: promote.environments: must list at least the production environment ("production")`}},
		{"environments not ending in production", "promote:\n  environments: [production, staging]\n", []string{`line 2: promote.environments: must end with production.environment ("production"), got "staging" last`}},
		{"environment twice", "promote:\n  environments: [production, production]\n", []string{`line 2: promote.environments[1]: "production" is listed twice`}},
		{"conflict label empty", "sync:\n  conflict_label: \"\"\n", []string{"line 2: sync.conflict_label: must not be empty"}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{"line 2: the file holds more than one YAML document"}},
		{
			"several errors, in line order",
			string(readTestdata(t, "broken.yml")),
			[]string{
				`line 3: branches.hotfix: "hotfix/[oops" is not a valid glob`,
				`line 5: approval.permission: "superuser" is not a permission`,
				`line 6: approval.labels[0]: "hotfix" is a label the bot adds itself`,
				`line 8: promote.merge_method: "fast-forward" is not a merge method`,
				`line 9: promote.lock_timeout: "soon" is not a duration`,
				`line 10: unknown key "enviroments" in promote`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want %v", tt.src, tt.want)
			}
			errs := AsErrors(err)
			if len(errs) == 0 {
				t.Fatalf("Parse error %v is not policy.Errors", err)
			}
			if len(errs) < len(tt.want) {
				t.Fatalf("got %d errors %v, want at least %d: %v", len(errs), errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, errs[i].Error(), w)
				}
			}
			for _, e := range errs {
				if e.Line == 0 {
					t.Errorf("error %q has no line", e)
				}
			}
		})
	}
}

func TestPermission(t *testing.T) {
	tests := []struct {
		role, legacy string
		want         Permission
	}{
		{"admin", "admin", PermissionAdmin},
		{"maintain", "write", PermissionMaintain},
		{"write", "write", PermissionWrite},
		{"triage", "read", PermissionTriage},
		{"read", "read", PermissionRead},
		{"security-reviewer", "write", PermissionWrite}, // custom role: legacy field
		{"auditor", "read", PermissionRead},
		{"", "none", PermissionNone},
		{"custom", "bogus", PermissionNone},
	}
	for _, tt := range tests {
		if got := PermissionFromGitHub(tt.role, tt.legacy); got != tt.want {
			t.Errorf("PermissionFromGitHub(%q, %q) = %q, want %q", tt.role, tt.legacy, got, tt.want)
		}
	}
	order := []Permission{PermissionRead, PermissionTriage, PermissionWrite, PermissionMaintain, PermissionAdmin}
	for i, p := range order {
		for j, min := range order {
			if got := p.AtLeast(min); got != (i >= j) {
				t.Errorf("%s.AtLeast(%s) = %v", p, min, got)
			}
		}
		if PermissionNone.AtLeast(p) {
			t.Errorf("none.AtLeast(%s) = true", p)
		}
	}
}

func TestParseAliases(t *testing.T) {
	cfg, err := Parse([]byte("approval:\n  labels: &l [ops-approved]\nsync:\n  labels: [sync-back]\npromote:\n  required_checks: *l\n"))
	if err != nil {
		t.Fatalf("Parse with an alias: %v", err)
	}
	if got := cfg.Promote.RequiredChecks.Names; len(got) != 1 || got[0] != "ops-approved" {
		t.Errorf("aliased required_checks = %v", got)
	}
	_, err = Parse([]byte("commands: &a\n  emergency: *a\n"))
	if errs := AsErrors(err); len(errs) == 0 || !strings.Contains(errs.Error(), "refers to a value that contains it") {
		t.Errorf("self-referential alias: got %v", err)
	}
}
