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
// longer ones at one write a second.
const (
	writeBurst    = 10
	writeInterval = time.Second
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

type bucket struct {
	tokens float64
	at     time.Time
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

// paceWrite waits, if needed, for installation id's next write slot.
func (l *limits) paceWrite(ctx context.Context, id int64) error {
	l.mu.Lock()
	now := l.clock.Now()
	b, ok := l.writes[id]
	if !ok {
		b = &bucket{tokens: writeBurst, at: now}
		l.writes[id] = b
	}
	b.tokens = min(writeBurst, b.tokens+now.Sub(b.at).Seconds()/writeInterval.Seconds())
	b.at = now
	b.tokens--
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens * float64(writeInterval))
	}
	l.mu.Unlock()
	if wait == 0 {
		return nil
	}
	l.metrics.PacedWrites.Inc()
	return l.clock.Sleep(ctx, wait)
}
