package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// TestServeAgainstTheSimulator runs `hotfix-bot serve` itself: configured
// from the environment, it discovers its identity, answers /healthz,
// rejects a forged webhook, handles a real one, and on SIGTERM drains its
// queue before returning 0, so the hotfix push is checked by then.
func TestServeAgainstTheSimulator(t *testing.T) {
	sim, err := ghsim.New(ghsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ghApp, err := sim.RegisterApp(ghsim.AppOptions{Slug: "hotfix-bot", Permissions: app.Permissions, Events: app.Events})
	if err != nil {
		t.Fatal(err)
	}
	repo := installedRepo(t, sim, ghApp)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for k, v := range map[string]string{
		"GITHUB_APP_INTEGRATION_ID": strconv.FormatInt(ghApp.ID, 10),
		"GITHUB_APP_PRIVATE_KEY":    ghApp.PrivateKeyPEM,
		"GITHUB_APP_WEBHOOK_SECRET": ghApp.WebhookSecret,
		"GITHUB_V3_API_URL":         sim.URL(),
		"GITHUB_WEB_URL":            sim.URL(),
		"HOST":                      "127.0.0.1",
		"PORT":                      strconv.Itoa(port),
		"LOG_LEVEL":                 "error",
	} {
		t.Setenv(k, v)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	sim.AddWebhookTarget(ghApp, base+"/api/github/hook")

	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- serve(nil, io.Discard, &stderr) }()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitReady(t, ctx, base, done)

	codes, err := sim.DeliverRaw(ctx, ghApp, "push", []byte(`{"ref":"refs/heads/hotfix/x"}`), "sha256=00")
	if err != nil || codes[0] != http.StatusBadRequest {
		t.Errorf("forged webhook: %v %v, want 400", codes, err)
	}
	// SIGTERM: serve stops accepting, drains the queue, returns 0.
	head, cr := pushHotfixThenStop(t, ctx, sim, repo, done, &stderr)
	if cr.Conclusion != policy.Success {
		t.Errorf("after the drain, %s on %s = %+v, want success", policy.CheckBase, head, cr)
	}
	for _, v := range sim.Violations() {
		t.Errorf("GitHub would reject: %s", v)
	}
}

// installedRepo is acme/payments (production v1.0.0, a develop branch)
// with the app installed.
func installedRepo(t *testing.T, sim *ghsim.Sim, a *ghsim.App) *ghsim.Repo {
	t.Helper()
	repo, _ := sim.CreateRepo("acme", "payments")
	dana := sim.User("dana")
	if _, err := repo.Push(dana, "main", "init", ghsim.Files{"a.go": "package a\n"}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Tag(dana, "v1.0.0", "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateBranch(dana, "develop", "main"); err != nil {
		t.Fatal(err)
	}
	sim.Install(a, repo)
	return repo
}

// pushHotfixThenStop pushes a hotfix branch at production, delivers the
// push to the running serve, stops it with SIGTERM (which drains the
// queue) and returns the head with its hotfix-bot/base check.
func pushHotfixThenStop(t *testing.T, ctx context.Context, sim *ghsim.Sim, repo *ghsim.Repo, done <-chan int, stderr *bytes.Buffer) (string, ghsim.CheckRun) {
	t.Helper()
	dana := sim.User("dana")
	if _, err := repo.CreateBranch(dana, "hotfix/x", "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	head, err := repo.Push(dana, "hotfix/x", "fix", ghsim.Files{"b.go": "package a\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("serve did not stop on SIGTERM")
	}
	cr, ok := repo.CheckRun(head, policy.CheckBase)
	if !ok {
		t.Fatalf("no %s on %s after the drain", policy.CheckBase, head)
	}
	return head, cr
}

// waitReady polls /readyz until serve has discovered its identity.
func waitReady(t *testing.T, ctx context.Context, base string, done <-chan int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if h, err := http.Get(base + "/healthz"); err != nil || h.StatusCode != http.StatusOK {
					t.Fatalf("/healthz: %v", err)
				}
				return
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d", code)
		case <-ctx.Done():
			t.Fatal("serve never became ready")
		case <-tick.C:
		}
	}
}
