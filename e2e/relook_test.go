package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
)

// promoteAndStop has a /promote taken by a replica that stops hard once
// it has taken the production lock, before it deploys anything (nothing
// it still tries reaches GitHub, so it cannot free the lock), and a new
// replica started in its place. It returns the pull request and the
// comment.
func (w *world) promoteAndStop(branch string) (int, int64) {
	t := w.t
	t.Helper()
	n, _ := w.approvedHotfix(branch)
	// Held: the write that takes the production lock (GitHub makes it).
	op := "git/update-ref"
	if w.in.Repo.Ref("refs/hotfix-bot/production-lock") == "" {
		op = "git/create-ref"
	}
	hold := &ghsim.Fault{Op: op, Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	w.h.Sim.Inject(hold)
	id := must[int64](t)(w.in.Repo.Comment(w.in.Rob, n, "/promote"))
	if _, err := w.h.Sim.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hold.Holding:
	case <-w.ctx.Done():
		t.Fatal("the lock was never taken")
	}
	w.h.Sim.Inject(&ghsim.Fault{Status: 502})
	w.h.Kill()
	close(hold.Hold)
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	noErr(t, w.h.Sim.WaitCalls(ctx))
	w.h.Sim.ClearFaults()
	if !w.lockHeld() {
		t.Fatal("the stopped replica's lock was freed")
	}
	noErr(t, w.h.Restart())
	return n, id
}

// A replica stops while it promotes, and the comment's delivery reaches
// a replica that is up while the dead one's claim is still live: that
// replica leaves the command to the claim's holder and looks again once
// the claim has lapsed. Then it takes the lock the stopped replica left,
// promotes and answers: nobody is left with only a 👀.
func TestPromoteWhoseReplicaStoppedIsAnswered(t *testing.T) {
	w := start(t, harness.Options{})
	n, id := w.promoteAndStop("hotfix/orphan")
	w.redeliverComment(id)
	if got := w.replies(n, id); len(got) != 0 {
		t.Fatalf("answered while the stopped replica's claim was live: %q", got[0].Body)
	}
	w.h.Sim.Clock().Advance(facts.ClaimTTL + time.Minute)
	for deadline := time.Now().Add(20 * time.Second); len(w.replies(n, id)) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		w.settle()
	}
	w.settle()
	w.onlyDeployment()
	w.reply(n, id, "Promoting #")
	w.noHandlerErrors()
}

// The stopped replica's comment reaches the surviving replica twice
// (GitHub keeps X-GitHub-Delivery across redeliveries, so both copies
// carry the same claim). Both copies are silent while the dead claim
// lives; the comment is looked at again once, and the command runs once.
func TestTwoSilentCopiesLookAgainOnce(t *testing.T) {
	w := start(t, harness.Options{})
	n, id := w.promoteAndStop("hotfix/orphan2")
	w.redeliverComment(id) // first copy: silent, look again scheduled
	var delivery string
	for _, d := range w.h.Sim.Deliveries() {
		if d.Event == "issue_comment" && d.Action == "created" {
			delivery = d.ID
		}
	}
	noErr(t, w.h.Sim.Redeliver(w.ctx, delivery)) // second copy, same GUID
	w.settle()
	// GitHub takes a second to create a deployment (the first re-look's
	// is held until the other re-look has had that second).
	dep := &ghsim.Fault{Op: "repos/create-deployment", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	w.h.Sim.Inject(dep)
	w.h.Sim.Clock().Advance(facts.ClaimTTL + time.Minute)
	select {
	case <-dep.Holding:
	case <-time.After(20 * time.Second):
		t.Fatal("no re-look created a deployment")
	}
	time.Sleep(time.Second)
	close(dep.Hold)
	for deadline := time.Now().Add(10 * time.Second); len(w.replies(n, id)) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	w.settle()
	t.Logf("replies: %d", len(w.replies(n, id)))
	w.onlyDeployment()
}

// Two copies of one delivery (the same GUID: the same claim) handled at
// once on one replica: the second waits for the first and finds its
// answer, so production gets one deployment.
func TestSameDeliveryTwiceAtOnceOnOneReplica(t *testing.T) {
	w := start(t, harness.Options{})
	n, _ := w.approvedHotfix("hotfix/twice-here")
	dep := &ghsim.Fault{Op: "repos/create-deployment", Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
	w.h.Sim.Inject(dep)
	id := must[int64](t)(w.in.Repo.Comment(w.in.Rob, n, "/promote"))
	if _, err := w.h.Sim.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dep.Holding:
	case <-time.After(20 * time.Second):
		t.Fatal("the deployment was never asked for")
	}
	var delivery string
	for _, d := range w.h.Sim.Deliveries() {
		if d.Event == "issue_comment" && d.Action == "created" {
			delivery = d.ID
		}
	}
	noErr(t, w.h.Sim.Redeliver(w.ctx, delivery))
	if _, err := w.h.Sim.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the copy runs while the first waits
	close(dep.Hold)
	w.settle()
	w.onlyDeployment()
	w.reply(n, id, "Promoting #")
	w.noHandlerErrors()
}
