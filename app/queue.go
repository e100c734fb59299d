package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// ErrShuttingDown is returned for events that arrive while the server
// drains its queue; GitHub sees a 503 and the delivery can be redelivered.
var ErrShuttingDown = errors.New("server is shutting down")

// ErrInvalidPayload refuses a correctly signed delivery whose body is not
// a JSON object: GitHub never sends one; it gets a 400 and is not queued.
var ErrInvalidPayload = errors.New("webhook body is not a JSON object")

// maxRequeues bounds how often one event is put back for a rate limit.
const maxRequeues = 5

// DefaultRetryDelays are the waits before an event whose handler failed
// on a transient GitHub error (5xx, a timeout, a dropped connection) is
// handled again: GitHub does not redeliver a delivery the bot accepted,
// so the bot tries again by itself, three times over about a quarter of
// an hour, then gives up and logs it. Options.RetryDelays changes them.
var DefaultRetryDelays = []time.Duration{time.Minute, 3 * time.Minute, 10 * time.Minute}

// Retryable is implemented by errors that say whether handling the event
// again later may succeed. The facts package's transient GitHub errors
// say yes; Final wraps an error that must not be retried.
type Retryable interface{ Retryable() bool }

// retryable reports whether err asks for the event to be handled again.
func retryable(err error) bool {
	var r Retryable
	return errors.As(err, &r) && r.Retryable()
}

// Final marks a handler's error as not to be retried: the handler has
// reported it where people see it (a command's reply), and doing the work
// again unasked, minutes later, would surprise them.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return finalError{err}
}

type finalError struct{ error }

// MaxFinalDelay is how long a rate limit may hold back an event whose
// error is Final and still have it handled when the limit lifts: a
// command blocked by a short secondary limit (GitHub's usual 30 to 60
// seconds) runs a moment late, one blocked for longer is not run unasked.
const MaxFinalDelay = 2 * time.Minute

func isFinal(err error) bool {
	var f finalError
	return errors.As(err, &f)
}

// WillRetry reports whether the queue will handle the event being handled
// again after it returns err: err is retryable and retries are left. A
// handler says so in what it writes ("the bot tries again in a minute").
func WillRetry(ctx context.Context, err error) bool {
	e := runOf(ctx)
	return e != nil && e.retries < len(e.q.retryDelays) && retryable(err)
}

// RetryIn is the wait before the next try WillRetry promises.
func RetryIn(ctx context.Context) time.Duration {
	if e := runOf(ctx); e != nil && e.retries < len(e.q.retryDelays) {
		return e.q.retryDelays[e.retries]
	}
	return 0
}

func (e finalError) Unwrap() error   { return e.error }
func (e finalError) Retryable() bool { return false }

