package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// GitHub never redelivers a webhook whose delivery failed (the bot down,
// a 503 from a full queue or a shutdown). The sweep does: at start-up and
// every redelivery.interval, it lists the app's recent deliveries
// (GET /app/hook/deliveries, newest first, cursor pages) back to
// redelivery.max_age, and asks GitHub to redeliver (POST
// /app/hook/deliveries/{id}/attempts) each event the bot handles whose
// every attempt failed, at most redelivery.max per sweep.
//
// Across replicas: a GUID with any redelivery attempt on record is left
// alone unless that attempt failed and is older than one interval, and
// sweeps start at a random offset, so replicas rarely ask twice; when they
// do, the handlers' idempotence makes the second delivery change nothing.
// At most maxRedeliveries attempts are made per GUID.

// sweptEvents are the events the bot handles; deliveries of others are
// never redelivered.
var sweptEvents = map[string]bool{"push": true, "pull_request": true, "issue_comment": true, "deployment_status": true, "check_run": true, "check_suite": true,
	"deployment_protection_rule": true}

// sweptActions narrow the events most of whose deliveries the bot answers
// at the door to the actions it acts on: after an outage, GitHub's
// check_suite requested and completed (one for every push) would
// otherwise take the sweep's room from the pushes and commands that
// failed. A delivery whose action GitHub does not say is swept.
var sweptActions = map[string]map[string]bool{
	"check_suite": {"rerequested": true},
	"check_run":   {"rerequested": true, "completed": true},
}

// swept reports whether a failed delivery of event and action is
// redelivered.
func swept(event, action string) bool {
	if !sweptEvents[event] {
		return false
	}
	actions, narrowed := sweptActions[event]
	return !narrowed || action == "" || actions[action]
}

const (
	// sweepPages bounds one sweep's listing (100 deliveries a page).
	sweepPages = 20
	// maxRedeliveries bounds the redeliveries asked for one GUID.
	maxRedeliveries = 3
)

// SweepResult is what one sweep found and did.
type SweepResult struct {
	Listed      int
	Failed      int // GUIDs whose every attempt failed, of swept events
	Redelivered int
	Skipped     int // failed but redelivered recently, or too often, or over the bound
}

// SweepRedeliveries runs one sweep now.
func (s *Server) SweepRedeliveries(ctx context.Context) (SweepResult, error) {
	return sweep(ctx, s.cc, s.clock, s.cfg.Redelivery, s.metrics)
}

// redeliveryLoop sweeps at start-up (after a random part of a tenth of
// the interval) and every interval, until ctx ends.
func (s *Server) redeliveryLoop(ctx context.Context) {
	interval := time.Duration(s.cfg.Redelivery.Interval)
	if interval <= 0 {
		return
	}
	logger := zerolog.Ctx(ctx)
	wait := time.Duration(rand.Int64N(int64(interval/10) + 1))
	for {
		if s.clock.Sleep(ctx, wait) != nil {
			return
		}
		if ok, _ := s.Ready(); ok {
			res, err := s.SweepRedeliveries(ctx)
			if err != nil {
				logger.Warn().Err(err).Msg("Redelivery sweep failed; the next one retries")
			} else if res.Failed > 0 {
				logger.Info().Int("listed", res.Listed).Int("failed", res.Failed).Int("redelivered", res.Redelivered).
					Int("skipped", res.Skipped).Msg("Redelivery sweep")
			}
		}
		wait = interval
	}
}

type guidState struct {
	event        string
	latest       *github.HookDelivery // newest attempt
	succeeded    bool
	redeliveries int
	lastRedelive time.Time
}

