package app

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestServerSettingsDocs keeps the README's server configuration table
// true: every setting is documented with its environment variable, file
// key and real default, and every documented one exists.
func TestServerSettingsDocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile("`([^`]*)`")
	documented := map[string]bool{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "| environment | file key | default |"):
			in = true
			continue
		case !in || strings.HasPrefix(line, "|---"):
			continue
		case !strings.HasPrefix(line, "|"):
			in = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		env, key := strings.Trim(strings.TrimSpace(cells[0]), "`"), strings.Trim(strings.TrimSpace(cells[1]), "`")
		documented[env] = true
		var s *setting
		for i := range settings {
			if settings[i].env == env {
				s = &settings[i]
			}
		}
		if s == nil {
			t.Errorf("README documents %s, which the server does not read", env)
			continue
		}
		if s.key != key {
			t.Errorf("%s: README says file key %s, the server reads %s", env, key, s.key)
		}
		// The documented default, set explicitly, changes nothing. A
		// default in words ("required", "off") means none.
		value := ""
		if m := code.FindStringSubmatch(cells[2]); m != nil {
			value = m[1]
		}
		c := Defaults()
		if err := s.set(&c, value); err != nil {
			if err := s.set(&c, "0"); err != nil {
				t.Errorf("%s: the documented default %q is not a value: %v", env, value, err)
				continue
			}
		}
		if !reflect.DeepEqual(c, Defaults()) {
			t.Errorf("%s: the documented default %q is not the real default", env, cells[2])
		}
	}
	for _, s := range settings {
		if !documented[s.env] {
			t.Errorf("%s (%s) is not in the README's server configuration table", s.env, s.key)
		}
	}
}
