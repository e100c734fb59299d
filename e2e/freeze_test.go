package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// advanceTo moves the simulator's clock to t.
func (w *world) advanceTo(t time.Time) {
	w.t.Helper()
	now := w.h.Sim.Clock().Now()
	if t.Before(now) {
		w.t.Fatalf("the clock is at %s already, past %s", now, t)
	}
	w.h.Sim.Clock().Advance(t.Sub(now))
}

// A weekend freeze in Berlin, played on the simulator's clock across the
// night Berlin falls back from CEST to CET: /promote is refused with the
// window, its reason and when it ends (08:00 CET on Monday, 07:00 UTC,
// not the 06:00 UTC a fixed offset would give); an emergency passes it,
// audited; /rollback is never frozen.
func TestFreezeAcrossDaylightSaving(t *testing.T) {
	w := start(t, harness.Options{Start: time.Date(2026, 10, 23, 9, 0, 0, 0, time.UTC)}) // Friday 11:00 CEST
	in := w.in
	w.usePolicy(`commands:
  emergency:
    users: [rob]
freeze:
  - {from: "Fri 16:00", to: "Mon 08:00", zone: Europe/Berlin, reason: "the weekend: nobody watches production"}
`)
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	help := w.comment(in.Ivan, n, "/help")
	w.reply(n, help, "**Freeze:** not frozen; next freeze: the weekend: nobody watches production (`Fri 16:00 → Mon 08:00 Europe/Berlin`), Fri 2026-10-23 16:00 CEST to Mon 2026-10-26 08:00 CET")

	w.advanceTo(time.Date(2026, 10, 23, 14, 0, 30, 0, time.UTC)) // Friday 16:00 CEST
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "/promote refused: not frozen.", "production is frozen: the weekend: nobody watches production",
		"it opens again Mon 2026-10-26 08:00 CET", "`/promote --emergency REASON`")
	dry := w.comment(in.Ivan, n, "/promote --dry-run")
	w.reply(n, dry, "would refuse", "| not frozen | ❌ | frozen until Mon 2026-10-26 08:00 CET |")

	// Monday 07:30 CET is 06:30 UTC: still frozen after the clocks went back.
	w.advanceTo(time.Date(2026, 10, 26, 6, 30, 0, 0, time.UTC))
	id = w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "/promote refused: not frozen.", "(in 29 minutes)")
	if len(w.botDeployments()) != 0 {
		t.Fatal("deployed during a freeze")
	}
	em := w.comment(in.Rob, n, "/promote --emergency card payments fail for every customer")
	w.reply(n, em, "Promoting #")
	d, p := w.onlyDeployment()
	if d.SHA != head || !p.Emergency {
		t.Fatalf("deployment %+v payload %+v", d, p)
	}
	audit, _ := w.in.Repo.PR(p.AuditIssue)
	if !strings.Contains(audit.Body, "A freeze was overridden") || !strings.Contains(audit.Body, "the weekend: nobody watches production") {
		t.Errorf("the audit issue does not say a freeze was overridden:\n%s", audit.Body)
	}
	w.report(d.ID, "success")

	// The next Friday, 16:30 CET: frozen, and /rollback still runs.
	w.advanceTo(time.Date(2026, 10, 30, 15, 30, 0, 0, time.UTC))
	issue := w.in.Repo.CreateIssue(in.Rob, "Payments slow since v1.4.3", "")
	w.settle()
	rb := w.comment(in.Rob, issue, "/rollback")
	w.reply(issue, rb, "Rolling production back from v1.4.3 to v1.4.2")
	if ds := w.botDeployments(); ds[len(ds)-1].Task != policy.TaskRollback {
		t.Error("the rollback was frozen")
	}
	w.noHandlerErrors()
}

// A dated freeze over the year end, in New York: refused on New Year's
// Eve with the end in EST, allowed once January 4 begins there.
func TestFreezeAcrossTheYearEnd(t *testing.T) {
	w := start(t, harness.Options{Start: time.Date(2026, 12, 31, 20, 0, 0, 0, time.UTC)})
	in := w.in
	w.usePolicy("freeze:\n  - {from: 2026-12-20, to: 2027-01-04, zone: America/New_York, reason: the year-end freeze}\n")
	n, head := w.approvedHotfix("hotfix/payment-timeout")
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "/promote refused: not frozen.", "the year-end freeze", "it opens again Mon 2027-01-04 00:00 EST")
	w.advanceTo(time.Date(2027, 1, 4, 5, 0, 30, 0, time.UTC))
	id = w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "Promoting #")
	if d, _ := w.onlyDeployment(); d.SHA != head {
		t.Errorf("deployed %s", d.SHA)
	}
	w.noHandlerErrors()
}
