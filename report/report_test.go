package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/policy"
)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func statuses(pairs ...string) []policy.DeploymentStatus {
	var out []policy.DeploymentStatus
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, policy.DeploymentStatus{State: pairs[i], At: at(pairs[i+1])})
	}
	return out
}

func hotfix(pr int, tag string) *policy.DeploymentPayload {
	return &policy.DeploymentPayload{HotfixBot: 1, Kind: "hotfix", PR: pr, RequestedBy: "rob", NextTag: tag, Chain: []string{"production"}}
}

// A quarter of one repository's production: a release from before the
// window, a hotfix that shipped (and is half synced back), a hotfix that
// failed and was rolled back automatically, a pipeline release that the
// pipeline itself rolled back a day later, and a hotfix still in flight.
func quarter() Facts {
	emergency := hotfix(6, "v1.4.2")
	emergency.Emergency = true
	return Facts{
		Repo: "acme/payments", Environment: "production", Since: at("2026-09-01 00:00"), Now: at("2026-11-30 00:00"),
		Deployments: []Deployment{
			{ID: 1, SHA: "a0", Tag: "v1.4.0", CreatedAt: at("2026-08-20 10:00"), Statuses: statuses("success", "2026-08-20 10:10")},
			{ID: 2, SHA: "b1", Tag: "v1.4.1", CreatedAt: at("2026-09-10 10:00"), Statuses: statuses("in_progress", "2026-09-10 10:01", "success", "2026-09-10 10:05"), Bot: hotfix(5, "v1.4.1")},
			{ID: 3, SHA: "c2", CreatedAt: at("2026-10-05 10:00"), Statuses: statuses("failure", "2026-10-05 10:10"), Bot: emergency},
			{ID: 4, SHA: "b1", Tag: "v1.4.1", CreatedAt: at("2026-10-05 10:11"), Statuses: statuses("success", "2026-10-05 10:15"),
				Bot: &policy.DeploymentPayload{HotfixBot: 1, Kind: "rollback", RequestedBy: "hotfix-bot", Chain: []string{"production"}, Automatic: true}},
			{ID: 5, SHA: "e5", Tag: "v1.5.0", CreatedAt: at("2026-11-02 11:50"), Statuses: statuses("success", "2026-11-02 12:00")},
			{ID: 6, SHA: "b1", Tag: "v1.4.1", CreatedAt: at("2026-11-03 08:50"), Statuses: statuses("success", "2026-11-03 09:00")},
			{ID: 7, SHA: "g7", CreatedAt: at("2026-11-20 09:00"), Bot: hotfix(7, "v1.4.3")},
		},
		Pulls: map[int]PullRequest{
			5: {Number: 5, Title: "Raise the payment timeout", CreatedAt: at("2026-09-10 08:00"), FirstCommitAt: at("2026-09-10 07:00"), ApprovedAt: at("2026-09-10 09:00")},
			6: {Number: 6, Title: "Retry declines", CreatedAt: at("2026-10-05 09:00"), FirstCommitAt: at("2026-10-05 08:30")},
		},
		TaggedAt: map[string]time.Time{"v1.4.1": at("2026-09-10 10:06")},
		Syncs: []SyncPull{
			{Number: 8, Tag: "v1.4.1", Target: "develop", CreatedAt: at("2026-09-10 10:07"), MergedAt: at("2026-09-11 10:06")},
			{Number: 9, Tag: "v1.4.1", Target: "release/1.5", CreatedAt: at("2026-09-10 10:07"), Open: true},
		},
		Incidents: []Incident{{Number: 10, Title: "Incident: production rolled back to v1.4.1", CreatedAt: at("2026-10-05 10:16")}},
		Reads:     []Read{{What: "production deployments", Complete: true}},
	}
}

