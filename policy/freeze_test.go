package policy

import (
	"strings"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// The weekend freeze in Berlin and the year-end freeze in New York, as a
// team would write them.
const freezePolicy = `freeze:
  - from: Fri 16:00
    to: Mon 08:00
    zone: Europe/Berlin
    reason: the weekend, nobody watches production
  - from: 2026-12-22
    to: 2027-01-05
    zone: America/New_York
    reason: the year-end freeze
`

func freezeConfig(t *testing.T, yaml string) Config {
	t.Helper()
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// FreezeAt on both sides of every edge: each window starts and ends on
// its own zone's wall clock, across both daylight-saving changes (where
// a fixed offset would be an hour off) and across the year end.
func TestFreezeAt(t *testing.T) {
	cfg := freezeConfig(t, freezePolicy)
	tests := []struct {
		name   string
		now    string // UTC
		frozen bool
		window int
		until  string // UTC, when frozen
	}{
		{"a Wednesday", "2026-03-25 12:00", false, 0, ""},
		{"Friday 15:59 in Berlin (CET, +1)", "2026-03-27 14:59", false, 0, ""},
		{"Friday 16:00 in Berlin", "2026-03-27 15:00", true, 0, "2026-03-30 06:00"},
		// Berlin springs forward on Sunday 2026-03-29: Monday 08:00 is
		// CEST (+2), 06:00 UTC, not 07:00.
		{"Monday 07:59 CEST, after spring forward", "2026-03-30 05:59", true, 0, "2026-03-30 06:00"},
		{"Monday 08:30 CEST, after spring forward", "2026-03-30 06:30", false, 0, ""},
		// Berlin falls back on Sunday 2026-10-25: the window starts at
		// 16:00 CEST (14:00 UTC) and ends at 08:00 CET (07:00 UTC).
		{"Friday 16:00 CEST, before fall back", "2026-10-23 14:00", true, 0, "2026-10-26 07:00"},
		{"Friday 15:30 CEST", "2026-10-23 13:30", false, 0, ""},
		{"Monday 07:30 CET, after fall back", "2026-10-26 06:30", true, 0, "2026-10-26 07:00"},
		{"Monday 08:00 CET", "2026-10-26 07:00", false, 0, ""},
		// The year end in New York (EST, -5), a Tuesday to a Tuesday.
		{"December 21, 23:59 in New York", "2026-12-22 04:59", false, 0, ""},
		{"December 22, 00:00 in New York", "2026-12-22 05:00", true, 1, "2027-01-05 05:00"},
		{"New Year's Eve", "2026-12-31 23:30", true, 1, "2027-01-05 05:00"},
		{"New Year's Day, a Friday evening: both hold, the later end shown", "2027-01-01 16:00", true, 1, "2027-01-05 05:00"},
		{"January 4, 23:59 in New York", "2027-01-05 04:59", true, 1, "2027-01-05 05:00"},
		{"January 5, 00:00 in New York", "2027-01-05 05:00", false, 0, ""},
		{"the weekend before the year end: Monday is open", "2026-12-19 12:00", true, 0, "2026-12-21 07:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, frozen := cfg.FreezeAt(utc(tt.now))
			if frozen != tt.frozen {
				t.Fatalf("frozen = %v, want %v (%+v)", frozen, tt.frozen, f)
			}
			if !frozen {
				return
			}
			if f.Index != tt.window {
				t.Errorf("window %d (%s), want %d", f.Index, f.Window.Reason, tt.window)
			}
			if !f.Until.Equal(utc(tt.until)) {
				t.Errorf("until %s, want %s UTC", f.Until.UTC(), tt.until)
			}
		})
	}
}

// The window shown is the one that ends last; production opens only when
// no window holds, however many meet end to end.
func TestFreezeUntilFollowsWindowsThatMeet(t *testing.T) {
	cfg := freezeConfig(t, `freeze:
  - {from: "Fri 16:00", to: "Mon 08:00", zone: UTC, reason: weekend}
  - {from: "2026-12-21", to: "2026-12-25 16:00", zone: UTC, reason: Christmas week}
`)
	f, frozen := cfg.FreezeAt(utc("2026-12-25 12:00"))
	if !frozen || f.Window.Reason != "Christmas week" || !f.End.Equal(utc("2026-12-25 16:00")) || !f.Until.Equal(utc("2026-12-28 08:00")) {
		t.Fatalf("%+v, want Christmas week ending Friday 16:00, open again Monday 08:00", f)
	}
	if !strings.Contains(cfg.FreezeText(utc("2026-12-25 12:00")), "production opens again Mon 2026-12-28 08:00 UTC (in 2 days 20 hours)") {
		t.Errorf("text: %s", cfg.FreezeText(utc("2026-12-25 12:00")))
	}
	// Windows that cover the whole week never end; the search stops.
	always := freezeConfig(t, `freeze:
  - {from: "Mon 00:00", to: "Thu 00:00", zone: UTC, reason: first half}
  - {from: "Thu 00:00", to: "Mon 00:00", zone: UTC, reason: second half}
`)
	if f, frozen := always.FreezeAt(utc("2026-12-23 12:00")); !frozen || !f.Until.After(utc("2027-01-01 00:00")) {
		t.Errorf("%+v, want frozen for weeks on end", f)
	}
}

func TestNextFreeze(t *testing.T) {
	cfg := freezeConfig(t, freezePolicy)
	f, ok := cfg.NextFreeze(utc("2026-12-16 10:00")) // a Wednesday
	if !ok || f.Index != 0 || !f.Start.Equal(utc("2026-12-18 15:00")) || !f.End.Equal(utc("2026-12-21 07:00")) {
		t.Fatalf("%+v, want Friday's weekend", f)
	}
	if got := cfg.FreezeText(utc("2026-12-16 10:00")); !strings.Contains(got, "not frozen; next freeze: the weekend, nobody watches production (`Fri 16:00 → Mon 08:00 Europe/Berlin`), Fri 2026-12-18 16:00 CET to Mon 2026-12-21 08:00 CET (in 2 days 5 hours)") {
		t.Errorf("text: %s", got)
	}
	// Past the year end only the weekly window lies ahead.
	if f, ok := cfg.NextFreeze(utc("2027-02-01 10:00")); !ok || f.Index != 0 {
		t.Errorf("%+v", f)
	}
	if got := Default().FreezeText(utc("2027-02-01 10:00")); got != "not frozen; the policy has no `freeze:` windows" {
		t.Errorf("no windows: %s", got)
	}
	once := freezeConfig(t, "freeze:\n  - {from: 2026-12-20, to: 2027-01-04, zone: UTC, reason: year end}\n")
	if _, ok := once.NextFreeze(utc("2027-02-01 10:00")); ok {
		t.Error("a past dated window is next")
	}
	if got := once.FreezeText(utc("2027-02-01 10:00")); got != "not frozen; no freeze window lies ahead" {
		t.Errorf("text: %s", got)
	}
}

// validate checks each window with its line: the kinds, the times, the
// zone (an IANA name the bot knows, from its own copy of the zone data),
// the end after the start, the reason, and no two windows of one kind
// overlapping.
func TestFreezeValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each a line of the errors
	}{
		{"unknown zone", "freeze:\n  - from: Fri 16:00\n    to: Mon 08:00\n    zone: Europe/Atlantis\n    reason: weekend\n",
			[]string{`line 4: freeze[0].zone: "Europe/Atlantis" is not a time zone this bot knows`}},
		{"no zone", "freeze:\n  - from: Fri 16:00\n    to: Mon 08:00\n    reason: weekend\n",
			[]string{"line 2: freeze[0].zone: is missing: give the window's time zone"}},
		{"Local is not a zone", "freeze:\n  - {from: Fri 16:00, to: Mon 08:00, zone: Local, reason: weekend}\n",
			[]string{`freeze[0].zone: "Local" is not a time zone`}},
		{"end before start", "freeze:\n  - from: 2027-01-04\n    to: 2026-12-20\n    zone: UTC\n    reason: year end\n",
			[]string{`line 3: freeze[0].to: "2026-12-20" ends before the window starts ("2027-01-04")`}},
		{"end at start", "freeze:\n  - {from: 2026-12-20 10:00, to: 2026-12-20 10:00, zone: UTC, reason: x}\n",
			[]string{"freeze[0].to: \"2026-12-20 10:00\" ends before the window starts"}},
		{"a weekly window without an end", "freeze:\n  - {from: Fri 16:00, to: friday 16:00, zone: UTC, reason: x}\n",
			[]string{"freeze[0].to: is the same time as from"}},
		{"kinds mixed", "freeze:\n  - {from: Fri 16:00, to: 2026-12-20, zone: UTC, reason: x}\n",
			[]string{"freeze[0].to: \"2026-12-20\" and from \"Fri 16:00\" are not the same kind"}},
		{"not a weekday", "freeze:\n  - {from: Fridy 16:00, to: Mon 08:00, zone: UTC, reason: x}\n",
			[]string{`freeze[0].from: "Fridy" is not a weekday`}},
		{"not a time", "freeze:\n  - {from: Fri 25:00, to: Mon 08:00, zone: UTC, reason: x}\n",
			[]string{"freeze[0].from: 25:00 is not a time of day"}},
		{"not a date", "freeze:\n  - {from: 2026-02-30, to: 2026-03-02, zone: UTC, reason: x}\n",
			[]string{"freeze[0].from: 2026-02-30 is not a date"}},
		{"gibberish", "freeze:\n  - {from: tonight, to: Mon 08:00, zone: UTC, reason: x}\n",
			[]string{`freeze[0].from: "tonight" is neither a weekday and time`}},
		{"no reason", "freeze:\n  - {from: Fri 16:00, to: Mon 08:00, zone: UTC}\n",
			[]string{"freeze[0].reason: is missing"}},
		{"no from", "freeze:\n  - {to: Mon 08:00, zone: UTC, reason: x}\n",
			[]string{"freeze[0].from: is missing"}},
		{"an unknown key", "freeze:\n  - {from: Fri 16:00, to: Mon 08:00, zone: UTC, reason: x, until: Tue}\n",
			[]string{`unknown key "until" in freeze[0]; known keys: from, to, zone, reason`}},
		{"dated windows overlap", "freeze:\n  - {from: 2026-12-20, to: 2027-01-04, zone: UTC, reason: year end}\n  - {from: 2027-01-03, to: 2027-01-10, zone: UTC, reason: inventory}\n",
			[]string{"line 3: freeze[1]: overlaps freeze[0] (line 2), 2026-12-20 → 2027-01-04 UTC; merge them"}},
		{"weekly windows overlap", "freeze:\n  - {from: Fri 16:00, to: Mon 08:00, zone: UTC, reason: weekend}\n  - {from: Sun 20:00, to: Sun 23:00, zone: UTC, reason: backups}\n",
			[]string{"line 3: freeze[1]: overlaps freeze[0] (line 2)"}},
		// 17:00 in London is 12:00 in New York but for the weeks when
		// only one of them has changed its clocks: 13:00 in March.
		{"weekly windows in two zones overlap some weeks of the year", "freeze:\n  - {from: Fri 17:00, to: Fri 18:00, zone: Europe/London, reason: a}\n  - {from: Fri 12:30, to: Fri 12:45, zone: America/New_York, reason: b}\n",
			[]string{"freeze[1]: overlaps freeze[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q:\n%v", w, err)
				}
			}
		})
	}
	// What is allowed: a dated window over weekly ones (the year end
	// spans weekends), windows that meet end to end, two zones that
	// never meet, every way of writing a weekday.
	for _, ok := range []string{
		freezePolicy,
		"freeze:\n  - {from: Fri 16:00, to: Mon 08:00, zone: UTC, reason: a}\n  - {from: Mon 08:00, to: Mon 09:00, zone: UTC, reason: b}\n",
		"freeze:\n  - {from: Fri 17:00, to: Fri 18:00, zone: Europe/London, reason: a}\n  - {from: Fri 10:00, to: Fri 11:00, zone: America/New_York, reason: b}\n",
		"freeze:\n  - {from: friday 16:00, to: MONDAY 8:00, zone: Asia/Kolkata, reason: a}\n",
		"freeze:\n  - {from: 2026-12-24 12:00, to: 2026-12-27, zone: Australia/Sydney, reason: a}\n",
	} {
		if _, err := Parse([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
