package policy

import (
	"strings"
	"testing"
)

func TestBranchAndPathMatching(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"hotfix", c.IsHotfixBranch, "hotfix/payment-timeout", true},
		{"hotfix nested", c.IsHotfixBranch, "hotfix/team/x", true},
		{"not hotfix", c.IsHotfixBranch, "feature/hotfix", false},
		{"main not hotfix", c.IsHotfixBranch, "main", false},
		{"release", c.IsReleaseBranch, "release/1.5", true},
		{"not release", c.IsReleaseBranch, "releases/1.5", false},
		{"migration", c.IsSchemaPath, "db/migrations/0042_add_index.sql", true},
		{"nested migrate", c.IsSchemaPath, "services/pay/migrate/001.go", true},
		{"schema.rb", c.IsSchemaPath, "db/schema.rb", true},
		{"top-level sql", c.IsSchemaPath, "init.sql", true},
		{"prisma", c.IsSchemaPath, "prisma/schema.prisma", true},
		{"ddl", c.IsSchemaPath, "x/tables.ddl", true},
		{"code", c.IsSchemaPath, "payment/timeout.go", false},
		{"sql-ish name", c.IsSchemaPath, "docs/sql.md", false},
		{"release tag", c.IsReleaseTag, "v1.4.2", true},
		{"other tag", c.IsReleaseTag, "build-17", false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestTagVersions(t *testing.T) {
	c := Default()
	if next, ok := c.NextTag("v1.4.2"); !ok || next != "v1.4.3" {
		t.Errorf("NextTag(v1.4.2) = %q, %v; want v1.4.3", next, ok)
	}
	if next, ok := c.NextTag("v1.5.0-rc.1"); ok {
		t.Errorf("NextTag(v1.5.0-rc.1) = %q: a pre-release is never bumped into a release", next)
	}
	if _, ok := c.NextTag("vnext"); ok {
		t.Error("NextTag(vnext) = ok, want not a version")
	}
	if got := c.NewestTag([]string{"v1.4.2", "v1.10.0", "v1.9.9", "vnext", "other", "v1.10.0-rc.1"}); got != "v1.10.0" {
		t.Errorf("NewestTag = %q, want v1.10.0 (semver order, not text order)", got)
	}
	if got := c.NewestTag([]string{"v1.4.2", "v1.5.0-rc.1", "v9.9.9-beta"}); got != "v1.4.2" {
		t.Errorf("NewestTag = %q, want v1.4.2: pre-releases never count", got)
	}
	if got := c.ReleaseTagsNewestFirst([]string{"v1.4.2", "v1.5.0-rc.1", "v1.10.0", "nightly", "v1.4.10"}); strings.Join(got, ",") != "v1.10.0,v1.4.10,v1.4.2" {
		t.Errorf("ReleaseTagsNewestFirst = %v", got)
	}
	if got := c.NewestTag([]string{"nightly"}); got != "" {
		t.Errorf("NewestTag(no release tags) = %q, want empty", got)
	}

	custom := Default()
	custom.Production.TagPattern = "release-*"
	custom.Production.TagTemplate = "release-{major}.{minor}.{patch}"
	custom.Production.MovingTag = "release-current"
	if next, ok := custom.NextTag("release-2.0.9"); !ok || next != "release-2.0.10" {
		t.Errorf("custom NextTag = %q, %v; want release-2.0.10", next, ok)
	}
	if custom.IsReleaseTag("release-current") {
		t.Error("the moving tag must never count as a release tag")
	}

	reordered := Default()
	reordered.Production.TagPattern = "*"
	reordered.Production.TagTemplate = "{patch}-{minor}-{major}"
	if v, ok := reordered.TagVersion("3-2-1"); !ok || v.String() != "1.2.3" {
		t.Errorf("reordered TagVersion(3-2-1) = %v, %v; want 1.2.3", v, ok)
	}
}

func TestGlobPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"release/**": "release/",
		"hotfix/*":   "hotfix/",
		"v*":         "v",
		"{a,b}/x":    "",
		"exact":      "exact",
	} {
		if got := GlobPrefix(in); got != want {
			t.Errorf("GlobPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
