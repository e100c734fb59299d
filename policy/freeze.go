package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	// A minimal container (no /usr/share/zoneinfo) still knows every
	// IANA zone a freeze window names.
	_ "time/tzdata"
)

// FreezeWindow is one entry of `freeze:`: a time when production is
// frozen, `/promote` needs `--emergency` and the deployment protection
// rule rejects other production deployments. From and To are either both
// weekday times, a window that recurs every week ("Fri 16:00" to
// "Mon 08:00"), or both dates with an optional time, a window that
// happens once ("2026-12-20" to "2027-01-04"; a date alone is midnight
// at its start, so that window ends as January 4 begins). Both are wall
// clock times in Zone, an IANA name, daylight saving included.
type FreezeWindow struct {
	From   string `yaml:"from"`
	To     string `yaml:"to"`
	Zone   string `yaml:"zone"`
	Reason string `yaml:"reason"`
}

// Describe names the window as it is written: "Fri 16:00 → Mon 08:00
// Europe/Berlin".
func (w FreezeWindow) Describe() string {
	return fmt.Sprintf("%s → %s %s", w.From, w.To, w.Zone)
}

// Freeze is one occurrence of a freeze window.
type Freeze struct {
	Window FreezeWindow
	// Index is the window's place in `freeze:`.
	Index int
	// Start and End bound this occurrence.
	Start, End time.Time
	// Until is when production opens again: End, or later when other
	// windows carry the freeze on without a gap.
	Until time.Time
}

// MaxFreezeWindows bounds `freeze:`.
const MaxFreezeWindows = 50

// maxFreezeReason bounds a window's reason, in bytes.
const maxFreezeReason = 200

// freezeTimeFormat is how freeze times are shown: in the window's zone,
// with the zone's abbreviation (so a daylight-saving change shows).
const freezeTimeFormat = "Mon 2006-01-02 15:04 MST"

// Describe says what the occurrence is, for people: "weekend: nobody
// watches production (Fri 16:00 → Mon 08:00 Europe/Berlin), Fri
// 2026-10-23 16:00 CEST to Mon 2026-10-26 08:00 CET".
func (f Freeze) Describe() string {
	return fmt.Sprintf("%s (`%s`), %s to %s", f.Window.Reason, f.Window.Describe(), f.when(f.Start), f.when(f.End))
}

// UntilText says when production opens again, in the window's zone.
func (f Freeze) UntilText() string { return f.when(f.Until) }

func (f Freeze) when(t time.Time) string {
	if loc, err := loadZone(f.Window.Zone); err == nil {
		t = t.In(loc)
	}
	return t.Format(freezeTimeFormat)
}

// FreezeAt says whether production is frozen at now and by which
// window: of the windows that hold now, the one that ends last. Until is
// when production opens again, past any windows that continue the freeze
// without a gap. It is what `/promote` refuses by, and what the
// deployment protection rule rejects non-emergency production
// deployments by: `if f, frozen := cfg.FreezeAt(now); frozen { … }`.
// Windows that do not parse (a policy that failed validation) freeze
// nothing here; a broken policy refuses every command anyway.
func (c Config) FreezeAt(now time.Time) (Freeze, bool) {
	best, found := Freeze{}, false
	for i, w := range c.Freeze {
		s, ok := w.spec()
		if !ok {
			continue
		}
		start, end := s.around(now)
		if now.Before(start) || !now.Before(end) {
			continue
		}
		if !found || end.After(best.End) {
			best, found = Freeze{Window: w, Index: i, Start: start, End: end}, true
		}
	}
	if !found {
		return Freeze{}, false
	}
	best.Until = c.openAgain(best.End)
	return best, true
}

// openAgain follows windows that hold at the end of another (they meet
// or overlap it) to the time production is open again. It gives up after
// a bounded number of hops: windows that together cover every hour of
// the week never end.
func (c Config) openAgain(end time.Time) time.Time {
	for hop := 0; hop < 2*MaxFreezeWindows; hop++ {
		next := end
		for _, w := range c.Freeze {
			s, ok := w.spec()
			if !ok {
				continue
			}
			if start, e := s.around(end); !end.Before(start) && end.Before(e) && e.After(next) {
				next = e
			}
		}
		if !next.After(end) {
			return end
		}
		end = next
	}
	return end
}

