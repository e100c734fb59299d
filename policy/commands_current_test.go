package policy

import (
	"strings"
	"testing"
	"time"
)

func TestCommandActs(t *testing.T) {
	tests := []struct {
		body string
		acts bool
	}{
		{"/promote", true},
		{"/promote --emergency checkout is down", true},
		{"/promote --dry-run", false},
		{"/promote now", false}, // a usage error only answers
		{"/rollback", true},
		{"/rollback v1.4.1 --force", true},
		{"/hotfix start payment-timeout", true},
		{"/hotfix start ../x", false},
		{"/unlock", true},
		{"/unlock now", false},
		{"/help", false},
	}
	for _, tt := range tests {
		cmds, _ := ParseCommands(tt.body)
		if len(cmds) != 1 || cmds[0].Acts() != tt.acts {
			t.Errorf("%q: Acts = %v, want %v", tt.body, cmds, tt.acts)
		}
	}
}

func TestStillGiven(t *testing.T) {
	given := "Production is on fire.\n/rollback\nthanks"
	cmds, _ := ParseCommands(given)
	cmd := cmds[0]
	tests := []struct {
		name string
		now  string
		want bool
	}{
		{"unchanged", given, true},
		{"another line edited", "Production is on fire!!\n/rollback\nthanks, all", true},
		{"trailing spaces", "Production is on fire.\n  /rollback  \n", true},
		{"the command removed", "Production is on fire.\nnever mind\nthanks", false},
		{"the command changed", "Production is on fire.\n/rollback v1.4.1\nthanks", false},
		{"the command given --force", "Production is on fire.\n/rollback --force\nthanks", false},
		{"the command moved to another line", "Production is on fire.\n\n/rollback\nthanks", false},
		{"the command quoted in a code block", "Production is on fire.\n```\n/rollback\n```", false},
		{"emptied", "", false},
	}
	for _, tt := range tests {
		if got := StillGiven(cmd, tt.now); got != tt.want {
			t.Errorf("%s: StillGiven = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCommandTooOld(t *testing.T) {
	c := Default()
	written := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	parse := func(body string) Command {
		cmds, _ := ParseCommands(body)
		return cmds[0]
	}
	tests := []struct {
		name string
		cmd  Command
		age  time.Duration
		want string // "" runs; otherwise fragments of the refusal, "|"-separated
	}{
		{"fresh", parse("/rollback"), 3 * time.Minute, ""},
		{"exactly max_age", parse("/rollback"), 10 * time.Minute, ""},
		{"47 minutes", parse("/rollback"), 47*time.Minute + 12*time.Second, "this /rollback is 47 minutes old and was not run|`commands.max_age` (10 minutes)"},
		{"hours, replayed by the sweep", parse("/promote"), 3*time.Hour + 5*time.Minute, "this /promote is 3 hours 5 minutes old"},
		{"/hotfix start", parse("/hotfix start x"), 11 * time.Minute, "this /hotfix start is 11 minutes old"},
		{"/unlock", parse("/unlock"), 2 * time.Hour, "this /unlock is 2 hours old"},
		{"a dry run changes nothing: no age", parse("/promote --dry-run"), 5 * time.Hour, ""},
		{"help: no age", parse("/help"), 5 * time.Hour, ""},
		{"the bot's clock behind GitHub's", parse("/rollback"), -30 * time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.CommandTooOld(tt.cmd, written, written.Add(tt.age))
			if tt.want == "" {
				if r != nil {
					t.Fatalf("refused: %+v", r)
				}
				return
			}
			if r == nil {
				t.Fatal("ran")
			}
			if r.Rule != "too old" || r.Next != "comment it again if you still want it" {
				t.Errorf("refusal = %+v", r)
			}
			for _, f := range strings.Split(tt.want, "|") {
				if !strings.Contains(r.Why, f) {
					t.Errorf("why lacks %q: %s", f, r.Why)
				}
			}
		})
	}
	c.Commands.MaxAge = Duration(2 * time.Hour)
	if r := c.CommandTooOld(parse("/rollback"), written, written.Add(90*time.Minute)); r != nil {
		t.Errorf("commands.max_age: 2h refused a 90-minute-old command: %+v", r)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:                "45 seconds",
		time.Minute:                     "1 minute",
		47*time.Minute + 59*time.Second: "47 minutes",
		2 * time.Hour:                   "2 hours",
		3*time.Hour + time.Minute:       "3 hours 1 minute",
		49 * time.Hour:                  "2 days 1 hour",
		72 * time.Hour:                  "3 days",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%s) = %q, want %q", d, got, want)
		}
	}
}
