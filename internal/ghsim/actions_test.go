package ghsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// GitHub holds a job deploying to an environment with a custom protection
// rule, sends the rule's app deployment_protection_rule (checked against
// GitHub's schema like every delivery), and takes one answer through the
// callback; a second answer is refused with GitHub's 422.
func TestCustomDeploymentProtectionRules(t *testing.T) {
	f := newFixture(t)
	// The app the fixture registered lacks Actions read and the event:
	// GitHub does not offer it as a protection rule.
	if err := f.repo.EnableProtectionRule("production", f.app); err == nil {
		t.Fatal("an app without Actions read was enabled as a protection rule")
	}
	perms := map[string]string{"actions": "read"}
	for k, v := range allPermissions {
		perms[k] = v
	}
	app := must[*App](t)(f.sim.RegisterApp(AppOptions{Slug: "guard", Permissions: perms, Events: []string{"deployment_protection_rule"}}))
	inst := f.sim.Install(app, f.repo)
	client := f.clientFor(t, app, inst)
	if err := f.repo.EnableProtectionRule("production", app); err != nil {
		t.Fatal(err)
	}
	head := must[string](t)(f.repo.Push(f.alice, "main", "init", Files{"a": "1"}))
	f.sim.DiscardPending()

	// A job for staging runs at once; one for production waits.
	staging := must[WorkflowRun](t)(f.repo.RunDeploymentJob(f.alice, "push", "main", "staging"))
	if staging.Status != "in_progress" {
		t.Errorf("staging job %s, want in_progress", staging.Status)
	}
	run := must[WorkflowRun](t)(f.repo.RunDeploymentJob(f.alice, "push", "main", "production"))
	if run.Status != "waiting" {
		t.Fatalf("production job %s, want waiting", run.Status)
	}
	var req map[string]any
	for _, d := range f.sim.outbox {
		if d.Event == "deployment_protection_rule" {
			if d.App != app || d.Action != "requested" {
				t.Errorf("delivery %s.%s to %s", d.Event, d.Action, d.App.Slug)
			}
			_ = json.Unmarshal(d.Payload, &req)
		}
	}
	dep, _ := req["deployment"].(map[string]any)
	callback, _ := req["deployment_callback_url"].(string)
	if req["environment"] != "production" || dep["sha"] != head || !strings.HasSuffix(callback, fmt.Sprintf("/actions/runs/%d/deployment_protection_rule", run.ID)) {
		t.Fatalf("request payload %v", req)
	}
	if creator, _ := dep["creator"].(map[string]any); creator["login"] != "github-actions[bot]" {
		t.Errorf("deployment creator %v, want github-actions[bot]", dep["creator"])
	}

	answer := func(c *github.Client, state string) (int, string) {
		r, err := c.NewRequest("POST", fmt.Sprintf("repos/acme/pay/actions/runs/%d/deployment_protection_rule", run.ID),
			map[string]string{"environment_name": "production", "state": state, "comment": "lacks v1.4.3"})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(ctx, r, nil)
		msg := ""
		if er, ok := err.(*github.ErrorResponse); ok {
			msg = er.Message
		}
		return resp.StatusCode, msg
	}
	// Another app's answer is not one GitHub waits for.
	if code, msg := answer(f.client, "approved"); code != http.StatusUnprocessableEntity || !strings.Contains(msg, "No pending custom deployment requests") {
		t.Errorf("a foreign answer: %d %q", code, msg)
	}
	if code, _ := answer(client, "rejected"); code != http.StatusNoContent {
		t.Fatalf("answer: %d", code)
	}
	got, _ := f.repo.WorkflowRun(run.ID)
	if got.Status != "completed" || got.Conclusion != "failure" || len(got.Reviews) != 1 || got.Reviews[0].Comment != "lacks v1.4.3" || got.Reviews[0].App != "guard" {
		t.Errorf("after the rejection: %+v", got)
	}
	// A second answer (a redelivery, a second replica) is refused.
	if code, msg := answer(client, "approved"); code != http.StatusUnprocessableEntity || !strings.Contains(msg, fmt.Sprintf("workflow run `%d`", run.ID)) {
		t.Errorf("second answer: %d %q", code, msg)
	}

	// An approval lets the job run; its end is the deployment's status.
	again := must[WorkflowRun](t)(f.repo.RunDeploymentJob(f.alice, "workflow_dispatch", "main", "production"))
	run = again
	if code, _ := answer(client, "approved"); code != http.StatusNoContent {
		t.Fatal("approval refused")
	}
	if got, _ := f.repo.WorkflowRun(again.ID); got.Status != "in_progress" {
		t.Errorf("approved job %s", got.Status)
	}
	if err := f.repo.FinishDeploymentJob(again.ID, "success"); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.repo.Deployments() {
		if d.ID == again.Deployment && d.Statuses[len(d.Statuses)-1].State != "success" {
			t.Errorf("deployment statuses %+v", d.Statuses)
		}
	}
}