// queue is the server's event scheduler (a githubapp.Scheduler):
//   - judged at the door: a handler that is a Door says, from the payload
//     and what the server knows, whether a delivery needs work at all (if
//     not it is answered at once and never queued, however full the queue
//     is) and in which lane its work runs;
//   - bounded: at most `size` deliveries wait; beyond that a delivery gets
//     503 (githubapp.ErrCapacityExceeded, counted as dropped), is
//     remembered, and is fetched back from GitHub's delivery log as soon
//     as the queue has room (refusals); once half full, one installation
//     may not have more than a quarter of `size` waiting, so a flood from
//     one does not shut the others out;
//   - two lanes per installation: interactive work first; background work
//     only fills the gaps: it never holds the last of an installation's
//     `perInstallation` places, nor more than three quarters of the
//     workers, does not start while interactive work of its installation
//     waits, and steps aside between its steps (Yield);
//   - fair between installations: `workers` handlers run at once, at most
//     `perInstallation` of them for one installation, taken round-robin,
//     so one busy or rate-limited installation never holds them all;
//   - rate-limit aware: an installation GitHub asked to wait keeps its
//     events queued without a worker, and an event that failed on such a
//     limit is put back until it lifts (up to maxRequeues times);
//   - an event that failed on a transient error is handled again after
//     retryDelays (handlers are idempotent: every write find-or-create);
//   - each handler runs under a deadline, a panic becomes an error, and
//     every run is counted;
//   - Drain lets shutdown finish every accepted event.
type queue struct {
	size, workers, perInstallation int
	timeout                        time.Duration
	retryDelays                    []time.Duration
	ackHold                        time.Duration // acknowledgedHold (tests shorten it)
	clock                          Clock
	limits                         *limits
	metrics                        *Metrics
	onError                        githubapp.AsyncErrorCallback
	// refused remembers the deliveries refused for want of room;
	// fetchBack, once set (Server.Start), gets them back from GitHub,
	// run as background work under fetchCtx (the server's logger).
	refused   *refusals
	fetchBack func(context.Context) error
	fetchCtx  context.Context

	mu       sync.Mutex
	closed   bool // no new deliveries (draining or stopped)
	stopped  bool // nothing new starts
	fetching bool // a fetch-back is queued or running
	waiting  map[int64]*backlog
	order    []int64 // installations with waiting work, round-robin
	running  map[int64]*[2]int
	// runningAll counts runs holding a worker, runningLane per lane; a
	// yielded run waiting to continue holds none.
	runningAll  int
	runningLane [2]int
	waitingLane [2]int
	// queuedDeliveries and delayedDeliveries are the webhook deliveries
	// waiting for a worker, and put back for a rate limit or a retry: what
	// `size` bounds (work spun off with Later and yielded runs are not).
	queuedDeliveries, delayedDeliveries int
	delayed                             int
	inflight                            int // accepted and not finished
	idle                                chan struct{}
	stop                                chan struct{}
	draining                            chan struct{} // closed by Drain
	// killed ends every running handler's context (Kill).
	killed context.Context
	kill   context.CancelFunc
}

// backlog is one installation's waiting work, per lane, oldest first.
type backlog struct {
	lanes      [2][]*event
	deliveries int // counted deliveries among them
}

// event is one accepted delivery, or background work spun off one.
type event struct {
	q            *queue
	d            githubapp.Dispatch
	ctx          context.Context
	installation int64
	lane         Lane
	// first: queued ahead of the lane's other waiting work (Admission.First).
	first bool
	// delivery: a webhook delivery; false for work spun off with Later.
	delivery bool
	// counted: waiting, and counted against `size`.
	counted  bool
	arrived  time.Time
	requeues int // put back for a rate limit
	retries  int // put back after a transient error
	// resume is set while a run that stood aside waits to continue;
	// aside while it holds no place.
	resume chan struct{}
	aside  bool
}

func newQueue(size, workers, perInstallation int, timeout time.Duration, retryDelays []time.Duration, clock Clock, l *limits, m *Metrics, onError githubapp.AsyncErrorCallback) *queue {
	if perInstallation <= 0 || perInstallation > workers {
		perInstallation = workers
	}
	if retryDelays == nil {
		retryDelays = DefaultRetryDelays
	}
	q := &queue{size: size, workers: workers, perInstallation: perInstallation, timeout: timeout, retryDelays: retryDelays, ackHold: acknowledgedHold,
		clock: clock, limits: l, metrics: m, onError: onError, waiting: map[int64]*backlog{}, running: map[int64]*[2]int{},
		idle: make(chan struct{}), stop: make(chan struct{}), draining: make(chan struct{})}
	q.killed, q.kill = context.WithCancel(context.Background())
	close(q.idle)
	return q
}

// looksLikeObject reports whether a payload starts as a JSON object
// does; whether it is valid JSON is the door's to say (a Door decodes it
// anyway), or validObject's.
func looksLikeObject(payload []byte) bool {
	p := bytes.TrimSpace(payload)
	return len(p) > 0 && p[0] == '{'
}

// validObject reports whether a payload is a JSON object.
func validObject(payload []byte) bool {
	return looksLikeObject(payload) && json.Valid(payload)
}

