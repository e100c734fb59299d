package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/migueleliasweb/go-github-mock/src/mock"
	"github.com/palantir/go-githubapp/githubapp"
)

func commentHandler(g *Bot) githubapp.EventHandler { return &IssueComment{g} }
func statusHandler(g *Bot) githubapp.EventHandler  { return &DeploymentStatus{g} }

// comment is the example comment with body, written just now.
func comment(t *testing.T, body string, change func(map[string]any)) []byte {
	return payload(t, "issue_comment.created.json", func(m map[string]any) {
		set(m, "comment.body", body)
		set(m, "comment.created_at", time.Now().UTC().Format(time.RFC3339))
		if change != nil {
			change(m)
		}
	})
}

func deploymentStatus(t *testing.T, state string, change func(map[string]any)) []byte {
	return payload(t, "deployment_status.created.json", func(m map[string]any) {
		set(m, "deployment_status.state", state)
		if change != nil {
			change(m)
		}
	})
}

// The real issue_comment and deployment_status examples, and the ways they
// are skipped before any API call.
func TestCommandAndDeploymentEventsSkippedWithoutAPICalls(t *testing.T) {
	ours := func(m map[string]any) {
		set(m, "deployment.performed_via_github_app.id", appID)
		set(m, "deployment.payload", map[string]any{"hotfix_bot": 1, "kind": "hotfix", "pr": 1, "requested_by": "rob", "chain": []any{"production"}, "chain_index": 0})
	}
	tests := []struct {
		name    string
		handler func(*Bot) githubapp.EventHandler
		event   string
		payload []byte
		warm    bool
	}{
		{"a comment without a command", commentHandler, "issue_comment", comment(t, "LGTM, ship it", nil), false},
		{"the real example comment", commentHandler, "issue_comment", payload(t, "issue_comment.created.json", nil), false},
		{"another bot's slash command", commentHandler, "issue_comment", comment(t, "/deploy staging\n/assign @rob", nil), false},
		{"a command quoted in a code block", commentHandler, "issue_comment", comment(t, "Run this:\n```\n/promote\n```", nil), false},
		{"an edited comment", commentHandler, "issue_comment", comment(t, "/promote", func(m map[string]any) { m["action"] = "edited" }), false},
		{"a deleted comment", commentHandler, "issue_comment", comment(t, "/promote", func(m map[string]any) { m["action"] = "deleted" }), false},
		{"a bot's comment", commentHandler, "issue_comment", comment(t, "/promote", func(m map[string]any) {
			set(m, "sender.type", "Bot")
			set(m, "comment.user.type", "Bot")
		}), false},
		{"this app's own comment", commentHandler, "issue_comment", comment(t, "/promote", func(m map[string]any) {
			set(m, "comment.performed_via_github_app.id", appID)
		}), false},
		{"the real example deployment status, in staging (another system's, policy cached)", statusHandler, "deployment_status", payload(t, "deployment_status.created.json", func(m map[string]any) {
			set(m, "deployment.environment", "staging")
		}), true},
		{"pending", statusHandler, "deployment_status", deploymentStatus(t, "pending", ours), false},
		{"queued", statusHandler, "deployment_status", deploymentStatus(t, "queued", ours), false},
		{"in progress", statusHandler, "deployment_status", deploymentStatus(t, "in_progress", ours), false},
		{"inactive", statusHandler, "deployment_status", deploymentStatus(t, "inactive", ours), false},
		{"another system's failure", statusHandler, "deployment_status", deploymentStatus(t, "failure", nil), false},
		{"another system's success in staging, policy cached", statusHandler, "deployment_status", deploymentStatus(t, "success", func(m map[string]any) {
			set(m, "deployment.environment", "staging")
		}), true},
		{"our payload forged on someone else's deployment, failing", statusHandler, "deployment_status", deploymentStatus(t, "failure", func(m map[string]any) {
			ours(m)
			set(m, "deployment.performed_via_github_app.id", 999)
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, rec := newBot(noPolicy...)
			if tt.warm {
				warm(t, g)
			}
			before := rec.count()
			if err := tt.handler(g).Handle(ctx, tt.event, "d-1", tt.payload); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if n := rec.count() - before; n != 0 {
				t.Errorf("%d API calls, want none: %v", n, rec.reqs[before:])
			}
		})
	}
}

// commentBackend answers what a refused command needs: the policy (none),
// the reaction, the comment read again (as written just now), the
// permission, the reply lookup and the reply.
func commentBackend(permission, body string) []mock.MockBackendOption {
	return append(append([]mock.MockBackendOption{}, noPolicy...),
		mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByCommentId, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(mock.MustMarshal(map[string]any{"id": 492700400, "body": body, "created_at": time.Now().UTC(),
				"user": map[string]any{"login": "Codertocat", "type": "User"}}))
		})),
		mock.WithRequestMatchHandler(mock.PostReposIssuesCommentsReactionsByOwnerByRepoByCommentId, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(mock.MustMarshal(github.Reaction{ID: github.Int64(1)}))
		})),
		mock.WithRequestMatchHandler(mock.GetReposCollaboratorsPermissionByOwnerByRepoByUsername, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(mock.MustMarshal(map[string]any{"permission": permission, "role_name": permission}))
		})),
		mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByIssueNumber, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("[]"))
		})),
		mock.WithRequestMatchHandler(mock.PostReposIssuesCommentsByOwnerByRepoByIssueNumber, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(mock.MustMarshal(github.IssueComment{ID: github.Int64(77)}))
		})),
	)
}

