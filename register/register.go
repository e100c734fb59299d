// Package register registers hotfix-bot as a GitHub App with GitHub's
// manifest flow, in one command: it serves a local page that posts app.yml
// as a manifest to GitHub (github.com or GitHub Enterprise Server), takes
// GitHub's redirect back with a one-time code (checking the `state` it
// sent), exchanges the code for the app's credentials and writes them
// where `serve` reads them.
package register

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	hotfixbot "github.com/hotfix-bot/hotfix-bot"
	"gopkg.in/yaml.v3"
)

// Options say where to register and where to write.
type Options struct {
	// WebURL is GitHub's web address: https://github.com (the default) or
	// a GitHub Enterprise Server's.
	WebURL string
	// APIURL is its REST API; derived when empty (api.github.com, or
	// WEB/api/v3/ on GitHub Enterprise Server).
	APIURL string
	// Org registers the app under an organisation instead of the
	// signed-in user.
	Org string
	// Name is the app's name on GitHub (default hotfix-bot, or
	// hotfix-bot-ORG); GitHub requires it unique.
	Name string
	// WebhookURL is where GitHub will post events: the public address of
	// serve's /api/github/hook. Empty: the app is registered with its
	// webhook off, to be pointed at the server in its settings later.
	WebhookURL string
	// Out is the directory the credentials go to (default hotfix-bot-app).
	Out string
	// Force replaces credentials already in Out.
	Force bool
	// Listen is the local address of the registration page (default
	// 127.0.0.1:0, any free port).
	Listen string
	// Timeout bounds the whole registration (default 15 minutes).
	Timeout time.Duration
	// Stdout receives the instructions.
	Stdout io.Writer
	// Ready, when set, is told the local page's URL once it listens.
	Ready func(pageURL string)
	// HTTPClient talks to GitHub's API (default http.DefaultClient).
	HTTPClient *http.Client
}

// Result is the registered app and the files written.
type Result struct {
	AppID       int64
	Slug        string
	SettingsURL string
	InstallURL  string
	Files       []string
	// SecretGenerated: GitHub sent no webhook secret, so the command made
	// the one it wrote, and it must be entered in the app's settings.
	SecretGenerated bool
}

// The files Run writes, in Out.
const (
	ConfigFile = "server.yml"
	KeyFile    = "private-key.pem"
	SecretFile = "webhook-secret"
	// DetailsKeyFile holds the key the details pages' links are signed
	// with (also in ConfigFile, as server.details_key).
	DetailsKeyFile = "details-key"
	AppIDFile      = "app-id"
)

// ErrExists refuses to overwrite credentials without Force.
var ErrExists = errors.New("credentials exist")

// ErrUsage marks options that make no registration: nothing was tried.
var ErrUsage = errors.New("bad option")

func (o *Options) defaults() error {
	if o.WebURL == "" {
		o.WebURL = "https://github.com"
	}
	o.WebURL = strings.TrimSuffix(o.WebURL, "/")
	web, err := url.Parse(o.WebURL)
	if err != nil || (web.Scheme != "https" && web.Scheme != "http") || web.Host == "" {
		return fmt.Errorf("--github-url %q is not a web address like https://github.example.com", o.WebURL)
	}
	if o.APIURL == "" {
		o.APIURL = "https://api.github.com/"
		if web.Host != "github.com" {
			o.APIURL = o.WebURL + "/api/v3/"
		}
	}
	if !strings.HasSuffix(o.APIURL, "/") {
		o.APIURL += "/"
	}
	if u, err := url.Parse(o.WebhookURL); o.WebhookURL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		return fmt.Errorf("--webhook-url %q is not an absolute http(s) URL like https://hotfix-bot.example.com/api/github/hook", o.WebhookURL)
	}
	if o.Name == "" {
		o.Name = "hotfix-bot"
		if o.Org != "" {
			o.Name += "-" + o.Org
		}
	}
	if o.Out == "" {
		o.Out = "hotfix-bot-app"
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	return nil
}