func TestBuild(t *testing.T) {
	r := Build(quarter())
	o := r.Overall
	if o.Hotfixes != 1 || o.Deployments != 3 || o.Failed != 2 || o.ChangeFailureRate == nil || o.CFR() != "67% (2 of 3)" || o.Incidents != 1 {
		t.Errorf("overall %+v (cfr %s)", o, o.CFR())
	}
	checks := []struct {
		name string
		got  Stats
		want Stats
	}{
		{"lead time: first commit 07:00 to production 10:05", o.LeadTime, Stats{N: 1, Median: Duration(3*time.Hour + 5*time.Minute), P90: Duration(3*time.Hour + 5*time.Minute), Max: Duration(3*time.Hour + 5*time.Minute)}},
		{"time to approval: opened 08:00, approved 09:00; the emergency has none", o.TimeToApproval, Stats{N: 1, Median: Duration(time.Hour), P90: Duration(time.Hour), Max: Duration(time.Hour)}},
		{"recovery: 5 minutes to the automatic rollback, 21 hours to the pipeline's", o.Recovery, Stats{N: 2, Median: Duration((5*time.Minute + 21*time.Hour) / 2), P90: Duration(21 * time.Hour), Max: Duration(21 * time.Hour)}},
		{"propagation: not yet, release/1.5 is open", o.Propagation, Stats{}},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, c.got, c.want)
		}
	}
	var months []string
	for _, m := range r.Months {
		months = append(months, m.Month+":"+itoa(m.Hotfixes)+"/"+itoa(m.Failed)+"/"+itoa(m.Deployments))
	}
	if got := strings.Join(months, " "); got != "2026-09:1/0/1 2026-10:0/1/1 2026-11:0/1/1" {
		t.Errorf("months (hotfixes/failed/deployments) %s", got)
	}
	if len(r.Failures) != 2 || r.Failures[0].Kind != "failed" || r.Failures[0].RecoveredBy != 4 ||
		r.Failures[1].Kind != "rolled back" || r.Failures[1].RecoveredBy != 6 || r.Failures[1].Name != "v1.5.0" {
		t.Errorf("failures %+v", r.Failures)
	}
	var outcomes []string
	for _, h := range r.Hotfixes {
		outcomes = append(outcomes, itoa(h.PR)+" "+h.Outcome)
	}
	// The hotfix not yet synced back into release/1.5 comes first.
	if got := strings.Join(outcomes, ", "); got != "5 shipped, 7 in flight, 6 failed" {
		t.Errorf("hotfixes %s", got)
	}
	if p := r.Hotfixes[0].Pending(); len(p) != 1 || p[0].Branch != "release/1.5" || p[0].PR != 9 {
		t.Errorf("pending %+v", p)
	}
	var kinds []string
	for _, e := range r.Timeline {
		kinds = append(kinds, itoa(int(e.Deployment))+e.Kind)
	}
	if got := strings.Join(kinds, " "); got != "2success 3failure 4rollback 5success 6rollback" {
		t.Errorf("timeline %s", got)
	}
	if !r.Complete() {
		t.Errorf("incomplete: %v", r.Incomplete)
	}
}

// A listing cut short, or a fact GitHub would not give, makes the report
// say so: it is marked incomplete rather than wrong.
func TestIncomplete(t *testing.T) {
	f := quarter()
	f.Reads = append(f.Reads, Read{What: "pull requests back to 2026-09-01", Complete: false})
	f.Missing = []string{"the commits of #6: GitHub answered 502 (its lead time is left out)"}
	r := Build(f)
	if r.Complete() || len(r.Incomplete) != 2 || !strings.Contains(r.Incomplete[1], "pull requests back to 2026-09-01: cut short") {
		t.Errorf("%v", r.Incomplete)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "INCOMPLETE: the numbers below leave out what the bot did not read") {
		t.Errorf("text:\n%s", b.String())
	}
}

// A later release's sync-back, merged into the same branch, carries an
// earlier one's fix: the earlier is propagated when it merged.
func TestPropagationThroughALaterRelease(t *testing.T) {
	syncs := []SyncPull{
		{Number: 1, Tag: "v1.4.1", Target: "develop", CreatedAt: at("2026-09-10 10:00")}, // closed, superseded
		{Number: 2, Tag: "v1.4.2", Target: "develop", CreatedAt: at("2026-09-12 10:00"), MergedAt: at("2026-09-13 10:00")},
		{Number: 3, Tag: "v1.4.1", Target: "release/1.5", CreatedAt: at("2026-09-10 10:00"), MergedAt: at("2026-09-10 12:00")},
	}
	targets, done := propagation("v1.4.1", at("2026-09-10 09:59"), syncs)
	if !done || len(targets) != 2 || targets[0].Via != "v1.4.2" || !targets[0].MergedAt.Equal(at("2026-09-13 10:00")) || targets[1].Via != "" {
		t.Errorf("%v %+v", done, targets)
	}
	if targets, done := propagation("v1.4.9", at("2026-09-10 09:59"), syncs); !done || len(targets) != 0 {
		t.Errorf("a release with nothing to sync back: %v %+v", done, targets)
	}
}

func TestStats(t *testing.T) {
	s := stats([]time.Duration{4, 1, 3, 2})
	if s.N != 4 || s.Median != 2 || s.P90 != 4 || s.Max != 4 {
		t.Errorf("%+v", s)
	}
	if s := stats([]time.Duration{5, 1, 9}); s.Median != 5 || s.P90 != 9 {
		t.Errorf("%+v", s)
	}
	if s := stats(nil); s.N != 0 || s.String() != "—" {
		t.Errorf("%+v", s)
	}
	for d, want := range map[time.Duration]string{45 * time.Second: "45s", 47 * time.Minute: "47m", 3*time.Hour + 5*time.Minute: "3h 5m", 52 * time.Hour: "2d 4h"} {
		if got := Duration(d).String(); got != want {
			t.Errorf("%s: %s, want %s", d, got, want)
		}
	}
}

