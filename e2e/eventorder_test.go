package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
)

// The event-order matrix (RELIABILITY.md, "Events out of order"): every
// deployment_status that can change production or the lock, delivered in
// each disorder GitHub allows. A status that no longer describes GitHub
// must change nothing (no write at all, or only the one comment saying so);
// one that still does must have the outcome it has in order.

// orderRow is one status: how to reach the moment before it, and what it
// does when delivered in order.
type orderRow struct {
	name string
	// setup brings a fresh world to just before the status and returns
	// the deployment it is about and the pull request of the story (0 for
	// a deployment the bot did not create).
	setup func(w *world) (dep int64, pr int)
	state string
	// expect asserts the status's outcome when handled in order.
	expect func(w *world, dep int64, pr int)
}

// orderColumn is one disorder.
type orderColumn struct {
	name     string
	replicas int
	run      func(w *world, row orderRow)
}

func TestEventOrderMatrix(t *testing.T) {
	for _, row := range orderRows() {
		for _, col := range orderColumns() {
			t.Run(row.name+"/"+col.name, func(t *testing.T) {
				w := start(t, harness.Options{Replicas: col.replicas})
				col.run(w, row)
				w.noHandlerErrors()
			})
		}
	}
}

// movingTagPolicy and stagedPolicy are the matrix's policies: a moving
// tag shows what the bot thinks production runs.
const (
	movingTagPolicy = "production:\n  moving_tag: production\n"
	stagedPolicy    = movingTagPolicy + "promote:\n  environments: [staging, production]\n"
)

func (w *world) usePolicy(text string) {
	w.t.Helper()
	must[string](w.t)(w.in.Repo.Push(w.in.Rob, "main", "Configure hotfix-bot", ghsim.Files{".github/hotfix-bot.yml": text}))
	w.settle()
}

// promoted is an approved hotfix under a policy, promoted: its first
// deployment (not reported yet) and pull request.
func (w *world) promoted(policyText string) (int64, int) {
	w.t.Helper()
	w.usePolicy(policyText)
	n, _ := w.approvedHotfix("hotfix/order")
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	return d.ID, n
}