// Run registers the app: it returns once the credentials are written,
// the context ends, or the timeout passes.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if !o.Force {
		for _, f := range []string{ConfigFile, KeyFile, SecretFile, DetailsKeyFile, AppIDFile} {
			if _, err := os.Stat(filepath.Join(o.Out, f)); err == nil {
				return nil, fmt.Errorf("%w: %s is there from an app registered before; to register a new app and replace them, run again with --force (the old app stays on GitHub: delete it in its settings if it is not needed)",
					ErrExists, filepath.Join(o.Out, f))
			}
		}
	}
	stateBytes := make([]byte, 20)
	if _, err := rand.Read(stateBytes); err != nil {
		return nil, err
	}
	state := hex.EncodeToString(stateBytes)

	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for GitHub's redirect: %w", o.Listen, err)
	}
	base := "http://" + l.Addr().String()
	manifest, err := o.manifest(base + "/callback")
	if err != nil {
		l.Close()
		return nil, err
	}
	action := o.WebURL + "/settings/apps/new"
	if o.Org != "" {
		action = o.WebURL + "/organizations/" + url.PathEscape(o.Org) + "/settings/apps/new"
	}
	action += "?state=" + state

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = startPage.Execute(w, map[string]string{"Action": action, "Manifest": manifest, "Name": o.Name, "Where": where(o)})
	})
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "This redirect does not come from the registration this command started (its state does not match). Start again from the command's page.", http.StatusBadRequest)
			return
		}
		code := q.Get("code")
		if code == "" {
			http.Error(w, "GitHub sent no code.", http.StatusBadRequest)
			return
		}
		res, err := o.exchange(r.Context(), code)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			_ = failPage.Execute(w, err.Error())
		} else {
			_ = donePage.Execute(w, map[string]any{"Slug": res.Slug, "Steps": o.nextSteps(res)})
		}
		select {
		case done <- outcome{res, err}:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer func() {
		shut, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = srv.Shutdown(shut)
	}()

	fmt.Fprintf(o.Stdout, "Open %s/ in a browser signed in to %s as %s, and confirm.\n", base, o.WebURL, where(o))
	fmt.Fprintf(o.Stdout, "(GitHub will post events to %s; waiting up to %s.)\n", o.WebhookURL, o.Timeout)
	if o.Ready != nil {
		o.Ready(base + "/")
	}
	select {
	case out := <-done:
		if out.err != nil {
			return nil, out.err
		}
		o.instructions(out.res)
		return out.res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no app was registered within %s: %w", o.Timeout, ctx.Err())
	}
}

func where(o Options) string {
	if o.Org != "" {
		return "an owner of the organisation " + o.Org
	}
	return "the account that should own the app"
}

// manifest is app.yml as GitHub's manifest JSON, with this registration's
// name, webhook and redirect.
func (o *Options) manifest(redirect string) (string, error) {
	var m map[string]any
	if err := yaml.Unmarshal(hotfixbot.AppManifest, &m); err != nil {
		return "", fmt.Errorf("app.yml: %w", err)
	}
	m["name"] = o.Name
	m["redirect_url"] = redirect
	if o.WebhookURL != "" {
		m["hook_attributes"] = map[string]any{"url": o.WebhookURL, "active": true}
	} else if hook, ok := m["hook_attributes"].(map[string]any); ok {
		// GitHub wants a URL whenever there are hook attributes (and
		// generates the webhook secret with them): app.yml's placeholder,
		// with the webhook off until someone points it at the server.
		hook["active"] = false
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// exchange trades the code for the app's credentials and writes them.
func (o *Options) exchange(ctx context.Context, code string) (*Result, error) {
	client := github.NewClient(o.HTTPClient)
	api, err := url.Parse(o.APIURL)
	if err != nil {
		return nil, err
	}
	client.BaseURL = api
	cfg, _, err := client.Apps.CompleteAppManifest(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("GitHub did not hand over the new app's credentials (%v); the code is valid for an hour and only once: start again", err)
	}
	if cfg.GetID() == 0 || cfg.GetPEM() == "" {
		return nil, errors.New("GitHub's answer lacks the app's id or private key; delete the app in its settings and start again")
	}
	// GitHub generates the webhook secret with the webhook; should it
	// send none, the bot makes one, and the person sets it on GitHub.
	generated := false
	if cfg.GetWebhookSecret() == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		cfg.WebhookSecret, generated = github.String(hex.EncodeToString(b)), true
	}
	files, err := o.write(cfg)
	if err != nil {
		return nil, err
	}
	return &Result{
		AppID: cfg.GetID(), Slug: cfg.GetSlug(), SettingsURL: cfg.GetHTMLURL(),
		InstallURL:      o.WebURL + "/apps/" + url.PathEscape(cfg.GetSlug()) + "/installations/new",
		Files:           files,
		SecretGenerated: generated,
	}, nil
}

// write puts the credentials in Out: the key and the secret readable by
// the owner only, and a server configuration that points at them.
func (o *Options) write(cfg *github.AppConfig) ([]string, error) {
	if err := os.MkdirAll(o.Out, 0o700); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	server := map[string]any{"github": map[string]any{
		"web_url":    o.WebURL,
		"v3_api_url": o.APIURL,
		"app": map[string]any{
			"integration_id":   cfg.GetID(),
			"private_key_path": filepath.Join(dir, KeyFile),
			"webhook_secret":   cfg.GetWebhookSecret(),
		},
	}}
	// The details pages' links get a key of their own, not one derived
	// from the webhook secret (which GitHub chose, and which is rotated
	// for other reasons).
	detailsKey := make([]byte, 32)
	if _, err := rand.Read(detailsKey); err != nil {
		return nil, err
	}
	srv := map[string]any{"details_key": hex.EncodeToString(detailsKey)}
	detailsKeyHex := srv["details_key"].(string)
	if pub := publicURL(o.WebhookURL); pub != "" {
		srv["public_url"] = pub
	}
	server["server"] = srv
	config, err := yaml.Marshal(server)
	if err != nil {
		return nil, err
	}
	config = append([]byte("# Written by `hotfix-bot register` for the app "+strconv.Quote(cfg.GetSlug())+".\n# Start the server with: hotfix-bot serve --config "+filepath.Join(dir, ConfigFile)+"\n"), config...)
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{KeyFile, cfg.GetPEM(), 0o600},
		{SecretFile, cfg.GetWebhookSecret() + "\n", 0o600},
		{DetailsKeyFile, detailsKeyHex + "\n", 0o600},
		{AppIDFile, strconv.FormatInt(cfg.GetID(), 10) + "\n", 0o644},
		{ConfigFile, string(config), 0o600},
	}
	var written []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := writeFile(path, []byte(f.data), f.mode); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// publicURL is where people reach the server, when the webhook URL is its
// /api/github/hook: the check runs then link to its details pages.
func publicURL(webhookURL string) string {
	base, ok := strings.CutSuffix(strings.TrimSuffix(webhookURL, "/"), "/api/github/hook")
	if !ok {
		return ""
	}
	return base
}

// writeFile writes through a temporary file and a rename, so a file is
// never half written, with its mode set before any byte lands.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (o *Options) instructions(r *Result) {
	fmt.Fprintf(o.Stdout, "\nRegistered the GitHub App %q (id %d): %s\n", r.Slug, r.AppID, r.SettingsURL)
	fmt.Fprintf(o.Stdout, "Credentials written to %s (the private key, the webhook secret and the details key readable by you only).\n\n", filepath.Dir(r.Files[0]))
	fmt.Fprintln(o.Stdout, "Next:")
	for i, step := range o.nextSteps(r) {
		fmt.Fprintf(o.Stdout, "  %d. %s\n", i+1, step)
	}
}

