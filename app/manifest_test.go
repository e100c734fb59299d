package app

import (
	"os"
	"reflect"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"
)

// The manifest asks for exactly the permissions and events of DESIGN.md §4:
// no more (least privilege), no less (every feature works).
func TestAppManifest(t *testing.T) {
	b, err := os.ReadFile("../app.yml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name           string            `yaml:"name"`
		URL            string            `yaml:"url"`
		HookAttributes map[string]any    `yaml:"hook_attributes"`
		Permissions    map[string]string `yaml:"default_permissions"`
		Events         []string          `yaml:"default_events"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// The design's list, spelled out, plus commit statuses (read), which
	// promote.required_checks must see, and Actions (read), without which
	// GitHub does not offer the app as a deployment protection rule: the
	// manifest may not drift.
	wantPerms := map[string]string{
		"checks": "write", "contents": "write", "deployments": "write", "issues": "write",
		"pull_requests": "write", "metadata": "read", "members": "read", "statuses": "read", "actions": "read",
	}
	if !reflect.DeepEqual(m.Permissions, wantPerms) {
		t.Errorf("app.yml permissions = %v, want %v", m.Permissions, wantPerms)
	}
	if !reflect.DeepEqual(Permissions, wantPerms) {
		t.Errorf("app.Permissions = %v, want %v", Permissions, wantPerms)
	}
	sort.Strings(m.Events)
	wantEvents := []string{"check_run", "check_suite", "deployment_protection_rule", "deployment_status", "issue_comment", "pull_request", "push"}
	if !reflect.DeepEqual(m.Events, wantEvents) {
		t.Errorf("app.yml events = %v, want %v", m.Events, wantEvents)
	}
	events := append([]string(nil), Events...)
	sort.Strings(events)
	if !reflect.DeepEqual(events, wantEvents) {
		t.Errorf("app.Events = %v, want %v", events, wantEvents)
	}
	if m.Name == "" || m.URL == "" || m.HookAttributes["url"] == nil || m.HookAttributes["active"] != true {
		t.Errorf("manifest lacks name, url or an active hook: %+v", m)
	}
}
