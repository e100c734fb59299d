package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
)

// shipAndFail plays, against the simulator, a hotfix that reaches
// production (tagged v1.4.3, synced back) and a second one whose
// deployment fails and is rolled back automatically, with an incident
// issue: what a report has to count. It returns the two pull requests.
func shipAndFail(t *testing.T, h *harness.Harness, in *harness.Incident) (shipped, failed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := in.Repo
	settle := func() {
		t.Helper()
		if _, err := h.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	lastBotDeployment := func() ghsim.Deployment {
		var last ghsim.Deployment
		for _, d := range r.Deployments() {
			if d.Creator != nil && d.Creator.Type == "Bot" {
				last = d
			}
		}
		return last
	}
	hotfix := func(branch, from, file string) int {
		t.Helper()
		_, err := r.CreateBranch(in.Dana, branch, from)
		check(err)
		_, err = r.Push(in.Dana, branch, "Fix "+branch, ghsim.Files{file: "package payments\n"})
		check(err)
		n, err := r.OpenPR(in.Dana, branch, "main", "Fix "+branch)
		check(err)
		settle()
		h.Sim.Clock().Advance(20 * time.Minute) // the review takes a while
		check(r.AddLabel(in.Rob, n, "hotfix-approved"))
		settle()
		_, err = r.Comment(in.Rob, n, "/promote")
		check(err)
		settle()
		return n
	}
	shipped = hotfix("hotfix/payment-timeout", "v1.4.2", "payments/timeout.go")
	check(r.SetDeploymentStatus(in.CD, lastBotDeployment().ID, "success", "CD success"))
	settle()
	if r.TagCommit("v1.4.3") == "" {
		t.Fatal("v1.4.3 was not released")
	}
	failed = hotfix("hotfix/retry-declines", "v1.4.3", "payments/retry.go")
	check(r.SetDeploymentStatus(in.CD, lastBotDeployment().ID, "failure", "CD failure"))
	settle()
	h.Sim.Clock().Advance(4 * time.Minute)
	check(r.SetDeploymentStatus(in.CD, lastBotDeployment().ID, "success", "CD success")) // the automatic rollback
	settle()
	return shipped, failed
}

// serverConfigFile writes the harness's server configuration as a file,
// as an operator's would be: the app's credentials and the GitHub URLs.
func serverConfigFile(t *testing.T, h *harness.Harness) string {
	t.Helper()
	cfg := h.Config()
	key := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(key, []byte(cfg.GitHub.App.PrivateKey), 0o600); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("github:\n  web_url: %s\n  v3_api_url: %s\n  app:\n    integration_id: %d\n    private_key_path: %s\n    webhook_secret: %s\nserver:\n  public_url: %s\n",
		cfg.GitHub.WebURL, cfg.GitHub.V3APIURL, cfg.GitHub.App.IntegrationID, key, cfg.GitHub.App.WebhookSecret, cfg.Server.PublicURL)
	path := filepath.Join(t.TempDir(), "server.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReportCommand runs `hotfix-bot report` against the simulator with a
// server configuration file: the numbers of a shipped and a failed
// hotfix, as JSON and as text, flags on either side of the repository.
func TestReportCommand(t *testing.T) {
	// The command reads the time from the machine's clock: the simulated
	// story happens just before it.
	h, err := harness.New(harness.Options{Start: time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	in, err := h.SetupIncident()
	if err != nil {
		t.Fatal(err)
	}
	shipped, failed := shipAndFail(t, h, in)
	config := serverConfigFile(t, h)

	var out, errOut bytes.Buffer
	if code := run([]string{"report", "--config", config, "acme/payments", "--json", "--since", "30d"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep struct {
		Repository string `json:"repository"`
		Overall    struct {
			Shipped     int      `json:"hotfixes_shipped"`
			Deployments int      `json:"deployments"`
			Failed      int      `json:"failed"`
			CFR         *float64 `json:"change_failure_rate"`
			LeadTime    struct {
				N      int   `json:"n"`
				Median int64 `json:"median_seconds"`
			} `json:"lead_time"`
			Approval struct {
				N      int   `json:"n"`
				Median int64 `json:"median_seconds"`
			} `json:"time_to_approval"`
			Recovery struct {
				N      int   `json:"n"`
				Median int64 `json:"median_seconds"`
			} `json:"recovery_time"`
			Incidents int `json:"incidents"`
		} `json:"overall"`
		Hotfixes []struct {
			PR         int    `json:"pr"`
			Outcome    string `json:"outcome"`
			Tag        string `json:"tag"`
			Propagated bool   `json:"propagated"`
			Targets    []struct {
				Branch string `json:"branch"`
				State  string `json:"state"`
			} `json:"sync_targets"`
		} `json:"hotfixes"`
		Incomplete []string `json:"incomplete"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	o := rep.Overall
	// Production's deployments in the window: v1.4.2 (the pipeline's,
	// before the bot), v1.4.3, and the hotfix that failed; the rollback
	// restores and is not counted.
	if rep.Repository != "acme/payments" || o.Shipped != 1 || o.Deployments != 3 || o.Failed != 1 || o.CFR == nil || o.Incidents != 1 {
		t.Errorf("overall %+v", o)
	}
	if o.LeadTime.N != 1 || o.LeadTime.Median < 20*60 || o.Approval.N != 2 || o.Approval.Median < 20*60 || o.Recovery.N != 1 || o.Recovery.Median < 4*60 {
		t.Errorf("times %+v", o)
	}
	if len(rep.Hotfixes) != 2 || rep.Hotfixes[0].PR != shipped || rep.Hotfixes[0].Outcome != "shipped" || rep.Hotfixes[0].Tag != "v1.4.3" ||
		rep.Hotfixes[0].Propagated || len(rep.Hotfixes[0].Targets) != 2 || rep.Hotfixes[1].PR != failed || rep.Hotfixes[1].Outcome != "failed" {
		t.Errorf("hotfixes %+v", rep.Hotfixes)
	}
	if len(rep.Incomplete) != 0 {
		t.Errorf("incomplete: %v", rep.Incomplete)
	}

	out.Reset()
	if code := run([]string{"report", "acme/payments", "--config", config}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	t.Logf("hotfix-bot report acme/payments:\n%s", out.String())
	for _, want := range []string{
		"hotfix-bot report: acme/payments (environment production)",
		"(90 days)",
		"lead time 20m; approved after 20m",
		"recovered after 4m",
		"Not yet propagated:\n  - v1.4.3 (#" + fmt.Sprint(shipped) + ") into develop: sync-back #",
		"33% (1 of 3)",
		"The page (charts, signed link): " + h.PublicURL() + "/report/acme/payments?e=",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the text lacks %q:\n%s", want, out.String())
		}
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report"}, 2, "name one repository"},
		{[]string{"report", "acme"}, 2, "name one repository"},
		{[]string{"report", "acme/payments", "--since", "2y"}, 2, "--since: \"2y\" is not a window"},
		{[]string{"report", "acme/elsewhere", "--config", config}, 1, "the app is not installed on it"},
	} {
		errOut.Reset()
		if code := run(tc.args, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
	for _, v := range h.Violations() {
		t.Errorf("GitHub would reject: %s", v)
	}
}
