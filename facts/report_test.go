package facts

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

// The report's reads are bounded: production's deployments are read newest
// first until one is older than the window (that page kept whole), or
// until ReportDeploymentPages, when the read says it was cut short (and
// the report is marked incomplete); a fact GitHub would not give is
// recorded as missing, saying what it leaves out; the deployments
// themselves failing fails the report.
func TestReportFactsBounds(t *testing.T) {
	since := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	now := since.Add(90 * 24 * time.Hour)
	deployments := func(newest time.Time, more bool) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) {
			page := 1
			fmt.Sscan(req.URL.Query().Get("page"), &page)
			var list []map[string]any
			for i := 0; i < 100; i++ {
				id := page*1000 + i
				list = append(list, map[string]any{"id": id, "sha": fmt.Sprintf("%040d", id), "environment": "production",
					"created_at": newest.Add(-time.Duration((page-1)*100+i) * 24 * time.Hour).Format(time.RFC3339), "creator": map[string]any{"login": "deploy-bot"}})
			}
			if more {
				w.Header().Set("Link", fmt.Sprintf(`<https://api.github.com/repositories/1/deployments?page=%d>; rel="next"`, page+1))
			}
			writeJSON(w, list)
		}
	}
	always := func(v any) http.HandlerFunc { return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, v) } }
	base := []mock.MockBackendOption{
		mock.WithRequestMatchHandler(mock.GetReposTagsByOwnerByRepo, always([]map[string]any{})),
		mock.WithRequestMatchHandler(mock.GetReposDeploymentsStatusesByOwnerByRepoByDeploymentId,
			always([]map[string]any{{"state": "success", "created_at": since.Add(time.Hour).Format(time.RFC3339)}})),
		mock.WithRequestMatchHandler(mock.GetReposPullsByOwnerByRepo, always([]map[string]any{})),
		mock.WithRequestMatchHandler(mock.GetReposIssuesByOwnerByRepo, always([]map[string]any{})),
	}
	t.Run("reaching past the window's start", func(t *testing.T) {
		// One deployment a day: the first page already reaches 100 days back.
		r, rec := mockedRepo(append(base, mock.WithRequestMatchHandler(mock.GetReposDeploymentsByOwnerByRepo, deployments(now, true)))...)
		r.BotLogin = "hotfix-bot[bot]"
		f, err := r.ReportFacts(context.Background(), policy.Default(), since, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.matching("/deployments?")) != 1 || len(f.Deployments) != 100 || !f.Reads[0].Complete || len(f.Missing) != 0 {
			t.Errorf("pages %v, %d deployments, reads %+v, missing %v", rec.matching("/deployments?"), len(f.Deployments), f.Reads, f.Missing)
		}
	})
	t.Run("cut short at the bound", func(t *testing.T) {
		// One a day, a window of 1000 days: three pages do not reach back.
		r, rec := mockedRepo(append(base, mock.WithRequestMatchHandler(mock.GetReposDeploymentsByOwnerByRepo, deployments(now, true)))...)
		r.BotLogin = "hotfix-bot[bot]"
		f, err := r.ReportFacts(context.Background(), policy.Default(), now.Add(-24*time.Hour*1000), now)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rec.matching("/deployments?")); got != ReportDeploymentPages || f.Reads[0].Complete || !strings.Contains(f.Reads[0].What, "at most 300") {
			t.Errorf("%d pages read, reads %+v", got, f.Reads)
		}
	})
	t.Run("the incident issues failing", func(t *testing.T) {
		r, _ := mockedRepo(append([]mock.MockBackendOption{mock.WithRequestMatchHandler(mock.GetReposIssuesByOwnerByRepo,
			http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { mock.WriteError(w, http.StatusBadGateway, "down") })),
			mock.WithRequestMatchHandler(mock.GetReposDeploymentsByOwnerByRepo, deployments(now, false))}, base...)...)
		r.BotLogin = "hotfix-bot[bot]"
		f, err := r.ReportFacts(context.Background(), policy.Default(), since, now)
		if err != nil || len(f.Missing) != 1 || !strings.Contains(f.Missing[0], "the incident issues") || !strings.Contains(f.Missing[0], "502") {
			t.Errorf("%v %v", f.Missing, err)
		}
	})
	t.Run("the deployments failing", func(t *testing.T) {
		r, _ := mockedRepo(append([]mock.MockBackendOption{mock.WithRequestMatchHandler(mock.GetReposDeploymentsByOwnerByRepo,
			http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { mock.WriteError(w, http.StatusBadGateway, "down") }))}, base...)...)
		if _, err := r.ReportFacts(context.Background(), policy.Default(), since, now); err == nil || !strings.Contains(err.Error(), "list the production deployments") {
			t.Errorf("%v", err)
		}
	})
}
