package app

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

type installationKey struct{}

// WithInstallation records which installation an event belongs to, so the
// transport can apply that installation's rate limits and pacing.
func WithInstallation(ctx context.Context, id int64) context.Context {
	return context.WithValue(ctx, installationKey{}, id)
}

// InstallationFrom returns the installation an event belongs to (0: none).
func InstallationFrom(ctx context.Context) int64 {
	id, _ := ctx.Value(installationKey{}).(int64)
	return id
}

// installationOf reads installation.id from a webhook payload.
func installationOf(payload []byte) int64 {
	var p struct {
		Installation struct {
			ID int64 `json:"id"`
		} `json:"installation"`
	}
	_ = json.Unmarshal(payload, &p)
	return p.Installation.ID
}

// Write pacing, per installation (GitHub's integrator guidance: pause
// between requests that create content): short bursts go out at once,
// longer ones at one write a second. Interactive writes go first: a
// background write waits while interactive events of the installation
// wait in the queue or run, and never spends the last backgroundReserve
// writes of a burst, which stay for the interactive work that may come
// next.
const (
	writeBurst        = 10
	writeInterval     = time.Second
	backgroundReserve = 5
	// backgroundHold bounds, in wall time, how long one background write
	// stands aside for interactive work; a safety valve, not a schedule:
	// interactive work that waits for something the background run holds
	// (the evaluation lock of one head) must not wait forever.
	backgroundHold = 3 * time.Second
)

// limits is what the server knows about each installation's rate limits:
// until when GitHub asked it to stop (a secondary limit's Retry-After, an
// exhausted primary limit's reset), and its write pacing. Events of a
// blocked installation wait in the queue without holding a worker; other
// installations' work goes on.
type limits struct {
	clock   Clock
	metrics *Metrics

	mu      sync.Mutex
	blocked map[int64]block
	writes  map[int64]*bucket
}

type block struct {
	until time.Time
	why   string
}

// bucket is one installation's write pacing.
type bucket struct {
	tokens float64
	at     time.Time
	// busy are the installation's interactive events waiting in the
	// queue or running, waiting its interactive writes waiting for their
	// slot (outside the queue too); calm is closed when both are zero
	// (background writes wait for it).
	busy, waiting int
	calm          chan struct{}
}

func newLimits(clock Clock, m *Metrics) *limits {
	return &limits{clock: clock, metrics: m, blocked: map[int64]block{}, writes: map[int64]*bucket{}}
}

// block records that installation id must not call GitHub before until.
func (l *limits) block(id int64, until time.Time, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.blocked[id]; ok && b.until.After(until) {
		return
	}
	l.blocked[id] = block{until: until, why: why}
	l.metrics.RateLimited.WithLabelValues(why).Inc()
	l.metrics.Blocked.Set(float64(len(l.blocked)))
}

// blockedUntil says until when installation id must wait (zero: it need
// not).
func (l *limits) blockedUntil(id int64) (time.Time, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.blocked[id]
	if !ok {
		return time.Time{}, ""
	}
	if !b.until.After(l.clock.Now()) {
		delete(l.blocked, id)
		l.metrics.Blocked.Set(float64(len(l.blocked)))
		return time.Time{}, ""
	}
	return b.until, b.why
}

// bucket returns installation id's pacing, refilled to now (lock held).
func (l *limits) bucket(id int64) *bucket {
	now := l.clock.Now()
	b, ok := l.writes[id]
	if !ok {
		b = &bucket{tokens: writeBurst, at: now}
		l.writes[id] = b
	}
	if now.After(b.at) {
		b.tokens = min(writeBurst, b.tokens+now.Sub(b.at).Seconds()/writeInterval.Seconds())
		b.at = now
	}
	return b
}

// settle closes calm when no interactive work of the installation waits
// (lock held).
func (b *bucket) settle() {
	if b.busy == 0 && b.waiting == 0 && b.calm != nil {
		close(b.calm)
		b.calm = nil
	}
}

// setBusy records how many interactive events of installation id wait in
// the queue or run.
func (l *limits) setBusy(id int64, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(id)
	b.busy = n
	b.settle()
}

// paceWrite waits, if needed, for installation id's next write slot.
func (l *limits) paceWrite(ctx context.Context, id int64, lane Lane) error {
	if lane == Background {
		return l.paceBackground(ctx, id)
	}
	l.mu.Lock()
	b := l.bucket(id)
	b.tokens--
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens * float64(writeInterval))
		b.waiting++
	}
	l.mu.Unlock()
	if wait == 0 {
		return nil
	}
	l.metrics.PacedWrites.Inc()
	l.metrics.PacedWait.WithLabelValues(Interactive.String()).Add(wait.Seconds())
	err := l.clock.Sleep(ctx, wait)
	l.mu.Lock()
	b.waiting--
	b.settle()
	l.mu.Unlock()
	return err
}

// paceBackground waits until the installation's interactive work is
// calm (at most backgroundHold) and a write slot above the reserve is
// free. A run that has to wait gives its place in the queue up meanwhile
// (the interactive work it waits for may need it) and takes one again
// before it writes.
func (l *limits) paceBackground(ctx context.Context, id int64) error {
	e := runOf(ctx)
	waited := false
	start := time.Now()
	defer func() {
		if waited {
			l.metrics.PacedWait.WithLabelValues(Background.String()).Add(time.Since(start).Seconds())
		}
	}()
	standAside := func() {
		if !waited {
			waited = true
			l.metrics.PacedWrites.Inc()
		}
		if e != nil && e.q.holds(e) {
			e.q.standAside(e)
		}
	}
	until := time.Now().Add(backgroundHold)
	for {
		// Whether the run holds its place is asked before the lock: the
		// queue takes its own lock first, then this one.
		holding := e == nil || e.q.holds(e)
		l.mu.Lock()
		b := l.bucket(id)
		if (b.busy > 0 || b.waiting > 0) && time.Now().Before(until) {
			if b.calm == nil {
				b.calm = make(chan struct{})
			}
			calm := b.calm
			l.mu.Unlock()
			standAside()
			t := time.NewTimer(time.Until(until))
			select {
			case <-calm:
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return l.rejoin(e, ctx.Err())
			}
			t.Stop()
			continue
		}
		if b.tokens >= backgroundReserve+1 {
			if !holding {
				// Back in the queue for a place, then look again: time
				// passed, and others may have written.
				l.mu.Unlock()
				if err := e.q.awaitTurn(ctx, e); err != nil {
					return err
				}
				continue
			}
			b.tokens--
			l.mu.Unlock()
			return nil
		}
		wait := time.Duration((backgroundReserve + 1 - b.tokens) * float64(writeInterval))
		l.mu.Unlock()
		standAside()
		if err := l.clock.Sleep(ctx, wait); err != nil {
			return l.rejoin(e, err)
		}
	}
}

// rejoin takes a place in the queue again for a run that stood aside and
// ends with err (its handler returns it, and the queue accounts for a run
// that holds a place).
func (l *limits) rejoin(e *event, err error) error {
	if e != nil && !e.q.holds(e) {
		e.q.reclaim(e)
	}
	return err
}
