package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/notify"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// syncBack opens the sync-back pull requests of a released hotfix: into
// develop and every open release branch (or those sync.targets lists)
// that does not hold the tag yet. Each decision is a row of the summary.
// It never writes to those branches itself.
func (l *lifecycle) syncBack(ctx context.Context, pr *github.PullRequest) ([]summaryRow, error) {
	tag, sha := l.p.NextTag, l.sha()
	candidates, err := l.r.SyncCandidates(ctx, l.cfg, sha, l.p.PreviousRef)
	if err != nil {
		return []summaryRow{{"sync-back", "❌ the bot could not list the branches to sync into: " + facts.Explain(err) + " Open the sync pull requests by hand.", true}}, err
	}
	var rows []summaryRow
	var errs []error
	for _, t := range l.cfg.SyncTargets(tag, candidates) {
		what := "sync → " + policy.Code(t.Branch)
		if t.Skip != "" {
			result := "skipped: " + t.Skip
			if t.Problem {
				result = "❌ " + t.Skip
			}
			rows = append(rows, summaryRow{what, result, t.Problem})
			continue
		}
		// Background work: each target is a step, and the
		// installation's waiting interactive work goes between them.
		if err := app.Yield(ctx); err != nil {
			return rows, errors.Join(append(errs, err)...)
		}
		row, err := l.syncInto(ctx, pr, t.Branch)
		if err != nil {
			errs = append(errs, err)
		}
		row.what = what + " (" + t.Why + ")"
		rows = append(rows, row)
	}
	return rows, errors.Join(errs...)
}

// syncCommitNote marks the commit the bot puts at the head of a sync
// branch: the tree of the tag, so each sync pull request has a head of its
// own (check runs belong to a commit: without it, one target's conflict
// check would show on every sync pull request and on the tag).
const syncCommitNote = "hotfix-bot sync commit"

// syncInto opens (once) the sync-back pull request into target. It uses
// only what is the bot's own: its pull request, or a branch holding
// exactly the release. A name someone else holds (a branch prepared with
// other commits, a pull request the app did not open) is left alone and
// reported, and the sync is made under the next name (…-2, …-3): the same
// choice on every re-run, so a re-run still opens nothing twice.
func (l *lifecycle) syncInto(ctx context.Context, hotfix *github.PullRequest, target string) (summaryRow, error) {
	r := l.r
	tag, sha := l.p.NextTag, l.sha()
	fail := func(err error) (summaryRow, error) {
		return summaryRow{result: "❌ " + facts.Explain(err), problem: true}, err
	}
	var foreign []string
	for n := 1; n <= policy.MaxSyncBranches; n++ {
		branch := policy.SyncBranchNameN(tag, target, n)
		f, err := r.SyncBranch(ctx, branch, target, sha)
		if err != nil {
			return fail(err)
		}
		choice := policy.ChooseSyncBranch(f)
		var row summaryRow
		switch choice.Use {
		case policy.SyncForeign:
			foreign = append(foreign, policy.Code(branch)+": "+choice.Why)
			continue
		case policy.SyncReuse:
			row = reusedSync(f.OwnPR, target)
		default:
			head := f.Head
			if choice.Use == policy.SyncCreate {
				if head, err = l.syncBranchAt(ctx, branch, target); err != nil {
					return fail(err)
				}
			}
			if row, err = l.openSync(ctx, hotfix, branch, target, head, n > 1); err != nil {
				row.result = appendNote(row.result, foreignNote(foreign))
				return row, err
			}
		}
		if len(foreign) > 0 {
			row.result = appendNote(row.result, foreignNote(foreign))
			row.problem = true
		}
		return row, nil
	}
	return summaryRow{result: fmt.Sprintf("❌ not synced: the bot tried %d branch names and someone else holds each. %s Open the sync pull request by hand, from the tag %s.",
		policy.MaxSyncBranches, foreignNote(foreign), policy.Code(tag)), problem: true}, nil
}

// foreignNote reports the sync branch names someone else holds.
func foreignNote(foreign []string) string {
	if len(foreign) == 0 {
		return ""
	}
	return "⚠️ left alone, not the bot's: " + strings.Join(foreign, "; ") + ". Ask who prepared it, and delete it if nobody needs it."
}