// Schedule implements githubapp.Scheduler: it answers at once what needs
// no work, accepts the rest, or refuses it when full or shutting down.
// The caller may reuse d.Payload once Schedule returns: the queue keeps a
// copy of what it accepts.
func (q *queue) Schedule(ctx context.Context, d githubapp.Dispatch) error {
	adm := Admission{Lane: Interactive}
	if door, ok := d.Handler.(Door); ok && looksLikeObject(d.Payload) {
		adm = door.AtDoor(ctx, d.EventType, d.Payload)
	} else if !validObject(d.Payload) {
		return ErrInvalidPayload
	}
	if adm.Malformed {
		return ErrInvalidPayload
	}
	if adm.Skip {
		q.refused.accepted(d.DeliveryID)
		noteSkipped(ctx)
		return nil
	}
	inst := adm.Installation
	if inst == 0 {
		inst = installationOf(d.Payload)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrShuttingDown
	}
	full := q.queuedDeliveries+q.delayedDeliveries >= q.size
	if b := q.waiting[inst]; !full && b != nil && q.queuedDeliveries+q.delayedDeliveries >= q.size/2 && b.deliveries >= max(q.size/4, 1) {
		// Under pressure, one installation's backlog may not take the
		// room the others need: its further events are refused (and
		// fetched back later), the others' still get in.
		full = true
	}
	if full {
		q.refused.add(d.DeliveryID, q.clock.Now())
		return githubapp.ErrCapacityExceeded
	}
	// The handler outlives the HTTP request that delivered the event, and
	// the payload outlives the buffer the request was read into.
	q.refused.accepted(d.DeliveryID)
	d.Payload = bytes.Clone(d.Payload)
	e := &event{q: q, d: d, ctx: context.WithoutCancel(ctx), installation: inst, lane: adm.Lane, first: adm.First && adm.Lane == Interactive, delivery: true, arrived: time.Now()}
	q.accept()
	q.enqueue(e, atBack)
	q.dispatch()
	return nil
}

// accept counts one more piece of work in flight (lock held).
func (q *queue) accept() {
	if q.inflight == 0 {
		q.idle = make(chan struct{})
	}
	q.inflight++
}

// later spins off background work of parent's installation.
func (q *queue) later(parent *event, what string, fn func(context.Context) error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return ErrQueueStopped
	}
	e := &event{q: q, ctx: parent.ctx, installation: parent.installation, lane: Background, arrived: time.Now(),
		d: githubapp.Dispatch{Handler: laterHandler(fn), EventType: parent.d.EventType + "/" + what, DeliveryID: parent.d.DeliveryID}}
	q.accept()
	q.enqueue(e, atBack)
	q.dispatch()
	return nil
}

// again queues a delivery to be handled again (Again).
func (q *queue) again(parent *event) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.stopped {
		return false
	}
	e := &event{q: q, d: parent.d, ctx: parent.ctx, installation: parent.installation, lane: parent.lane, delivery: true, arrived: time.Now()}
	q.accept()
	q.enqueue(e, atBack)
	q.dispatch()
	return true
}

// laterHandler runs work spun off with Later.
type laterHandler func(context.Context) error

func (laterHandler) Handles() []string { return nil }
func (f laterHandler) Handle(ctx context.Context, _, _ string, _ []byte) error {
	return f(ctx)
}

// place is where waiting work goes in its lane.
type place int

const (
	atBack place = iota
	// atFront: a run that yielded keeps its turn.
	atFront
	// byArrival: behind the runs waiting to continue, the first work, and
	// the work that came before it (an acknowledged command).
	byArrival
)

