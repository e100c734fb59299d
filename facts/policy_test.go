package facts

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

func contentJSON(path, body string) map[string]any {
	return map[string]any{
		"type": "file", "encoding": "base64", "path": path, "name": path,
		"content": base64.StdEncoding.EncodeToString([]byte(body)),
	}
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	mock.WriteError(w, http.StatusNotFound, "Not Found")
}

func TestLoadPolicy(t *testing.T) {
	tests := []struct {
		name       string
		opts       []mock.MockBackendOption
		wantSource string
		wantBroken string // substring of the first problem
		wantErr    bool
		wantLabels []string
	}{
		{
			name: "repository file",
			opts: []mock.MockBackendOption{
				mock.WithRequestMatchHandler(mock.GetReposContentsByOwnerByRepoByPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Query().Get("ref") != "main" || !strings.HasSuffix(r.URL.Path, "/repos/acme/pay/contents/.github/hotfix-bot.yml") {
						http.Error(w, "unexpected "+r.URL.String(), http.StatusTeapot)
						return
					}
					_, _ = w.Write(mock.MustMarshal(contentJSON(".github/hotfix-bot.yml", "approval:\n  labels: [ops-approved]\n")))
				})),
			},
			wantSource: "acme/pay@main:.github/hotfix-bot.yml",
			wantLabels: []string{"ops-approved"},
		},
		{
			name: "broken repository file is data, not an error",
			opts: []mock.MockBackendOption{
				mock.WithRequestMatch(mock.GetReposContentsByOwnerByRepoByPath, contentJSON(".github/hotfix-bot.yml", "approval:\n  permission: god\n")),
			},
			wantSource: "acme/pay@main:.github/hotfix-bot.yml",
			wantBroken: `line 2: approval.permission: "god" is not a permission`,
		},
		{
			name: "owner .github repository fallback",
			opts: []mock.MockBackendOption{
				mock.WithRequestMatchHandler(mock.GetReposContentsByOwnerByRepoByPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.Contains(r.URL.Path, "/repos/acme/.github/contents/hotfix-bot.yml") {
						_, _ = w.Write(mock.MustMarshal(contentJSON("hotfix-bot.yml", "approval:\n  permission: maintain\n")))
						return
					}
					notFound(w, r)
				})),
				mock.WithRequestMatch(mock.GetReposByOwnerByRepo, github.Repository{Name: github.String(".github"), DefaultBranch: github.String("trunk")}),
			},
			wantSource: "acme/.github@trunk:hotfix-bot.yml",
			wantLabels: []string{"hotfix-approved"},
		},
		{
			name: "no file anywhere: defaults",
			opts: []mock.MockBackendOption{
				mock.WithRequestMatchHandler(mock.GetReposContentsByOwnerByRepoByPath, http.HandlerFunc(notFound)),
				mock.WithRequestMatchHandler(mock.GetReposByOwnerByRepo, http.HandlerFunc(notFound)),
			},
			wantSource: "defaults (no .github/hotfix-bot.yml)",
			wantLabels: []string{"hotfix-approved"},
		},
		{
			name: "GitHub failure is an error",
			opts: []mock.MockBackendOption{
				mock.WithRequestMatchHandler(mock.GetReposContentsByOwnerByRepoByPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					mock.WriteError(w, http.StatusBadGateway, "Server Error")
				})),
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := github.NewClient(mock.NewMockedHTTPClient(tt.opts...))
			p, err := LoadPolicy(context.Background(), client, "acme", "pay", "main")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("LoadPolicy = %+v, want an error", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadPolicy: %v", err)
			}
			if p.Source != tt.wantSource {
				t.Errorf("Source = %q, want %q", p.Source, tt.wantSource)
			}
			if tt.wantBroken != "" {
				if !p.Broken() || !strings.Contains(p.Invalid[0].Error(), tt.wantBroken) {
					t.Fatalf("Invalid = %v, want %q", p.Invalid, tt.wantBroken)
				}
				d := p.Describe()
				if !strings.Contains(d, tt.wantSource) || !strings.Contains(d, tt.wantBroken) || !strings.Contains(d, "hotfix-bot validate") {
					t.Errorf("Describe() does not name file, problem and fix:\n%s", d)
				}
				return
			}
			if p.Broken() {
				t.Fatalf("unexpected problems: %v", p.Invalid)
			}
			if strings.Join(p.Config.Approval.Labels, ",") != strings.Join(tt.wantLabels, ",") {
				t.Errorf("labels = %v, want %v", p.Config.Approval.Labels, tt.wantLabels)
			}
			if tt.name == "owner .github repository fallback" && p.Config.Approval.Permission != policy.PermissionMaintain {
				t.Errorf("owner default not applied: %v", p.Config.Approval.Permission)
			}
		})
	}
}
