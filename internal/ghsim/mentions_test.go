package ghsim

import (
	"strings"
	"testing"
)

func TestMentions(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"@rob, please look; cc @acme/sre.", "rob acme/sre"},
		{"mail dana@example.com", ""},
		{"`@acme/sre` and ``a`@x`b`` are code", ""},
		{"```sh\ngit switch hotfix/@acme/sre\n```\nafter @dora", "dora"},
		{"an unmatched ` @ivan", "ivan"},
		{"&#64;acme/everyone and \\@victim", "acme/everyone victim"},
		{"@\u200dacme/everyone", ""},
		{"hotfix/@acme/sre", ""},
	} {
		if got := strings.Join(Mentions(c.in), " "); got != c.want {
			t.Errorf("Mentions(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
