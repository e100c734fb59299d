package app

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// laned is an event handler whose door puts every delivery in one lane
// (or skips it), and whose runs record when they start and wait to be
// released.
type laned struct {
	lane    Lane
	skip    bool
	first   bool
	started chan string
	release chan struct{}
	body    func(ctx context.Context, name string) error
}

func (h *laned) Handles() []string { return []string{"push"} }

func (h *laned) AtDoor(context.Context, string, []byte) Admission {
	return Admission{Skip: h.skip, Lane: h.lane, First: h.first}
}

func (h *laned) Handle(ctx context.Context, _, delivery string, _ []byte) error {
	h.started <- delivery
	if h.body != nil {
		return h.body(ctx, delivery)
	}
	if h.release != nil {
		<-h.release
	}
	return nil
}

func newLaned(lane Lane) *laned {
	return &laned{lane: lane, started: make(chan string, 100), release: make(chan struct{})}
}

func delivery(inst int64, id string, h githubapp.EventHandler) githubapp.Dispatch {
	return githubapp.Dispatch{Handler: h, EventType: "push", DeliveryID: id, Payload: []byte(fmt.Sprintf(`{"installation":{"id":%d}}`, inst))}
}

func testQueue(size, workers, perInstallation int) (*queue, *recordingClock) {
	clock := &recordingClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMetrics()
	return newQueue(size, workers, perInstallation, time.Minute, nil, clock, newLimits(clock, m), m, nil), clock
}

