package e2e

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/handlers"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/register"
	"github.com/rs/zerolog"
)

// browser is a person at the registration page: it opens the page, posts
// its form to GitHub, and follows GitHub's redirect back.
func browser(t *testing.T, page string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	action := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(string(b))
	manifest := regexp.MustCompile(`name="manifest" value="([^"]+)"`).FindStringSubmatch(string(b))
	if action == nil || manifest == nil {
		t.Fatalf("no manifest form on the page:\n%s", b)
	}
	target := html.UnescapeString(action[1])
	resp, err = http.PostForm(target, url.Values{"manifest": {html.UnescapeString(manifest[1])}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, target + "\n" + string(body)
}

func TestRegisterThenServe(t *testing.T) {
	parallel(t)
	const hook = "https://hotfix-bot.example.com/api/github/hook"
	for _, tc := range []struct {
		name string
		sim  ghsim.Options
		org  string
		hook string
	}{
		{"github.com, a user's app", ghsim.Options{}, "", hook},
		{"GitHub Enterprise Server, an organisation's app", ghsim.Options{APIPrefix: "/api/v3"}, "acme", hook},
		{"no webhook URL yet: the webhook is off", ghsim.Options{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parallel(t)
			sim, err := ghsim.New(tc.sim)
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out := filepath.Join(t.TempDir(), "creds")
			var said strings.Builder
			opts := register.Options{
				WebURL: sim.WebURL(), Org: tc.org, Out: out,
				WebhookURL: tc.hook,
				Stdout:     &said,
			}
			if tc.sim.APIPrefix == "" {
				opts.APIURL = sim.URL() // the simulator's API at its root, as api.github.com
			}
			page := make(chan string, 1)
			opts.Ready = func(u string) { page <- u }
			type result struct {
				res *register.Result
				err error
			}
			done := make(chan result, 1)
			go func() { res, err := register.Run(ctx, opts); done <- result{res, err} }()
			pageURL := <-page

			// A redirect that does not carry this run's state is refused.
			if resp, err := http.Get(pageURL + "callback?code=forged&state=wrong"); err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("a forged redirect: %v %v", resp, err)
			}

			resp, trail := browser(t, pageURL)
			if resp.StatusCode != http.StatusOK || !strings.Contains(trail, "is registered") {
				t.Fatalf("the browser ended at %d:\n%s", resp.StatusCode, trail)
			}
			wantForm := sim.WebURL() + "/settings/apps/new?state="
			if tc.org != "" {
				wantForm = sim.WebURL() + "/organizations/" + tc.org + "/settings/apps/new?state="
			}
			if !strings.HasPrefix(trail, wantForm) {
				t.Errorf("the form went to %q, want %s…", strings.SplitN(trail, "\n", 2)[0], wantForm)
			}
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			ghApp := sim.AppBySlug(r.res.Slug)
			if ghApp == nil || ghApp.ID != r.res.AppID {
				t.Fatalf("GitHub has no app %q (id %d)", r.res.Slug, r.res.AppID)
			}
			if !strings.Contains(r.res.InstallURL, sim.WebURL()+"/apps/"+r.res.Slug+"/installations/new") {
				t.Errorf("install URL %s", r.res.InstallURL)
			}
			// The app asks for exactly what app.yml asks for.
			for p, level := range app.Permissions {
				if ghApp.Permissions[p] != level {
					t.Errorf("registered permission %s = %q, want %q", p, ghApp.Permissions[p], level)
				}
			}
			// The secrets are the owner's alone.
			for name, mode := range map[string]os.FileMode{register.KeyFile: 0o600, register.SecretFile: 0o600, register.DetailsKeyFile: 0o600, register.ConfigFile: 0o600, ".": 0o700} {
				fi, err := os.Stat(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
				}
			}
			key, _ := os.ReadFile(filepath.Join(out, register.KeyFile))
			if string(key) != ghApp.PrivateKeyPEM {
				t.Error("the key written is not the app's")
			}

			// Registering again does not overwrite them, unless forced.
			again := opts
			again.Ready = nil
			if _, err := register.Run(ctx, again); !errors.Is(err, register.ErrExists) {
				t.Errorf("a second registration into the same directory: %v, want it refused", err)
			}

			// serve, with nothing but the written configuration, becomes
			// ready: GitHub accepts the app's credentials.
			cfg, err := app.LoadConfig(filepath.Join(out, register.ConfigFile), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GitHub.V3APIURL != sim.URL() {
				t.Errorf("the configuration's API URL %s, want %s", cfg.GitHub.V3APIURL, sim.URL())
			}
			if len(cfg.Server.DetailsKey) < app.MinSecretBytes || strings.Contains(cfg.Server.DetailsKey, cfg.GitHub.App.WebhookSecret) {
				t.Errorf("register wrote details_key %q, want random bytes of its own", cfg.Server.DetailsKey)
			}
			wantPublic := strings.TrimSuffix(tc.hook, "/api/github/hook")
			if cfg.Server.PublicURL != wantPublic {
				t.Errorf("public_url %q, want the webhook URL's server %q", cfg.Server.PublicURL, wantPublic)
			}
			if got := sim.WebhookTargets(ghApp); tc.hook == "" && len(got) != 0 || tc.hook != "" && (len(got) != 1 || got[0] != tc.hook) {
				t.Errorf("GitHub posts events to %v, want %q", got, tc.hook)
			}
			if tc.hook == "" && !strings.Contains(said.String(), "set Webhook URL to https://<where serve runs>/api/github/hook and tick Active") {
				t.Errorf("without a webhook URL the next steps do not say to set one:\n%s", said.String())
			}
			cfg.Redelivery.Interval = 0
			srv, err := app.New(cfg, app.Options{Logger: zerolog.New(io.Discard), Handlers: handlers.New})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close(context.Background())
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			srv.Start(ctx)
			for {
				resp, err := http.Get(ts.URL + "/readyz")
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						if !strings.Contains(string(body), r.res.Slug) {
							t.Errorf("ready as %s, want %s", body, r.res.Slug)
						}
						break
					}
				}
				select {
				case <-ctx.Done():
					t.Fatal("serve never became ready with the registered credentials")
				case <-time.After(50 * time.Millisecond):
				}
			}
			for _, v := range sim.Violations() {
				t.Errorf("GitHub would reject: %s", v)
			}
		})
	}
}
