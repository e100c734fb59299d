package clock

import (
	"context"
	"testing"
	"time"
)

func TestRealSleepEndsWithItsContext(t *testing.T) {
	c := Real()
	if err := c.Sleep(context.Background(), 0); err != nil {
		t.Errorf("a zero wait: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("a cancelled wait = %v, want context.Canceled at once", err)
	}
	if before := time.Now(); c.Now().Before(before) {
		t.Error("Now is behind the wall clock")
	}
}
