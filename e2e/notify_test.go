package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/harness"
)

// slackReceiver is a local Slack incoming webhook.
type slackReceiver struct {
	mu   sync.Mutex
	msgs []string
}

func (s *slackReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct{ Text string }
	_ = json.NewDecoder(r.Body).Decode(&m)
	s.mu.Lock()
	s.msgs = append(s.msgs, m.Text)
	s.mu.Unlock()
}

func (s *slackReceiver) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.msgs, "\n")
}

func TestNotifications(t *testing.T) {
	rec := &slackReceiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	url := srv.URL + "/services/T0/B0/very-secret-token"
	w := start(t, harness.Options{SlackWebhookURL: url})
	n, _ := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")

	second := w.hotfixFromProduction2("hotfix/again")
	_ = second
	m := must[int](t)(w.in.Repo.OpenPR(w.in.Dana, "hotfix/again", "main", "Again"))
	w.settle()
	noErr(t, w.in.Repo.AddLabel(w.in.Rob, m, "hotfix-approved"))
	w.settle()
	w.comment(w.in.Rob, m, "/promote")
	ds := w.botDeployments()
	w.report(ds[len(ds)-1].ID, "failure")
	ds = w.botDeployments()
	w.report(ds[len(ds)-1].ID, "success")
	noErr(t, w.h.FlushNotifications(w.ctx))

	got := rec.all()
	for _, want := range []string{"@rob promoted", "is in production as v1.4.3", "Sync-back:", "the sync of v1.4.3 into release/1.5 conflicts",
		"failed; rolling back to v1.4.3", "production rolled back to v1.4.3"} {
		if !strings.Contains(got, want) {
			t.Errorf("no notification with %q in:\n%s", want, got)
		}
	}
	if strings.Contains(w.log.String(), "very-secret-token") {
		t.Error("the Slack URL was logged")
	}
	for _, c := range w.in.Repo.Comments(n) {
		if strings.Contains(c.Body, "very-secret-token") {
			t.Error("the Slack URL was written to GitHub")
		}
	}
}
