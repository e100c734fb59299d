package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
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

// RetryDelays are the waits before an event whose handler failed on a
// transient GitHub error (5xx, a timeout, a dropped connection) is
// handled again: GitHub does not redeliver a delivery the bot accepted,
// so the bot tries again by itself, three times over about a quarter of
// an hour, then gives up and logs it.
var RetryDelays = []time.Duration{time.Minute, 3 * time.Minute, 10 * time.Minute}

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

type attemptKey struct{}

// WillRetry reports whether the queue will handle the event being handled
// again after it returns err: err is retryable and retries are left. A
// handler says so in what it writes ("the bot tries again in a minute").
func WillRetry(ctx context.Context, err error) bool {
	n, ok := ctx.Value(attemptKey{}).(int)
	return ok && n < len(RetryDelays) && retryable(err)
}

// RetryIn is the wait before the next try WillRetry promises.
func RetryIn(ctx context.Context) time.Duration {
	n, _ := ctx.Value(attemptKey{}).(int)
	if n < len(RetryDelays) {
		return RetryDelays[n]
	}
	return 0
}

func (e finalError) Unwrap() error   { return e.error }
func (e finalError) Retryable() bool { return false }

// queue is the server's event scheduler (a githubapp.Scheduler):
//   - bounded: at most `size` events wait; beyond that a delivery gets 503
//     (githubapp.ErrCapacityExceeded, counted as dropped) and the
//     redelivery sweep brings it back; once half full, one installation
//     may not have more than a quarter of `size` waiting, so a flood from
//     one does not shut the others out;
//   - fair between installations: `workers` handlers run at once, at most
//     `perInstallation` of them for one installation, taken round-robin,
//     so one busy or rate-limited installation never holds them all;
//   - rate-limit aware: an installation GitHub asked to wait keeps its
//     events queued without a worker, and an event that failed on such a
//     limit is put back until it lifts (up to maxRequeues times);
//   - an event that failed on a transient error is handled again after
//     RetryDelays (handlers are idempotent: every write find-or-create);
//   - each handler runs under a deadline, a panic becomes an error, and
//     every run is counted;
//   - Drain lets shutdown finish every accepted event.
type queue struct {
	size, workers, perInstallation int
	timeout                        time.Duration
	clock                          Clock
	limits                         *limits
	metrics                        *Metrics
	onError                        githubapp.AsyncErrorCallback

	mu       sync.Mutex
	wake     *sync.Cond
	closed   bool
	waiting  map[int64][]*event // installation → its events, oldest first
	order    []int64            // installations with waiting events, round-robin
	running  map[int64]int
	queued   int // waiting for a worker
	delayed  int // put back for a rate limit
	inflight int // accepted and not finished
	idle     chan struct{}
	stop     chan struct{}
	draining chan struct{} // closed by Drain
	// killed ends every running handler's context (Kill).
	killed context.Context
	kill   context.CancelFunc
}

// event is one accepted delivery.
type event struct {
	d            githubapp.Dispatch
	ctx          context.Context
	installation int64
	arrived      time.Time
	requeues     int // put back for a rate limit
	retries      int // put back after a transient error
}

func newQueue(size, workers, perInstallation int, timeout time.Duration, clock Clock, l *limits, m *Metrics, onError githubapp.AsyncErrorCallback) *queue {
	if perInstallation <= 0 || perInstallation > workers {
		perInstallation = workers
	}
	q := &queue{size: size, workers: workers, perInstallation: perInstallation, timeout: timeout, clock: clock, limits: l,
		metrics: m, onError: onError, waiting: map[int64][]*event{}, running: map[int64]int{},
		idle: make(chan struct{}), stop: make(chan struct{}), draining: make(chan struct{})}
	q.killed, q.kill = context.WithCancel(context.Background())
	close(q.idle)
	q.wake = sync.NewCond(&q.mu)
	for i := 0; i < workers; i++ {
		go q.work()
	}
	return q
}

// Schedule implements githubapp.Scheduler: it accepts the event, or
// refuses it when full or shutting down.
func (q *queue) Schedule(ctx context.Context, d githubapp.Dispatch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrShuttingDown
	}
	if !json.Valid(d.Payload) || len(bytes.TrimSpace(d.Payload)) == 0 || bytes.TrimSpace(d.Payload)[0] != '{' {
		return ErrInvalidPayload
	}
	if q.queued+q.delayed >= q.size {
		return githubapp.ErrCapacityExceeded
	}
	inst := installationOf(d.Payload)
	if q.queued+q.delayed >= q.size/2 && len(q.waiting[inst]) >= max(q.size/4, 1) {
		// Under pressure, one installation's backlog may not take the
		// room the others need: its further events are refused (and the
		// sweep brings them back), the others' still get in.
		return githubapp.ErrCapacityExceeded
	}
	// The handler outlives the HTTP request that delivered the event.
	e := &event{d: d, ctx: context.WithoutCancel(ctx), installation: inst, arrived: time.Now()}
	if q.inflight == 0 {
		q.idle = make(chan struct{})
	}
	q.inflight++
	q.enqueue(e)
	return nil
}

// enqueue adds a waiting event (lock held).
func (q *queue) enqueue(e *event) {
	if len(q.waiting[e.installation]) == 0 {
		q.order = append(q.order, e.installation)
	}
	q.waiting[e.installation] = append(q.waiting[e.installation], e)
	q.queued++
	q.metrics.QueueDepth.Set(float64(q.queued))
	q.wake.Signal()
}

