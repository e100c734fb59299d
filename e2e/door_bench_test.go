package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/harness"
)

// BenchmarkDoor: the bot's own cost of answering a delivery that needs no
// work (a feature-branch push, a pull request into develop, a comment
// without a command, a ping), in process, without the network: signature,
// door, metrics, answer. What BenchmarkLoad's CPU-s-per-1000 is made of.
//
//	go test -run '^$' -bench Door -benchmem -cpuprofile /tmp/door.prof ./e2e/
func BenchmarkDoor(b *testing.B) {
	h, err := harness.New(harness.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	in, err := h.SetupIncident()
	if err != nil {
		b.Fatal(err)
	}
	h.Sim.DiscardPending()
	lw := &loadWorld{sim: h.Sim, app: h.App, templates: map[string]map[string]any{}}
	lw.readTemplates(b)
	lw.installs = []loadInstall{{id: in.Inst.ID, repo: in.Repo, dev: in.Dana}}
	// The policy is cached, as on a bot that has been up.
	w := &benchWorld{h: h, in: in}
	w.hotfixFromProductionBench(b)
	deliveries := lw.deliveries(b, 400, 0)
	bodies := make([][]byte, len(deliveries))
	for i, d := range deliveries {
		if bodies[i], err = json.Marshal(d[1]); err != nil {
			b.Fatal(err)
		}
	}
	handler := h.Bots[0].Handler()
	post := func(i int) {
		k := i % len(bodies)
		req := httptest.NewRequest(http.MethodPost, "/api/github/hook", bytes.NewReader(bodies[k]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", deliveries[k][0].(string))
		req.Header.Set("X-GitHub-Delivery", "door-"+strconv.Itoa(i))
		req.Header.Set("X-Hub-Signature-256", h.App.Signature256(bodies[k]))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code/100 != 2 {
			b.Fatalf("a %s delivery was answered %d: %s", deliveries[k][0], rec.Code, rec.Body)
		}
	}
	// One of each kind first: the bot resolves and caches the policy for
	// pull requests into develop, as a bot that has been up has.
	for i := range 4 {
		post(i)
	}
	w.settle(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		post(i)
	}
	b.StopTimer()
	if n, err := h.Settle(b.Context()); err != nil || n != 0 {
		b.Fatalf("irrelevant deliveries made work: %d deliveries, %v", n, err)
	}
}