// enqueue adds waiting work (lock held): at the back of its lane, at the
// front, or by arrival; first work goes behind the runs waiting to
// continue and the first work already waiting.
func (q *queue) enqueue(e *event, where place) {
	b := q.waiting[e.installation]
	if b == nil {
		b = &backlog{}
		q.waiting[e.installation] = b
		q.order = append(q.order, e.installation)
	}
	lane := &b.lanes[e.lane]
	ahead := func(x *event) bool { return x.resume != nil || x.first }
	switch {
	case where == atFront:
		*lane = append([]*event{e}, *lane...)
	case where == byArrival:
		i := 0
		for i < len(*lane) && (ahead((*lane)[i]) || !(*lane)[i].arrived.After(e.arrived)) {
			i++
		}
		*lane = slices.Insert(*lane, i, e)
	case e.first:
		i := 0
		for i < len(*lane) && ahead((*lane)[i]) {
			i++
		}
		*lane = slices.Insert(*lane, i, e)
	default:
		*lane = append(*lane, e)
	}
	if e.delivery && e.resume == nil {
		e.counted = true
		b.deliveries++
		q.queuedDeliveries++
	}
	q.waitingLane[e.lane]++
	q.busy(e)
	q.gauges()
}

// take removes waiting work from its installation's backlog (lock held).
func (q *queue) take(e *event) {
	b := q.waiting[e.installation]
	lane := &b.lanes[e.lane]
	for i, x := range *lane {
		if x == e {
			*lane = append((*lane)[:i:i], (*lane)[i+1:]...)
			break
		}
	}
	if e.counted {
		e.counted = false
		b.deliveries--
		q.queuedDeliveries--
	}
	q.waitingLane[e.lane]--
	if len(b.lanes[Interactive])+len(b.lanes[Background]) == 0 {
		delete(q.waiting, e.installation)
		for i, inst := range q.order {
			if inst == e.installation {
				q.order = append(q.order[:i:i], q.order[i+1:]...)
				break
			}
		}
	}
	q.busy(e)
}

// busy tells the write pacing how much interactive work of an event's
// installation is waiting or running (lock held): background writes wait
// for it.
func (q *queue) busy(e *event) {
	if e.lane != Interactive {
		return
	}
	n := 0
	if b := q.waiting[e.installation]; b != nil {
		n += len(b.lanes[Interactive])
	}
	if r := q.running[e.installation]; r != nil {
		n += r[Interactive]
	}
	q.limits.setBusy(e.installation, n)
}

// backgroundWorkers is how many workers background work may hold: never
// all of them.
func (q *queue) backgroundWorkers() int { return max(1, q.workers-max(1, q.workers/4)) }

// backgroundPlaces is how many of one installation's places background
// work may hold: never the last one.
func (q *queue) backgroundPlaces() int { return max(1, q.perInstallation-1) }

// next takes the next work a worker may run (lock held): interactive work
// first, round-robin over installations, skipping those at their cap or
// waiting for a rate limit; then background work within its bounds.
func (q *queue) next() *event {
	for _, lane := range []Lane{Interactive, Background} {
		if q.waitingLane[lane] == 0 {
			continue
		}
		for _, inst := range q.order {
			b := q.waiting[inst]
			if len(b.lanes[lane]) == 0 {
				continue
			}
			var r [2]int
			if p := q.running[inst]; p != nil {
				r = *p
			}
			if r[Interactive]+r[Background] >= q.perInstallation {
				continue
			}
			if lane == Background && (len(b.lanes[Interactive]) > 0 || r[Background] >= q.backgroundPlaces() || q.runningLane[Background] >= q.backgroundWorkers()) {
				continue
			}
			if until, _ := q.limits.blockedUntil(inst); !until.IsZero() {
				q.wakeAt(until)
				continue
			}
			e := b.lanes[lane][0]
			q.take(e)
			if q.waiting[inst] != nil {
				// The installation goes to the back of the round.
				for i, x := range q.order {
					if x == inst {
						q.order = append(append(q.order[:i:i], q.order[i+1:]...), inst)
						break
					}
				}
			}
			return e
		}
	}
	return nil
}

// dispatch starts waiting work while workers are free (lock held).
func (q *queue) dispatch() {
	q.maybeFetchBack()
	for !q.stopped && q.runningAll < q.workers {
		e := q.next()
		if e == nil {
			break
		}
		q.hold(e)
		if e.resume != nil {
			close(e.resume)
			e.resume = nil
			continue
		}
		go q.work(e)
	}
	q.gauges()
}

