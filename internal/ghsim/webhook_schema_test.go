package ghsim

import (
	"encoding/json"
	"strings"
	"testing"
)

// The webhook schema check accepts GitHub's own recorded payloads and
// names what a wrong one gets wrong.
func TestWebhookSchemaCheck(t *testing.T) {
	p, err := template("pull_request", "opened")
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(p)
	if problems := checkWebhook("pull_request", "opened", good); problems != nil {
		t.Fatalf("GitHub's own example fails its schema: %v", problems)
	}

	p, _ = template("pull_request", "opened")
	delete(p, "repository")
	p["number"] = "one"
	bad, _ := json.Marshal(p)
	problems := strings.Join(checkWebhook("pull_request", "opened", bad), "\n")
	for _, want := range []string{"repository", "/number"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems do not name %s:\n%s", want, problems)
		}
	}
	if got := checkWebhook("pull_request", "exploded", good); len(got) != 1 || !strings.Contains(got[0], "GitHub sends no pull_request.exploded webhook") {
		t.Errorf("an action GitHub never sends: %v", got)
	}
	if got := checkWebhook("pull_request", "closed", good); got == nil {
		t.Error("an opened payload passed as closed (the action's enum)")
	}
}