// NextFreeze is the window that starts soonest after now (a freeze that
// holds now is FreezeAt's).
func (c Config) NextFreeze(now time.Time) (Freeze, bool) {
	best, found := Freeze{}, false
	for i, w := range c.Freeze {
		s, ok := w.spec()
		if !ok {
			continue
		}
		start, end := s.next(now)
		if start.IsZero() {
			continue
		}
		if !found || start.Before(best.Start) {
			best, found = Freeze{Window: w, Index: i, Start: start, End: end}, true
		}
	}
	if found {
		best.Until = c.openAgain(best.End)
	}
	return best, found
}

// FreezeText says, for people, whether production is frozen at now and
// until when, or when the next freeze starts: what `/help`, dry runs and
// the details page show.
func (c Config) FreezeText(now time.Time) string {
	if f, frozen := c.FreezeAt(now); frozen {
		return fmt.Sprintf("frozen now: %s; production opens again %s (in %s)", f.Describe(), f.UntilText(), Age(f.Until.Sub(now)))
	}
	if len(c.Freeze) == 0 {
		return "not frozen; the policy has no `freeze:` windows"
	}
	if f, ok := c.NextFreeze(now); ok {
		return fmt.Sprintf("not frozen; next freeze: %s (in %s)", f.Describe(), Age(f.Start.Sub(now)))
	}
	return "not frozen; no freeze window lies ahead"
}

// freezeSpec is a window read: its kind, its wall-clock bounds and its
// zone.
type freezeSpec struct {
	weekly bool
	// weekly: weekday and minute of the day of each end.
	fromDay, toDay time.Weekday
	fromMin, toMin int
	// once: the wall-clock bounds.
	from, to wallTime
	loc      *time.Location
}

type wallTime struct{ year, month, day, hour, min int }

func (t wallTime) in(loc *time.Location) time.Time {
	return time.Date(t.year, time.Month(t.month), t.day, t.hour, t.min, 0, 0, loc)
}

// spec reads a window, or reports it does not parse.
func (w FreezeWindow) spec() (freezeSpec, bool) {
	s, problems := w.parse()
	return s, len(problems) == 0
}

// freezeProblem is what is wrong with one key of a window.
type freezeProblem struct{ key, msg string }

