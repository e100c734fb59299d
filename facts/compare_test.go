package facts

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

func files(prefix string, n int) []*github.CommitFile {
	out := make([]*github.CommitFile, n)
	for i := range out {
		out[i] = &github.CommitFile{Filename: github.String(fmt.Sprintf("%s%04d.go", prefix, i))}
	}
	return out
}

func TestChangedFilesFallbacks(t *testing.T) {
	prod := policy.ProductionState{Known: true, SHA: "p", Tag: "v1"}
	truncated := github.CommitsComparison{
		Files: files("svc/", 300), TotalCommits: github.Int(1),
		Commits: []*github.RepositoryCommit{{SHA: github.String("c1")}},
	}
	t.Run("compare under 300 is complete", func(t *testing.T) {
		client := github.NewClient(mock.NewMockedHTTPClient(
			mock.WithRequestMatch(mock.GetReposCompareByOwnerByRepoByBasehead, github.CommitsComparison{Files: files("a/", 12)}),
		))
		f, err := NewRepo(client, "o", "r", "main", 1).ChangedFiles(context.Background(), prod, "h", 0)
		if err != nil || !f.Complete || len(f.Files) != 12 || f.Source != "compare" {
			t.Errorf("= %d files, complete %v, source %q, %v", len(f.Files), f.Complete, f.Source, err)
		}
	})
	t.Run("300 in compare: the pull request's files", func(t *testing.T) {
		pages := []any{}
		all := append(files("svc/", 300), &github.CommitFile{Filename: github.String("db/migrations/9.sql")})
		for i := 0; i < len(all); i += 100 {
			pages = append(pages, all[i:min(i+100, len(all))])
		}
		client := github.NewClient(mock.NewMockedHTTPClient(
			mock.WithRequestMatch(mock.GetReposCompareByOwnerByRepoByBasehead, truncated),
			mock.WithRequestMatchPages(mock.GetReposPullsFilesByOwnerByRepoByPullNumber, pages...),
		))
		f, err := NewRepo(client, "o", "r", "main", 1).ChangedFiles(context.Background(), prod, "h", 7)
		if err != nil || !f.Complete || len(f.Files) != 301 || f.Source != "pull request files" {
			t.Fatalf("= %d files, complete %v, source %q, %v", len(f.Files), f.Complete, f.Source, err)
		}
		if v := policy.Default().ReadSchema(f); !v.Flagged || v.Files[0] != "db/migrations/9.sql" {
			t.Errorf("the migration past the 300th file was missed: %+v", v)
		}
	})
	t.Run("a commit listing at 3000 is incomplete", func(t *testing.T) {
		var pages []any
		for p := 0; p < 10; p++ {
			pages = append(pages, github.RepositoryCommit{SHA: github.String("c1"), Files: files(fmt.Sprintf("p%d/", p), 300)})
		}
		client := github.NewClient(mock.NewMockedHTTPClient(
			mock.WithRequestMatch(mock.GetReposCompareByOwnerByRepoByBasehead, truncated),
			mock.WithRequestMatchPages(mock.GetReposCommitsByOwnerByRepoByRef, pages...),
		))
		f, err := NewRepo(client, "o", "r", "main", 1).ChangedFiles(context.Background(), prod, "h", 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Complete || !strings.Contains(f.Incomplete, "Commit `c1` changes 3000 files or more") {
			t.Fatalf("complete=%v incomplete=%q", f.Complete, f.Incomplete)
		}
		if v := policy.Default().ReadSchema(f); !v.Flagged || v.Incomplete == "" {
			t.Errorf("an incomplete listing must be flagged: %+v", v)
		}
	})
}
