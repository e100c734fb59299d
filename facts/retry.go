package facts

import (
	"context"
	"time"
)

// writeAttempts bounds how often one write is tried when GitHub's answers
// keep failing in ways that pass.
const writeAttempts = 3

// writeBackoff is the wait before the second attempt; it doubles.
const writeBackoff = time.Second

// retryWrite runs write, and again while it fails transiently (a 5xx, a
// timeout: GitHub may have acted and the answer been lost). Before each
// retry it asks settled whether the failed attempt took effect after all
// (the check run, deployment, comment or ref is there); if so the write is
// not repeated. A nil settled means the write is idempotent (a PATCH that
// sets a state).
func (r *Repo) retryWrite(ctx context.Context, write func() error, settled func() (bool, error)) error {
	wait := writeBackoff
	for attempt := 1; ; attempt++ {
		err := write()
		if err == nil || !IsTransient(err) || attempt == writeAttempts || ctx.Err() != nil {
			return err
		}
		if r.Clock.Sleep(ctx, wait) != nil {
			return err
		}
		wait *= 2
		if settled != nil {
			done, serr := settled()
			if serr == nil && done {
				return nil
			}
		}
	}
}
