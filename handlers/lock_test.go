package handlers

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/migueleliasweb/go-github-mock/src/mock"
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

// The look over the sync-back pull requests runs at most once an hour per
// repository; one that failed (GitHub did not answer) is due again at
// once, not an hour later.
func TestAFailedSyncRoundIsDueAgain(t *testing.T) {
	g, _ := newBot(mock.WithRequestMatchHandler(mock.GetReposContentsByOwnerByRepoByPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mock.WriteError(w, http.StatusBadGateway, "Bad Gateway")
	})))
	at := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	g.clock = fixedClock{at}
	if due, _ := g.roundDue("acme/pay"); due {
		t.Fatal("the first event of a repository only starts the hour")
	}
	g.clock = fixedClock{at.Add(time.Hour)}
	due, undo := g.roundDue("acme/pay")
	if !due || g.roundWanted("acme/pay") {
		t.Fatalf("after an hour: due %v, wanted again at once %v", due, g.roundWanted("acme/pay"))
	}
	undo()
	if !g.roundWanted("acme/pay") {
		t.Error("a round taken back is not due again")
	}
	// Through the handlers' entry: the policy cannot be read, the round
	// fails and stays due.
	if err := g.syncRoundIfDue(ctx, 1, "acme", "pay", "main"); err == nil {
		t.Fatal("a round whose policy GitHub would not give did not fail")
	}
	if !g.roundWanted("acme/pay") {
		t.Error("a failed round is not due again")
	}
}
