package app

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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

// TestMetricsDocs keeps the README's metrics table true: every metric of
// the bot's own is documented, and every documented one is exported.
// (go-githubapp's, bridged under hotfixbot_github_*, are named by what
// go-githubapp records and documented in one row.)
func TestMetricsDocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	in := false
	// A name, then either its labels ({event,outcome}) or, mid-name,
	// alternatives (hotfixbot_github_requests_{2xx,3xx}_total).
	name := regexp.MustCompile("`(hotfixbot_[a-z0-9_]+)(?:\\{([^}]*)\\}([a-z0-9_]*))?")
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "| metric | what |"):
			in = true
		case in && !strings.HasPrefix(line, "|"):
			in = false
		case in:
			cell := strings.Split(strings.Trim(line, "|"), " | ")[0]
			for _, m := range name.FindAllStringSubmatch(cell, -1) {
				if m[3] == "" {
					documented[m[1]] = true
					continue
				}
				for _, alt := range strings.Split(m[2], ",") {
					documented[m[1]+alt+m[3]] = true
				}
			}
		}
	}
	if len(documented) < 15 {
		t.Fatalf("only %d metrics documented: the scan is broken", len(documented))
	}
	m := NewMetrics()
	descs := make(chan *prometheus.Desc, 100)
	go func() { m.Registry.Describe(descs); close(descs) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	exported := map[string]bool{}
	for d := range descs {
		if s := fq.FindStringSubmatch(d.String()); s != nil && strings.HasPrefix(s[1], "hotfixbot_") {
			exported[s[1]] = true
		}
	}
	for n := range exported {
		if !documented[n] {
			t.Errorf("%s is exported but not in the README's metrics table", n)
		}
	}
	for n := range documented {
		if !exported[n] && !strings.HasPrefix(n, "hotfixbot_github_requests") && n != "hotfixbot_github_rate_remaining" && n != "hotfixbot_github_handler_error_total" {
			t.Errorf("the README documents %s, which is not exported", n)
		}
	}
}
