package facts

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
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

// Without any deployment, production is the newest release tag on the
// production branch: a tag pushed anywhere else, or a pre-release, never
// is.
func TestProductionFromTagsOnTheProductionBranch(t *testing.T) {
	w := newSimWorld(t)
	r, dana := w.repo, w.dana
	w.push(t, "main", "init", ghsim.Files{"a": "1"})
	w.must(t)(r.Tag(dana, "v1.9.0", "main"))
	released := w.push(t, "main", "Release 1.10", ghsim.Files{"a": "2"})
	w.must(t)(r.Tag(dana, "v1.10.0", "main"))
	w.must(t)(r.CreateBranch(dana, "develop", "main"))
	w.push(t, "develop", "Next", ghsim.Files{"b": "1"})
	w.must(t)(r.Tag(dana, "v1.11.0-rc.1", "develop")) // a pre-release: never production
	w.must(t)(r.Tag(dana, "v1.11.0", "develop"))      // released from develop, not on main
	w.must(t)(r.CreateBranch(dana, "feature/x", "main"))
	w.push(t, "feature/x", "Evil", ghsim.Files{"c": "1"})
	w.must(t)(r.Tag(dana, "v9.9.9", "feature/x"))
	got, err := w.facts(t).Production(context.Background(), policy.Default())
	if err != nil || got.SHA != released || got.Tag != "v1.10.0" || got.Source != "tag v1.10.0 on main (no successful deployment to production yet)" {
		t.Fatalf("Production() = %+v, %v; want v1.10.0 on main", got, err)
	}

	// A production branch no release tag is on: unknown, saying why.
	w2 := newSimWorld(t)
	w2.push(t, "main", "init", ghsim.Files{"a": "1"})
	w2.must(t)(w2.repo.CreateBranch(w2.dana, "develop", "main"))
	w2.push(t, "develop", "next", ghsim.Files{"b": "1"})
	w2.must(t)(w2.repo.Tag(w2.dana, "v1.0.0", "develop"))
	if got, err := w2.facts(t).Production(context.Background(), policy.Default()); err != nil || got.Known || !strings.Contains(got.Unknown, "none of its release tags is on `main`") {
		t.Errorf("no release tag on the production branch: %+v, %v", got, err)
	}
	cfg := policy.Default()
	// One that does not exist: an error, never a guess.
	cfg.Branches.Production = "nowhere"
	if got, err := w.facts(t).Production(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "`nowhere`") {
		t.Errorf("a production branch that does not exist: %+v, %v", got, err)
	}
}

// An untagged production commit (deployed from a pre-release) bumps the
// newest release tag that is its ancestor, never the pre-release.
func TestAncestorReleaseTag(t *testing.T) {
	w := newSimWorld(t)
	r, dana := w.repo, w.dana
	w.push(t, "main", "init", ghsim.Files{"a": "1"})
	w.must(t)(r.Tag(dana, "v1.4.2", "main"))
	w.must(t)(r.CreateBranch(dana, "release/1.5", "main"))
	rc := w.push(t, "release/1.5", "1.5", ghsim.Files{"a": "2"})
	w.must(t)(r.Tag(dana, "v1.5.0-rc.1", "release/1.5"))
	w.must(t)(r.CreateBranch(dana, "other", "main"))
	w.push(t, "other", "x", ghsim.Files{"z": "1"})
	w.must(t)(r.Tag(dana, "v2.0.0", "other")) // newer, but not an ancestor
	tag, err := w.facts(t).AncestorReleaseTag(context.Background(), policy.Default(), rc)
	if err != nil || tag != "v1.4.2" {
		t.Fatalf("AncestorReleaseTag = %q, %v; want v1.4.2", tag, err)
	}
	next, ok := policy.Default().NextFreeTag(policy.ProductionState{Known: true, SHA: rc, AncestorTag: tag}, []string{"v1.4.2", "v1.5.0-rc.1", "v2.0.0"})
	if !ok || next != "v1.4.3" {
		t.Errorf("next tag = %q, want v1.4.3 (never v1.5.1)", next)
	}
}
