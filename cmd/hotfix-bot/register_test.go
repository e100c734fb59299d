package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// lockedBuffer is written by a command while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRegisterThenServeCommands runs the two commands a platform team
// runs: `hotfix-bot register` (a person confirms in the browser), then
// `hotfix-bot serve --config` with nothing but the files it wrote. The
// server becomes ready, and a hotfix push GitHub signs with the secret
// register wrote is checked.
func TestRegisterThenServeCommands(t *testing.T) {
	sim, err := ghsim.New(ghsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	out := filepath.Join(t.TempDir(), "hotfix-bot-app")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var said, complaints lockedBuffer
	registered := make(chan int, 1)
	go func() {
		registered <- registerCmd([]string{"--github-url", sim.WebURL(), "--api-url", sim.URL(), "--out", out, "--webhook-url", base + "/api/github/hook"}, &said, &complaints)
	}()
	// The person: opens the printed page, confirms on GitHub, and is sent
	// back (the HTTP client follows GitHub's redirect).
	open := regexp.MustCompile(`Open (http://127\.0\.0\.1:\d+/) in a browser`)
	var page string
	for page == "" {
		if m := open.FindStringSubmatch(said.String()); m != nil {
			page = m[1]
			break
		}
		select {
		case code := <-registered:
			t.Fatalf("register exited %d before showing its page: %s", code, complaints.String())
		case <-ctx.Done():
			t.Fatal("register never showed its page")
		case <-time.After(10 * time.Millisecond):
		}
	}
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	action := regexp.MustCompile(`action="([^"]+)"`).FindSubmatch(form)
	manifest := regexp.MustCompile(`name="manifest" value="([^"]+)"`).FindSubmatch(form)
	if action == nil || manifest == nil {
		t.Fatalf("no manifest form:\n%s", form)
	}
	resp, err = http.PostForm(html.UnescapeString(string(action[1])), url.Values{"manifest": {html.UnescapeString(string(manifest[1]))}})
	if err != nil {
		t.Fatal(err)
	}
	confirmed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GitHub refused the manifest (%d): %s", resp.StatusCode, confirmed)
	}
	select {
	case code := <-registered:
		if code != 0 {
			t.Fatalf("register exited %d: %s", code, complaints.String())
		}
	case <-ctx.Done():
		t.Fatal("register never finished")
	}
	for _, want := range []string{"Registered the GitHub App \"hotfix-bot\"", "Install the app on your repositories: " + sim.WebURL() + "/apps/hotfix-bot/installations/new", "hotfix-bot serve --config " + filepath.Join(out, "server.yml")} {
		if !strings.Contains(said.String(), want) {
			t.Errorf("register did not say %q:\n%s", want, said.String())
		}
	}

	// The app, installed on a repository.
	ghApp := sim.AppBySlug("hotfix-bot")
	if ghApp == nil {
		t.Fatal("GitHub has no app hotfix-bot")
	}
	repo := installedRepo(t, sim, ghApp)

	// serve, with the written configuration and only the listen address
	// from the environment.
	t.Setenv("HOST", "127.0.0.1")
	t.Setenv("PORT", strconv.Itoa(port))
	t.Setenv("LOG_LEVEL", "error")
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- serve([]string{"--config", filepath.Join(out, "server.yml")}, io.Discard, &stderr) }()
	waitReady(t, ctx, base, done)

	head, cr := pushHotfixThenStop(t, ctx, sim, repo, done, &stderr)
	if cr.Conclusion != policy.Success {
		t.Errorf("%s = %+v, want success: the delivery signed with the registered secret was not handled", policy.CheckBase, cr)
	}
	if !strings.HasPrefix(cr.DetailsURL, base+"/details/acme/payments/"+head+"?e=") {
		t.Errorf("the check links to %q, want the server's details page (public_url from the webhook URL)", cr.DetailsURL)
	}
	for _, v := range sim.Violations() {
		t.Errorf("GitHub would reject: %s", v)
	}
}