func sweep(ctx context.Context, cc githubapp.ClientCreator, clock Clock, cfg RedeliveryConfig, m *Metrics) (SweepResult, error) {
	var res SweepResult
	client, err := cc.NewAppClient()
	if err != nil {
		return res, err
	}
	now := clock.Now()
	oldest := now.Add(-time.Duration(cfg.MaxAge))
	guids := map[string]*guidState{}
	opts := &github.ListCursorOptions{PerPage: 100}
	for page := 0; page < sweepPages; page++ {
		list, resp, err := client.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return res, fmt.Errorf("list webhook deliveries: %w", err)
		}
		done := false
		for _, d := range list {
			at := d.GetDeliveredAt().Time
			if at.Before(oldest) {
				done = true
				break
			}
			res.Listed++
			g := guids[d.GetGUID()]
			if g == nil {
				g = &guidState{event: d.GetEvent(), latest: d}
				guids[d.GetGUID()] = g
			}
			if code := d.GetStatusCode(); code >= 200 && code < 400 {
				g.succeeded = true
			}
			if d.GetRedelivery() {
				g.redeliveries++
				if at.After(g.lastRedelive) {
					g.lastRedelive = at
				}
			}
		}
		if done || resp == nil || resp.Cursor == "" {
			break
		}
		opts.Cursor = resp.Cursor
	}
	var failed []*guidState
	for _, g := range guids {
		if !g.succeeded && swept(g.event, g.latest.GetAction()) {
			failed = append(failed, g)
		}
	}
	// Oldest first: events are handled in the order they happened.
	sort.Slice(failed, func(i, j int) bool { return failed[i].latest.GetID() < failed[j].latest.GetID() })
	res.Failed = len(failed)
	for _, g := range failed {
		recent := g.redeliveries > 0 && now.Sub(g.lastRedelive) < time.Duration(cfg.Interval)
		if recent || g.redeliveries >= maxRedeliveries || res.Redelivered >= cfg.Max {
			res.Skipped++
			continue
		}
		_, _, err := client.Apps.RedeliverHookDelivery(ctx, g.latest.GetID())
		var accepted *github.AcceptedError
		if errors.As(err, &accepted) {
			err = nil // 202: GitHub will redeliver
		}
		if err != nil {
			m.Redelivered.WithLabelValues("failed").Inc()
			zerolog.Ctx(ctx).Warn().Err(err).Str("github_delivery_id", g.latest.GetGUID()).Msg("Redelivery request refused")
			continue
		}
		res.Redelivered++
		m.Redelivered.WithLabelValues("requested").Inc()
		zerolog.Ctx(ctx).Info().Str("github_delivery_id", g.latest.GetGUID()).Str("github_event_type", g.event).
			Msg("Asked GitHub to redeliver a failed webhook delivery")
	}
	return res, nil
}

// A delivery refused with 503 because the queue was full is not sent
// again by GitHub. The replica that refused it knows which one it was:
// it remembers the GUID and, as soon as its queue is at most half full,
// fetches it back, asking GitHub to redeliver it (oldest first, no more
// than the room there is), instead of leaving it to the next sweep. The
// fetch-back is work in the queue itself (it counts as work in flight),
// so a drained queue has fetched back what it refused.

const (
	// maxRefusals bounds the refusals remembered; beyond it the sweep
	// brings them back.
	maxRefusals = 10000
	// maxFetchBacks bounds how often one delivery is fetched back (it
	// may be refused again).
	maxFetchBacks = 3
	// maxLooks bounds how often a refused delivery is looked for in a
	// delivery log that has caught up with it, without finding it.
	maxLooks = 3
	// fetchBackRounds bounds the looks of one fetch-back, and
	// fetchBackPause is the pause between them (GitHub records a delivery
	// after the answer).
	fetchBackRounds = 5
	fetchBackPause  = 2 * time.Second
	// fetchBackForget is when a fetched-back delivery that never arrived
	// is forgotten (the sweep still sees it).
	fetchBackForget = 10 * time.Minute
)

// refusals are the deliveries this replica refused for want of room.
type refusals struct {
	metrics *Metrics

	mu    sync.Mutex
	guids map[string]*refusal
}

type refusal struct {
	at      time.Time // last refused
	askedAt time.Time // last fetched back
	asked   int
	looks   int
}

func newRefusals(m *Metrics) *refusals { return &refusals{metrics: m, guids: map[string]*refusal{}} }

// add records a refused delivery.
func (r *refusals) add(guid string, at time.Time) {
	if r == nil || guid == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics.Refused.WithLabelValues("refused").Inc()
	f := r.guids[guid]
	if f == nil {
		if len(r.guids) >= maxRefusals {
			r.metrics.Refused.WithLabelValues("left_to_sweep").Inc()
			return
		}
		f = &refusal{}
		r.guids[guid] = f
	}
	f.at, f.looks = at, 0
	if f.asked >= maxFetchBacks {
		delete(r.guids, guid)
		r.metrics.Refused.WithLabelValues("left_to_sweep").Inc()
	}
}

// accepted forgets a delivery that got in at last.
func (r *refusals) accepted(guid string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.guids, guid)
}

