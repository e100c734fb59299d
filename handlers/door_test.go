package handlers

import (
	"encoding/json"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/palantir/go-githubapp/githubapp"
)

// The door only skips what needs no work: for every one of GitHub's
// recorded examples of the events the bot handles, with the policy cached
// and without, a delivery the door answers is one Handle would have
// finished without a single API call.
func TestDoorSkipsOnlyWhatNeedsNoWork(t *testing.T) {
	events := recordedExamples(t)
	handlers := map[string]func(*Bot) githubapp.EventHandler{
		"push": pushHandler, "pull_request": prHandler, "check_run": checkRunHandler,
		"issue_comment":     func(g *Bot) githubapp.EventHandler { return &IssueComment{g} },
		"deployment_status": func(g *Bot) githubapp.EventHandler { return &DeploymentStatus{g} },
	}
	for _, cached := range []bool{false, true} {
		skipped, queued := 0, 0
		for _, ev := range events {
			handler, ok := handlers[ev.Name]
			if !ok {
				continue
			}
			for i, ex := range ev.Examples {
				g, rec := newBot(noPolicy...)
				if cached {
					warm(t, g)
				}
				h := handler(g)
				adm := h.(app.Door).AtDoor(ctx, ev.Name, ex)
				if !adm.Skip {
					queued++
					// The queue takes the installation from the door.
					var p struct {
						Installation struct{ ID int64 } `json:"installation"`
					}
					_ = json.Unmarshal(ex, &p)
					if adm.Installation != p.Installation.ID {
						t.Errorf("%s example %d: the door read installation %d, the payload names %d", ev.Name, i, adm.Installation, p.Installation.ID)
					}
					continue
				}
				skipped++
				before := rec.count()
				if err := h.Handle(ctx, ev.Name, "d-1", ex); err != nil {
					t.Errorf("%s example %d (cached %v): skipped at the door, but Handle failed: %v", ev.Name, i, cached, err)
				}
				if n := rec.count() - before; n != 0 {
					t.Errorf("%s example %d (cached %v): skipped at the door, but Handle made %d API calls: %v", ev.Name, i, cached, n, rec.reqs[before:])
				}
			}
		}
		if skipped == 0 || queued == 0 {
			t.Errorf("cached %v: %d skipped, %d queued: the examples do not exercise both", cached, skipped, queued)
		}
	}
}

// Who waits decides the lane: a push's gates and a command are
// interactive, and a command goes first (its author waits for the 👀); so
// does a failed production deployment (its rollback); the
// success of production (tag, merge, sync-back, re-checks) is background.
func TestDoorChoosesTheLane(t *testing.T) {
	g, _ := newBot(noPolicy...)
	ours := func(state string, chain []string, index int) []byte {
		return payload(t, "deployment_status.created.json", func(m map[string]any) {
			set(m, "deployment_status.state", state)
			set(m, "deployment.performed_via_github_app.id", appID)
			set(m, "deployment.environment", chain[index])
			set(m, "deployment.task", "deploy:hotfix")
			set(m, "deployment.payload", map[string]any{"hotfix_bot": 1, "pr": 7, "comment_id": 9, "requested_by": "rob", "previous_ref": prodSHA,
				"next_tag": "v1.4.3", "chain": chain, "chain_index": index, "kind": "hotfix"})
		})
	}
	tests := []struct {
		name    string
		handler githubapp.EventHandler
		event   string
		payload []byte
		want    app.Lane
		first   bool
	}{
		{"a hotfix push", &Push{g}, "push", hotfixPush(t), app.Interactive, false},
		{"a command", &IssueComment{g}, "issue_comment", payload(t, "issue_comment.created.json", func(m map[string]any) {
			set(m, "comment.body", "/promote --dry-run")
		}), app.Interactive, true},
		{"production failed", &DeploymentStatus{g}, "deployment_status", ours("failure", []string{"production"}, 0), app.Interactive, true},
		{"staging succeeded: production is next", &DeploymentStatus{g}, "deployment_status", ours("success", []string{"staging", "production"}, 0), app.Interactive, false},
		{"production succeeded", &DeploymentStatus{g}, "deployment_status", ours("success", []string{"production"}, 0), app.Background, false},
		{"someone else's deployment succeeded", &DeploymentStatus{g}, "deployment_status", payload(t, "deployment_status.created.json", func(m map[string]any) {
			set(m, "deployment_status.state", "success")
		}), app.Background, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adm := tt.handler.(app.Door).AtDoor(ctx, tt.event, tt.payload)
			if adm.Skip || adm.Lane != tt.want || adm.First != tt.first {
				t.Errorf("admission %+v, want the %s lane (first: %v)", adm, tt.want, tt.first)
			}
		})
	}
}

// The bot's own push (its merge of a hotfix that changes the policy file)
// is skipped at the door, but the cached policy is forgotten first: the
// next event reads the new file.
func TestTheBotsOwnPolicyChangeIsForgotten(t *testing.T) {
	g, _ := newBot(noPolicy...)
	warm(t, g)
	if _, ok := g.policies.Cached("Codertocat/Hello-World"); !ok {
		t.Fatal("the policy was not cached")
	}
	payload := []byte(`{"ref":"refs/heads/master","after":"` + detailsSHA + `","before":"` + detailsSHA + `",
		"sender":{"login":"hotfix-bot[bot]","type":"Bot"},"installation":{"id":1},
		"repository":{"name":"Hello-World","default_branch":"master","owner":{"login":"Codertocat"}},
		"commits":[{"modified":[".github/hotfix-bot.yml"]}]}`)
	if adm := (&Push{g}).AtDoor(ctx, "push", payload); !adm.Skip {
		t.Errorf("the bot's own push was not skipped: %+v", adm)
	}
	if _, ok := g.policies.Cached("Codertocat/Hello-World"); ok {
		t.Error("the policy the bot's own push changed is still cached")
	}
}

// "Re-run all checks" is interactive only on this app's own suite: other
// apps' suites, and the requested and completed deliveries, are answered
// at the door.
func TestDoorOnCheckSuites(t *testing.T) {
	g, _ := newBot(noPolicy...)
	suite := func(action string, app int64) []byte {
		return payload(t, "check_suite.rerequested.json", func(m map[string]any) {
			set(m, "action", action)
			set(m, "check_suite.app.id", app)
		})
	}
	for _, tt := range []struct {
		name    string
		payload []byte
		skip    bool
	}{
		{"ours, re-run", suite("rerequested", appID), false},
		{"another app's, re-run", suite("rerequested", appID+1), true},
		{"ours, requested", suite("requested", appID), true},
		{"ours, completed", suite("completed", appID), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			adm := (&CheckSuite{g}).AtDoor(ctx, "check_suite", tt.payload)
			if adm.Skip != tt.skip || (!adm.Skip && (adm.Lane != app.Interactive || adm.First)) {
				t.Errorf("admission %+v, want skip %v (else interactive)", adm, tt.skip)
			}
		})
	}
}
