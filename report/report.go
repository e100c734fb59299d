// Package report computes the numbers a team's hotfixes are judged by:
// hotfixes shipped, lead time, time to approval, change failure rate,
// failed deployment recovery time and propagation time, per month and
// overall, from plain facts read from GitHub (production's deployments
// and their statuses, the bot's tags, pull requests and incident issues).
// It also renders them: text for the CLI, SVG for the page.
//
// It is pure: facts in, a report out. It must not import facts, handlers,
// app or anything else that performs I/O; whoever reads GitHub fills
// Facts, and says in Reads and Missing what the reading left out.
package report

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Deployment is one deployment to production, as GitHub records it.
type Deployment struct {
	ID  int64
	SHA string
	// Tag is the newest release tag on SHA, "" when it is untagged.
	Tag       string
	CreatedAt time.Time
	// Statuses are its statuses, oldest first.
	Statuses []policy.DeploymentStatus
	// Bot is the payload when the bot created it; nil for other
	// systems' (a release pipeline's).
	Bot *policy.DeploymentPayload
}

// Name is the tag, or the short sha.
func (d Deployment) Name() string {
	if d.Tag != "" {
		return d.Tag
	}
	return policy.Short(d.SHA)
}

// PullRequest is a hotfix pull request the bot promoted.
type PullRequest struct {
	Number    int
	Title     string
	URL       string
	CreatedAt time.Time
	// FirstCommitAt is the earliest author date of the commits the hotfix
	// brought over what production ran; zero when unknown.
	FirstCommitAt time.Time
	// ApprovedAt is when the last approval label that counted was added
	// before the hotfix was deployed; zero when none was (an emergency
	// promotion) or it is unknown.
	ApprovedAt time.Time
}

// SyncPull is a sync-back pull request of a release tag.
type SyncPull struct {
	Number    int
	URL       string
	Tag       string
	Target    string
	CreatedAt time.Time
	// MergedAt is zero unless it was merged; Open says it is still open.
	MergedAt time.Time
	Open     bool
}

