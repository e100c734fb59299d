package facts

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

func TestProductionHistory(t *testing.T) {
	t.Run("every deployment with its statuses, oldest status first", func(t *testing.T) {
		r, rec := mockedRepo(deploymentsBackend(12, map[int64]bool{3: true, 7: true})...)
		deps, complete, err := r.ProductionHistory(context.Background(), policy.Default())
		if err != nil || !complete || len(deps) != 12 {
			t.Fatalf("ProductionHistory = %d deployments, complete %v, %v", len(deps), complete, err)
		}
		if deps[0].ID != 12 || deps[11].ID != 1 {
			t.Errorf("not newest first: %d … %d", deps[0].ID, deps[11].ID)
		}
		if deps[5].ID != 7 || len(deps[5].Statuses) != 1 || deps[5].Statuses[0].State != "success" || deps[5].Bot != nil {
			t.Errorf("deployment 7 = %+v", deps[5])
		}
		if n := len(rec.matching("/statuses")); n != 12 {
			t.Errorf("%d status reads, want one per deployment", n)
		}
	})
	t.Run("beyond the bound: incomplete, never cut silently", func(t *testing.T) {
		r, _ := mockedRepo(deploymentsBackend(historyPages*perPage+30, nil)...)
		deps, complete, err := r.ProductionHistory(context.Background(), policy.Default())
		if err != nil || complete || len(deps) != historyPages*perPage {
			t.Errorf("ProductionHistory = %d deployments, complete %v, %v; want the newest %d, incomplete", len(deps), complete, err, historyPages*perPage)
		}
	})
	t.Run("a status read that fails fails the whole", func(t *testing.T) {
		r, _ := mockedRepo(append(deploymentsBackend(5, nil)[:1],
			mock.WithRequestMatchHandler(mock.GetReposDeploymentsStatusesByOwnerByRepoByDeploymentId, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, "/deployments/3/") {
					mock.WriteError(w, http.StatusInternalServerError, "boom")
					return
				}
				writeJSON(w, []github.DeploymentStatus{{State: github.String("success")}})
			})),
			mock.WithRequestMatch(mock.GetReposTagsByOwnerByRepo, []github.RepositoryTag{}))...)
		if deps, _, err := r.ProductionHistory(context.Background(), policy.Default()); err == nil || deps != nil {
			t.Errorf("ProductionHistory = %v, %v; want an error and nothing", deps, err)
		}
	})
	t.Run("statuses in time order, tags, and the app's payload only on the app's deployments", func(t *testing.T) {
		payload, _ := json.Marshal(policy.DeploymentPayload{HotfixBot: 1, Kind: "rollback", RequestedBy: "rob", Chain: []string{"production"}})
		at := func(m int) *github.Timestamp {
			return &github.Timestamp{Time: time.Date(2026, 11, 23, 3, m, 0, 0, time.UTC)}
		}
		r, _ := mockedRepo(
			mock.WithRequestMatch(mock.GetReposDeploymentsByOwnerByRepo, []github.Deployment{
				{ID: github.Int64(2), SHA: github.String("c2"), Creator: &github.User{Login: github.String("hotfix-bot[bot]")}, Payload: payload},
				{ID: github.Int64(1), SHA: github.String("c1"), Creator: &github.User{Login: github.String("mallory")}, Payload: payload},
			}),
			mock.WithRequestMatch(mock.GetReposDeploymentsStatusesByOwnerByRepoByDeploymentId,
				[]github.DeploymentStatus{{State: github.String("inactive"), CreatedAt: at(9)}, {State: github.String("success"), CreatedAt: at(5)}},
				[]github.DeploymentStatus{{State: github.String("inactive"), CreatedAt: at(9)}, {State: github.String("success"), CreatedAt: at(5)}},
			),
			mock.WithRequestMatch(mock.GetReposTagsByOwnerByRepo, []github.RepositoryTag{
				{Name: github.String("v1.4.2"), Commit: &github.Commit{SHA: github.String("c2")}},
				{Name: github.String("v1.4.10"), Commit: &github.Commit{SHA: github.String("c2")}},
			}),
		)
		r.BotLogin = "hotfix-bot[bot]"
		deps, _, err := r.ProductionHistory(context.Background(), policy.Default())
		if err != nil || len(deps) != 2 {
			t.Fatalf("ProductionHistory = %+v, %v", deps, err)
		}
		if deps[0].Bot == nil || deps[0].Bot.Kind != "rollback" || deps[0].Tag != "v1.4.10" {
			t.Errorf("the app's deployment = %+v", deps[0])
		}
		if deps[1].Bot != nil {
			t.Error("a payload copied onto someone else's deployment was trusted")
		}
		if s := deps[0].Statuses; len(s) != 2 || s[0].State != "success" || s[1].State != "inactive" || !s[1].At.After(s[0].At) {
			t.Errorf("statuses = %+v, want success then inactive", s)
		}
	})
}

func TestCommentNow(t *testing.T) {
	written := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByCommentId, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/404") {
			mock.WriteError(w, http.StatusNotFound, "Not Found")
			return
		}
		writeJSON(w, map[string]any{"id": 7, "body": "never mind", "created_at": written, "user": map[string]any{"login": "rob", "type": "User"}})
	})))
	c, err := r.CommentNow(context.Background(), 7)
	if err != nil || c.Body != "never mind" || c.User.Login != "rob" || !c.CreatedAt.Equal(written) {
		t.Errorf("CommentNow = %+v, %v", c, err)
	}
	if _, err := r.CommentNow(context.Background(), 404); !IsNotFound(err) {
		t.Errorf("a deleted comment: %v, want NotFound", err)
	}
}
