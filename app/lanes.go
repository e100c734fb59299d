package app

import (
	"context"
	"errors"
)

// Lane says who waits for a piece of work. Each installation's work runs
// in two lanes: interactive work goes first, background work fills the
// gaps and steps aside (Yield) whenever interactive work of its
// installation is waiting.
type Lane int

const (
	// Interactive is work people wait for, watching: the gates of a push
	// or a pull request, a command's 👀 and its answer, a failed
	// deployment's rollback.
	Interactive Lane = iota
	// Background is work nobody watches happen: sync-back pull requests,
	// re-checking the other hotfix pull requests after production moved,
	// the labels a repository lacks.
	Background
)

func (l Lane) String() string {
	if l == Background {
		return "background"
	}
	return "interactive"
}

// Admission is what a handler decides about a delivery at the door: from
// its payload and what the server already knows (the identity, cached
// policies), with no GitHub call, before the delivery takes room in the
// queue.
type Admission struct {
	// Skip: the delivery needs no work. It is answered 200 at once and
	// never queued, however full the queue is.
	Skip bool
	// Malformed: the body is not JSON (a door that decodes a payload
	// says so, sparing the queue a second reading of every delivery). It
	// is answered 400 and never queued.
	Malformed bool
	// Lane is the lane the event's work runs in.
	Lane Lane
	// First puts interactive work ahead of the installation's other
	// interactive work that waits (not ahead of runs that stood aside):
	// a command, whose author waits for its 👀, goes before the gate
	// evaluations of a burst of pushes, and a failed deployment's
	// rollback before everything. First work keeps its order among
	// itself, and keeps its precedence until it calls Acknowledged.
	First bool
	// Installation is the delivery's installation, as the door read it
	// (0: the queue reads it from the payload).
	Installation int64
}

// Door is implemented by event handlers that can judge a delivery at the
// door (AtDoor must make no GitHub call). Deliveries of handlers without
// it are queued as interactive work. The payload's buffer is reused once
// the delivery is answered: AtDoor must not keep it (decoded values are
// copies).
type Door interface {
	AtDoor(ctx context.Context, eventType string, payload []byte) Admission
}

type runKey struct{}

// InRun reports whether ctx is a queued event's run (a handler at work),
// not the door judging a delivery as it arrives.
func InRun(ctx context.Context) bool { return runOf(ctx) != nil }

// runOf returns the queued event a handler runs for, nil outside the
// queue (unit tests call handlers directly).
func runOf(ctx context.Context) *event {
	e, _ := ctx.Value(runKey{}).(*event)
	return e
}

// LaneOf is the lane of the work ctx belongs to (Interactive outside the
// queue). The transport reads it to pace background writes behind
// interactive ones.
func LaneOf(ctx context.Context) Lane {
	if e := runOf(ctx); e != nil {
		return e.lane
	}
	return Interactive
}

// Yield is called by background work between its steps (one sync-back
// target, one re-checked pull request): if interactive work of the same
// installation is waiting, this run gives up its place and continues
// once that work has started. Interactive work, and work outside the
// queue, never waits here. It returns ctx's error if ctx ended meanwhile.
func Yield(ctx context.Context) error {
	if e := runOf(ctx); e != nil && e.lane == Background {
		return e.q.yield(ctx, e)
	}
	return ctx.Err()
}

// Later runs fn as background work of the installation the current event
// belongs to, after that event and behind the installation's interactive
// work: for what an interactive event finds to do that nobody waits for
// (creating the labels a repository lacks). fn is handled like an event:
// under the handler deadline, counted as event "<event>/<what>", and run
// again after a transient GitHub failure. Outside the queue (unit tests)
// fn runs at once and its error is returned.
func Later(ctx context.Context, what string, fn func(context.Context) error) error {
	e := runOf(ctx)
	if e == nil {
		return fn(ctx)
	}
	return e.q.later(e, what, fn)
}

// Again returns a function that queues the current delivery to be
// handled again, as a new arrival in its lane, and reports whether the
// queue took it (false once the server is shutting down); nil outside
// the queue or for work that is not a delivery. It is for a delivery
// whose work another replica claimed: if that replica stops before it
// answers, the delivery looked at again once the claim has lapsed is
// the answer. A replica that stops forgets what it meant to look at
// again (the redelivery sweep is the rest). closing is closed once the
// server stops taking deliveries: a wait for the moment to look again
// ends then.
func Again(ctx context.Context) (again func() bool, closing <-chan struct{}) {
	e := runOf(ctx)
	if e == nil || !e.delivery {
		return nil, nil
	}
	return func() bool { return e.q.again(e) }, e.q.draining
}

// ErrQueueStopped is returned by Yield when the server stopped while the
// work waited to continue.
var ErrQueueStopped = errors.New("the event queue stopped")

// Acknowledged is called by first work (Admission.First: a command) once
// its person has been answered that the bot is on it (the 👀): for the
// rest of its run it takes its turn by arrival, behind the installation's
// interactive work that came before it (the gate evaluations of pushes
// delivered just before the command), standing aside meanwhile, for at
// most 10 seconds (the handler's deadline runs on). It reports whether
// the run stood aside: what it read before may have changed since. Work
// that is not first, and work outside the queue, never waits here. It
// returns ctx's error if ctx ended meanwhile.
func Acknowledged(ctx context.Context) (stoodAside bool, err error) {
	if e := runOf(ctx); e != nil && e.first {
		return e.q.acknowledged(ctx, e)
	}
	return false, ctx.Err()
}