// Incident is an incident issue the bot opened after a rollback.
type Incident struct {
	Number    int       `json:"number"`
	Title     string    `json:"title"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
}

// Read says what one listing read, and whether it read everything the
// window needs.
type Read struct {
	What     string `json:"what"`
	Complete bool   `json:"complete"`
}

// Facts is everything a report is computed from.
type Facts struct {
	Repo        string
	Environment string
	// Since and Now bound the window.
	Since, Now time.Time
	// Deployments are production's deployments in the window, and some
	// before it (they say what a rollback in the window went back to).
	Deployments []Deployment
	// Pulls are the hotfix pull requests, by number.
	Pulls map[int]PullRequest
	// TaggedAt is when each release tag was made (annotated tags).
	TaggedAt  map[string]time.Time
	Syncs     []SyncPull
	Incidents []Incident
	Reads     []Read
	// Missing lists facts that could not be read, each saying what it
	// leaves out.
	Missing []string
}

// Duration is a span of time; JSON has it in whole seconds.
type Duration time.Duration

// MarshalJSON writes whole seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(int64(time.Duration(d) / time.Second))
}

// String is short and human: 45s, 47m, 3h 5m, 2d 4h.
func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t < time.Minute:
		return fmt.Sprintf("%ds", int64(t/time.Second))
	case t < time.Hour:
		return fmt.Sprintf("%dm", int64(t/time.Minute))
	case t < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int64(t/time.Hour), int64(t%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd %dh", int64(t/(24*time.Hour)), int64(t%(24*time.Hour)/time.Hour))
}

// Stats summarises durations.
type Stats struct {
	N      int      `json:"n"`
	Median Duration `json:"median_seconds"`
	P90    Duration `json:"p90_seconds"`
	Max    Duration `json:"max_seconds"`
}

// String is "median 3h 5m (90%: 9h 2m, n=4)", or "—".
func (s Stats) String() string {
	if s.N == 0 {
		return "—"
	}
	if s.N == 1 {
		return s.Median.String()
	}
	return fmt.Sprintf("%s (90%%: %s, n=%d)", s.Median, s.P90, s.N)
}

func stats(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration { // nearest rank
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	median := s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{N: len(s), Median: Duration(median), P90: Duration(rank(0.9)), Max: Duration(s[len(s)-1])}
}

// Period is one month's numbers, or the window's.
type Period struct {
	// Month is "2026-11" (UTC), "" for the whole window.
	Month string `json:"month,omitempty"`
	// Hotfixes shipped: the bot's hotfixes that reached production.
	Hotfixes int `json:"hotfixes_shipped"`
	// Deployments are production deployments with an outcome, rollbacks
	// aside; Failed those that failed or were rolled back.
	Deployments       int      `json:"deployments"`
	Failed            int      `json:"failed"`
	ChangeFailureRate *float64 `json:"change_failure_rate"`
	LeadTime          Stats    `json:"lead_time"`
	TimeToApproval    Stats    `json:"time_to_approval"`
	Recovery          Stats    `json:"recovery_time"`
	Propagation       Stats    `json:"propagation_time"`
	Incidents         int      `json:"incidents"`

	lead, approval, recovery, propagation []time.Duration
}

// CFR renders the change failure rate: "25% (1 of 4)".
func (p Period) CFR() string {
	if p.ChangeFailureRate == nil {
		return "—"
	}
	return fmt.Sprintf("%.0f%% (%d of %d)", *p.ChangeFailureRate*100, p.Failed, p.Deployments)
}

// Target is where a released hotfix must be synced back.
type Target struct {
	Branch string `json:"branch"`
	PR     int    `json:"pr"`
	URL    string `json:"url"`
	// State: merged, open, closed (without merging); Via names the later
	// release whose merged sync-back brought the fix, when not its own.
	State    string    `json:"state"`
	MergedAt time.Time `json:"merged_at,omitzero"`
	Via      string    `json:"via,omitempty"`
}

// Hotfix is one hotfix the bot promoted to production.
type Hotfix struct {
	PR    int    `json:"pr"`
	Title string `json:"title"`
	URL   string `json:"url"`
	Tag   string `json:"tag,omitempty"`
	// Outcome: shipped, rolled back, failed, in flight.
	Outcome      string    `json:"outcome"`
	Deployment   int64     `json:"deployment"`
	DeployedAt   time.Time `json:"deployed_at,omitzero"`
	TaggedAt     time.Time `json:"tagged_at,omitzero"`
	Emergency    bool      `json:"emergency,omitempty"`
	LeadTime     *Duration `json:"lead_time_seconds,omitempty"`
	Approval     *Duration `json:"time_to_approval_seconds,omitempty"`
	Targets      []Target  `json:"sync_targets"`
	Propagated   bool      `json:"propagated"`
	PropagatedIn *Duration `json:"propagation_seconds,omitempty"`
}

// Pending lists the targets a hotfix has not reached yet.
func (h Hotfix) Pending() []Target {
	var out []Target
	for _, t := range h.Targets {
		if t.State != "merged" {
			out = append(out, t)
		}
	}
	return out
}

// Failure is a production deployment that failed or was rolled back,
// and how production recovered.
type Failure struct {
	Deployment int64  `json:"deployment"`
	Name       string `json:"name"`
	// Kind: failed, failed after success, rolled back.
	Kind string `json:"kind"`
	// At is when the failure began: the failure status, or, for a
	// release rolled back, when it reached production.
	At time.Time `json:"at"`
	// RecoveredAt is the next successful production deployment (a
	// rollback, or a fix), by RecoveredBy; zero while not recovered.
	RecoveredAt time.Time `json:"recovered_at,omitzero"`
	RecoveredBy int64     `json:"recovered_by,omitempty"`
	Recovery    *Duration `json:"recovery_seconds,omitempty"`
}

// Event is one production deployment on the timeline.
type Event struct {
	At         time.Time `json:"at"`
	Deployment int64     `json:"deployment"`
	Name       string    `json:"name"`
	// Kind: success, failure, rollback (a rollback's success).
	Kind string `json:"kind"`
}

// Report is the numbers of one repository over a window.
type Report struct {
	Repo        string     `json:"repository"`
	Environment string     `json:"environment"`
	Since       time.Time  `json:"since"`
	Until       time.Time  `json:"until"`
	Months      []Period   `json:"months"`
	Overall     Period     `json:"overall"`
	Hotfixes    []Hotfix   `json:"hotfixes"`
	Failures    []Failure  `json:"failures"`
	Timeline    []Event    `json:"timeline"`
	Incidents   []Incident `json:"incidents"`
	Reads       []Read     `json:"reads"`
	// Incomplete says what the report leaves out: listings cut short by
	// the bot's bounds, facts GitHub would not give. Empty: complete.
	Incomplete []string `json:"incomplete"`
	// Missing are the facts GitHub would not give (a report with some
	// is worth reading again soon; one cut short by a bound is not).
	Missing []string `json:"missing"`
}

// Complete reports whether nothing was left out.
func (r Report) Complete() bool { return len(r.Incomplete) == 0 }

// run is what a deployment did, from its statuses.
type run struct {
	succeededAt time.Time // first success
	failedAt    time.Time // first failure or error (after the success, if any)
	final       string    // newest of success, failure, error; "" in flight
}

func outcome(d Deployment) run {
	var r run
	for _, s := range d.Statuses {
		switch s.State {
		case "success":
			if r.succeededAt.IsZero() {
				r.succeededAt = s.At
			}
			r.final = s.State
		case "failure", "error":
			if r.failedAt.IsZero() || (!r.succeededAt.IsZero() && r.failedAt.Before(r.succeededAt)) {
				r.failedAt = s.At
			}
			r.final = s.State
		}
	}
	return r
}

func month(t time.Time) string { return t.UTC().Format("2006-01") }

// MaxWindow bounds how far back a report looks.
const MaxWindow = 366 * 24 * time.Hour

// ParseWindow reads how far back a report looks: days ("90d"), weeks
// ("12w") or a Go duration ("2160h"), at least an hour and at most
// MaxWindow.
func ParseWindow(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	switch n, unit := strings.TrimRight(s, "dw"), strings.TrimLeft(s, "0123456789"); {
	case s == "":
		return 0, fmt.Errorf("say how far back to look, like 90d")
	case unit == "d" || unit == "w":
		days, perr := strconv.Atoi(n)
		if perr != nil {
			return 0, fmt.Errorf("%q is not a window; write it like 90d, 12w or 2160h", s)
		}
		if unit == "w" {
			days *= 7
		}
		d = time.Duration(days) * 24 * time.Hour
	default:
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a window; write it like 90d, 12w or 2160h", s)
		}
	}
	if d < time.Hour || d > MaxWindow {
		return 0, fmt.Errorf("%s is out of range; look back between 1h and 366d", s)
	}
	return d, nil
}

// Build computes the report.
func Build(f Facts) Report {
	rep := Report{Repo: f.Repo, Environment: f.Environment, Since: f.Since, Until: f.Now, Reads: f.Reads,
		Incomplete: append([]string{}, f.Missing...), Missing: append([]string{}, f.Missing...), Hotfixes: []Hotfix{}, Failures: []Failure{}, Timeline: []Event{}, Incidents: []Incident{}}
	for _, r := range f.Reads {
		if !r.Complete {
			rep.Incomplete = append(rep.Incomplete, r.What+": cut short at the bot's bound")
		}
	}
	deps := append([]Deployment{}, f.Deployments...)
	sort.Slice(deps, func(i, j int) bool {
		if !deps[i].CreatedAt.Equal(deps[j].CreatedAt) {
			return deps[i].CreatedAt.Before(deps[j].CreatedAt)
		}
		return deps[i].ID < deps[j].ID
	})
	runs := make([]run, len(deps))
	for i, d := range deps {
		runs[i] = outcome(d)
	}
	// A failure reported after a newer deployment had succeeded is late
	// (a re-run CD job, a slow delivery): it says nothing about what
	// production ran, as the bot itself decided when it arrived.
	for i := range deps {
		var superseded time.Time
		for j := i + 1; j < len(deps); j++ {
			if s := runs[j].succeededAt; !s.IsZero() && (superseded.IsZero() || s.Before(superseded)) {
				superseded = s
			}
		}
		if !superseded.IsZero() && runs[i].failedAt.After(superseded) {
			runs[i].failedAt, runs[i].final = time.Time{}, ""
			if !runs[i].succeededAt.IsZero() {
				runs[i].final = "success"
			}
		}
	}
	inWindow := func(t time.Time) bool { return !t.Before(f.Since) && !t.After(f.Now) }

	// Production's lineage, in the order deployments succeeded: a
	// success of a release production stood on before (or a bot
	// rollback) is a rollback, and supersedes what was above it.
	rollback := map[int]bool{}
	rolledBackBy := map[int]int{}
	order := make([]int, 0, len(deps))
	for i := range deps {
		if !runs[i].succeededAt.IsZero() {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return runs[order[a]].succeededAt.Before(runs[order[b]].succeededAt) })
	var stack []int // deployment indexes, production on top
	for _, i := range order {
		d := deps[i]
		if runs[i].failedAt.After(runs[i].succeededAt) {
			continue // ran, then failed: production does not stand on it
		}
		keep := -1
		for k := len(stack) - 1; k >= 0; k-- {
			if deps[stack[k]].SHA == d.SHA {
				keep = k
				break
			}
		}
		isRollback := (d.Bot != nil && d.Bot.Kind == "rollback") || (keep >= 0 && keep < len(stack)-1)
		if !isRollback {
			if keep < 0 || keep != len(stack)-1 {
				stack = append(stack, i)
			}
			continue
		}
		rollback[i] = true
		from := keep + 1
		if keep < 0 {
			from = 0
		}
		for _, gone := range stack[from:] {
			if _, done := rolledBackBy[gone]; !done {
				rolledBackBy[gone] = i
			}
		}
		if keep < 0 {
			stack = []int{i}
		} else {
			stack = append(stack[:keep], i)
		}
	}

	months := map[string]*Period{}
	for m := time.Date(f.Since.Year(), f.Since.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(f.Now); m = m.AddDate(0, 1, 0) {
		months[month(m)] = &Period{Month: month(m)}
	}
	periodOf := func(t time.Time) []*Period {
		out := []*Period{&rep.Overall}
		if p := months[month(t)]; p != nil {
			out = append(out, p)
		}
		return out
	}
	nextSuccess := func(after time.Time, not int) (int, time.Time) {
		best, at := -1, time.Time{}
		for _, k := range order {
			s := runs[k].succeededAt
			if k != not && s.After(after) && (best < 0 || s.Before(at)) {
				best, at = k, s
			}
		}
		return best, at
	}

	for i, d := range deps {
		r := runs[i]
		if !inWindow(d.CreatedAt) {
			continue
		}
		switch {
		case rollback[i]:
			rep.Timeline = append(rep.Timeline, Event{At: r.succeededAt, Deployment: d.ID, Name: d.Name(), Kind: "rollback"})
		case !r.succeededAt.IsZero():
			rep.Timeline = append(rep.Timeline, Event{At: r.succeededAt, Deployment: d.ID, Name: d.Name(), Kind: "success"})
			if r.failedAt.After(r.succeededAt) {
				rep.Timeline = append(rep.Timeline, Event{At: r.failedAt, Deployment: d.ID, Name: d.Name(), Kind: "failure"})
			}
		case r.final != "":
			rep.Timeline = append(rep.Timeline, Event{At: r.failedAt, Deployment: d.ID, Name: d.Name(), Kind: "failure"})
		}
		if rollback[i] || r.final == "" {
			continue // rollbacks restore; in flight has no outcome yet
		}
		failure := Failure{Deployment: d.ID, Name: d.Name()}
		by, rolledBack := rolledBackBy[i]
		switch {
		case r.succeededAt.IsZero():
			failure.Kind, failure.At = "failed", r.failedAt
		case r.failedAt.After(r.succeededAt):
			failure.Kind, failure.At = "failed after success", r.failedAt
		case rolledBack:
			failure.Kind, failure.At = "rolled back", r.succeededAt
			failure.RecoveredBy, failure.RecoveredAt = deps[by].ID, runs[by].succeededAt
		}
		for _, p := range periodOf(d.CreatedAt) {
			p.Deployments++
			if failure.Kind != "" {
				p.Failed++
			}
		}
		if failure.Kind == "" {
			continue
		}
		if failure.RecoveredAt.IsZero() {
			if k, at := nextSuccess(failure.At, i); k >= 0 {
				failure.RecoveredBy, failure.RecoveredAt = deps[k].ID, at
			}
		}
		if !failure.RecoveredAt.IsZero() {
			took := Duration(failure.RecoveredAt.Sub(failure.At))
			failure.Recovery = &took
			for _, p := range periodOf(d.CreatedAt) {
				p.recovery = append(p.recovery, time.Duration(took))
			}
		}
		rep.Failures = append(rep.Failures, failure)
	}

	// The bot's hotfixes: lead time, time to approval, propagation.
	for i, d := range deps {
		p := d.Bot
		if p == nil || p.Kind != "hotfix" || !p.Final() || !inWindow(d.CreatedAt) {
			continue
		}
		r := runs[i]
		pr := f.Pulls[p.PR]
		h := Hotfix{PR: p.PR, Title: pr.Title, URL: pr.URL, Deployment: d.ID, Emergency: p.Emergency, Targets: []Target{}}
		_, rolledBack := rolledBackBy[i]
		switch {
		case r.succeededAt.IsZero() && r.final == "":
			h.Outcome = "in flight"
		case r.succeededAt.IsZero():
			h.Outcome = "failed"
		case r.failedAt.After(r.succeededAt):
			h.Outcome = "failed after success"
		case rolledBack:
			h.Outcome = "rolled back"
		default:
			h.Outcome = "shipped"
		}
		if !pr.ApprovedAt.IsZero() && !pr.ApprovedAt.Before(pr.CreatedAt) {
			took := Duration(pr.ApprovedAt.Sub(pr.CreatedAt))
			h.Approval = &took
			for _, per := range periodOf(d.CreatedAt) {
				per.approval = append(per.approval, time.Duration(took))
			}
		}
		if r.succeededAt.IsZero() {
			rep.Hotfixes = append(rep.Hotfixes, h)
			continue
		}
		h.DeployedAt, h.Tag = r.succeededAt, p.NextTag
		for _, per := range periodOf(d.CreatedAt) {
			per.Hotfixes++
		}
		if !pr.FirstCommitAt.IsZero() && pr.FirstCommitAt.Before(r.succeededAt) {
			took := Duration(r.succeededAt.Sub(pr.FirstCommitAt))
			h.LeadTime = &took
			for _, per := range periodOf(d.CreatedAt) {
				per.lead = append(per.lead, time.Duration(took))
			}
		}
		h.TaggedAt = f.TaggedAt[h.Tag]
		if h.TaggedAt.IsZero() {
			h.TaggedAt = r.succeededAt // a lightweight tag has no date: the success it marks
		}
		h.Targets, h.Propagated = propagation(h.Tag, h.TaggedAt, f.Syncs)
		if h.Propagated && len(h.Targets) > 0 {
			last := h.TaggedAt
			for _, t := range h.Targets {
				if t.MergedAt.After(last) {
					last = t.MergedAt
				}
			}
			took := Duration(last.Sub(h.TaggedAt))
			h.PropagatedIn = &took
			for _, per := range periodOf(d.CreatedAt) {
				per.propagation = append(per.propagation, time.Duration(took))
			}
		}
		rep.Hotfixes = append(rep.Hotfixes, h)
	}
	// Not yet propagated first, then the newest first.
	sort.SliceStable(rep.Hotfixes, func(a, b int) bool {
		pa, pb := len(rep.Hotfixes[a].Pending()) > 0, len(rep.Hotfixes[b].Pending()) > 0
		if pa != pb {
			return pa
		}
		return rep.Hotfixes[a].Deployment > rep.Hotfixes[b].Deployment
	})

	for _, is := range f.Incidents {
		if !inWindow(is.CreatedAt) {
			continue
		}
		rep.Incidents = append(rep.Incidents, is)
		for _, p := range periodOf(is.CreatedAt) {
			p.Incidents++
		}
	}
	sort.Slice(rep.Incidents, func(a, b int) bool { return rep.Incidents[a].CreatedAt.After(rep.Incidents[b].CreatedAt) })
	sort.SliceStable(rep.Timeline, func(a, b int) bool { return rep.Timeline[a].At.Before(rep.Timeline[b].At) })

	finish := func(p *Period) {
		if p.Deployments > 0 {
			rate := float64(p.Failed) / float64(p.Deployments)
			p.ChangeFailureRate = &rate
		}
		p.LeadTime, p.TimeToApproval, p.Recovery, p.Propagation = stats(p.lead), stats(p.approval), stats(p.recovery), stats(p.propagation)
	}
	finish(&rep.Overall)
	keys := make([]string, 0, len(months))
	for k := range months {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		finish(months[k])
		rep.Months = append(rep.Months, *months[k])
	}
	return rep
}

// propagation follows a release into every branch it was synced back to:
// its own sync-back pull requests, each merged, or reached through a
// later release's merged one into the same branch (which carries it).
func propagation(tag string, taggedAt time.Time, syncs []SyncPull) ([]Target, bool) {
	targets := []Target{}
	for _, s := range syncs {
		if s.Tag != tag {
			continue
		}
		t := Target{Branch: s.Target, PR: s.Number, URL: s.URL, State: "open"}
		switch {
		case !s.MergedAt.IsZero():
			t.State, t.MergedAt = "merged", s.MergedAt
		case !s.Open:
			t.State = "closed"
		}
		if t.State != "merged" {
			// A later release's sync-back into the same branch, merged
			// after this one was tagged, carries this fix too.
			for _, later := range syncs {
				if later.Tag != tag && later.Target == s.Target && !later.MergedAt.IsZero() && later.MergedAt.After(taggedAt) &&
					later.CreatedAt.After(s.CreatedAt) && (t.MergedAt.IsZero() || later.MergedAt.Before(t.MergedAt)) {
					t.State, t.MergedAt, t.Via = "merged", later.MergedAt, later.Tag
				}
			}
		}
		targets = append(targets, t)
	}
	sort.Slice(targets, func(a, b int) bool { return targets[a].Branch < targets[b].Branch })
	done := true
	for _, t := range targets {
		done = done && t.State == "merged"
	}
	return targets, done
}