// The JSON form: durations in seconds, the rate as a fraction, and no
// rate at all for a month without deployments.
func TestJSON(t *testing.T) {
	r := Build(quarter())
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Overall struct {
			CFR      *float64 `json:"change_failure_rate"`
			LeadTime struct {
				Median int64 `json:"median_seconds"`
			} `json:"lead_time"`
		} `json:"overall"`
		Months []struct {
			CFR *float64 `json:"change_failure_rate"`
		} `json:"months"`
		Hotfixes []struct {
			PR         int   `json:"pr"`
			Propagated bool  `json:"propagated"`
			LeadTime   int64 `json:"lead_time_seconds"`
		} `json:"hotfixes"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Overall.CFR == nil || *back.Overall.CFR < 0.66 || *back.Overall.CFR > 0.67 || back.Overall.LeadTime.Median != 11100 ||
		back.Hotfixes[0].PR != 5 || back.Hotfixes[0].Propagated || back.Hotfixes[0].LeadTime != 11100 {
		t.Errorf("%s", b)
	}
	empty := Build(Facts{Since: at("2026-09-01 00:00"), Now: at("2026-09-20 00:00")})
	if b, _ := json.Marshal(empty); !strings.Contains(string(b), `"change_failure_rate":null`) || !strings.Contains(string(b), `"hotfixes":[]`) {
		t.Errorf("%s", b)
	}
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := Build(quarter()).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"hotfix-bot report: acme/payments (environment production)",
		"Window: 2026-09-01 00:00 UTC to 2026-11-30 00:00 UTC (90 days)",
		"overall  1         67% (2 of 3)",
		"Not yet propagated:\n  - v1.4.1 (#5) into release/1.5: sync-back #9 is open",
		"#5 Raise the payment timeout: shipped as v1.4.1 at 2026-09-10 10:05 UTC; lead time 3h 5m; approved after 1h 0m",
		"#6 Retry declines: failed; emergency, not approved",
		"deployment 5 (v1.5.0): rolled back at 2026-11-02 12:00 UTC; recovered after 21h 0m (deployment 6)",
		"#10 Incident: production rolled back to v1.4.1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the text lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "Not yet propagated") > strings.Index(out, "Hotfixes:") {
		t.Error("the hotfixes not yet propagated are not listed first")
	}
}

func TestSVG(t *testing.T) {
	r := Build(quarter())
	tl := r.TimelineSVG()
	for class, want := range map[string]int{`class="success"`: 2, `class="failure"`: 1, `class="rollback"`: 2} {
		if got := strings.Count(tl, "<circle "+class) + strings.Count(tl, "<path "+class); got != want {
			t.Errorf("%d marks %s, want %d", got, class, want)
		}
	}
	if !strings.Contains(tl, "<title>deployment 5, v1.5.0: success at 2026-11-02 12:00 UTC</title>") || strings.Contains(tl, "<script") {
		t.Errorf("timeline:\n%s", tl)
	}
	d := DistributionSVG("lead time", r.LeadTimes(), LeadTimeBuckets)
	if strings.Count(d, `<rect class="bar"`) != len(LeadTimeBuckets)+1 || !strings.Contains(d, "<title>1h–4h: 1</title>") || !strings.Contains(d, "&gt; 7d") {
		t.Errorf("distribution:\n%s", d)
	}
	// Names are escaped.
	f := quarter()
	f.Deployments[4].Tag = `<script>alert(1)</script>`
	if strings.Contains(Build(f).TimelineSVG(), "<script>") {
		t.Error("a tag name was drawn as markup")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "12w": 84 * 24 * time.Hour, "36h": 36 * time.Hour, "366d": MaxWindow} {
		if got, err := ParseWindow(in); err != nil || got != want {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "d", "90", "-3d", "367d", "30m", "ninety days", "1.5d"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A failure reported after a newer deployment succeeded (a CD job re-run
// an hour later on an old deployment) is late: it fails nothing.
func TestLateFailureCountsForNothing(t *testing.T) {
	f := quarter()
	late := f.Deployments[1] // v1.4.1, shipped 2026-09-10
	late.Statuses = append(append([]policy.DeploymentStatus{}, late.Statuses...), policy.DeploymentStatus{State: "failure", At: at("2026-11-04 10:00")})
	f.Deployments[1] = late
	r := Build(f)
	if r.Overall.Failed != 2 || len(r.Failures) != 2 || r.Hotfixes[0].Outcome != "shipped" {
		t.Errorf("failed %d, failures %+v, hotfix %+v", r.Overall.Failed, r.Failures, r.Hotfixes[0])
	}
	// Reported while it was what production ran, it is a failure.
	late.Statuses[len(late.Statuses)-1].At = at("2026-09-12 10:00")
	f.Deployments[1] = late
	if r := Build(f); r.Overall.Failed != 3 || r.Failures[0].Kind != "failed after success" {
		t.Errorf("failed %d, failures %+v", r.Overall.Failed, r.Failures)
	}
}
