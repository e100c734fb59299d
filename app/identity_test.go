package app

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

func TestIsSelf(t *testing.T) {
	bot := func(login string) *github.User {
		return &github.User{Login: github.String(login), Type: github.String("Bot")}
	}
	person := &github.User{Login: github.String("rob"), Type: github.String("User")}
	known := KnownIdentity(42, "hotfix-bot")
	tests := []struct {
		name   string
		sender *github.User
		viaApp int64
		self   bool
	}{
		{"our bot user", bot("hotfix-bot[bot]"), 0, true},
		{"another bot", bot("renovate[bot]"), 0, false},
		{"a person", person, 0, false},
		{"the payload says our app acted", person, 42, true},
		{"the payload says another app acted", bot("hotfix-bot[bot]"), 7, false},
		{"no sender", nil, 0, false},
	}
	for _, tt := range tests {
		if self, err := known.IsSelf(context.Background(), tt.sender, tt.viaApp); err != nil || self != tt.self {
			t.Errorf("%s: IsSelf = %v, %v; want %v", tt.name, self, err, tt.self)
		}
	}

	// Before discovery: the payload's app id decides at once; people are
	// never the app; a bot sender waits for the identity.
	unknown := NewIdentity(42)
	if self, err := unknown.IsSelf(context.Background(), person, 0); err != nil || self {
		t.Errorf("a person before discovery: %v, %v", self, err)
	}
	if self, err := unknown.IsSelf(context.Background(), bot("actions-user[bot]"), 42); err != nil || !self {
		t.Errorf("our app id before discovery: %v, %v", self, err)
	}
	done := make(chan bool)
	go func() {
		self, err := unknown.IsSelf(context.Background(), bot("github-actions[bot]"), 0)
		if err != nil {
			t.Error(err)
		}
		done <- self
	}()
	unknown.set("hotfix-bot", "")
	if <-done {
		t.Error("GitHub Actions' push was dropped as the app's own")
	}
	// A bot sender while discovery never succeeds: an error (the event is
	// retried later), not a guess either way.
	stuck := NewIdentity(42)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := stuck.IsSelf(ctx, bot("github-actions[bot]"), 0); err == nil {
		t.Error("a bot sender was judged without knowing the app's identity")
	}
}