func expectStart(t *testing.T, started chan string, want string) {
	t.Helper()
	select {
	case got := <-started:
		if got != want {
			t.Fatalf("%s started, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never started", want)
	}
}

func expectNoStart(t *testing.T, started chan string) {
	t.Helper()
	select {
	case got := <-started:
		t.Fatalf("%s started", got)
	default:
	}
}

// Background work never holds the last of an installation's places: an
// interactive event of a busy installation starts at once.
func TestBackgroundWorkLeavesAPlaceForInteractiveWork(t *testing.T) {
	q, _ := testQueue(10, 4, 2)
	defer q.Close()
	bg, fg := newLaned(Background), newLaned(Interactive)
	for _, id := range []string{"bg-1", "bg-2"} {
		if err := q.Schedule(context.Background(), delivery(1, id, bg)); err != nil {
			t.Fatal(err)
		}
	}
	expectStart(t, bg.started, "bg-1")
	if err := q.Schedule(context.Background(), delivery(1, "push", fg)); err != nil {
		t.Fatal(err)
	}
	expectStart(t, fg.started, "push")
	q.mu.Lock()
	running := *q.running[1]
	q.mu.Unlock()
	if running != [2]int{1, 1} { // bg-2 waits: one place is the interactive lane's
		t.Errorf("running (interactive, background) = %v, want (1, 1)", running)
	}
	close(fg.release)
	close(bg.release)
	<-q.Idle()
}

// Waiting interactive work goes before waiting background work of the
// same installation, whatever the order they came in.
func TestInteractiveWorkGoesFirst(t *testing.T) {
	q, _ := testQueue(10, 1, 1)
	defer q.Close()
	order := make(chan string, 10)
	bg, fg := recordingRun(Admission{Lane: Background}, order), recordingRun(Admission{Lane: Interactive}, order)
	got := ranAfterHolder(t, q, order, delivery(1, "sync-back", bg), delivery(1, "push", fg), delivery(1, "comment", fg))
	if fmt.Sprint(got) != "[push comment sync-back]" {
		t.Errorf("ran %v, want the interactive events before the background one", got)
	}
}

// recordingRun is a handler admitted as adm whose runs record their names.
func recordingRun(adm Admission, order chan string) *laned {
	h := newLaned(adm.Lane)
	h.first = adm.First
	h.body = func(_ context.Context, name string) error { order <- name; return nil }
	return h
}

// ranAfterHolder schedules ds while a holder keeps the only worker, lets
// it go, and returns the order the recorders ran in.
func ranAfterHolder(t *testing.T, q *queue, order chan string, ds ...githubapp.Dispatch) []string {
	t.Helper()
	hold := newLaned(Interactive)
	if err := q.Schedule(context.Background(), delivery(1, "holder", hold)); err != nil {
		t.Fatal(err)
	}
	expectStart(t, hold.started, "holder")
	for _, d := range ds {
		if err := q.Schedule(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	close(hold.release)
	<-q.Idle()
	close(order)
	var got []string
	for name := range order {
		got = append(got, name)
	}
	return got
}

// First work (a command: its author waits for the 👀) goes ahead of the
// interactive work already waiting, in the order it came, and background
// work still comes last.
func TestCommandsGoAheadOfWaitingEvaluations(t *testing.T) {
	q, _ := testQueue(100, 1, 1)
	defer q.Close()
	order := make(chan string, 10)
	bg, push, cmd := recordingRun(Admission{Lane: Background}, order), recordingRun(Admission{Lane: Interactive}, order), recordingRun(Admission{Lane: Interactive, First: true}, order)
	got := ranAfterHolder(t, q, order, delivery(1, "sync-back", bg), delivery(1, "push-1", push), delivery(1, "push-2", push),
		delivery(1, "promote", cmd), delivery(1, "push-3", push), delivery(1, "rollback", cmd))
	if fmt.Sprint(got) != "[promote rollback push-1 push-2 push-3 sync-back]" {
		t.Errorf("ran %v, want the commands first in their order, then the pushes in theirs, then the background work", got)
	}
}

// A command that has been acknowledged (its 👀 written) takes its turn by
// arrival for the rest of its run: the pushes delivered before it go
// first, then it continues; a command that came first does not wait.
func TestAnAcknowledgedCommandTakesItsTurnByArrival(t *testing.T) {
	q, _ := testQueue(100, 1, 1)
	defer q.Close()
	hold := newLaned(Interactive)
	order := make(chan string, 10)
	push := newLaned(Interactive)
	push.body = func(_ context.Context, name string) error { order <- name; return nil }
	cmd := newLaned(Interactive)
	cmd.first = true
	cmd.body = func(ctx context.Context, name string) error {
		order <- name + " 👀"
		if _, err := Acknowledged(ctx); err != nil {
			return err
		}
		order <- name + " answered"
		return nil
	}
	if err := q.Schedule(context.Background(), delivery(1, "holder", hold)); err != nil {
		t.Fatal(err)
	}
	expectStart(t, hold.started, "holder")
	for _, d := range []githubapp.Dispatch{delivery(1, "push-1", push), delivery(1, "push-2", push), delivery(1, "promote", cmd), delivery(1, "push-3", push)} {
		if err := q.Schedule(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	close(hold.release)
	<-q.Idle()
	// Alone, a command never stands aside.
	if err := q.Schedule(context.Background(), delivery(1, "rollback", cmd)); err != nil {
		t.Fatal(err)
	}
	<-q.Idle()
	close(order)
	var got []string
	for name := range order {
		got = append(got, name)
	}
	want := "[promote 👀 push-1 push-2 promote answered push-3 rollback 👀 rollback answered]"
	if fmt.Sprint(got) != want {
		t.Errorf("ran %v, want %s", got, want)
	}
}

// An acknowledged command stands aside for the work that came before it
// only so long: its handler's deadline runs meanwhile, and its person has
// seen the 👀. When no place frees up in time it goes on all the same,
// and says it stood aside (what it read before may have changed).
func TestAnAcknowledgedCommandWaitsOnlySoLong(t *testing.T) {
	q, _ := testQueue(100, 2, 2)
	q.ackHold = 50 * time.Millisecond
	defer q.Close()
	slow := newLaned(Interactive) // runs until released
	done := make(chan string, 1)
	cmd := newLaned(Interactive)
	cmd.first = true
	cmd.body = func(ctx context.Context, name string) error {
		aside, err := Acknowledged(ctx)
		done <- fmt.Sprintf("aside %v, %v", aside, err)
		return err
	}
	for _, id := range []string{"push-1", "push-2"} {
		if err := q.Schedule(context.Background(), delivery(1, id, slow)); err != nil {
			t.Fatal(err)
		}
		expectStart(t, slow.started, id)
	}
	for _, d := range []githubapp.Dispatch{delivery(1, "push-3", slow), delivery(1, "promote", cmd)} {
		if err := q.Schedule(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	slow.release <- struct{}{} // push-1 ends: the command goes first
	expectStart(t, cmd.started, "promote")
	expectStart(t, slow.started, "push-3") // the command stood aside for it
	select {
	case got := <-done:
		if got != "aside true, <nil>" {
			t.Errorf("Acknowledged: %s, want it to go on after standing aside", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command waited for push-2 and push-3 to end")
	}
	close(slow.release)
	<-q.Idle()
}

// Background work that yields between its steps lets interactive work of
// its installation run in between, and then continues where it was.
func TestBackgroundWorkYieldsBetweenSteps(t *testing.T) {
	q, _ := testQueue(10, 1, 1)
	defer q.Close()
	var mu sync.Mutex
	var trace []string
	log := func(s string) {
		mu.Lock()
		trace = append(trace, s)
		mu.Unlock()
	}
	stepping := make(chan struct{})
	proceed := make(chan struct{})
	bg := newLaned(Background)
	bg.body = func(ctx context.Context, _ string) error {
		for step := 1; step <= 3; step++ {
			log(fmt.Sprintf("step %d", step))
			if step == 1 {
				stepping <- struct{}{}
				<-proceed // the push arrives during the first step
			}
			if err := Yield(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	fg := newLaned(Interactive)
	fg.body = func(ctx context.Context, _ string) error {
		log("push")
		return Yield(ctx) // interactive work never waits here
	}
	if err := q.Schedule(context.Background(), delivery(1, "sync-back", bg)); err != nil {
		t.Fatal(err)
	}
	<-stepping
	if err := q.Schedule(context.Background(), delivery(1, "push", fg)); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	<-q.Idle()
	if fmt.Sprint(trace) != "[step 1 push step 2 step 3]" {
		t.Errorf("trace %v, want the push between the first and second steps", trace)
	}
	if got := testutil.ToFloat64(q.metrics.Yields); got != 1 {
		t.Errorf("%v yields counted, want 1", got)
	}
}

// A delivery the door says needs no work is answered at once, never
// queued, even when the queue is full; the rest queue in their lane.
func TestDoorSkipsWhatNeedsNoWork(t *testing.T) {
	q, _ := testQueue(1, 1, 1)
	defer q.Close()
	busy := newLaned(Interactive)
	for _, id := range []string{"a", "b"} { // one runs, one waits: full
		if err := q.Schedule(context.Background(), delivery(1, id, busy)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Schedule(context.Background(), delivery(1, "c", busy)); err != githubapp.ErrCapacityExceeded {
		t.Fatalf("a third delivery with a full queue: %v, want refused", err)
	}
	idle := &laned{skip: true, started: make(chan string, 1)}
	for i := 0; i < 50; i++ {
		if err := q.Schedule(context.Background(), delivery(1, fmt.Sprint("skip-", i), idle)); err != nil {
			t.Fatalf("a delivery needing no work was refused: %v", err)
		}
	}
	expectNoStart(t, idle.started)
	close(busy.release)
	<-q.Idle()
}

// Later spins work off into the background lane of the same installation;
// outside the queue it runs at once.
func TestLaterRunsAfterTheEventInTheBackground(t *testing.T) {
	q, _ := testQueue(10, 2, 2)
	defer q.Close()
	done := make(chan Lane, 1)
	fg := newLaned(Interactive)
	fg.body = func(ctx context.Context, _ string) error {
		return Later(ctx, "labels", func(ctx context.Context) error {
			if InstallationFrom(ctx) != 7 {
				t.Errorf("background work of installation %d, want 7", InstallationFrom(ctx))
			}
			done <- LaneOf(ctx)
			return nil
		})
	}
	if err := q.Schedule(context.Background(), delivery(7, "pr", fg)); err != nil {
		t.Fatal(err)
	}
	<-q.Idle() // the spun-off work counts as work in flight
	select {
	case lane := <-done:
		if lane != Background {
			t.Errorf("spun-off work ran in the %s lane", lane)
		}
	default:
		t.Fatal("the spun-off work never ran before the queue went idle")
	}
	ran := false
	if err := Later(context.Background(), "labels", func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("outside the queue: ran %v, err %v; want it run at once", ran, err)
	}
}

// Background writes stand aside while the installation's interactive
// events wait, and keep a reserve of the burst for them.
func TestBackgroundWritesGoAfterInteractiveOnes(t *testing.T) {
	clock := &recordingClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMetrics()
	l := newLimits(clock, m)
	ctx := context.Background()
	l.setBusy(1, 1) // an interactive event of installation 1 waits or runs
	wrote := make(chan struct{})
	go func() {
		if err := l.paceWrite(ctx, 1, Background); err != nil {
			t.Error(err)
		}
		close(wrote)
	}()
	for standing := false; !standing; runtime.Gosched() { // the write stands aside
		l.mu.Lock()
		standing = l.writes[1].calm != nil
		l.mu.Unlock()
	}
	select {
	case <-wrote:
		t.Fatal("a background write went ahead of waiting interactive work")
	default:
	}
	l.setBusy(1, 0)
	<-wrote
	// Of a fresh burst of 10, background writes spend at most 5 without
	// waiting; interactive ones the rest.
	start := clock.Now()
	for i := 0; i < 4; i++ { // 1 spent above
		if err := l.paceWrite(ctx, 1, Background); err != nil {
			t.Fatal(err)
		}
	}
	if clock.Now() != start {
		t.Fatalf("background writes within the burst waited %s", clock.Now().Sub(start))
	}
	if err := l.paceWrite(ctx, 1, Background); err != nil {
		t.Fatal(err)
	}
	if clock.Now() == start {
		t.Fatal("a sixth background write spent the reserve kept for interactive work")
	}
	start = clock.Now()
	for i := 0; i < 5; i++ {
		if err := l.paceWrite(ctx, 1, Interactive); err != nil {
			t.Fatal(err)
		}
	}
	if clock.Now() != start {
		t.Errorf("interactive writes waited %s for the reserve kept for them", clock.Now().Sub(start))
	}
}

// A background run whose write waits for interactive work gives its place
// in the queue up meanwhile: the interactive work it waits for may need
// that place.
func TestBackgroundRunWaitingToWriteGivesItsPlaceUp(t *testing.T) {
	q, _ := testQueue(10, 2, 2)
	defer q.Close()
	first := newLaned(Interactive)
	if err := q.Schedule(context.Background(), delivery(1, "push-1", first)); err != nil {
		t.Fatal(err)
	}
	expectStart(t, first.started, "push-1")
	wrote := make(chan struct{})
	bg := newLaned(Background)
	bg.body = func(ctx context.Context, _ string) error {
		defer close(wrote)
		return q.limits.paceWrite(ctx, InstallationFrom(ctx), Background)
	}
	if err := q.Schedule(context.Background(), delivery(1, "sync-back", bg)); err != nil {
		t.Fatal(err)
	}
	expectStart(t, bg.started, "sync-back")
	for aside := false; !aside; runtime.Gosched() { // its write waits, its place given up
		q.mu.Lock()
		aside = q.running[1] != nil && q.running[1][Background] == 0
		q.mu.Unlock()
	}
	second := newLaned(Interactive)
	if err := q.Schedule(context.Background(), delivery(1, "push-2", second)); err != nil {
		t.Fatal(err)
	}
	expectStart(t, second.started, "push-2") // both places are interactive work's now
	select {
	case <-wrote:
		t.Fatal("the background write went ahead of running interactive work")
	default:
	}
	close(first.release)
	close(second.release)
	<-wrote
	<-q.Idle()
}