// maybeFetchBack queues a fetch-back of refused deliveries once the queue
// is at most half full (lock held).
func (q *queue) maybeFetchBack() {
	if q.fetchBack == nil || q.fetching || q.closed || q.queuedDeliveries+q.delayedDeliveries > q.size/2 || !q.refused.pending() {
		return
	}
	q.fetching = true
	fetch := q.fetchBack
	e := &event{q: q, ctx: q.fetchCtx, lane: Background, arrived: time.Now(),
		d: githubapp.Dispatch{EventType: "fetch-back", Handler: laterHandler(func(ctx context.Context) error {
			defer func() {
				q.mu.Lock()
				q.fetching = false
				q.mu.Unlock()
			}()
			if err := fetch(ctx); err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("Fetching back refused deliveries failed; the next room in the queue, or the sweep, tries again")
				return Final(err)
			}
			return nil
		})}}
	q.accept()
	q.enqueue(e, atBack)
}

// room is how many deliveries the queue can take now.
func (q *queue) room() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return max(0, q.size-q.queuedDeliveries-q.delayedDeliveries)
}

func (q *queue) gauges() {
	q.metrics.QueueDepth.Set(float64(q.waitingLane[Interactive] + q.waitingLane[Background]))
	q.metrics.QueueWaiting.WithLabelValues(Interactive.String()).Set(float64(q.waitingLane[Interactive]))
	q.metrics.QueueWaiting.WithLabelValues(Background.String()).Set(float64(q.waitingLane[Background]))
	q.metrics.QueueRunning.Set(float64(q.runningAll))
}

// hold and release account for a run holding a worker and a place of its
// installation (lock held).
func (q *queue) hold(e *event) {
	e.aside = false
	r := q.running[e.installation]
	if r == nil {
		r = &[2]int{}
		q.running[e.installation] = r
	}
	r[e.lane]++
	q.runningAll++
	q.runningLane[e.lane]++
	q.busy(e)
}

func (q *queue) release(e *event) {
	r := q.running[e.installation]
	r[e.lane]--
	if r[Interactive]+r[Background] == 0 {
		delete(q.running, e.installation)
	}
	q.runningAll--
	q.runningLane[e.lane]--
	q.busy(e)
}

// wakeAt dispatches again when a rate limit lifts (on the server's clock:
// the simulator's in tests).
func (q *queue) wakeAt(until time.Time) {
	go func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-q.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if q.clock.Sleep(ctx, until.Sub(q.clock.Now())) == nil {
			q.mu.Lock()
			q.dispatch()
			q.mu.Unlock()
		}
	}()
}

// work runs one event on its own goroutine, then accounts for it.
func (q *queue) work(e *event) {
	if e.retries == 0 && e.requeues == 0 {
		q.metrics.QueueWait.Observe(time.Since(e.arrived).Seconds())
	}
	start := time.Now()
	outcome, err := q.run(e)
	q.mu.Lock()
	q.release(e)
	requeued := err != nil && q.requeue(e, err)
	if requeued {
		outcome = "requeued"
	}
	q.metrics.HandlerRuns.WithLabelValues(e.d.EventType, outcome).Inc()
	q.metrics.HandlerDuration.WithLabelValues(e.d.EventType).Observe(time.Since(start).Seconds())
	if !requeued && err != nil && q.onError != nil && e.delivery {
		q.mu.Unlock()
		q.onError(e.ctx, e.d, err)
		q.mu.Lock()
	}
	if !requeued {
		q.finish()
	}
	q.dispatch()
	q.mu.Unlock()
}

// yield gives a background run's place to waiting interactive work and
// waits for its turn to continue.
func (q *queue) yield(ctx context.Context, e *event) error {
	q.mu.Lock()
	wait := !q.stopped && q.interactiveWaits(e.installation)
	q.mu.Unlock()
	if !wait {
		return ctx.Err()
	}
	q.metrics.Yields.Inc()
	q.standAside(e)
	return q.awaitTurn(ctx, e)
}

// standAside gives a run's place up: until awaitTurn it holds no worker
// and no place of its installation (it still counts as work in flight).
func (q *queue) standAside(e *event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.release(e)
	e.aside = true
	q.dispatch()
}