func appendNote(s, note string) string {
	if note == "" {
		return s
	}
	return s + "; " + note
}

// reusedSync is the summary of a sync pull request the bot opened before.
func reusedSync(pr *policy.SyncPR, target string) summaryRow {
	row := summaryRow{result: fmt.Sprintf("#%d (%s, opened before)", pr.Number, pr.State)}
	switch {
	case pr.State == "closed":
		row.result = fmt.Sprintf("❌ #%d was closed without merging: the fix is not synced into %s. Reopen it, or sync by hand.", pr.Number, policy.Code(target))
		row.problem = true
	case pr.State != "merged" && pr.Extra > 1:
		row.result += fmt.Sprintf("; it carries %d commits besides the release: people committed to it (a conflict resolution?), review them", pr.Extra-1)
	}
	return row
}

// syncBranchAt makes the bot's sync branch: one commit of the bot's on
// top of the release, with its exact tree.
func (l *lifecycle) syncBranchAt(ctx context.Context, branch, target string) (string, error) {
	r := l.r
	tag, sha := l.p.NextTag, l.sha()
	tagged, err := r.GitCommit(ctx, sha)
	if err != nil {
		return "", err
	}
	commit, err := r.CreateCommit(ctx, fmt.Sprintf("Sync %s into %s\n\n%s: the tree of %s (`%s`), so that this sync has a head of its own.", tag, target, syncCommitNote, tag, sha),
		tagged.GetTree().GetSHA(), sha)
	if err != nil {
		return "", err
	}
	_, head, err := r.EnsureBranch(ctx, branch, commit)
	return head, err
}

// openSync checks the sync for conflicts and opens its pull request from
// the bot's branch (named in the summary when it is not the usual one).
func (l *lifecycle) openSync(ctx context.Context, hotfix *github.PullRequest, branch, target, head string, nameIt bool) (summaryRow, error) {
	r, cfg := l.r, l.cfg
	tag, sha := l.p.NextTag, l.sha()
	conflict, trialNote, err := l.trialMerge(ctx, tag, target, head)
	if err != nil {
		return summaryRow{result: "❌ " + facts.Explain(err), problem: true}, err
	}
	body := fmt.Sprintf(`Brings hotfix #%d (%s), released as **%s**, into %s, so the fix is not lost in the next release.

| | |
|---|---|
| hotfix | #%d |
| tag | %s (`+"`%s`"+`) |
| deployment | %d to %s |

**Merge this with a merge commit** (not squash or rebase): the next sync then finds these commits in %s and does not conflict again.
%s`, hotfix.GetNumber(), policy.UserText(hotfix.GetTitle(), 200), tag, policy.Code(target), hotfix.GetNumber(), tag, policy.Short(sha), l.deployment(),
		policy.Code(l.ev.Deployment.Environment), policy.Code(target), facts.Marker("sync:"+tag+":"+target))
	pr, created, err := r.EnsurePullRequest(ctx, branch, target, policy.SyncTitle(tag, target), body, conflict)
	if err != nil {
		return summaryRow{result: "❌ " + facts.Explain(err), problem: true}, err
	}
	if !created && !r.OpenedByApp(pr) {
		// Someone opened one from the bot's branch in the moment between
		// the bot's look and its own request: never presented as the sync.
		return summaryRow{result: fmt.Sprintf("❌ not synced: #%d from the bot's branch %s was opened by %s meanwhile, not by the app. Check what it carries; sync by hand from the tag %s.",
			pr.GetNumber(), policy.Code(branch), policy.Code(pr.GetUser().GetLogin()), policy.Code(tag)), problem: true}, nil
	}
	opened := "opened"
	if nameIt {
		opened += " from " + policy.Code(branch)
	}
	row := summaryRow{result: fmt.Sprintf("#%d %s", pr.GetNumber(), opened)}
	var errs []error
	if created {
		labels := append([]string{}, cfg.Sync.Labels...)
		if conflict {
			labels = append(labels, cfg.Sync.ConflictLabel)
		}
		if err := r.EnsureLabels(ctx, labelSpecs(cfg)); err != nil {
			errs = append(errs, err)
		}
		if len(labels) > 0 {
			if err := r.AddLabels(ctx, pr.GetNumber(), labels...); err != nil {
				errs = append(errs, err)
			}
		}
		if author := hotfix.GetUser().GetLogin(); author != "" {
			if err := r.AddAssignees(ctx, pr.GetNumber(), author); err != nil {
				errs = append(errs, err)
			}
		}
		if refused := l.copyReviewers(ctx, hotfix, pr.GetNumber()); len(refused) > 0 {
			row.result += "; GitHub would not request reviews from " + strings.Join(refused, ", ")
		}
	}
	if conflict {
		row.result = fmt.Sprintf("#%d %s as a **draft**: it conflicts with %s; the pull request says how to resolve it", pr.GetNumber(), opened, policy.Code(target))
		row.problem = true
		if err := l.conflictInstructions(ctx, pr, branch, target, head); err != nil {
			errs = append(errs, err)
		}
		l.g.notify(notify.Message{Text: fmt.Sprintf(":warning: *%s*: the sync of %s into %s conflicts: <%s|#%d> needs a person.",
			r.FullName(), tag, target, pr.GetHTMLURL(), pr.GetNumber())})
	}
	if trialNote != "" {
		row.result += "; " + trialNote
		row.problem = true
	}
	if got := pr.GetHead().GetSHA(); got != "" && got != head {
		row.result += fmt.Sprintf("; ⚠️ its head is `%s`, not the bot's `%s`: someone pushed to the branch meanwhile, review those commits", policy.Short(got), policy.Short(head))
		row.problem = true
	}
	if note := l.supersede(ctx, target, tag, pr); note != "" {
		row.result += "; " + note
	}
	return row, errors.Join(errs...)
}

