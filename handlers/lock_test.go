package handlers

import (
	"sync"
	"testing"
)

func TestHeadLocksSerialiseAndAreDropped(t *testing.T) {
	g, _ := newGatekeeper()
	var mu sync.Mutex
	inside, most := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := g.lock("acme/pay@abc")
			mu.Lock()
			inside++
			most = max(most, inside)
			mu.Unlock()
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("%d evaluations of one head ran at once, want 1", most)
	}
	unlockOther := g.lock("acme/pay@def")
	unlockOther()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.locks) != 0 {
		t.Errorf("%d head locks left after every evaluation ended", len(g.locks))
	}
}
