package facts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// GateRequest says what to gather for one head.
type GateRequest struct {
	Branch string
	Head   string
	// PR is the hotfix pull request, nil for a branch without one. With
	// RefreshPR it may come from the event: it is read afresh alongside
	// the other facts, and its fresh labels, author and state are used.
	PR        *github.PullRequest
	RefreshPR bool
	// Fork is "owner/name" when the head lives in a fork: nothing is read.
	Fork string
	// Gates are the gates to decide (policy.Gates when empty).
	Gates []string
}

// Gathered is what one evaluation read from GitHub: the facts for policy,
// and what writing the results needs.
type Gathered struct {
	Facts policy.GateFacts
	// CheckRuns are this app's check runs on the head, by name.
	CheckRuns map[string]*github.CheckRun
	// Stamp is what the results rest on, for their external_id.
	Stamp Stamp
	// PR is the pull request as read afresh (RefreshPR), or as given.
	PR *github.PullRequest
	// Errors are the facts that could not be read; each already turned
	// the gates that need it into a failure saying so.
	Errors []error
}

// Err joins the gathering errors (nil when every fact was read).
func (g Gathered) Err() error { return errors.Join(g.Errors...) }

// GatherGates reads every fact the requested gates need about one head,
// concurrently (each fact once; at most ReadsInFlight requests in flight).
// It never fails as a whole: a fact it cannot read is recorded as unknown
// in the facts, with the reason, so the gates that need it fail closed,
// and the error is kept in Errors. Only the check runs of the head, which
// writing needs, are required: without them Gathered.CheckRuns is nil.
func (r *Repo) GatherGates(ctx context.Context, cfg policy.Config, req GateRequest) Gathered {
	g := Gathered{Facts: policy.GateFacts{Branch: req.Branch, Head: req.Head, Fork: req.Fork}, PR: req.PR}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		g.Errors = append(g.Errors, err)
		mu.Unlock()
	}
	gates := req.Gates
	if len(gates) == 0 {
		gates = policy.Gates
	}
	want := map[string]bool{}
	for _, n := range gates {
		want[n] = true
	}
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	production := func() (policy.ProductionState, error) { return r.Production(ctx, cfg) }
	run(func() {
		// Only writing needs them: they wait for production, whose chain
		// of reads (deployments, their statuses, the comparison) is the
		// longest, so they do not take its place in the queue.
		if req.Fork == "" {
			_, _ = production()
		}
		runs, err := r.CheckRuns(ctx, req.Head)
		if err != nil {
			fail(err)
			return
		}
		g.CheckRuns = runs
	})
	if req.Fork != "" {
		wg.Wait()
		return g
	}
	run(func() {
		p, err := production()
		if err != nil {
			fail(err)
			p = policy.ProductionState{Unknown: Explain(err)}
		}
		g.Facts.Production = p
	})
	if want[policy.CheckBase] {
		run(func() {
			bf, err := r.BaseFacts(ctx, cfg, production, req.Branch, req.Head)
			if err != nil {
				if _, perr := production(); perr == nil { // a production failure is reported once
					fail(err)
				}
				bf.Unknown = Explain(err)
			}
			g.Facts.Base = bf
		})
	}
	needApproval := req.PR != nil && (want[policy.CheckApproval] || want[policy.CheckSchema])
	if want[policy.CheckSchema] || needApproval {
		run(func() {
			p, err := production()
			if err != nil {
				return
			}
			sf, err := r.ChangedFiles(ctx, p, req.Head, req.PR.GetNumber())
			if err != nil {
				fail(err)
				sf.Unknown = Explain(err)
			}
			g.Facts.Schema = sf
		})
	}
	if req.PR != nil && want[policy.CheckApproval] {
		run(func() {
			pr := req.PR
			if req.RefreshPR {
				fresh, err := r.PullRequest(ctx, req.PR.GetNumber())
				if err != nil { // the approval's read reports it
					g.Facts.Hold = policy.Hold{Unknown: Explain(err)}
					return
				}
				pr = fresh
			}
			h, err := r.Hold(ctx, pr.GetNumber(), pr.Labels)
			if err != nil {
				fail(err)
			}
			g.Facts.Hold = h
		})
	}
	var af policy.ApprovalFacts
	if needApproval {
		run(func() {
			if req.RefreshPR {
				pr, err := r.PullRequest(ctx, req.PR.GetNumber())
				if err != nil {
					fail(err)
					af = policy.ApprovalFacts{Opener: req.PR.GetUser().GetLogin(), Head: req.Head, Unknown: Explain(err)}
					return
				}
				g.PR = pr
			}
			fresh := req
			fresh.PR = g.PR
			af, g.Stamp.EventID = r.approvalFacts(ctx, cfg, fresh, production, fail)
		})
	}
	wg.Wait()
	g.Facts.Base.Production = g.Facts.Production
	g.Facts.Schema.Production = g.Facts.Production
	if needApproval {
		g.Facts.Approval = &af
	}
	return g
}

