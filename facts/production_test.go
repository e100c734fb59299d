package facts

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

func TestProduction(t *testing.T) {
	statuses := map[string]string{"/repos/acme/pay/deployments/3/statuses": "failure", "/repos/acme/pay/deployments/2/statuses": "success", "/repos/acme/pay/deployments/1/statuses": "success"}
	statusHandler := mock.WithRequestMatchHandler(mock.GetReposDeploymentsStatusesByOwnerByRepoByDeploymentId, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(mock.MustMarshal([]github.DeploymentStatus{{State: github.String(statuses[r.URL.Path])}}))
	}))
	tags := []github.RepositoryTag{
		{Name: github.String("v1.10.0"), Commit: &github.Commit{SHA: github.String("c110")}},
		{Name: github.String("v1.9.0"), Commit: &github.Commit{SHA: github.String("c190")}},
		{Name: github.String("nightly"), Commit: &github.Commit{SHA: github.String("c999")}},
		{Name: github.String("v1.9.0-rc.1"), Commit: &github.Commit{SHA: github.String("c190")}},
	}
	tests := []struct {
		name        string
		deployments []github.Deployment
		tags        []github.RepositoryTag
		want        policy.ProductionState
		source      string
	}{
		{
			name: "newest successful deployment, failed newer one skipped",
			deployments: []github.Deployment{
				{ID: github.Int64(3), SHA: github.String("c110")}, // failed
				{ID: github.Int64(2), SHA: github.String("c190")},
				{ID: github.Int64(1), SHA: github.String("c100")},
			},
			tags:   tags,
			want:   policy.ProductionState{Known: true, SHA: "c190", Tag: "v1.9.0"},
			source: "deployment 2 to production (success",
		},
		{
			name:   "no deployments: newest tag by semver, not by text",
			tags:   tags,
			want:   policy.ProductionState{Known: true, SHA: "c110", Tag: "v1.10.0"},
			source: "tag v1.10.0 (no successful deployment to production yet)",
		},
		{
			name:        "untagged production commit",
			deployments: []github.Deployment{{ID: github.Int64(2), SHA: github.String("beef")}},
			tags:        tags,
			want:        policy.ProductionState{Known: true, SHA: "beef"},
		},
		{
			name: "nothing at all",
			tags: []github.RepositoryTag{{Name: github.String("nightly"), Commit: &github.Commit{SHA: github.String("c999")}}},
			want: policy.ProductionState{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := github.NewClient(mock.NewMockedHTTPClient(
				mock.WithRequestMatch(mock.GetReposDeploymentsByOwnerByRepo, tt.deployments),
				statusHandler,
				mock.WithRequestMatch(mock.GetReposTagsByOwnerByRepo, tt.tags),
			))
			r := NewRepo(client, "acme", "pay", "main", 42)
			got, err := r.Production(context.Background(), policy.Default())
			if err != nil {
				t.Fatal(err)
			}
			if got.Known != tt.want.Known || got.SHA != tt.want.SHA || got.Tag != tt.want.Tag || !strings.HasPrefix(got.Source, tt.source) {
				t.Errorf("Production() = %+v, want %+v (source %q)", got, tt.want, tt.source)
			}
			// Asked twice, GitHub is asked once: the mock would run out of
			// responses and panic otherwise.
			if again, err := r.Production(context.Background(), policy.Default()); err != nil || again != got {
				t.Errorf("second call = %+v, %v", again, err)
			}
		})
	}
}
