package facts

import (
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/policy"
)

func TestExplainNeverMentions(t *testing.T) {
	err := &Error{Op: "create refs/heads/hotfix-bot/sync/v1.4.3-to-release/@acme/oncall", Kind: Validation, Status: 422, Message: "Reference refs/heads/release/@acme/oncall is invalid"}
	got := Explain(err)
	if strings.Contains(got, "@acme") || !strings.Contains(got, policy.NoMention("@acme")) {
		t.Errorf("Explain quotes a name as a mention: %q", got)
	}
}
