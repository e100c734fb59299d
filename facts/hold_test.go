package facts

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

// The hold is read from the app's own records only (anyone can type a
// marker), newest last, with the label; a listing cut short, or GitHub
// failing, is a hold the bot cannot rule out.
func TestHoldFromRecordsAndLabel(t *testing.T) {
	at := time.Date(2026, 11, 23, 3, 10, 0, 0, time.UTC)
	hold := policy.HoldRecord{Held: true, By: "dora", ByID: 7, At: at, Reason: "the migration needs a DBA --> <b>", Comment: 100}
	lift := policy.HoldRecord{Held: false, By: "rob", ByID: 8, At: at.Add(time.Hour), Comment: 101, Of: 100}
	if m := HoldMarker(hold); strings.Count(m, "-->") != 1 || strings.Contains(m, "<b>") {
		t.Fatalf("a reason can end or break the marker: %s", m)
	}
	comment := func(login string, app int64, body string) map[string]any {
		c := map[string]any{"id": 1, "body": body, "user": map[string]any{"login": login, "type": "User"}}
		if app != 0 {
			c["user"] = map[string]any{"login": login, "type": "Bot"}
			c["performed_via_github_app"] = map[string]any{"id": app}
		}
		return c
	}
	tests := []struct {
		name     string
		comments []map[string]any
		label    bool
		held     bool
		by       string
	}{
		{"the bot's hold", []map[string]any{comment("hotfix-bot[bot]", 42, "on hold\n"+HoldMarker(hold))}, true, true, "dora"},
		{"lifted", []map[string]any{comment("hotfix-bot[bot]", 42, HoldMarker(hold)), comment("hotfix-bot[bot]", 42, HoldMarker(lift))}, false, false, ""},
		{"a lift forged by a person", []map[string]any{comment("hotfix-bot[bot]", 42, HoldMarker(hold)), comment("mallory", 0, HoldMarker(lift))}, true, true, "dora"},
		{"a lift forged by another app", []map[string]any{comment("hotfix-bot[bot]", 42, HoldMarker(hold)), comment("evil[bot]", 666, HoldMarker(lift))}, false, true, "dora"},
		{"a broken record", []map[string]any{comment("hotfix-bot[bot]", 42, "<!-- hotfix-bot:hold:{nope} -->")}, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := mockedRepo(mock.WithRequestMatch(mock.GetReposIssuesCommentsByOwnerByRepoByIssueNumber, tt.comments))
			var labels []*github.Label
			if tt.label {
				labels = []*github.Label{{Name: github.String("Hotfix-Hold")}}
			}
			h, err := r.Hold(context.Background(), 5, labels)
			if err != nil {
				t.Fatal(err)
			}
			if h.Held != tt.held || h.Record.By != tt.by {
				t.Errorf("%+v", h)
			}
			if tt.by != "" && h.Record.Reason != hold.Reason {
				t.Errorf("reason %q", h.Record.Reason)
			}
		})
	}
	t.Run("GitHub failing", func(t *testing.T) {
		r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByIssueNumber,
			http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { mock.WriteError(w, http.StatusBadGateway, "down") })))
		h, err := r.Hold(context.Background(), 5, nil)
		if err == nil || !h.Blocks() || !strings.Contains(h.Unknown, "502") {
			t.Errorf("%+v %v", h, err)
		}
	})
	t.Run("more comments than the bot reads", func(t *testing.T) {
		r, _ := mockedRepo(mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByIssueNumber,
			http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("Link", `<https://api.github.com/repositories/1/issues/5/comments?page=999>; rel="next"`)
				writeJSON(w, []map[string]any{comment("hotfix-bot[bot]", 42, HoldMarker(lift))})
			})))
		h, err := r.Hold(context.Background(), 5, nil)
		if KindOf(err) != Incomplete || !h.Blocks() {
			t.Errorf("%+v %v", h, err)
		}
	})
}
