package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidate(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "policy")
	good := filepath.Join(dir, "design-example.yml")
	staged := filepath.Join(dir, "staged.yml")
	broken := filepath.Join(dir, "broken.yml")

	code, out, _ := runCmd("validate", good, staged)
	if code != 0 || out != good+": ok\n"+staged+": ok\n" {
		t.Errorf("good files: exit %d, output %q", code, out)
	}

	code, out, _ = runCmd("validate", good, broken)
	if code != 1 {
		t.Errorf("a bad file must exit 1, got %d", code)
	}
	want := []string{
		good + ": ok",
		broken + `:3: branches.hotfix: "hotfix/[oops" is not a valid glob (check its brackets and braces)`,
		broken + `:5: approval.permission: "superuser" is not a permission; use read, triage, write, maintain or admin`,
		broken + `:6: approval.labels[0]: "hotfix" is a label the bot adds itself, so it cannot approve anything; choose another name`,
		broken + `:8: promote.merge_method: "fast-forward" is not a merge method; use merge, squash or rebase`,
		broken + `:9: promote.lock_timeout: "soon" is not a duration; write it like 60m or 1h30m`,
		broken + `:10: unknown key "enviroments" in promote; known keys: required_checks, checks_grace, merge_method, lock_timeout, environments`,
	}
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}

	code, _, errOut := runCmd("validate", filepath.Join(t.TempDir(), "missing.yml"))
	if code != 1 || !strings.Contains(errOut, "cannot read: no such file or directory") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd("validate"); code != 2 || !strings.Contains(errOut, "name at least one policy file") {
		t.Errorf("no files: exit %d, stderr %q", code, errOut)
	}
}

func TestServeStartupErrorIsOneLine(t *testing.T) {
	for _, k := range []string{"GITHUB_APP_INTEGRATION_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_PATH", "GITHUB_APP_WEBHOOK_SECRET"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("GITHUB_APP_INTEGRATION_ID", "12")
	t.Setenv("GITHUB_APP_WEBHOOK_SECRET", "x")
	t.Setenv("GITHUB_APP_PRIVATE_KEY", "not a key")
	code, _, errOut := runCmd("serve")
	if code != 2 || errOut != "hotfix-bot: GITHUB_APP_PRIVATE_KEY: not a PEM RSA key\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCmd("version"); code != 0 || !strings.HasPrefix(out, "hotfix-bot ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd("frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(); code != 2 || !strings.Contains(errOut, "Usage:") {
		t.Errorf("no command: %d %q", code, errOut)
	}
}

func TestRegisterCommandLine(t *testing.T) {
	code, _, errOut := runCmd("register", "--webhook-url", "bot.example.com/hook")
	if code != 2 || !strings.Contains(errOut, "--webhook-url \"bot.example.com/hook\" is not an absolute http(s) URL") {
		t.Errorf("register with a relative webhook URL: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCmd("register", "--github-url", "github.example.com")
	if code != 2 || !strings.Contains(errOut, "--github-url") {
		t.Errorf("register with a bad GitHub URL: exit %d, stderr %q", code, errOut)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "private-key.pem"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd("register", "--webhook-url", "https://bot.example.com/api/github/hook", "--out", dir)
	if code != 2 || !strings.Contains(errOut, "--force") {
		t.Errorf("register over existing credentials: exit %d, stderr %q", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "private-key.pem")); string(b) != "old" {
		t.Error("existing credentials were touched")
	}
}

// Every subcommand's --help says what it does, how to call it, with an
// example, on stdout, and exits 0; a wrong flag says so on stderr and
// exits 2. validate reads --help as a request, not as a file.
func TestEverySubcommandHasHelp(t *testing.T) {
	for _, cmd := range []string{"serve", "register", "validate", "demo", "version"} {
		for _, flag := range []string{"--help", "-h"} {
			code, out, errOut := runCmd(cmd, flag)
			if code != 0 || errOut != "" {
				t.Errorf("%s %s: exit %d, stderr %q", cmd, flag, code, errOut)
			}
			for _, want := range []string{cmd + " ", "Usage:\n  hotfix-bot " + cmd, "Example:\n  hotfix-bot "} {
				if !strings.Contains(out, want) {
					t.Errorf("%s %s lacks %q:\n%s", cmd, flag, want, out)
				}
			}
		}
		code, out, errOut := runCmd(cmd, "--no-such-flag")
		if code != 2 || out != "" || !strings.Contains(errOut, "flag provided but not defined: -no-such-flag") || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
	}
	_, out, _ := runCmd("register", "--help")
	for _, flag := range []string{"-webhook-url", "-org", "-out", "-force"} {
		if !strings.Contains(out, flag) {
			t.Errorf("register --help does not list %s", flag)
		}
	}
	if _, out, _ := runCmd("help"); !strings.Contains(out, "COMMAND --help") {
		t.Errorf("the usage does not point to the commands' help:\n%s", out)
	}
	// A policy file named like a flag is still reachable, after --.
	dir := t.TempDir()
	odd := filepath.Join(dir, "-h.yml")
	if err := os.WriteFile(odd, []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCmd("validate", "--", odd); code != 0 || out != odd+": ok\n" {
		t.Errorf("validate -- %s: exit %d, %q", odd, code, out)
	}
}