func orderRows() []orderRow {
	chainStopped := func(w *world, dep int64, pr int) {
		if ds := w.botDeployments(); len(ds) != 1 {
			w.t.Errorf("%d deployments after a staging failure, want 1", len(ds))
		}
		if w.lockHeld() {
			w.t.Error("the lock is still held after the chain stopped")
		}
		w.oneComment(pr, fmt.Sprintf("hotfix-bot:failed:%d", dep), "The chain stopped")
	}
	rolledBack := func(w *world, dep int64, pr int) {
		ds := w.botDeployments()
		if len(ds) != 2 || ds[1].Task != "deploy:rollback" || ds[1].SHA != w.in.V142 {
			w.t.Fatalf("deployments after a production failure: %+v", ds)
		}
		if !w.lockHeld() {
			w.t.Error("the rollback does not hold the lock")
		}
		w.oneComment(pr, fmt.Sprintf("hotfix-bot:failed:%d", dep), "Rolling production back to v1.4.2")
	}
	rollbackFrom := func(w *world) (int64, int) {
		w.usePolicy(movingTagPolicy)
		n := w.released("hotfix/order")
		w.comment(w.in.Rob, n, "/rollback")
		ds := w.botDeployments()
		if len(ds) != 2 || ds[1].Task != "deploy:rollback" {
			w.t.Fatalf("no rollback deployment: %+v", ds)
		}
		return ds[1].ID, n
	}
	foreign := func(w *world) (int64, int) {
		w.usePolicy(movingTagPolicy)
		id := must[int64](w.t)(w.in.Repo.Deploy(w.in.CD, "v1.4.1", "production"))
		w.settle()
		return id, 0
	}
	return []orderRow{
		{name: "staging success (step 1 of 2)", state: "success",
			setup: func(w *world) (int64, int) { return w.promoted(stagedPolicy) },
			expect: func(w *world, dep int64, pr int) {
				ds := w.botDeployments()
				if len(ds) != 2 || ds[1].Environment != "production" || payloadOf(w.t, ds[1]).ChainIndex != 1 {
					w.t.Fatalf("after staging succeeded: %+v", ds)
				}
				if !w.lockHeld() {
					w.t.Error("the chain does not hold the lock")
				}
			}},
		{name: "staging failure (step 1 of 2)", state: "failure",
			setup:  func(w *world) (int64, int) { return w.promoted(stagedPolicy) },
			expect: chainStopped},
		{name: "staging error (step 1 of 2)", state: "error",
			setup:  func(w *world) (int64, int) { return w.promoted(stagedPolicy) },
			expect: chainStopped},
		{name: "production success (step 2 of 2)", state: "success",
			setup: func(w *world) (int64, int) {
				d, n := w.promoted(stagedPolicy)
				w.report(d, "success")
				return w.botDeployments()[1].ID, n
			},
			expect: func(w *world, dep int64, pr int) {
				r := w.in.Repo
				head := w.botDeployments()[1].SHA
				if r.TagCommit("v1.4.3") != head || r.TagCommit("production") != head {
					w.t.Errorf("v1.4.3 at %q, production at %q, want both at %s", r.TagCommit("v1.4.3"), r.TagCommit("production"), head)
				}
				if is, _ := r.PR(pr); !is.PR.Merged {
					w.t.Error("the hotfix is not merged")
				}
				if w.lockHeld() {
					w.t.Error("the lock is still held")
				}
				w.oneComment(pr, fmt.Sprintf("hotfix-bot:deployed:%d", dep), "is in production as v1.4.3")
			}},
		{name: "production failure", state: "failure",
			setup:  func(w *world) (int64, int) { return w.promoted(movingTagPolicy) },
			expect: rolledBack},
		{name: "production error", state: "error",
			setup:  func(w *world) (int64, int) { return w.promoted(movingTagPolicy) },
			expect: rolledBack},
		{name: "rollback success", state: "success", setup: rollbackFrom,
			expect: func(w *world, dep int64, pr int) {
				if w.lockHeld() {
					w.t.Error("the lock is still held")
				}
				if got := w.in.Repo.TagCommit("production"); got != w.in.V142 {
					w.t.Errorf("the moving tag is at %q, want v1.4.2", got)
				}
				if len(w.incidentIssues()) != 1 {
					w.t.Errorf("%d incident issues, want 1", len(w.incidentIssues()))
				}
				w.oneComment(pr, fmt.Sprintf("hotfix-bot:rolledback:%d", dep), "Production is back on v1.4.2")
			}},
		{name: "rollback failure", state: "failure", setup: rollbackFrom,
			expect: func(w *world, dep int64, pr int) {
				if w.lockHeld() {
					w.t.Error("the lock is still held")
				}
				w.oneComment(pr, fmt.Sprintf("hotfix-bot:rollbackfailed:%d", dep), "The rollback failed")
			}},
		{name: "a deployment the bot did not create, success", state: "success", setup: foreign,
			expect: func(w *world, dep int64, pr int) {
				if got := w.in.Repo.TagCommit("production"); got != w.in.V141 {
					w.t.Errorf("the moving tag is at %q, want v1.4.1, which production now runs", got)
				}
			}},
		{name: "a deployment the bot did not create, failure", state: "failure", setup: foreign,
			expect: func(w *world, dep int64, pr int) {
				if got := w.in.Repo.TagCommit("production"); got != "" {
					w.t.Errorf("the moving tag moved to %q on a failure", got)
				}
				if len(w.botDeployments()) != 0 {
					w.t.Error("the bot deployed after someone else's failure")
				}
			}},
	}
}

func orderColumns() []orderColumn {
	return []orderColumn{
		{name: "late after a newer deployment succeeded", run: func(w *world, row orderRow) {
			dep, pr := row.setup(w)
			w.post(dep, row.state, w.in.CD)
			held := w.h.Sim.Postpone(func(ghsim.Delivery) bool { return true })
			w.moveOn()
			writes := w.deliveredLate(held)
			w.changedAtMostALateReport(writes, pr, dep, row.state)
		}},
		{name: "replayed hours later by the sweep", run: func(w *world, row orderRow) {
			dep, pr := row.setup(w)
			from := len(w.h.Sim.Deliveries())
			w.post(dep, row.state, w.in.CD)
			w.settle()
			row.expect(w, dep, pr)
			first := w.statusDeliveries(from, dep, row.state)
			w.moveOn()
			w.h.Sim.Clock().Advance(3 * time.Hour)
			w.h.Sim.ResetCalls()
			for _, d := range first {
				noErr(w.t, w.h.Sim.Redeliver(w.ctx, d.ID))
			}
			w.settle()
			if b := w.h.Account(); b.Writes != 0 {
				w.t.Errorf("the replay wrote %d times: %v", b.Writes, b.ByOp)
			}
		}},
		{name: "out of order with the status that follows it", run: func(w *world, row orderRow) {
			dep, pr := row.setup(w)
			w.post(dep, row.state, w.in.CD)
			held := w.h.Sim.Postpone(func(ghsim.Delivery) bool { return true })
			// The CD system reports again on the same deployment (a re-run
			// job, a post-deploy check), and that arrives first.
			w.post(dep, map[string]string{"success": "failure", "failure": "success", "error": "success"}[row.state], w.in.CD)
			w.settle()
			writes := w.deliveredLate(held)
			if writes.Writes != 0 {
				w.t.Errorf("a status its deployment had replaced wrote %d times: %v", writes.Writes, writes.ByOp)
			}
			_ = pr
		}},
		{name: "posted by another actor", run: func(w *world, row orderRow) {
			dep, pr := row.setup(w)
			mallory := w.h.Sim.User("mallory")
			w.in.Repo.SetRole("mallory", "write")
			w.post(dep, row.state, mallory)
			w.settle()
			row.expect(w, dep, pr)
			if row.state != "success" && pr != 0 {
				if got := w.botComments(pr, fmt.Sprintf(":%d -->", dep)); len(got) == 0 || !strings.Contains(got[0].Body, "@mallory") {
					w.t.Errorf("the report does not say who reported it: %v", got)
				}
			}
		}},
		{name: "delivered to two replicas at once", replicas: 2, run: func(w *world, row orderRow) {
			dep, pr := row.setup(w)
			w.h.Sim.SetDuplicateDelivery(w.h.App, true)
			w.post(dep, row.state, w.in.CD)
			w.settle()
			row.expect(w, dep, pr)
			w.nothingTwice(pr)
		}},
	}
}

