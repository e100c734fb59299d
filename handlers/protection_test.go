package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/migueleliasweb/go-github-mock/src/mock"
)

// protectionRequest is GitHub's deployment_protection_rule example (the
// fixture), changed.
func protectionRequest(t *testing.T, change func(map[string]any)) []byte {
	return payload(t, "deployment_protection_rule.requested.json", change)
}

// answered records the protection rule's answers.
var answeredOK = mock.WithRequestMatchHandler(mock.PostReposActionsRunsDeploymentProtectionRuleByOwnerByRepoByRunId,
	http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))

func answers(t *testing.T, rec *recorder) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, b := range rec.body["POST /repos/Codertocat/Hello-World/actions/runs/1234567890/deployment_protection_rule"] {
		var m map[string]string
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// A request whose callback is not this repository's run cannot be
// answered: the bot says so (an error, not retried) and calls nothing.
func TestProtectionRuleNeedsItsOwnCallback(t *testing.T) {
	for name, change := range map[string]func(map[string]any){
		"another repository": func(m map[string]any) {
			m["deployment_callback_url"] = "https://api.github.com/repos/mallory/evil/actions/runs/1/deployment_protection_rule"
		},
		"not a callback": func(m map[string]any) { m["deployment_callback_url"] = "https://example.com/approve" },
	} {
		t.Run(name, func(t *testing.T) {
			g, rec := newBot(noPolicy...)
			err := (&DeploymentProtectionRule{g}).Handle(ctx, "deployment_protection_rule", "d-1", protectionRequest(t, change))
			if err == nil || !strings.Contains(err.Error(), "cannot answer") {
				t.Errorf("err = %v", err)
			}
			if rec.count() != 0 {
				t.Errorf("API calls: %v", rec.reqs)
			}
		})
	}
}

// Only `requested` exists; anything else costs nothing.
func TestProtectionRuleIgnoresOtherActions(t *testing.T) {
	g, rec := newBot(noPolicy...)
	ev := protectionRequest(t, func(m map[string]any) { m["action"] = "completed" })
	if err := (&DeploymentProtectionRule{g}).Handle(ctx, "deployment_protection_rule", "d-1", ev); err != nil || rec.count() != 0 {
		t.Errorf("err %v, calls %v", err, rec.reqs)
	}
}

// Another environment is approved after reading only the policy (which
// says which environment is production).
func TestProtectionRuleApprovesOtherEnvironments(t *testing.T) {
	g, rec := newBot(append(noPolicy, answeredOK)...)
	ev := protectionRequest(t, func(m map[string]any) { m["environment"] = "staging" })
	if err := (&DeploymentProtectionRule{g}).Handle(ctx, "deployment_protection_rule", "d-1", ev); err != nil {
		t.Fatal(err)
	}
	got := answers(t, rec)
	if len(got) != 1 || got[0]["state"] != "approved" || got[0]["environment_name"] != "staging" || !strings.Contains(got[0]["comment"], "guards only `production`") {
		t.Errorf("answers %v", got)
	}
	for _, r := range rec.reqs {
		if strings.Contains(r, "/git/") || strings.Contains(r, "/compare/") {
			t.Errorf("read %s for another environment", r)
		}
	}
}

// A policy GitHub will not give rejects, whatever the environment: which
// environment is production is the policy's to say.
func TestProtectionRuleRejectsWithoutThePolicy(t *testing.T) {
	failing := []mock.MockBackendOption{
		mock.WithRequestMatchHandler(mock.GetReposContentsByOwnerByRepoByPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mock.WriteError(w, http.StatusForbidden, "Resource not accessible by integration")
		})),
		mock.WithRequestMatchHandler(mock.GetReposByOwnerByRepo, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mock.WriteError(w, http.StatusForbidden, "Resource not accessible by integration")
		})),
		answeredOK,
	}
	g, rec := newBot(failing...)
	ev := protectionRequest(t, func(m map[string]any) { m["environment"] = "staging" })
	err := (&DeploymentProtectionRule{g}).Handle(ctx, "deployment_protection_rule", "d-1", ev)
	if err == nil {
		t.Error("the missing policy was not reported")
	}
	got := answers(t, rec)
	if len(got) != 1 || got[0]["state"] != "rejected" || !strings.Contains(got[0]["comment"], "could not read the policy file") ||
		!strings.Contains(got[0]["comment"], "re-run this job") {
		t.Errorf("answers %v", got)
	}
}

// /help says how to let hotfix-bot guard production.
func TestHelpShowsTheProtectionRule(t *testing.T) {
	g, rec := newBot(commentBackend("read", "/help")...)
	if err := (&IssueComment{g}).Handle(ctx, "issue_comment", "d-1", comment(t, "/help", nil)); err != nil {
		t.Fatal(err)
	}
	replies := posted(rec)
	if len(replies) != 1 {
		t.Fatalf("replies %v", replies)
	}
	for _, want := range []string{"Never lose a hotfix", "deployment protection rule of `production`", "Settings → Environments → production", "`hotfix-bot/release`"} {
		if !strings.Contains(replies[0], want) {
			t.Errorf("/help lacks %q:\n%s", want, replies[0])
		}
	}
}
