package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `hotfix-bot validate` checks freeze windows offline, each problem with
// its line.
func TestValidateFreezeWindows(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hotfix-bot.yml")
	text := "freeze:\n" +
		"  - from: Fri 16:00\n    to: Mon 08:00\n    zone: Europe/Atlantis\n    reason: weekend\n" +
		"  - from: 2027-01-04\n    to: 2026-12-20\n    zone: America/New_York\n    reason: year end\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd("validate", file)
	for _, want := range []string{
		file + `:4: freeze[0].zone: "Europe/Atlantis" is not a time zone this bot knows`,
		file + `:7: freeze[1].to: "2026-12-20" ends before the window starts ("2027-01-04")`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}