var (
	weeklyRe = regexp.MustCompile(`^(?i)(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+(\d{1,2}):(\d{2})$`)
	datedRe  = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2}))?$`)
	weekdays = map[string]time.Weekday{"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
		"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday}
	weekdayNames = map[string]string{"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
		"fri": "friday", "sat": "saturday", "sun": "sunday"}
)

func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("not an IANA zone")
	}
	return time.LoadLocation(name)
}

// parse reads a window and lists what is wrong with it, key by key.
func (w FreezeWindow) parse() (freezeSpec, []freezeProblem) {
	var s freezeSpec
	var problems []freezeProblem
	fail := func(key, format string, args ...any) {
		problems = append(problems, freezeProblem{key, fmt.Sprintf(format, args...)})
	}
	switch loc, err := loadZone(strings.TrimSpace(w.Zone)); {
	case strings.TrimSpace(w.Zone) == "":
		fail("zone", "is missing: give the window's time zone, an IANA name like Europe/Berlin or America/New_York (UTC is one too)")
	case err != nil:
		fail("zone", "%q is not a time zone this bot knows; use an IANA name like Europe/Berlin or America/New_York", w.Zone)
	default:
		s.loc = loc
	}
	switch r := strings.TrimSpace(w.Reason); {
	case r == "":
		fail("reason", "is missing: say why production is frozen (people read it when `/promote` is refused)")
	case len(r) > maxFreezeReason:
		fail("reason", "is longer than %d characters; say it in a line", maxFreezeReason)
	case strings.ContainsFunc(r, isControl):
		fail("reason", "contains control characters")
	}
	fromWeekly, fromDated := weeklyRe.FindStringSubmatch(strings.TrimSpace(w.From)), datedRe.FindStringSubmatch(strings.TrimSpace(w.From))
	toWeekly, toDated := weeklyRe.FindStringSubmatch(strings.TrimSpace(w.To)), datedRe.FindStringSubmatch(strings.TrimSpace(w.To))
	shape := func(key, v string, weekly, dated []string) bool {
		switch {
		case strings.TrimSpace(v) == "":
			fail(key, "is missing: a weekday and time like \"Fri 16:00\", or a date like 2026-12-20 (optionally with a time, 2026-12-20 18:00)")
		case weekly == nil && dated == nil:
			fail(key, "%q is neither a weekday and time (\"Fri 16:00\") nor a date (2026-12-20, or 2026-12-20 18:00)", v)
		default:
			return true
		}
		return false
	}
	okFrom, okTo := shape("from", w.From, fromWeekly, fromDated), shape("to", w.To, toWeekly, toDated)
	if !okFrom || !okTo {
		return s, problems
	}
	switch {
	case fromWeekly != nil && toWeekly != nil:
		s.weekly = true
		var ok1, ok2 bool
		s.fromDay, s.fromMin, ok1 = weeklyTime(fail, "from", fromWeekly)
		s.toDay, s.toMin, ok2 = weeklyTime(fail, "to", toWeekly)
		if ok1 && ok2 && s.fromDay == s.toDay && s.fromMin == s.toMin {
			fail("to", "is the same time as from: a weekly window needs an end (\"Fri 16:00\" to \"Mon 08:00\")")
		}
	case fromDated != nil && toDated != nil:
		var ok1, ok2 bool
		s.from, ok1 = datedTime(fail, "from", fromDated)
		s.to, ok2 = datedTime(fail, "to", toDated)
		if ok1 && ok2 && s.loc != nil && !s.to.in(s.loc).After(s.from.in(s.loc)) {
			fail("to", "%q ends before the window starts (%q); a date alone is midnight at its start", w.To, w.From)
		}
	default:
		fail("to", "%q and from %q are not the same kind: write both as weekday times (\"Fri 16:00\", every week) or both as dates (2026-12-20, once)", w.To, w.From)
	}
	return s, problems
}

func weeklyTime(fail func(key, format string, args ...any), key string, m []string) (time.Weekday, int, bool) {
	word := strings.ToLower(strings.Fields(m[0])[0])
	prefix := word[:3]
	if word != prefix && word != weekdayNames[prefix] {
		fail(key, "%q is not a weekday; write Mon, Tue, Wed, Thu, Fri, Sat or Sun", strings.Fields(m[0])[0])
		return 0, 0, false
	}
	h, _ := strconv.Atoi(m[2])
	mi, _ := strconv.Atoi(m[3])
	if h > 23 || mi > 59 {
		fail(key, "%s:%s is not a time of day; write 00:00 to 23:59", m[2], m[3])
		return 0, 0, false
	}
	return weekdays[prefix], h*60 + mi, true
}

func datedTime(fail func(key, format string, args ...any), key string, m []string) (wallTime, bool) {
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	d, _ := strconv.Atoi(m[3])
	var h, mi int
	if m[4] != "" {
		h, _ = strconv.Atoi(m[4])
		mi, _ = strconv.Atoi(m[5])
	}
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != mo || t.Day() != d {
		fail(key, "%s-%s-%s is not a date", m[1], m[2], m[3])
		return wallTime{}, false
	}
	if h > 23 || mi > 59 {
		fail(key, "%s:%s is not a time of day; write 00:00 to 23:59", m[4], m[5])
		return wallTime{}, false
	}
	return wallTime{y, mo, d, h, mi}, true
}

// around is the occurrence that holds at t, or else the latest one that
// started before it: a weekly window's last start at or before t (a
// weekly window is shorter than a week, so no other can hold t), a dated
// window's only one.
func (s freezeSpec) around(t time.Time) (start, end time.Time) {
	if !s.weekly {
		return s.from.in(s.loc), s.to.in(s.loc)
	}
	local := t.In(s.loc)
	back := (int(local.Weekday()) - int(s.fromDay) + 7) % 7
	start = time.Date(local.Year(), local.Month(), local.Day()-back, s.fromMin/60, s.fromMin%60, 0, 0, s.loc)
	if start.After(t) {
		start = time.Date(local.Year(), local.Month(), local.Day()-back-7, s.fromMin/60, s.fromMin%60, 0, 0, s.loc)
	}
	return start, s.endAfter(start)
}

// endAfter is a weekly occurrence's end: the first To after its start,
// counted on the wall clock (a weekend across a daylight-saving change
// lasts an hour more or less).
func (s freezeSpec) endAfter(start time.Time) time.Time {
	days := (int(s.toDay) - int(s.fromDay) + 7) % 7
	if days == 0 && s.toMin <= s.fromMin {
		days = 7
	}
	ls := start.In(s.loc)
	return time.Date(ls.Year(), ls.Month(), ls.Day()+days, s.toMin/60, s.toMin%60, 0, 0, s.loc)
}

// next is the first occurrence that starts after t (zero when none will).
func (s freezeSpec) next(t time.Time) (start, end time.Time) {
	if !s.weekly {
		start, end = s.from.in(s.loc), s.to.in(s.loc)
		if !start.After(t) {
			return time.Time{}, time.Time{}
		}
		return start, end
	}
	last, _ := s.around(t)
	l := last.In(s.loc)
	start = time.Date(l.Year(), l.Month(), l.Day()+7, s.fromMin/60, s.fromMin%60, 0, 0, s.loc)
	return start, s.endAfter(start)
}

// freezeOverlapYear is the year of weeks over which two weekly windows
// in different zones are compared: their offsets differ by season.
var freezeOverlapYear = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// overlaps reports whether two windows of the same kind ever hold at the
// same time. A dated window may cover weekly ones (a year-end freeze
// spans weekends): only windows of one kind are compared.
func (s freezeSpec) overlaps(o freezeSpec) bool {
	meet := func(s1, e1, s2, e2 time.Time) bool { return s1.Before(e2) && s2.Before(e1) }
	if !s.weekly && !o.weekly {
		return meet(s.from.in(s.loc), s.to.in(s.loc), o.from.in(o.loc), o.to.in(o.loc))
	}
	if s.weekly != o.weekly {
		return false
	}
	for week := 0; week <= 53; week++ {
		t := freezeOverlapYear.AddDate(0, 0, 7*week)
		a1, b1 := s.around(t)
		a2, b2 := o.around(t)
		n1, m1 := s.next(t)
		n2, m2 := o.next(t)
		if meet(a1, b1, a2, b2) || meet(a1, b1, n2, m2) || meet(n1, m1, a2, b2) || meet(n1, m1, n2, m2) {
			return true
		}
	}
	return false
}

// freezeWindows validates `freeze:`: each window's times, zone and
// reason, and that no two windows of one kind overlap.
func (c *checker) freezeWindows(windows []FreezeWindow) {
	if len(windows) > MaxFreezeWindows {
		c.fail("freeze", "has %d windows; at most %d", len(windows), MaxFreezeWindows)
		return
	}
	specs := make([]*freezeSpec, len(windows))
	for i, w := range windows {
		s, problems := w.parse()
		for _, p := range problems {
			c.fail(fmt.Sprintf("freeze[%d].%s", i, p.key), "%s", p.msg)
		}
		if len(problems) == 0 {
			specs[i] = &s
		}
	}
	for j := range specs {
		for i := 0; i < j; i++ {
			if specs[i] == nil || specs[j] == nil || !specs[i].overlaps(*specs[j]) {
				continue
			}
			where := fmt.Sprintf("freeze[%d]", i)
			if l := c.line(where); l > 0 {
				where += fmt.Sprintf(" (line %d)", l)
			}
			c.fail(fmt.Sprintf("freeze[%d]", j), "overlaps %s, %s; merge them into one window, or make one end where the other starts", where, windows[i].Describe())
		}
	}
}