// A CI check run reaches every app subscribed to check_run, not only its
// own (GitHub Actions' runs reach hotfix-bot).
func TestCheckRunEventsReachEverySubscribedApp(t *testing.T) {
	f := newFixture(t)
	head := must[string](t)(f.repo.Push(f.alice, "main", "init", Files{"a": "1"}))
	f.sim.DiscardPending()
	id := must[int64](t)(f.repo.ReportCheckRun(head, "ci/test", ""))
	if err := f.repo.CompleteCheckRun(id, "success"); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, d := range f.sim.outbox {
		if d.Event == "check_run" && d.App == f.app {
			actions = append(actions, d.Action)
			var p struct {
				CheckRun struct {
					App struct{ Slug string } `json:"app"`
				} `json:"check_run"`
			}
			_ = json.Unmarshal(d.Payload, &p)
			if p.CheckRun.App.Slug != "github-actions" {
				t.Errorf("check run of %q", p.CheckRun.App.Slug)
			}
		}
	}
	if strings.Join(actions, ",") != "created,completed" {
		t.Errorf("hotfix-bot got check_run %v, want created,completed", actions)
	}
}

// mergeable_state follows GitHub: blocked while the base's required
// checks are not successful, unstable while another check fails or
// runs, clean when nothing stands in the way, draft for a draft.
func TestMergeableState(t *testing.T) {
	f := newFixture(t)
	f.repo.SetMergeableDelay(0)
	must[string](t)(f.repo.Push(f.alice, "main", "init", Files{"a": "1"}))
	must[string](t)(f.repo.CreateBranch(f.alice, "develop", "main"))
	must[string](t)(f.repo.CreateBranch(f.alice, "feature", "main"))
	head := must[string](t)(f.repo.Push(f.alice, "feature", "f", Files{"b": "1"}))
	n := must[int](t)(f.repo.OpenPR(f.alice, "feature", "develop", "Feature"))
	state := func() string {
		pr, _, err := f.client.PullRequests.Get(ctx, "acme", "pay", n)
		if err != nil {
			t.Fatal(err)
		}
		return pr.GetMergeableState()
	}
	if got := state(); got != "clean" {
		t.Errorf("no checks, no protection: %s", got)
	}
	f.repo.Protect("develop", Protection{RequiredChecks: []string{"ci/test"}})
	if got := state(); got != "blocked" {
		t.Errorf("required check missing: %s", got)
	}
	ci := must[int64](t)(f.repo.ReportCheckRun(head, "ci/test", ""))
	if got := state(); got != "blocked" {
		t.Errorf("required check running: %s", got)
	}
	noErr(t, f.repo.CompleteCheckRun(ci, "success"))
	if got := state(); got != "clean" {
		t.Errorf("required check passed: %s", got)
	}
	f.repo.AddStatus(f.alice, head, "lint", "failure")
	if got := state(); got != "unstable" {
		t.Errorf("another status failing: %s", got)
	}
	f.repo.SetDraft(n, true)
	if got := state(); got != "draft" {
		t.Errorf("draft: %s", got)
	}
}
