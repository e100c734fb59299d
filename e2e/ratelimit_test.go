package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestExhaustedPrimaryLimitPausesTheInstallationUntilReset(t *testing.T) {
	w := start(t, harness.Options{})
	// The installation has spent its hour's budget; it comes back in 20
	// minutes (of simulated time).
	w.h.Sim.ExhaustRateLimit(w.in.Inst, 20*time.Minute)
	reset := w.h.Sim.Clock().Now().Add(20 * time.Minute)
	head := w.hotfixFromProduction("hotfix/limited")
	w.settle()
	// The event waited in the queue and then completed.
	w.expect(head, policy.CheckBase, policy.Success)
	w.expect(head, policy.CheckSchema, policy.Success)
	w.onePerName(head)
	w.noHandlerErrors()

	// After the first refusal, the bot made no call for the installation
	// until the reset: it did not hammer GitHub with refused requests.
	var refused []time.Time
	early := 0
	for _, c := range w.h.Sim.Calls() {
		if c.Installation != w.in.Inst.ID {
			continue
		}
		if c.Status == http.StatusForbidden || c.Status == http.StatusTooManyRequests {
			refused = append(refused, c.At)
		} else if len(refused) > 0 && c.At.Before(reset) {
			early++
		}
	}
	if len(refused) == 0 || len(refused) > facts.ReadsInFlight {
		t.Errorf("%d calls refused for the rate limit, want the first (and at most those already in flight)", len(refused))
	}
	if early != 0 {
		t.Errorf("%d calls before the limit reset", early)
	}
	// Visible in metrics and logs.
	bot := w.h.Bots[0].Metrics()
	if n := testutil.ToFloat64(bot.RateLimited.WithLabelValues("primary")); n != 1 {
		t.Errorf("rate_limited{primary} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(bot.Requeued.WithLabelValues("rate_limited")); n < 1 {
		t.Error("the event was not put back in the queue")
	}
	if !strings.Contains(w.log.String(), `"limit":"primary"`) {
		t.Error("the pause was not logged")
	}
}
