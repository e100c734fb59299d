package main

import (
	"strings"
	"testing"
)

// The README's run command: it must play the whole story and exit 0.
func TestDemo(t *testing.T) {
	code, out, errOut := runCmd("demo")
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"production runs v1.4.2",
		"✅ hotfix-bot/base  Starts at production (v1.4.2)",
		"added by @dana, who opened the pull request",
		"approved on `",
		"`test` (github-actions): failure",
		"✅ hotfix-bot/approval  Approved",
		"❌ hotfix-bot/base  Carries 3 unreleased commits",
		"git rebase --onto v1.4.2",
		"this /rollback is 47 minutes old and was not run",
		"hotfix-bot rejected this deployment of `release/1.5`",
		"is not in `",
		"✅ hotfix-bot/release  Contains every release production shipped",
		"approved the deployment",
		"/promote refused: not on hold.",
		"/promote refused: not frozen.",
		"hotfix-bot report: acme/payments (environment production)",
		"33% (2 of 6)",
		"Every expected outcome happened.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out, "✘") {
		t.Errorf("an expected outcome failed:\n%s", out)
	}
}