// holds reports whether a run holds its place (it has not stood aside).
func (q *queue) holds(e *event) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !e.aside
}

// awaitTurn queues a run that stood aside at the front of its lane and
// waits until it holds a place again, or at most backgroundHold: a
// background run may stand aside while it holds what the runs in its
// installation's places wait for (the evaluation lock of one head), and
// then neither may wait for the other forever; it goes on beside them.
func (q *queue) awaitTurn(ctx context.Context, e *event) error {
	return q.awaitTurnAt(ctx, e, atFront, backgroundHold)
}

// acknowledgedHold bounds, in wall time, how long an acknowledged command
// stands aside for the work that came before it: its handler's deadline
// runs meanwhile, and a person who has seen the 👀 waits for the answer.
// After it the command goes on, beside that work.
const acknowledgedHold = 10 * time.Second

// acknowledged ends a first run's precedence once its person has been
// answered (the 👀): for the rest of its run it takes its turn by arrival,
// behind the interactive work of its installation that came before it,
// which it stands aside for if any waits (at most acknowledgedHold). It
// reports whether the run stood aside.
func (q *queue) acknowledged(ctx context.Context, e *event) (bool, error) {
	q.mu.Lock()
	e.first = false
	wait := false
	if b := q.waiting[e.installation]; b != nil && !q.stopped {
		for _, x := range b.lanes[e.lane] {
			if x.resume == nil && !x.first && x.arrived.Before(e.arrived) {
				wait = true
				break
			}
		}
	}
	q.mu.Unlock()
	if !wait {
		return false, ctx.Err()
	}
	q.metrics.Yields.Inc()
	q.standAside(e)
	return true, q.awaitTurnAt(ctx, e, byArrival, q.ackHold)
}

// awaitTurnAt queues a run that stood aside and waits until it holds a
// place again, or, when hold is not zero, at most hold (then it goes on
// all the same).
func (q *queue) awaitTurnAt(ctx context.Context, e *event, where place, hold time.Duration) error {
	q.mu.Lock()
	turn := make(chan struct{})
	e.resume = turn
	q.enqueue(e, where)
	q.dispatch()
	q.mu.Unlock()
	var expired <-chan time.Time
	if hold > 0 {
		t := time.NewTimer(hold)
		defer t.Stop()
		expired = t.C
	}
	var err error
	select {
	case <-turn:
		return ctx.Err()
	case <-expired:
	case <-ctx.Done():
		err = ctx.Err()
	case <-q.stop:
		err = ErrQueueStopped
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.resume == turn {
		// Still waiting: the run goes on (to return the error, or because
		// it waited long enough) without its turn.
		q.take(e)
		e.resume = nil
		q.hold(e)
	}
	return err
}

// reclaim gives a run that stood aside its place back at once, to end
// with an error (its handler returns it).
func (q *queue) reclaim(e *event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.hold(e)
}

// interactiveWaits reports whether interactive work is waiting that a
// background run of installation inst stands in the way of (lock held).
func (q *queue) interactiveWaits(inst int64) bool {
	if b := q.waiting[inst]; b != nil && len(b.lanes[Interactive]) > 0 {
		if until, _ := q.limits.blockedUntil(inst); until.IsZero() {
			return true
		}
	}
	return q.runningAll >= q.workers && q.waitingLane[Interactive] > 0
}

// requeue puts an event back (lock held): one that failed on a rate
// limit until the limit lifts, one that failed on a transient error after
// the next of retryDelays. False when it fails for good.
func (q *queue) requeue(e *event, err error) bool {
	if q.closed {
		return false // shutting down: nothing new is started
	}
	log := zerolog.Ctx(e.ctx).Warn().Int64("installation", e.installation).
		Str("github_event_type", e.d.EventType).Str("github_delivery_id", e.d.DeliveryID)
	if e.requeues < maxRequeues && e.installation != 0 {
		if until, why := q.limits.blockedUntil(e.installation); !until.IsZero() && (!isFinal(err) || until.Sub(q.clock.Now()) <= MaxFinalDelay) {
			e.requeues++
			q.metrics.Requeued.WithLabelValues("rate_limited").Inc()
			log.Str("limit", why).Time("until", until).Msg("GitHub rate-limited the installation; the event waits in the queue")
			q.putBack(e, until)
			return true
		}
	}
	if e.retries < len(q.retryDelays) && retryable(err) {
		delay := q.retryDelays[e.retries]
		e.retries++
		q.metrics.Requeued.WithLabelValues("transient").Inc()
		log.Err(err).Int("retry", e.retries).Dur("in", delay).Msg("GitHub failed transiently; the event is handled again later")
		q.putBack(e, q.clock.Now().Add(delay))
		return true
	}
	return false
}

// putBack puts an event back in the queue at a time (lock held). Drain
// abandons it (a delay can outlast any shutdown grace): it is logged and
// counted, and the event is lost like any other unhandled one.
func (q *queue) putBack(e *event, at time.Time) {
	q.delayed++
	if e.delivery {
		q.delayedDeliveries++
	}
	q.metrics.QueueDelayed.Set(float64(q.delayed))
	go func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-q.stop:
				cancel()
			case <-q.draining:
				cancel()
			case <-ctx.Done():
			}
		}()
		slept := q.clock.Sleep(ctx, at.Sub(q.clock.Now()))
		q.mu.Lock()
		defer q.mu.Unlock()
		q.delayed--
		if e.delivery {
			q.delayedDeliveries--
		}
		q.metrics.QueueDelayed.Set(float64(q.delayed))
		if slept != nil || q.closed {
			zerolog.Ctx(e.ctx).Error().Str("github_event_type", e.d.EventType).Str("github_delivery_id", e.d.DeliveryID).
				Msg("Shutting down: an event waiting to be handled again is abandoned; redeliver it from the app's settings if it mattered")
			q.metrics.HandlerRuns.WithLabelValues(e.d.EventType, "abandoned").Inc()
			q.finish()
			return
		}
		q.enqueue(e, atBack)
		q.dispatch()
	}()
}