// post is someone reporting a status on a deployment, not delivered yet.
func (w *world) post(id int64, state string, who *ghsim.User) {
	w.t.Helper()
	noErr(w.t, w.in.Repo.SetDeploymentStatusWithLog(who, id, state, "CD "+state, "https://ci.example.com/runs/"+itoa(id)))
}

// moveOn is the world going on while a status is held up: a maintainer
// frees the lock, and the release pipeline deploys release/1.5 to
// production successfully.
func (w *world) moveOn() {
	w.t.Helper()
	r, in := w.in.Repo, w.in
	if w.lockHeld() {
		ops := r.CreateIssue(in.Rob, "Production", "")
		w.comment(in.Rob, ops, "/unlock")
	}
	id := must[int64](w.t)(r.Deploy(in.CD, "release/1.5", "production"))
	w.settle()
	w.report(id, "success")
}

// deliveredLate sends held deliveries now and returns the bot's calls
// while it handled them.
func (w *world) deliveredLate(held []string) harness.Budget {
	w.t.Helper()
	w.h.Sim.ResetCalls()
	for _, id := range held {
		w.deliverLate(id, 0)
	}
	w.settle()
	return w.h.Account()
}

// changedAtMostALateReport asserts a late status wrote nothing but the
// one comment saying it changed nothing.
func (w *world) changedAtMostALateReport(b harness.Budget, pr int, dep int64, state string) {
	w.t.Helper()
	if b.Writes > b.ByOp["issues/create-comment"] || b.ByOp["issues/create-comment"] > 1 {
		w.t.Errorf("a late status wrote more than its report: %v", b.ByOp)
	}
	if b.ByOp["issues/create-comment"] == 1 {
		w.oneComment(pr, fmt.Sprintf("hotfix-bot:late:%d:%s", dep, state), "Nothing was changed")
	}
}

// statusDeliveries are the deliveries since `from` of a status of a
// deployment.
func (w *world) statusDeliveries(from int, dep int64, state string) []ghsim.Delivery {
	w.t.Helper()
	var out []ghsim.Delivery
	for _, d := range w.h.Sim.Deliveries()[from:] {
		var p deliveryFacts
		if d.Event == "deployment_status" && json.Unmarshal(d.Payload, &p) == nil && p.Deployment.ID == dep && p.DeploymentStatus.State == state {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		w.t.Fatalf("no %s delivery for deployment %d", state, dep)
	}
	return out
}

// oneComment asserts exactly one bot comment carries a marker, and that
// it says each fragment.
func (w *world) oneComment(n int, marker string, fragments ...string) {
	w.t.Helper()
	got := w.botComments(n, marker)
	if len(got) != 1 {
		w.t.Fatalf("%d comments with %s on #%d, want 1", len(got), marker, n)
	}
	for _, f := range fragments {
		if !strings.Contains(got[0].Body, f) {
			w.t.Errorf("comment %s lacks %q:\n%s", marker, f, got[0].Body)
		}
	}
}

// nothingTwice asserts no bot comment marker, deployment step or tag
// exists twice.
func (w *world) nothingTwice(pr int) {
	w.t.Helper()
	if pr != 0 {
		seen := map[string]int{}
		for _, c := range w.in.Repo.Comments(pr) {
			if c.User.Type == "Bot" {
				if i := strings.Index(c.Body, "<!-- hotfix-bot:"); i >= 0 {
					seen[c.Body[i:i+strings.Index(c.Body[i:], "-->")]]++
				}
			}
		}
		for m, n := range seen {
			if n > 1 {
				w.t.Errorf("%d comments with %s", n, m)
			}
		}
	}
	steps := map[string]int{}
	for _, d := range w.botDeployments() {
		p := payloadOf(w.t, d)
		steps[fmt.Sprintf("%s %d %d %d", p.Kind, p.CommentID, p.FailedDeployment, p.ChainIndex)]++
	}
	for s, n := range steps {
		if n > 1 {
			w.t.Errorf("%d deployments of step %s", n, s)
		}
	}
}
