package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/rs/zerolog"
)

// evaluation is one run of some gates on one head: gather the facts
// (facts/, reads only), decide (policy/, pure), apply (check runs,
// labels, the reset comment). `/promote`, `--dry-run` and `/help` run the
// same gather and decide, and apply nothing.
type evaluation struct {
	installation int64
	repo         *facts.Repo
	policy       facts.Policy
	branch       string
	head         string
	// pr is the hotfix pull request, nil for a branch without one.
	pr *github.PullRequest
	// fork is "owner/name" when the head lives in a fork.
	fork string
	// checks are the gates to run.
	checks []string
	// resetApprovals removes approvals given on other content than the
	// head's (reset_on_push).
	resetApprovals bool
	// labelsOnly: the event changed labels, so only what labels decide
	// is rewritten.
	labelsOnly bool
	// refreshPR: pr comes from the event; it is read afresh alongside
	// the facts, and nothing is written if it closed or moved on.
	refreshPR bool
	// productionMoved: production changed under this head since its
	// checks were written, so a success they show is set back to in
	// progress while it is evaluated again.
	productionMoved bool
	// housekeeping runs after the check runs are written (the labels the
	// bot keeps on the pull request); nil for nothing.
	housekeeping func(context.Context) error
}

// detailsURL is where the gates' check runs link: the bot's details page
// of the commit, or (without a public URL) the pull request.
func (g *Bot) detailsURL(e *evaluation) string {
	if link := g.detailsLink(e.repo.Owner, e.repo.Name, e.head); link != "" {
		return link
	}
	if e.pr != nil {
		return e.pr.GetHTMLURL()
	}
	return ""
}

func (e *evaluation) request() facts.GateRequest {
	return facts.GateRequest{Branch: e.branch, Head: e.head, PR: e.pr, RefreshPR: e.refreshPR, Fork: e.fork, Gates: e.checks}
}

// verifyRounds bounds how often an evaluation starts over because the
// pull request's labels changed while it wrote a success.
const verifyRounds = 3

// evaluate runs the gates of an evaluation and writes their check runs.
// A success that rests on labels is verified after it is written: if the
// pull request's event log moved meanwhile (a label removed on another
// replica), the evaluation starts over with fresh facts, so the last
// word is always computed from the newest labels.
func (g *Bot) evaluate(ctx context.Context, e *evaluation) error {
	defer g.lock(e.repo.FullName() + "@" + e.head)()
	for round := 1; ; round++ {
		newest, err := g.evaluateOnce(ctx, e)
		if err != nil || newest == nil {
			return err
		}
		// A success that labels decided was written: did the labels move?
		now, err := e.repo.NewestLabelEventID(ctx, e.pr.GetNumber())
		if err != nil {
			return err
		}
		if now == *newest || round == verifyRounds {
			return nil
		}
		zerolog.Ctx(ctx).Info().Int64("seen", *newest).Int64("now", now).Msg("Labels changed while a success was written; evaluating again")
		if e.repo, err = g.fresh(e.installation, e.repo); err != nil {
			return err
		}
		e.resetApprovals, e.labelsOnly, e.refreshPR, e.productionMoved, e.housekeeping = false, true, true, false, nil
	}
}