// trialMerge finds out, before the pull request is opened, whether the
// sync conflicts with target: GitHub merges the sync head into a scratch
// branch made at the target (POST /merges), which is deleted afterwards.
// The target itself is never written.
func (l *lifecycle) trialMerge(ctx context.Context, tag, target, head string) (conflict bool, note string, err error) {
	// The scratch branch is shared by every replica doing this sync: one
	// left by an interrupted attempt is reset and reused, never piled up.
	// Another replica may delete it between our steps; the trial depends
	// only on the target's tip and the head, so it is simply run again.
	for attempt := 1; ; attempt++ {
		conflict, note, err = l.trialMergeOnce(ctx, tag, target, head)
		if err == nil || attempt == 3 || !(facts.IsNotFound(err) || facts.KindOf(err) == facts.Validation) {
			return conflict, note, err
		}
	}
}

func (l *lifecycle) trialMergeOnce(ctx context.Context, tag, target, head string) (conflict bool, note string, err error) {
	r := l.r
	tip, err := r.BranchSHA(ctx, target)
	if err != nil {
		return false, "", err
	}
	scratch := "hotfix-bot/trial/" + tag + "-to-" + target
	if _, cur, err := r.EnsureBranch(ctx, scratch, tip); err != nil {
		return false, "", err
	} else if cur != tip {
		if err := r.UpdateBranch(ctx, scratch, tip); err != nil {
			return false, "", err
		}
	}
	outcome, merr := r.Merge(ctx, scratch, head, "hotfix-bot trial merge (deleted right away)")
	if err := r.DeleteBranch(ctx, scratch); err != nil {
		return false, "", err
	}
	switch {
	case facts.IsWorkflowsRefusal(merr):
		return false, "the bot could not check it for conflicts: the hotfix changes a workflow file and the app has no `workflows` permission; check the pull request yourself", nil
	case merr != nil:
		return false, "", merr
	}
	return outcome == facts.Conflicts, "", nil
}

