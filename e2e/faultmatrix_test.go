package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// The fault matrix: every step of the hotfix lifecycle under every kind
// of trouble GitHub and the deployment give the bot. RELIABILITY.md holds
// the table this test proves; keep them in step.
//
// A step is the people's action that starts it (a push, a label, a
// comment, a status from CD) and the GitHub write at its heart, where the
// faults are injected. Each scenario asserts the step's end state with
// nothing duplicated, or, where GitHub keeps failing, a failure report on
// GitHub and in the log and nothing half-done; and then that once GitHub
// is healthy the step can be done again to the same end state.

// matrixStep is one lifecycle step.
type matrixStep struct {
	name string
	// op is the GitHub operation the faults hit.
	op string
	// setup brings a world to just before the step.
	setup func(w *world) *stepRun
}

// stepRun is one step in one world.
type stepRun struct {
	// trigger is the people's (or CD's) action; its deliveries are not
	// delivered yet.
	trigger func()
	// isTrigger picks the trigger's deliveries (to deliver them again).
	isTrigger func(d ghsim.Delivery, p deliveryFacts) bool
	// redo is how people get the step done after GitHub kept failing,
	// once it is healthy: nil redelivers the trigger (the app's "Redeliver"
	// button, the sweep); commands are given again.
	redo func()
	// reported asserts the failure report after GitHub kept failing the
	// step, and that nothing was half-done.
	reported func()
	// done asserts the step's end state, nothing duplicated.
	done func()
}