// due lists, oldest refusal first, at most n deliveries to fetch back now
// (refused since they were last fetched back); it forgets those fetched
// back long ago that never arrived.
func (r *refusals) due(now time.Time, n int) []string {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	type entry struct {
		guid string
		at   time.Time
	}
	var list []entry
	for guid, f := range r.guids {
		if f.askedAt.After(f.at) {
			if now.Sub(f.askedAt) > fetchBackForget {
				delete(r.guids, guid)
			}
			continue
		}
		list = append(list, entry{guid, f.at})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].at.Before(list[j].at) })
	var out []string
	for _, e := range list[:min(n, len(list))] {
		out = append(out, e.guid)
	}
	return out
}

// pending reports whether some delivery waits to be fetched back.
func (r *refusals) pending() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.guids {
		if !f.askedAt.After(f.at) {
			return true
		}
	}
	return false
}

// asked records that a delivery was fetched back.
func (r *refusals) asked(guid string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.guids[guid]; f != nil {
		f.asked++
		f.askedAt = at
	}
	r.metrics.Refused.WithLabelValues("fetched_back").Inc()
}

func (r *refusals) forget(guid, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.guids, guid)
	r.metrics.Refused.WithLabelValues(why).Inc()
}

// missing counts a look at a log that has caught up with the refusal and
// does not show the delivery; after maxLooks it is left to the sweep.
func (r *refusals) missing(guid string) {
	r.mu.Lock()
	f := r.guids[guid]
	gone := f != nil && f.looks+1 >= maxLooks
	if f != nil {
		f.looks++
	}
	r.mu.Unlock()
	if gone {
		r.forget(guid, "left_to_sweep")
	}
}

func (r *refusals) refusedAt(guid string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.guids[guid]; f != nil {
		return f.at
	}
	return time.Time{}
}

// fetchBack asks GitHub to redeliver the deliveries this replica refused,
// as many as its queue has room for, looking again after a pause for
// those GitHub has not recorded yet.
func (s *Server) fetchBack(ctx context.Context) error {
	logger := zerolog.Ctx(ctx)
	for round := 0; round < fetchBackRounds; round++ {
		guids := s.refused.due(s.clock.Now(), s.queue.room())
		if len(guids) == 0 {
			return nil
		}
		found, err := s.fetchBackOnce(ctx, guids)
		if err != nil {
			return err
		}
		logger.Info().Int("refused", len(guids)).Int("fetched_back", found).Msg("Asked GitHub to redeliver deliveries refused while the queue was full")
		if found == len(guids) || s.clock.Sleep(ctx, fetchBackPause) != nil {
			return nil
		}
	}
	return nil
}

// fetchBackOnce reads GitHub's delivery log back to the oldest of the
// refusals and asks for each one found to be redelivered; it returns how
// many it found.
func (s *Server) fetchBackOnce(ctx context.Context, guids []string) (int, error) {
	client, err := s.cc.NewAppClient()
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	oldest := time.Time{}
	for _, g := range guids {
		want[g] = true
		if at := s.refused.refusedAt(g); oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	type seen struct {
		latest    *github.HookDelivery
		succeeded bool
	}
	log := map[string]*seen{}
	var newest time.Time
	opts := &github.ListCursorOptions{PerPage: 100}
	for page := 0; page < sweepPages && len(want) > 0; page++ {
		list, resp, err := client.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return 0, fmt.Errorf("list webhook deliveries: %w", err)
		}
		past := false
		for _, d := range list {
			at := d.GetDeliveredAt().Time
			if at.After(newest) {
				newest = at
			}
			if at.Before(oldest.Add(-time.Minute)) {
				past = true
				break
			}
			g := log[d.GetGUID()]
			if g == nil {
				g = &seen{latest: d}
				log[d.GetGUID()] = g
			}
			if code := d.GetStatusCode(); code >= 200 && code < 400 {
				g.succeeded = true
			}
		}
		if past || resp == nil || resp.Cursor == "" {
			break
		}
		opts.Cursor = resp.Cursor
	}
	found := 0
	for _, guid := range guids {
		g := log[guid]
		switch {
		case g == nil:
			if newest.After(s.refused.refusedAt(guid)) {
				s.refused.missing(guid) // the log has caught up and does not show it
			}
		case g.succeeded:
			found++
			s.refused.forget(guid, "handled_elsewhere")
		default:
			found++
			_, _, err := client.Apps.RedeliverHookDelivery(ctx, g.latest.GetID())
			var accepted *github.AcceptedError
			if errors.As(err, &accepted) {
				err = nil // 202: GitHub will redeliver
			}
			if err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Str("github_delivery_id", guid).Msg("Could not fetch back a refused delivery; the sweep will")
				s.refused.forget(guid, "left_to_sweep")
				continue
			}
			s.refused.asked(guid, s.clock.Now())
		}
	}
	return found, nil
}