// evaluateOnce gathers, decides and applies: the check runs first, then
// what else the gates call for (labels, the approval reset). It returns
// the newest event-log id the results rest on when it wrote a success
// that labels decided (to be verified), nil otherwise.
func (g *Bot) evaluateOnce(ctx context.Context, e *evaluation) (*int64, error) {
	r := e.repo
	logger := zerolog.Ctx(ctx)
	if e.policy.Broken() {
		err := r.BatchChecks(ctx, e.head, func() error {
			for _, name := range e.checks {
				if err := r.CompleteCheck(ctx, e.head, policy.BrokenPolicy(name, e.policy.Title(), e.policy.Describe()), facts.Stamp{}, g.detailsURL(e)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		logger.Info().Str("policy", e.policy.Source).Msg("Policy file is invalid; checks fail with its errors")
		return nil, nil
	}
	cfg := e.policy.Config

	// A success production moved under is not shown while it is
	// evaluated again, in parallel with the reads.
	hide := make(chan error, 1)
	go func() {
		if !e.productionMoved {
			hide <- nil
			return
		}
		hide <- g.hideStaleSuccesses(ctx, e)
	}()
	got := r.GatherGates(ctx, cfg, e.request())
	if err := <-hide; err != nil {
		return nil, err
	}
	if got.CheckRuns == nil {
		return nil, fmt.Errorf("cannot write the gates of %s: %w", policy.Short(e.head), got.Err())
	}
	if e.pr != nil {
		if pr := got.PR; pr.GetState() != "open" || pr.GetHead().GetSHA() != e.head || pr.GetBase().GetRef() != cfg.Branches.Production {
			logger.Info().Str("sha", policy.Short(e.head)).Msg("The pull request closed or moved on while it was evaluated; its own events evaluate it")
			return nil, nil
		}
		e.pr = got.PR
	}

	// Approvals a push made stale count for nothing from here on; they
	// are removed after the checks are written.
	var stale []policy.LabelFact
	if e.resetApprovals && got.Facts.Approval != nil && got.Facts.Approval.Unknown == "" {
		stale = staleApprovals(cfg, got.Facts.Approval)
	}
	table := cfg.Decide(got.Facts, e.checks...)

	var verify *int64
	err := r.BatchChecks(ctx, e.head, func() error {
		for _, res := range table.Results {
			// Results labels decide carry what they rest on; the others carry
			// nothing, so an unchanged one is not rewritten on a label event.
			var stamp facts.Stamp
			dependsOnLabels := res.Name == policy.CheckApproval || (res.Name == policy.CheckSchema && table.SchemaFlagged)
			if dependsOnLabels {
				stamp = got.Stamp
			}
			if again := retryNote(ctx, got.Err()); again != "" && !res.Passed() {
				res.Summary += "\n\nGitHub failed while the bot read the facts: " + strings.TrimSuffix(again, " (this comment changes when it does).") + "; this check then changes."
			}
			res.Summary += policyNote(e.policy)
			if err := r.CompleteCheck(ctx, e.head, res, stamp, g.detailsURL(e)); err != nil {
				return err
			}
			if dependsOnLabels && res.Passed() && e.pr != nil {
				id := got.Stamp.EventID
				verify = &id
			}
			logger.Info().Str("check", res.Name).Str("sha", policy.Short(e.head)).Str("conclusion", res.Conclusion).Msg(res.Title)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	if len(stale) > 0 {
		if err := g.resetApprovals(ctx, e, stale, got.Facts.Approval); err != nil {
			return nil, err
		}
	}
	if e.pr != nil && e.fork == "" {
		if err := g.labelSchemaChange(ctx, e, table.SchemaFlagged); err != nil {
			return nil, err
		}
	}
	if e.housekeeping != nil {
		if err := e.housekeeping(ctx); err != nil {
			return nil, err
		}
	}
	if err := got.Err(); err != nil {
		// The gates already say which fact is missing; the error is
		// returned so it is counted and logged.
		return nil, fmt.Errorf("gates of %s written with facts missing: %w", policy.Short(e.head), err)
	}
	return verify, nil
}

// hideStaleSuccesses moves this app's successful check runs of the gates
// about to be re-evaluated back to in progress: production moved under
// them, and evaluating a head takes a while.
func (g *Bot) hideStaleSuccesses(ctx context.Context, e *evaluation) error {
	runs, err := e.repo.CheckRuns(ctx, e.head)
	if err != nil {
		return nil // gathering reports it
	}
	for _, name := range e.checks {
		existing := runs[name]
		if existing == nil || existing.GetConclusion() != policy.Success {
			continue
		}
		if err := e.repo.StartCheck(ctx, e.head, existing); err != nil {
			return err
		}
	}
	return nil
}

// staleApprovals are the approvals a push invalidated (reset_on_push:
// those given on code whose content differs from the head's); the facts
// show them absent from here on.
func staleApprovals(cfg policy.Config, af *policy.ApprovalFacts) []policy.LabelFact {
	stale := cfg.StaleApprovals(*af)
	for _, s := range stale {
		key := strings.ToLower(s.Name)
		fact := af.Labels[key]
		fact.Present = false
		af.Labels[key] = fact
	}
	return stale
}

// resetApprovals removes the approvals a push invalidated and says so in
// one comment.
func (g *Bot) resetApprovals(ctx context.Context, e *evaluation, stale []policy.LabelFact, af *policy.ApprovalFacts) error {
	r, pr := e.repo, e.pr
	var removed []policy.LabelFact
	for _, s := range stale {
		ok, err := r.RemoveLabel(ctx, pr.GetNumber(), s.Name)
		if err != nil {
			return err
		}
		if ok {
			removed = append(removed, s)
		}
	}
	// Only the removal that happened here is announced, so a second
	// replica handling the same push stays silent; the marker keeps a
	// retried comment single.
	if len(removed) == 0 {
		return nil
	}
	marker := facts.Marker(fmt.Sprintf("reset:%d:%s", pr.GetNumber(), e.head))
	_, _, err := r.PostComment(ctx, pr.GetNumber(), marker, resetComment(e, removed, af)+"\n"+marker, time.Time{})
	return err
}

func resetComment(e *evaluation, stale []policy.LabelFact, af *policy.ApprovalFacts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "🔁 **Approvals reset.** New code was pushed to %s (now `%s`), and approvals count only for the code they were given on. Removed:\n\n",
		policy.Code(e.branch), policy.Short(e.head))
	for _, s := range stale {
		on, _ := af.History.HeadAt(s.AddedAt, af.Head)
		fmt.Fprintf(&b, "- `%s` (added by @%s at %s on `%s`)\n", s.Name, s.AddedBy, s.AddedAt.UTC().Format("15:04:05 UTC"), policy.Short(on))
	}
	b.WriteString("\n**Next:** a reviewer checks the new code and adds the labels again. (`approval.reset_on_push` in `.github/hotfix-bot.yml`; an approval of identical content, such as a reworded commit, is kept.)")
	return b.String()
}

// labelSchemaChange keeps the schema-change label in step with the gate.
func (g *Bot) labelSchemaChange(ctx context.Context, e *evaluation, flagged bool) error {
	has := hasLabel(e.pr, policy.LabelSchemaChange)
	switch {
	case flagged && !has:
		return e.repo.AddLabels(ctx, e.pr.GetNumber(), policy.LabelSchemaChange)
	case !flagged && has:
		_, err := e.repo.RemoveLabel(ctx, e.pr.GetNumber(), policy.LabelSchemaChange)
		return err
	}
	return nil
}
