package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
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
var sweptEvents = map[string]bool{"push": true, "pull_request": true, "issue_comment": true, "deployment_status": true, "check_run": true,
	"deployment_protection_rule": true}

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
		if !g.succeeded && sweptEvents[g.event] {
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