func (q *queue) finish() {
	q.inflight--
	if q.inflight == 0 {
		close(q.idle)
	}
}

// run handles one event under the handler deadline: its outcome (success,
// error, panic, timeout) and error.
func (q *queue) run(e *event) (outcome string, err error) {
	ctx, cancel := context.WithTimeout(context.WithValue(WithInstallation(e.ctx, e.installation), runKey{}, e), q.timeout)
	defer cancel()
	defer context.AfterFunc(q.killed, cancel)()
	start := time.Now()
	outcome = "success"
	defer func() {
		if r := recover(); r != nil {
			outcome = "panic"
			err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
		}
		if err != nil && outcome == "success" {
			outcome = "error"
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
				outcome = "timeout"
			}
		}
		zerolog.Ctx(ctx).Debug().Str("outcome", outcome).Str("lane", e.lane.String()).Dur("took", time.Since(start)).Msg("Handled webhook event")
	}()
	return outcome, e.d.Handler.Handle(ctx, e.d.EventType, e.d.DeliveryID, e.d.Payload)
}

// Idle returns a channel that is closed once no event is queued, delayed
// or being handled. Tests and the demo wait on it instead of sleeping.
func (q *queue) Idle() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.idle
}

// Drain stops accepting events and waits until every accepted one is
// handled, or ctx ends.
func (q *queue) Drain(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		close(q.draining)
	}
	q.closed = true
	idle := q.idle
	q.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue not drained: %w", ctx.Err())
	}
}

// Kill ends every running handler at once, as a dying process would: their
// GitHub calls are cancelled where they are (tests of interrupted work).
func (q *queue) Kill() {
	q.kill()
	q.Close()
}

// Close stops the queue (after Drain, or to abandon it): nothing new
// starts.
func (q *queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped {
		close(q.stop)
	}
	if !q.closed {
		close(q.draining)
	}
	q.stopped, q.closed = true, true
}