// conflictInstructions tells people how to resolve a conflicting sync and
// marks its head with a failing check, so it is not merged with markers.
func (l *lifecycle) conflictInstructions(ctx context.Context, pr *github.PullRequest, branch, target, head string) error {
	marker := facts.Marker(fmt.Sprintf("sync-conflict:%d", pr.GetNumber()))
	body := fmt.Sprintf("⚠️ **This sync conflicts with %s.** The bot never resolves conflicts or writes to %s; a person does", policy.Code(target), policy.Code(target)) +
		conflictCommands(branch, target) +
		fmt.Sprintf("\n\nThen mark this pull request ready for review and **merge it with a merge commit**. The `%s` check turns green once the branch contains %s and no conflict markers.\n%s",
			policy.CheckSync, policy.Code(target), marker)
	if _, _, err := l.r.PostComment(ctx, pr.GetNumber(), marker, body, time.Time{}); err != nil {
		return err
	}
	return l.r.CompleteCheck(ctx, head, policy.CheckResult{Name: policy.CheckSync, Conclusion: policy.Failure,
		Title:   "Conflicts with " + policy.UserText(target, 200),
		Summary: fmt.Sprintf("Merging this branch into %s conflicts. Resolve it as the pull request's comment says (merge %s into this branch, resolve, push); this check then runs again.", policy.Code(target), policy.Code("origin/"+target)),
	}, facts.Stamp{}, pr.GetHTMLURL())
}

// conflictCommands are the exact commands that resolve a conflicting
// sync, every name quoted for sh (or none, saying why, for a name no
// quoting makes safe).
func conflictCommands(branch, target string) string {
	qBranch, ok := policy.ShellQuote(branch)
	if !ok {
		return ".\n\n" + policy.ShellRefusal("branch", branch)
	}
	qTarget, ok := policy.ShellQuote("origin/" + target)
	if !ok {
		return ".\n\n" + policy.ShellRefusal("target branch", target)
	}
	return fmt.Sprintf(":\n\n```sh\ngit fetch origin && git switch %s && git merge %s\n# resolve the conflicts, then:\ngit commit\ngit push origin %s\n```", qBranch, qTarget, qBranch)
}

// copyReviewers asks the hotfix's reviewers (requested, and the people
// whose approval labels let it through) to review the sync too, one at a
// time so GitHub's refusal of one (the author, a non-collaborator) does not
// drop the others. It returns the refused.
func (l *lifecycle) copyReviewers(ctx context.Context, hotfix *github.PullRequest, number int) []string {
	seen := map[string]bool{}
	var logins []string
	for _, u := range hotfix.RequestedReviewers {
		if !seen[u.GetLogin()] {
			seen[u.GetLogin()] = true
			logins = append(logins, u.GetLogin())
		}
	}
	if h, err := l.r.LabelHistory(ctx, hotfix.GetNumber(), l.cfg.ApprovalLabels()); err == nil {
		for _, ev := range h.Latest {
			if ev.Added && !ev.Bot && !seen[ev.Actor] {
				seen[ev.Actor] = true
				logins = append(logins, ev.Actor)
			}
		}
	}
	sort.Strings(logins)
	var refused []string
	for _, login := range logins {
		if err := l.r.RequestReviewers(ctx, number, []string{login}); err != nil {
			refused = append(refused, "@"+login)
		}
	}
	return refused
}