// deliveryFacts are what scenarios match deliveries on.
type deliveryFacts struct {
	Action string `json:"action"`
	Ref    string `json:"ref"`
	Sender struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"sender"`
	Comment struct {
		ID int64 `json:"id"`
	} `json:"comment"`
	Label struct {
		Name string `json:"name"`
	} `json:"label"`
	Deployment struct {
		ID int64 `json:"id"`
	} `json:"deployment"`
	DeploymentStatus struct {
		State string `json:"state"`
	} `json:"deployment_status"`
}

// matrixFault is one kind of trouble.
type matrixFault struct {
	name string
	opts harness.Options
	run  func(w *world, op string, s *stepRun)
}

func matrixSteps() []matrixStep {
	return []matrixStep{
		{name: "push gates", op: "checks/create", setup: func(w *world) *stepRun {
			var head string
			return &stepRun{
				trigger: func() { head = w.hotfixFromProduction("hotfix/matrix") },
				isTrigger: func(d ghsim.Delivery, p deliveryFacts) bool {
					return d.Event == "push" && p.Ref == "refs/heads/hotfix/matrix"
				},
				reported: func() {
					// Not one gate could be written: nothing says success.
					for _, name := range []string{policy.CheckBase, policy.CheckSchema} {
						if cr, ok := w.in.Repo.CheckRun(head, name); ok && cr.Conclusion == policy.Success {
							w.t.Errorf("%s succeeded although its check run could not be written", name)
						}
					}
				},
				done: func() {
					w.expect(head, policy.CheckBase, policy.Success)
					w.expect(head, policy.CheckSchema, policy.Success)
					w.onePerName(head)
					if runs := w.botRuns(head); len(runs) < 2 || len(runs) > 4 {
						w.t.Errorf("%d check runs, want base and schema (and at most a superseded duplicate of each)", len(runs))
					}
				},
			}
		}},
		{name: "label gates", op: "checks/update", setup: func(w *world) *stepRun {
			head := w.hotfixFromProduction("hotfix/matrix")
			n := must[int](w.t)(w.in.Repo.OpenPR(w.in.Dana, "hotfix/matrix", "main", "Raise the payment timeout"))
			w.settle()
			w.expect(head, policy.CheckApproval, policy.Failure)
			return &stepRun{
				trigger: func() { noErr(w.t, w.in.Repo.AddLabel(w.in.Rob, n, "hotfix-approved")) },
				isTrigger: func(d ghsim.Delivery, p deliveryFacts) bool {
					return d.Event == "pull_request" && p.Action == "labeled" && p.Label.Name == "hotfix-approved"
				},
				reported: func() {
					// Fail closed: the approval never turned green.
					if cr := w.check(head, policy.CheckApproval); cr.Conclusion == policy.Success {
						w.t.Error("the approval check passed although it could not be written")
					}
				},
				done: func() {
					w.expect(head, policy.CheckApproval, policy.Success)
					w.onePerName(head)
				},
			}
		}},
		{name: "promote", op: "repos/create-deployment", setup: func(w *world) *stepRun {
			n, head := w.approvedHotfix("hotfix/matrix")
			s := &stepRun{}
			var id int64
			s.trigger = func() { id = must[int64](w.t)(w.in.Repo.Comment(w.in.Rob, n, "/promote")) }
			s.isTrigger = func(d ghsim.Delivery, p deliveryFacts) bool { return d.Event == "issue_comment" && p.Comment.ID == id }
			s.redo = func() { s.trigger() }
			s.reported = func() {
				w.reply(n, id, "/promote failed", "create the deployment", "503", "comment the command again")
				if len(w.botDeployments()) != 0 || w.lockHeld() {
					w.t.Errorf("half-done: %d deployments, lock held %v", len(w.botDeployments()), w.lockHeld())
				}
			}
			s.done = func() {
				d, p := w.onlyDeployment()
				if d.SHA != head || d.Environment != "production" || p.CommentID != id {
					w.t.Errorf("deployment %+v payload %+v", d, p)
				}
				w.reply(n, id, "Promoting #")
				if !w.lockHeld() {
					w.t.Error("the production lock is not held while the deployment runs")
				}
			}
			return s
		}},
		{name: "staged step", op: "repos/create-deployment", setup: func(w *world) *stepRun {
			must[string](w.t)(w.in.Repo.Push(w.in.Rob, "main", "Configure hotfix-bot", ghsim.Files{
				".github/hotfix-bot.yml": "promote:\n  environments: [staging, production]\n",
			}))
			w.settle()
			n, head := w.approvedHotfix("hotfix/matrix")
			id := w.comment(w.in.Rob, n, "/promote")
			staging, _ := w.onlyDeployment()
			return &stepRun{
				trigger: func() { w.cdReports(staging.ID, "success") },
				isTrigger: func(d ghsim.Delivery, p deliveryFacts) bool {
					return d.Event == "deployment_status" && p.Deployment.ID == staging.ID && p.DeploymentStatus.State == "success"
				},
				reported: func() {
					got := w.botComments(n, "could not create the `production` deployment")
					if len(got) != 1 || !strings.Contains(got[0].Body, "503") || !strings.Contains(got[0].Body, "/unlock") {
						w.t.Errorf("stuck reports = %v", got)
					}
					if len(w.botDeployments()) != 1 {
						w.t.Errorf("%d deployments, want staging only", len(w.botDeployments()))
					}
				},
				done: func() {
					ds := w.botDeployments()
					if len(ds) != 2 || ds[1].Environment != "production" || ds[1].SHA != head || payloadOf(w.t, ds[1]).ChainIndex != 1 {
						w.t.Fatalf("deployments %+v", ds)
					}
					if plan := w.reply(n, id); !strings.Contains(plan.Body, "✅ succeeded") || !strings.Contains(plan.Body, itoa(ds[1].ID)) {
						w.t.Errorf("plan not moved on:\n%s", plan.Body)
					}
					if stuck := w.botComments(n, "could not create the"); len(stuck) != 0 {
						w.t.Errorf("a stuck report left standing: %v", stuck[0].Body)
					}
					if w.in.Repo.TagCommit("v1.4.3") != "" {
						w.t.Error("tagged after staging")
					}
				},
			}
		}},
		{name: "success handling", op: "pulls/merge", setup: func(w *world) *stepRun {
			return w.successStep(func(n int) {
				got := w.botComments(n, "hotfix-bot:deployed:")
				if len(got) != 1 || !strings.Contains(got[0].Body, "not merged") || !strings.Contains(got[0].Body, "503") || !strings.Contains(got[0].Body, "by hand") {
					w.t.Errorf("summaries = %v", got)
				}
				if w.in.Repo.TagCommit("v1.4.3") == "" {
					w.t.Error("the tag, done before the merge, is missing")
				}
			})
		}},
		{name: "sync-back", op: "pulls/create", setup: func(w *world) *stepRun {
			return w.successStep(func(n int) {
				got := w.botComments(n, "hotfix-bot:deployed:")
				if len(got) != 1 || !strings.Contains(got[0].Body, "503") {
					w.t.Errorf("summaries = %v", got)
				}
				if len(w.pullsInto("develop", "hotfix-bot/sync/"))+len(w.pullsInto("release/1.5", "hotfix-bot/sync/")) != 0 {
					w.t.Error("a sync PR although creating pull requests failed")
				}
				if pr, _ := w.in.Repo.PR(n); !pr.PR.Merged {
					w.t.Error("the merge, done before the sync-back, is missing")
				}
			})
		}},
		{name: "failure + auto-rollback", op: "repos/create-deployment", setup: func(w *world) *stepRun {
			n, _ := w.approvedHotfix("hotfix/matrix")
			w.comment(w.in.Rob, n, "/promote")
			d, _ := w.onlyDeployment()
			return &stepRun{
				trigger: func() { w.cdReports(d.ID, "failure") },
				isTrigger: func(del ghsim.Delivery, p deliveryFacts) bool {
					return del.Event == "deployment_status" && p.Deployment.ID == d.ID && p.DeploymentStatus.State == "failure"
				},
				reported: func() {
					got := w.botComments(n, "hotfix-bot:failed:")
					if len(got) != 1 || !strings.Contains(got[0].Body, "could not be created") || !strings.Contains(got[0].Body, "/rollback") {
						w.t.Errorf("failure reports = %v", got)
					}
					if len(w.botDeployments()) != 1 || w.lockHeld() {
						w.t.Errorf("half-done: %d deployments, lock held %v", len(w.botDeployments()), w.lockHeld())
					}
				},
				done: func() {
					ds := w.botDeployments()
					if len(ds) != 2 {
						w.t.Fatalf("%d deployments, want the failed one and one rollback", len(ds))
					}
					p := payloadOf(w.t, ds[1])
					if ds[1].Task != policy.TaskRollback || ds[1].SHA != w.in.V142 || !p.Automatic || p.FailedDeployment != d.ID {
						w.t.Errorf("rollback %+v payload %+v", ds[1], p)
					}
					got := w.botComments(n, "hotfix-bot:failed:")
					if len(got) != 1 || !strings.Contains(got[0].Body, "Rolling production back to v1.4.2 automatically") {
						w.t.Errorf("failure reports = %v", got)
					}
				},
			}
		}},
		{name: "rollback command", op: "repos/create-deployment", setup: func(w *world) *stepRun {
			n := w.released("hotfix/matrix")
			s := &stepRun{}
			var id int64
			s.trigger = func() { id = must[int64](w.t)(w.in.Repo.Comment(w.in.Rob, n, "/rollback")) }
			s.isTrigger = func(d ghsim.Delivery, p deliveryFacts) bool { return d.Event == "issue_comment" && p.Comment.ID == id }
			s.redo = func() { s.trigger() }
			s.reported = func() {
				w.reply(n, id, "/rollback failed", "rollback deployment", "503", "comment the command again")
				if len(w.botDeployments()) != 1 || w.lockHeld() {
					w.t.Errorf("half-done: %d deployments, lock held %v", len(w.botDeployments()), w.lockHeld())
				}
			}
			s.done = func() {
				ds := w.botDeployments()
				if len(ds) != 2 || ds[1].Task != policy.TaskRollback || ds[1].SHA != w.in.V142 || payloadOf(w.t, ds[1]).CommentID != id {
					w.t.Fatalf("deployments %+v", ds)
				}
				w.reply(n, id, "Rolling production back from v1.4.3 to v1.4.2")
			}
			return s
		}},
		{name: "hotfix start", op: "git/create-ref", setup: func(w *world) *stepRun {
			issue := w.in.Repo.CreateIssue(w.in.Rob, "Payments time out", "")
			w.settle()
			s := &stepRun{}
			var id int64
			s.trigger = func() { id = must[int64](w.t)(w.in.Repo.Comment(w.in.Dana, issue, "/hotfix start matrix")) }
			s.isTrigger = func(d ghsim.Delivery, p deliveryFacts) bool { return d.Event == "issue_comment" && p.Comment.ID == id }
			s.redo = func() { s.trigger() }
			s.reported = func() {
				w.reply(issue, id, "/hotfix start failed", "503", "comment the command again")
				if w.in.Repo.Branch("hotfix/matrix") != "" {
					w.t.Error("the branch exists although its creation failed")
				}
			}
			s.done = func() {
				if got := w.in.Repo.Branch("hotfix/matrix"); got != w.in.V142 {
					w.t.Errorf("hotfix/matrix at %q, want production", got)
				}
				// Created, or (a crash after GitHub made it) found there.
				body := w.reply(issue, id).Body
				if !strings.Contains(body, "`hotfix/matrix`") || !strings.Contains(body, "production v1.4.2") {
					w.t.Errorf("reply:\n%s", body)
				}
			}
			return s
		}},
	}
}

// successStep is CD reporting the production deployment of a promoted
// hotfix a success: tag, merge, lock, sync-back, summary.
func (w *world) successStep(reported func(n int)) *stepRun {
	n, head := w.approvedHotfix("hotfix/matrix")
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	return &stepRun{
		trigger: func() { w.cdReports(d.ID, "success") },
		isTrigger: func(del ghsim.Delivery, p deliveryFacts) bool {
			return del.Event == "deployment_status" && p.Deployment.ID == d.ID && p.DeploymentStatus.State == "success"
		},
		reported: func() { reported(n) },
		done: func() {
			r := w.in.Repo
			if r.TagCommit("v1.4.3") != head {
				w.t.Error("v1.4.3 is not at the deployed head")
			}
			if pr, _ := r.PR(n); !pr.PR.Merged {
				w.t.Error("the hotfix is not merged")
			}
			if w.lockHeld() {
				w.t.Error("the production lock is still held")
			}
			for _, base := range []string{"develop", "release/1.5"} {
				if got := w.pullsInto(base, "hotfix-bot/sync/"); len(got) != 1 {
					w.t.Errorf("%d sync PRs into %s, want 1", len(got), base)
				}
			}
			got := w.botComments(n, "hotfix-bot:deployed:")
			if len(got) != 1 || !strings.Contains(got[0].Body, "is in production as v1.4.3") || strings.Contains(got[0].Body, "❌") {
				w.t.Errorf("summaries = %v", got)
			}
		},
	}
}

// cdReports is the CD system reporting a status, not delivered yet.
func (w *world) cdReports(id int64, state string) {
	w.t.Helper()
	noErr(w.t, w.in.Repo.SetDeploymentStatusWithLog(w.in.CD, id, state, "CD "+state, "https://ci.example.com/runs/"+itoa(id)))
}

// lockHeld reports whether the production lock is held.
func (w *world) lockHeld() bool {
	r := w.in.Repo
	sha := r.Ref("refs/hotfix-bot/production-lock")
	return sha != "" && strings.Contains(r.CommitMessage(sha), `"state":"held"`)
}

// deliveriesSince are the deliveries after the first `from` that s's
// trigger caused.
func (w *world) triggerDeliveries(from int, s *stepRun) []ghsim.Delivery {
	var out []ghsim.Delivery
	all := w.h.Sim.Deliveries()
	for _, d := range all[from:] {
		var p deliveryFacts
		if json.Unmarshal(d.Payload, &p) == nil && s.isTrigger(d, p) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		w.t.Fatal("the trigger caused no delivery")
	}
	return out
}

// redeliver sends deliveries again, as the app's "Redeliver" button does.
func (w *world) redeliver(ds []ghsim.Delivery) {
	w.t.Helper()
	for _, d := range ds {
		noErr(w.t, w.h.Sim.Redeliver(w.ctx, d.ID))
	}
	w.settle()
}

// logHas asserts the bots logged an error containing each fragment.
func (w *world) loggedError(fragments ...string) {
	w.t.Helper()
	for _, line := range strings.Split(w.log.String(), "\n") {
		if !strings.Contains(line, `"level":"error"`) {
			continue
		}
		all := true
		for _, f := range fragments {
			all = all && strings.Contains(line, f)
		}
		if all {
			return
		}
	}
	w.t.Errorf("no error logged with %q", fragments)
}

func matrixFaults() []matrixFault {
	return []matrixFault{
		{name: "5xx once", run: func(w *world, op string, s *stepRun) {
			f := &ghsim.Fault{Op: op, Times: 1, Status: http.StatusBadGateway}
			w.h.Sim.Inject(f)
			s.trigger()
			w.settle()
			w.fired(f)
			s.done()
			w.noHandlerErrors()
		}},
		{name: "5xx always", run: func(w *world, op string, s *stepRun) {
			f := &ghsim.Fault{Op: op, Status: http.StatusServiceUnavailable}
			w.h.Sim.Inject(f)
			mark := len(w.h.Sim.Deliveries())
			s.trigger()
			w.settle()
			w.fired(f)
			s.reported()
			w.loggedError("503")
			// GitHub is healthy again: the step is done again, to the
			// same end state.
			w.h.Sim.ClearFaults()
			if s.redo != nil {
				s.redo()
				w.settle()
			} else {
				w.redeliver(w.triggerDeliveries(mark, s))
			}
			s.done()
		}},
		{name: "secondary rate limit", run: func(w *world, op string, s *stepRun) {
			f := &ghsim.Fault{Op: op, Times: 1, RetryAfter: 30 * time.Second}
			w.h.Sim.Inject(f)
			before := w.h.Sim.Clock().Now()
			s.trigger()
			w.settle()
			w.fired(f)
			if waited := w.h.Sim.Clock().Now().Sub(before); waited < 30*time.Second {
				w.t.Errorf("simulated time moved %s: Retry-After was not waited out", waited)
			}
			s.done()
			w.noHandlerErrors()
		}},
		{name: "timeout", opts: harness.Options{ClientTimeout: time.Second}, run: func(w *world, op string, s *stepRun) {
			f := &ghsim.Fault{Op: op, Times: 1, Hang: true}
			w.h.Sim.Inject(f)
			s.trigger()
			w.settle()
			w.fired(f)
			s.done()
			w.noHandlerErrors()
		}},
		{name: "answer lost after the write", run: func(w *world, op string, s *stepRun) {
			f := &ghsim.Fault{Op: op, Times: 1, Status: http.StatusBadGateway, AfterEffect: true}
			w.h.Sim.Inject(f)
			s.trigger()
			w.settle()
			w.fired(f)
			s.done()
			w.noHandlerErrors()
		}},
		{name: "duplicate delivery", run: func(w *world, op string, s *stepRun) {
			mark := len(w.h.Sim.Deliveries())
			s.trigger()
			w.settle()
			s.done()
			w.redeliver(w.triggerDeliveries(mark, s))
			s.done()
			w.noHandlerErrors()
		}},
		{name: "two replicas, split", opts: harness.Options{Replicas: 2}, run: func(w *world, op string, s *stepRun) {
			// Deliveries alternate between the replicas: the step's
			// events land on whichever, in any order.
			s.trigger()
			w.settle()
			s.done()
			w.noHandlerErrors()
		}},
		{name: "two replicas, both", opts: harness.Options{Replicas: 2}, run: func(w *world, op string, s *stepRun) {
			// Every delivery goes to both replicas at once.
			w.h.Sim.SetDuplicateDelivery(w.h.App, true)
			s.trigger()
			w.settle()
			s.done()
			w.noHandlerErrors()
		}},
		{name: "restart mid-action", run: func(w *world, op string, s *stepRun) {
			// The write is on its way when the process dies: GitHub
			// applies it, nobody sees the answer, the event is gone
			// (GitHub counts it delivered). A new process, and someone
			// redelivering the event, finish the step.
			hold := &ghsim.Fault{Op: op, Times: 1, Hold: make(chan struct{}), Holding: make(chan struct{}, 1)}
			w.h.Sim.Inject(hold)
			mark := len(w.h.Sim.Deliveries())
			s.trigger()
			if _, err := w.h.Sim.Deliver(w.ctx); err != nil {
				w.t.Fatal(err)
			}
			select {
			case <-hold.Holding:
			case <-w.ctx.Done():
				w.t.Fatal("the write never came")
			}
			w.h.Kill()
			w.crashed = true
			close(hold.Hold)
			ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
			defer cancel()
			noErr(w.t, w.h.Sim.WaitCalls(ctx))
			noErr(w.t, w.h.Restart())
			// Claims of the dead process expire.
			w.h.Sim.Clock().Advance(facts.ClaimTTL + time.Minute)
			w.settle()
			w.redeliver(w.triggerDeliveries(mark, s))
			s.done()
		}},
	}
}

// fired asserts an injected fault was hit.
func (w *world) fired(f *ghsim.Fault) {
	w.t.Helper()
	if w.h.Sim.Hits(f) == 0 {
		w.t.Fatalf("the %s fault on %s never fired", f.Op, f.Op)
	}
}

func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix runs every lifecycle step under every fault")
	}
	for _, step := range matrixSteps() {
		for _, fault := range matrixFaults() {
			t.Run(step.name+"/"+fault.name, func(t *testing.T) {
				w := start(t, fault.opts)
				s := step.setup(w)
				fault.run(w, step.op, s)
			})
		}
	}
}