func TestRefusedCommandsAnswerOnceAndChangeNothing(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		permission string
		reply      []string
	}{
		{"promote on an issue", "/promote", "admin", []string{"/promote refused: on a hotfix pull request", "comment `/promote` on the hotfix pull request"}},
		{"a read-only user", "/rollback", "read", []string{"/rollback refused: permission", "@Codertocat has read permission", "needs write or more"}},
		{"a usage error", "/promote now please", "admin", []string{"Usage: `/promote [--dry-run | --emergency REASON]`", "unexpected `now`"}},
		{"an emergency without a reason", "/promote --emergency", "admin", []string{"needs a reason"}},
		{"a bad branch name", "/hotfix start ../../etc", "admin", []string{"Usage: `/hotfix start NAME`", "`..`"}},
		{"unlock by a writer", "/unlock", "write", []string{"/unlock refused: permission", "maintain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, rec := newBot(commentBackend(tt.permission, tt.body)...)
			if err := (&IssueComment{g}).Handle(ctx, "issue_comment", "d-1", comment(t, tt.body, nil)); err != nil {
				t.Fatal(err)
			}
			var writes []string
			for _, r := range rec.reqs {
				if !strings.HasPrefix(r, "GET ") {
					writes = append(writes, r)
				}
			}
			if len(writes) < 3 || !strings.HasSuffix(writes[0], "/reactions") {
				t.Fatalf("writes = %v, want the 👀 reaction first", writes)
			}
			var reactions, replies []string
			for key, bodies := range rec.body {
				switch {
				case strings.HasSuffix(key, "/reactions"):
					reactions = append(reactions, bodies...)
				case strings.HasPrefix(key, "POST ") && strings.HasSuffix(key, "/comments"):
					for _, b := range bodies {
						var c struct{ Body string }
						_ = json.Unmarshal([]byte(b), &c)
						replies = append(replies, c.Body)
					}
				}
			}
			if len(reactions) != 2 || !strings.Contains(reactions[0], `"eyes"`) || !strings.Contains(reactions[1], `"-1"`) {
				t.Errorf("reactions = %v, want eyes then -1", reactions)
			}
			if len(replies) != 1 {
				t.Fatalf("%d replies, want exactly one", len(replies))
			}
			for _, want := range tt.reply {
				if !strings.Contains(replies[0], want) {
					t.Errorf("reply lacks %q:\n%s", want, replies[0])
				}
			}
			for _, w := range writes {
				if strings.Contains(w, "/deployments") || strings.Contains(w, "/git/") {
					t.Errorf("a refused command wrote %s", w)
				}
			}
		})
	}
}