// supersede closes older open sync pull requests into the same target
// that nobody has committed to: the new branch starts at the newer tag and
// carries both fixes. It returns what it did, for the summary.
func (l *lifecycle) supersede(ctx context.Context, target, tag string, newer *github.PullRequest) string {
	r, cfg := l.r, l.cfg
	open, err := r.OpenPullRequests(ctx, target)
	if err != nil {
		return "older sync pull requests not checked: " + facts.Explain(err)
	}
	newV, ok := cfg.TagVersion(tag)
	if !ok {
		return ""
	}
	var closed, kept []string
	for _, old := range open {
		ref := old.GetHead().GetRef()
		if old.GetNumber() == newer.GetNumber() || !policy.IsSyncBranch(ref) || old.GetHead().GetRepo().GetFullName() != r.FullName() || !r.OpenedByApp(old) {
			continue // only the app's own sync pull requests are its to close
		}
		oldTag, _, ok := strings.Cut(strings.TrimPrefix(ref, "hotfix-bot/sync/"), "-to-"+target)
		if !ok {
			continue
		}
		if v, ok := cfg.TagVersion(oldTag); !ok || !v.LessThan(newV) {
			continue
		}
		c, err := r.GitCommit(ctx, old.GetHead().GetSHA())
		if err != nil || !strings.Contains(c.GetMessage(), syncCommitNote) || len(c.Parents) != 1 {
			kept = append(kept, fmt.Sprintf("#%d", old.GetNumber()))
			continue // someone committed to it: theirs to close
		}
		marker := facts.Marker(fmt.Sprintf("superseded:%d", old.GetNumber()))
		msg := fmt.Sprintf("Superseded by #%d: it syncs %s, which contains %s too. Closing this one (nobody else committed to it).\n%s", newer.GetNumber(), tag, oldTag, marker)
		if _, _, err := r.PostComment(ctx, old.GetNumber(), marker, msg, time.Time{}); err != nil {
			kept = append(kept, fmt.Sprintf("#%d", old.GetNumber()))
			continue
		}
		if err := r.ClosePullRequest(ctx, old.GetNumber()); err != nil {
			kept = append(kept, fmt.Sprintf("#%d", old.GetNumber()))
			continue
		}
		closed = append(closed, fmt.Sprintf("#%d", old.GetNumber()))
	}
	var parts []string
	if len(closed) > 0 {
		parts = append(parts, "supersedes "+strings.Join(closed, ", ")+" (closed)")
	}
	if len(kept) > 0 {
		parts = append(parts, "older "+strings.Join(kept, ", ")+" left open: someone committed to it")
	}
	return strings.Join(parts, "; ")
}

// checkSyncBranch runs hotfix-bot/sync on a person's push to a sync
// branch: green once the branch contains its target and adds no conflict
// markers.
func (g *Bot) checkSyncBranch(ctx context.Context, r *facts.Repo, cfg policy.Config, branch, head string) error {
	prs, err := r.PullRequestsFor(ctx, branch, "", "open")
	if err != nil {
		return err
	}
	var pr *github.PullRequest
	for _, p := range prs {
		if r.OpenedByApp(p) {
			pr = p // someone else's pull request from a branch named like the bot's gets no check of the bot's
			break
		}
	}
	if pr == nil {
		return nil
	}
	target := pr.GetBase().GetRef()
	cmp, err := r.Compare(ctx, target, head)
	if err != nil {
		return err
	}
	res := policy.CheckResult{Name: policy.CheckSync}
	markers := conflictMarkers(cmp.Files)
	switch {
	case cmp.GetBehindBy() > 0:
		res.Conclusion, res.Title = policy.Failure, "Does not contain "+policy.UserText(target, 200)+" yet"
		res.Summary = fmt.Sprintf("The branch lacks %d commit(s) of %s: merge %s into it, resolve, and push.", cmp.GetBehindBy(), policy.Code(target), policy.Code("origin/"+target))
	case len(markers) > 0:
		res.Conclusion, res.Title = policy.Failure, "Conflict markers left in"
		res.Summary = "These files still contain conflict markers (`<<<<<<<`, `=======`, `>>>>>>>`): " + fileList(markers) + ". Finish resolving them and push."
	default:
		res.Conclusion, res.Title = policy.Success, "Conflicts resolved"
		res.Summary = fmt.Sprintf("The branch contains %s and adds no conflict markers. Mark the pull request ready for review and merge it with a merge commit.", policy.Code(target))
	}
	if err := r.CompleteCheck(ctx, head, res, facts.Stamp{}, pr.GetHTMLURL()); err != nil {
		return err
	}
	if res.Passed() && hasLabel(pr, cfg.Sync.ConflictLabel) {
		_, err = r.RemoveLabel(ctx, pr.GetNumber(), cfg.Sync.ConflictLabel)
	}
	return err
}

// conflictMarkers lists the files whose added lines start with a conflict
// marker.
func conflictMarkers(files []*github.CommitFile) []string {
	var out []string
	for _, f := range files {
		for _, line := range strings.Split(f.GetPatch(), "\n") {
			if strings.HasPrefix(line, "+<<<<<<< ") || strings.HasPrefix(line, "+>>>>>>> ") || line == "+=======" {
				out = append(out, f.GetFilename())
				break
			}
		}
	}
	return out
}
