package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The committed subsets are what the tool makes from GitHub's
// descriptions today: regenerate them (see the package comment) after
// changing Operations or WebhookEvents. Skipped where GitHub's full
// descriptions are not beside the repository.
func TestCommittedSubsetsAreFresh(t *testing.T) {
	for _, tc := range []struct {
		name, in, committed string
		run                 func(in, out string) error
	}{
		{"REST (github.com)", "api.github.com.json", "github-subset.json", run},
		{"REST (GitHub Enterprise Server 3.19)", "ghes-3.19.json", "ghes-3.19-subset.json", run},
		{"webhooks", "webhooks.api.github.com.json", "webhooks-subset.json.gz", runWebhooks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join("..", "..", "..", "shared", "github", tc.in)
			if _, err := os.Stat(in); err != nil {
				t.Skipf("%s is not here: nothing to compare with", in)
			}
			out := filepath.Join(t.TempDir(), tc.committed)
			if err := tc.run(in, out); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			want, err := os.ReadFile(filepath.Join("..", "..", "internal", "fixtures", "openapi", tc.committed))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("internal/fixtures/openapi/%s is stale: regenerate it with tools/openapi-subset", tc.committed)
			}
		})
	}
}