// next takes the next event a worker may run (lock held): round-robin over
// installations, skipping those at their cap or waiting for a rate limit.
func (q *queue) next() *event {
	for i, inst := range q.order {
		if q.running[inst] >= q.perInstallation {
			continue
		}
		if q.limits != nil {
			if until, _ := q.limits.blockedUntil(inst); !until.IsZero() {
				q.wakeAt(until)
				continue
			}
		}
		list := q.waiting[inst]
		e := list[0]
		if len(list) == 1 {
			delete(q.waiting, inst)
			q.order = append(q.order[:i:i], q.order[i+1:]...)
		} else {
			q.waiting[inst] = list[1:]
			// The installation goes to the back of the round.
			q.order = append(append(q.order[:i:i], q.order[i+1:]...), inst)
		}
		q.queued--
		q.metrics.QueueDepth.Set(float64(q.queued))
		return e
	}
	return nil
}

// wakeAt wakes the workers when a rate limit lifts (on the server's clock:
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
			q.wake.Broadcast()
			q.mu.Unlock()
		}
	}()
}

func (q *queue) work() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		e := q.next()
		for e == nil {
			if q.closed && q.inflight == 0 {
				return
			}
			q.wake.Wait()
			select {
			case <-q.stop:
				return
			default:
			}
			e = q.next()
		}
		q.running[e.installation]++
		q.metrics.QueueRunning.Inc()
		q.mu.Unlock()
		q.metrics.QueueWait.Observe(time.Since(e.arrived).Seconds())
		start := time.Now()
		outcome, err := q.run(e)
		q.mu.Lock()
		q.running[e.installation]--
		if q.running[e.installation] == 0 {
			delete(q.running, e.installation)
		}
		q.metrics.QueueRunning.Dec()
		requeued := err != nil && q.requeue(e, err)
		if requeued {
			outcome = "requeued"
		}
		q.metrics.HandlerRuns.WithLabelValues(e.d.EventType, outcome).Inc()
		q.metrics.HandlerDuration.WithLabelValues(e.d.EventType).Observe(time.Since(start).Seconds())
		if requeued {
			continue
		}
		if err != nil && q.onError != nil {
			q.mu.Unlock()
			q.onError(e.ctx, e.d, err)
			q.mu.Lock()
		}
		q.finish()
	}
}

// requeue puts an event back (lock held): one that failed on a rate
// limit until the limit lifts, one that failed on a transient error after
// the next of RetryDelays. False when it fails for good.
func (q *queue) requeue(e *event, err error) bool {
	if q.closed {
		return false // shutting down: nothing new is started
	}
	log := zerolog.Ctx(e.ctx).Warn().Int64("installation", e.installation).
		Str("github_event_type", e.d.EventType).Str("github_delivery_id", e.d.DeliveryID)
	if q.limits != nil && e.requeues < maxRequeues && e.installation != 0 {
		if until, why := q.limits.blockedUntil(e.installation); !until.IsZero() && (!isFinal(err) || until.Sub(q.clock.Now()) <= MaxFinalDelay) {
			e.requeues++
			q.metrics.Requeued.WithLabelValues("rate_limited").Inc()
			log.Str("limit", why).Time("until", until).Msg("GitHub rate-limited the installation; the event waits in the queue")
			q.later(e, until)
			return true
		}
	}
	if e.retries < len(RetryDelays) && retryable(err) {
		delay := RetryDelays[e.retries]
		e.retries++
		q.metrics.Requeued.WithLabelValues("transient").Inc()
		log.Err(err).Int("retry", e.retries).Dur("in", delay).Msg("GitHub failed transiently; the event is handled again later")
		q.later(e, q.clock.Now().Add(delay))
		return true
	}
	return false
}

// later puts an event back in the queue at a time (lock held). Drain
// abandons it (a delay can outlast any shutdown grace): it is logged and
// counted, and the event is lost like any other unhandled one.
func (q *queue) later(e *event, at time.Time) {
	q.delayed++
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
		q.metrics.QueueDelayed.Set(float64(q.delayed))
		if slept != nil || q.closed {
			zerolog.Ctx(e.ctx).Error().Str("github_event_type", e.d.EventType).Str("github_delivery_id", e.d.DeliveryID).
				Msg("Shutting down: an event waiting to be handled again is abandoned; redeliver it from the app's settings if it mattered")
			q.metrics.HandlerRuns.WithLabelValues(e.d.EventType, "abandoned").Inc()
			q.finish()
			return
		}
		q.enqueue(e)
	}()
}

func (q *queue) finish() {
	q.inflight--
	if q.inflight == 0 {
		close(q.idle)
		q.wake.Broadcast()
	}
}

// run handles one event under the handler deadline: its outcome (success,
// error, panic, timeout) and error.
func (q *queue) run(e *event) (outcome string, err error) {
	ctx, cancel := context.WithTimeout(context.WithValue(WithInstallation(e.ctx, e.installation), attemptKey{}, e.retries), q.timeout)
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
		zerolog.Ctx(ctx).Debug().Str("outcome", outcome).Dur("took", time.Since(start)).Msg("Handled webhook event")
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
	q.wake.Broadcast()
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

// Close stops the workers (after Drain, or to abandon the queue).
func (q *queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case <-q.stop:
	default:
		close(q.stop)
	}
	q.closed = true
	q.wake.Broadcast()
}
