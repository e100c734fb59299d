package handlers

import (
	"runtime"
	"testing"
)

func TestHeadLocksSerialiseAndAreDropped(t *testing.T) {
	g, _ := newBot()
	// The first holder keeps the lock until told; the second must not get
	// in meanwhile, and gets in once it is released.
	unlock := g.lock("acme/pay@abc")
	entered := make(chan func())
	go func() { entered <- g.lock("acme/pay@abc") }()
	// Wait until the second evaluation has asked for the lock, then give
	// it every chance to (wrongly) get it.
	for waiting := 0; waiting < 2; runtime.Gosched() {
		g.mu.Lock()
		waiting = g.locks["acme/pay@abc"].users
		g.mu.Unlock()
	}
	for i := 0; i < 100; i++ {
		runtime.Gosched()
	}
	select {
	case <-entered:
		t.Fatal("a second evaluation of the same head ran while the first held the lock")
	default:
	}
	// Another head is not blocked by it.
	g.lock("acme/pay@def")()
	unlock()
	(<-entered)()

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.locks) != 0 {
		t.Errorf("%d head locks left after every evaluation ended", len(g.locks))
	}
}