// nextSteps are what a person does after registering: point the webhook
// at the server when no --webhook-url was given, install the app, start
// the server.
func (o *Options) nextSteps(r *Result) []string {
	var steps []string
	dir := filepath.Dir(r.Files[0])
	secret := "the secret is set already"
	if r.SecretGenerated {
		secret = "and set Webhook secret to the contents of " + filepath.Join(dir, SecretFile)
	}
	switch {
	case o.WebhookURL == "":
		steps = append(steps, "Point the app's webhook at the server: on "+r.SettingsURL+", set Webhook URL to https://<where serve runs>/api/github/hook and tick Active ("+secret+"), and set server.public_url in "+filepath.Join(dir, ConfigFile)+" to that server's address")
	case r.SecretGenerated:
		steps = append(steps, "On "+r.SettingsURL+", set Webhook secret to the contents of "+filepath.Join(dir, SecretFile))
	}
	return append(steps,
		"Install the app on your repositories: "+r.InstallURL,
		"Start the server: hotfix-bot serve --config "+filepath.Join(dir, ConfigFile))
}

var startPage = template.Must(template.New("start").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Register {{.Name}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem}</style>
</head><body>
<h1>Register {{.Name}} on GitHub</h1>
<p>GitHub will ask you, as {{.Where}}, to confirm creating the app with hotfix-bot's permissions and events. Then it sends you back here and the command writes the app's credentials.</p>
<form id="register" method="post" action="{{.Action}}">
<input type="hidden" name="manifest" value="{{.Manifest}}">
<button type="submit">Continue to GitHub</button>
</form>
</body></html>
`))

var donePage = template.Must(template.New("done").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Registered {{.Slug}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2rem}</style>
</head><body>
<h1>{{.Slug}} is registered</h1>
<p>The credentials are written. Next:</p>
<ol>{{range .Steps}}<li>{{.}}</li>{{end}}</ol>
<p>You can close this page.</p>
</body></html>
`))

var failPage = template.Must(template.New("fail").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Registration failed</title></head><body>
<h1>The registration did not finish</h1><p>{{.}}</p><p>Run <code>hotfix-bot register</code> again.</p>
</body></html>
`))
