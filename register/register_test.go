package register

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/app"
)

func TestAPIURLIsDerivedFromTheWebURL(t *testing.T) {
	for web, api := range map[string]string{
		"":                            "https://api.github.com/",
		"https://github.com/":         "https://api.github.com/",
		"https://github.example.com":  "https://github.example.com/api/v3/",
		"https://github.example.com/": "https://github.example.com/api/v3/",
	} {
		o := Options{WebURL: web, WebhookURL: "https://bot.example.com/api/github/hook"}
		if err := o.defaults(); err != nil {
			t.Fatal(err)
		}
		if o.APIURL != api {
			t.Errorf("--github-url %q: API %q, want %q", web, o.APIURL, api)
		}
	}
	for _, bad := range []Options{{WebhookURL: "bot.example.com/hook"}, {WebhookURL: "https://x/h", WebURL: "github.example.com"}} {
		if err := bad.defaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// manifestOf decodes the manifest o would post into v.
func manifestOf(t *testing.T, o *Options, v any) {
	t.Helper()
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	raw, err := o.manifest("http://127.0.0.1:9/callback")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		t.Fatal(err)
	}
}

// The manifest posted is app.yml's, with this registration's name,
// webhook and redirect: the app asks for exactly app.Permissions and
// app.Events.
func TestManifestIsAppYML(t *testing.T) {
	o := Options{WebhookURL: "https://bot.example.com/api/github/hook", Org: "acme"}
	var m struct {
		Name           string            `json:"name"`
		RedirectURL    string            `json:"redirect_url"`
		Public         bool              `json:"public"`
		HookAttributes map[string]any    `json:"hook_attributes"`
		Permissions    map[string]string `json:"default_permissions"`
		Events         []string          `json:"default_events"`
	}
	manifestOf(t, &o, &m)
	if m.Name != "hotfix-bot-acme" || m.RedirectURL != "http://127.0.0.1:9/callback" || m.Public ||
		m.HookAttributes["url"] != o.WebhookURL || m.HookAttributes["active"] != true {
		t.Errorf("manifest %+v", m)
	}
	if !reflect.DeepEqual(m.Permissions, app.Permissions) || !reflect.DeepEqual(m.Events, app.Events) {
		t.Errorf("manifest asks for %v %v, want %v %v", m.Permissions, m.Events, app.Permissions, app.Events)
	}
}

// The server's public address comes from the webhook URL when it is the
// server's own /api/github/hook (a proxy's address elsewhere says
// nothing about where people reach the details pages).
func TestPublicURLFromTheWebhookURL(t *testing.T) {
	for hook, want := range map[string]string{
		"https://bot.example.com/api/github/hook":         "https://bot.example.com",
		"https://bot.example.com/hotfix/api/github/hook/": "https://bot.example.com/hotfix",
		"https://smee.io/abc":                             "",
	} {
		if got := publicURL(hook); got != want {
			t.Errorf("publicURL(%q) = %q, want %q", hook, got, want)
		}
	}
}

// Without --webhook-url the app is registered with app.yml's webhook
// switched off: GitHub wants a URL with any hook attributes, and sends
// nothing until someone points the webhook at the server.
func TestManifestWithoutAWebhookURL(t *testing.T) {
	o := Options{}
	var m struct {
		HookAttributes map[string]any `json:"hook_attributes"`
	}
	manifestOf(t, &o, &m)
	if m.HookAttributes["active"] != false || m.HookAttributes["url"] != "https://hotfix-bot.example.com/api/github/hook" {
		t.Errorf("hook_attributes %v, want app.yml's URL, inactive", m.HookAttributes)
	}
	steps := strings.Join(o.nextSteps(&Result{SettingsURL: "https://github.com/settings/apps/x", Files: []string{"/creds/private-key.pem"}}), "\n")
	for _, want := range []string{"set Webhook URL to https://<where serve runs>/api/github/hook and tick Active", "Install the app", "hotfix-bot serve --config /creds/server.yml"} {
		if !strings.Contains(steps, want) {
			t.Errorf("next steps lack %q:\n%s", want, steps)
		}
	}
}
