// Package clock is the time hotfix-bot reads and waits on: the wall clock
// in production; in the tests and the demo, the GitHub simulator's, so
// that waiting out a Retry-After or a retry delay moves simulated time on
// instead of making anyone wait. Every package that waits takes a Clock
// (app, facts, notify, handlers); this one imports nothing of the bot.
package clock

import (
	"context"
	"time"
)

// Clock is a source of time that can be waited on.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, whichever is first (then it
	// returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the wall clock.
func Real() Clock { return real{} }

type real struct{}

func (real) Now() time.Time { return time.Now() }

func (real) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