// approvalFacts reads what the approval gate rests on: who wrote the
// change (the pull request's opener, the branch's push history, the
// commits between production and the head), who added each approval
// label and when, their permissions, and the trees of the heads the
// labels were added on; and the newest event id of the pull request's
// event log it read them from.
func (r *Repo) approvalFacts(ctx context.Context, cfg policy.Config, req GateRequest, production func() (policy.ProductionState, error), fail func(error)) (policy.ApprovalFacts, int64) {
	pr := req.PR
	af := policy.ApprovalFacts{Head: req.Head, Opener: pr.GetUser().GetLogin(), OpenerBot: pr.GetUser().GetType() == "Bot",
		Labels: map[string]policy.LabelFact{}}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		h, err := r.PushHistory(ctx, req.Branch, req.Head)
		if err != nil {
			fail(err)
			h = policy.PushHistory{Branch: req.Branch, Unknown: Explain(err)}
		}
		af.History = h
	}()
	go func() {
		defer wg.Done()
		p, err := production()
		switch {
		case err != nil: // reported by the gates that need production
			af.CommitsUnknown = "production is unknown: " + Explain(err)
			return
		case !p.Known:
			af.CommitsUnknown = "production is unknown (see `hotfix-bot/base`)"
			return
		}
		commits, err := r.ChangeCommits(ctx, p.SHA, req.Head)
		if err != nil {
			fail(err)
			af.CommitsUnknown = Explain(err)
			return
		}
		af.Commits = commits
	}()
	present := map[string]bool{}
	for _, l := range pr.Labels {
		present[strings.ToLower(l.GetName())] = true
	}
	labels := cfg.ApprovalLabels()
	h, err := r.LabelHistory(ctx, pr.GetNumber(), labels)
	if err != nil {
		fail(err)
		af.Unknown = Explain(err)
		wg.Wait()
		return af, 0
	}
	var mu sync.Mutex
	for _, name := range labels {
		key := strings.ToLower(name)
		fact := policy.LabelFact{Name: name}
		ev, inLog := h.Latest[key]
		switch {
		case !present[key]:
			// Absent on the pull request: absent, whatever the log says
			// (a removal the log has not caught up with is still a removal).
		case h.Undetermined[key]:
			fact.Unknown = fmt.Sprintf("the pull request's event log is longer than the %d pages the bot reads, so it cannot tell who added `%s`: remove it and add it again", maxPages, name)
		case !inLog || !ev.Added:
			fact.Unknown = fmt.Sprintf("the pull request carries `%s`, but GitHub's event log does not show it being added yet (the log can lag a few seconds): re-run this check in a minute", name)
		default:
			fact.Present = true
			fact.AddedBy, fact.AddedByBot, fact.AddedAt = ev.Actor, ev.Bot, ev.At
		}
		if fact.Present && !fact.AddedByBot {
			wg.Add(1)
			go func() {
				defer wg.Done()
				perm, err := r.Permission(ctx, fact.AddedBy)
				if err != nil {
					fail(err)
					fact.Unknown = "cannot read @" + fact.AddedBy + "'s permission: " + Explain(err)
				}
				fact.Permission, fact.Role = perm.Level, perm.Role
				mu.Lock()
				af.Labels[key] = fact
				mu.Unlock()
			}()
			continue
		}
		mu.Lock()
		af.Labels[key] = fact
		mu.Unlock()
	}
	wg.Wait()
	r.approvalTrees(ctx, &af, fail)
	return af, h.NewestEventID
}

// approvalTrees reads the trees the content rule compares: the head's,
// and that of each head an approval label was added on, when it is
// another commit.
func (r *Repo) approvalTrees(ctx context.Context, af *policy.ApprovalFacts, fail func(error)) {
	want := map[string]bool{}
	for _, l := range af.Labels {
		if !l.Present || l.AddedByBot {
			continue
		}
		if on, why := af.History.HeadAt(l.AddedAt, af.Head); why == "" && on != af.Head {
			want[on], want[af.Head] = true, true
		}
	}
	af.Trees = map[string]string{}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []string
	)
	for sha := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tree, err := r.Tree(ctx, sha)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fail(err)
				errs = append(errs, Explain(err))
				return
			}
			af.Trees[sha] = tree
		}()
	}
	wg.Wait()
	af.TreesUnknown = strings.Join(errs, "; ")
}

// NewestLabelEventID re-reads the pull request's event log (conditional
// requests: free when nothing changed) and returns its newest event id, to
// tell whether anything happened since an evaluation read it.
func (r *Repo) NewestLabelEventID(ctx context.Context, number int) (int64, error) {
	h, err := r.LabelHistory(ctx, number, nil)
	return h.NewestEventID, err
}
