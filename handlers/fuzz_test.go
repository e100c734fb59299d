package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fuzzEvents are the events the bot handles, and one it does not.
var fuzzEvents = []string{"push", "pull_request", "issue_comment", "deployment_status", "check_run", "deployment_protection_rule", "installation"}

// FuzzWebhook delivers arbitrary, correctly signed bodies under each event
// name through the real server (a GitHub that knows nothing and refuses
// every write behind it). Whatever arrives: no handler panics or hangs,
// a body that is not a JSON object is refused with 400 (or, for an event
// no handler takes, acknowledged unread) and costs no GitHub request, and
// everything else is accepted.
// The seed corpus is GitHub's recorded examples in internal/fixtures/webhooks plus
// testdata/fuzz/FuzzWebhook.
func FuzzWebhook(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "internal", "fixtures", "webhooks", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		event := strings.SplitN(filepath.Base(name), ".", 2)[0]
		event = strings.TrimSuffix(event, "-with-commits")
		f.Add(event, b)
	}
	srv, gh := quietServer(f)
	n := 0
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		n++
		if !contains(fuzzEvents, event) {
			event = fuzzEvents[len(event)%len(fuzzEvents)]
		}
		gh.mu.Lock()
		before := gh.requests
		gh.mu.Unlock()
		w := deliver(srv, event, fmt.Sprintf("fuzz-%d", n), body)
		<-srv.Idle()
		object := json.Valid(body) && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))
		handled := event != "installation" // an event no handler takes is acknowledged unread
		switch {
		case !object && handled && w.Code != http.StatusBadRequest:
			t.Fatalf("%s: a body that is not a JSON object got %d, want 400", event, w.Code)
		case (object || !handled) && w.Code/100 != 2:
			t.Fatalf("%s: a JSON object got %d %s", event, w.Code, w.Body)
		}
		gh.mu.Lock()
		after := gh.requests
		gh.mu.Unlock()
		if !object && after != before {
			t.Fatalf("%s: an unreadable body cost %d GitHub requests", event, after-before)
		}
		for _, e := range fuzzEvents {
			for _, outcome := range []string{"panic", "timeout"} {
				if testutil.ToFloat64(srv.Metrics().HandlerRuns.WithLabelValues(e, outcome)) != 0 {
					t.Fatalf("%s: a handler run ended in %s on %q", event, outcome, body)
				}
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
