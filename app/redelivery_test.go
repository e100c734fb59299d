package app

import "testing"

// The sweep redelivers the events the bot acts on, and of check_suite and
// check_run only the actions it acts on: the rest (one check_suite
// requested and completed for every push) would take the sweep's room.
func TestSweptDeliveries(t *testing.T) {
	for _, tt := range []struct {
		event, action string
		want          bool
	}{
		{"push", "", true},
		{"issue_comment", "created", true},
		{"issue_comment", "deleted", true}, // the handler judges it
		{"check_suite", "rerequested", true},
		{"check_suite", "requested", false},
		{"check_suite", "completed", false},
		{"check_suite", "", true}, // GitHub did not say: swept
		{"check_run", "rerequested", true},
		{"check_run", "completed", true}, // another app's CI, for sync.auto_merge
		{"check_run", "created", false},
		{"installation", "created", false},
		{"ping", "", false},
	} {
		if got := swept(tt.event, tt.action); got != tt.want {
			t.Errorf("swept(%s, %q) = %v, want %v", tt.event, tt.action, got, tt.want)
		}
	}
}
