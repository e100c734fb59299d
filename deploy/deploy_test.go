// Package deploy holds the container and Kubernetes files and the example
// CD workflow; its tests check them without building or running anything.
package deploy

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The example CD workflow carries out the bot's deployments and reports
// what the bot waits for: a final deployment status on the same
// deployment, for the exact sha, with a log link.
func TestExampleCDWorkflow(t *testing.T) {
	b, err := os.ReadFile("examples/deploy-on-deployment.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Name        string            `yaml:"name"`
		On          any               `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Concurrency map[string]any    `yaml:"concurrency"`
		Jobs        map[string]struct {
			RunsOn      string            `yaml:"runs-on"`
			Environment string            `yaml:"environment"`
			Env         map[string]string `yaml:"env"`
			Steps       []struct {
				Name string            `yaml:"name"`
				If   string            `yaml:"if"`
				Run  string            `yaml:"run"`
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&wf); err != nil {
		t.Fatal(err)
	}
	if wf.On != "deployment" {
		t.Errorf("on = %v, want deployment", wf.On)
	}
	if wf.Permissions["deployments"] != "write" {
		t.Errorf("permissions = %v: reporting statuses needs deployments: write", wf.Permissions)
	}
	if wf.Concurrency["cancel-in-progress"] != false {
		t.Error("a deploy must never be cancelled half-way")
	}
	job, ok := wf.Jobs["deploy"]
	if !ok {
		t.Fatal("no deploy job")
	}
	if job.Environment != "${{ github.event.deployment.environment }}" {
		t.Errorf("environment = %q: the job must run in the deployment's environment", job.Environment)
	}
	if job.Env["DEPLOYMENT_ID"] != "${{ github.event.deployment.id }}" || job.Env["REF"] != "${{ github.event.deployment.sha }}" {
		t.Errorf("env = %v: the job must report on its deployment and deploy its sha", job.Env)
	}
	states := map[string]string{}
	checkedOut := ""
	for _, s := range job.Steps {
		if strings.HasPrefix(s.Uses, "actions/checkout") {
			checkedOut = s.With["ref"]
		}
		if strings.Contains(s.Run, "/deployments/$DEPLOYMENT_ID/statuses") {
			for _, st := range []string{"in_progress", "success", "failure"} {
				if strings.Contains(s.Run, "state="+st) {
					states[st] = s.If
					if !strings.Contains(s.Run, "log_url=") {
						t.Errorf("%s is reported without a log link", st)
					}
				}
			}
		}
	}
	if checkedOut != "${{ github.event.deployment.sha }}" {
		t.Errorf("checked out %q, want the deployment's exact sha", checkedOut)
	}
	if _, ok := states["in_progress"]; !ok {
		t.Error("no in_progress status")
	}
	if states["success"] != "success()" || !strings.Contains(states["failure"], "failure()") {
		t.Errorf("final statuses reported under %v, want success() and failure()", states)
	}
}
