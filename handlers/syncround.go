package handlers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/notify"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Sync-back pull requests that finish themselves. The bot has no
// scheduler: it looks over a repository's open sync-back pull requests
// when the repository gives it an event (a push, a check run), at most
// once an hour per repository on each replica (syncRoundEvery), starting
// an hour after the replica first hears of the repository. Each look
// refreshes the metrics of hotfixes not yet in their targets, merges the
// bot's own conflict-free syncs whose checks passed (sync.auto_merge), and
// reminds, once a day, of syncs open longer than sync.remind_after. A CI
// check run completing on a sync-back pull request's head tries its merge
// at once.

// syncRoundEvery is how often one replica looks over one repository's
// open sync-back pull requests.
const syncRoundEvery = time.Hour

// roundDue reports whether this replica should look over a repository's
// sync-back pull requests now, and if so notes that it does. The first
// event of a repository only starts the hour: an event the bot skips
// costs no API call, however many repositories a fresh replica hears of.
//
// It also returns a function that takes the noting back: a round that
// failed (GitHub did not answer) is due again at once, so the event's
// retry, or the next event, runs it instead of an hour later.
func (g *Bot) roundDue(full string) (bool, func()) {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	last, ok := g.rounds[full]
	if !ok {
		g.rounds[full] = now
		return false, func() {}
	}
	if now.Sub(last) < syncRoundEvery {
		return false, func() {}
	}
	g.rounds[full] = now
	return true, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.rounds[full].Equal(now) {
			g.rounds[full] = last
		}
	}
}

// roundWanted is roundDue for the door: whether a round is due, without
// noting that one runs (the handler's roundDue does); the first event of a
// repository starts the hour here too.
func (g *Bot) roundWanted(full string) bool {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	last, ok := g.rounds[full]
	if !ok {
		g.rounds[full] = now
		return false
	}
	return now.Sub(last) >= syncRoundEvery
}

// syncRoundIfDue looks over the repository's sync-back pull requests if
// it is time; it costs no API call otherwise.
func (g *Bot) syncRoundIfDue(ctx context.Context, installation int64, owner, name, defaultBranch string) (err error) {
	due, undo := g.roundDue(owner + "/" + name)
	if !due {
		return nil
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	r, err := g.repo(installation, owner, name, defaultBranch)
	if err != nil {
		return err
	}
	pol, err := g.policy(ctx, r)
	if err != nil {
		return err
	}
	return g.syncRound(ctx, r, pol)
}

// syncRoundIfDueOn is syncRoundIfDue for an event that opened the
// repository and read its policy already.
func (g *Bot) syncRoundIfDueOn(ctx context.Context, r *facts.Repo, pol facts.Policy) error {
	due, undo := g.roundDue(r.FullName())
	if !due {
		return nil
	}
	err := g.syncRound(ctx, r.Fresh(), pol)
	if err != nil {
		undo()
	}
	return err
}

// syncRound looks over the open sync-back pull requests: metrics, merges,
// reminders.
func (g *Bot) syncRound(ctx context.Context, r *facts.Repo, pol facts.Policy) error {
	if pol.Broken() {
		return nil // the checks say the policy is broken; nothing is merged or reminded under it
	}
	cfg := pol.Config
	open, err := r.OpenSyncPullRequests(ctx)
	if err != nil {
		return err
	}
	now := g.clock.Now()
	g.recordNotInTarget(r.FullName(), open, now)
	var errs []error
	for _, pr := range open {
		if cfg.Sync.AutoMerge {
			merged, err := g.autoMergeSync(ctx, r.Fresh(), cfg, pr.GetNumber())
			if err != nil {
				errs = append(errs, err)
			}
			if merged {
				continue
			}
		}
		if err := g.remind(ctx, r, cfg, pr, now); err != nil {
			errs = append(errs, fmt.Errorf("remind #%d: %w", pr.GetNumber(), err))
		}
	}
	return errors.Join(errs...)
}

// recordNotInTarget sets the metrics of hotfixes not yet in their
// targets, from the open sync-back pull requests: how many per target, and
// the age of the oldest.
func (g *Bot) recordNotInTarget(full string, open []*github.PullRequest, now time.Time) {
	if g.metrics == nil {
		return
	}
	count, oldest := map[string]int{}, map[string]time.Time{}
	for _, pr := range open {
		_, target, _ := facts.SyncOf(pr)
		count[target]++
		if at := pr.GetCreatedAt().Time; oldest[target].IsZero() || at.Before(oldest[target]) {
			oldest[target] = at
		}
	}
	g.metrics.HotfixesNotInTarget.DeletePartialMatch(prometheus.Labels{"repository": full})
	g.metrics.OldestNotInTarget.DeletePartialMatch(prometheus.Labels{"repository": full})
	for target, n := range count {
		g.metrics.HotfixesNotInTarget.WithLabelValues(full, target).Set(float64(n))
		g.metrics.OldestNotInTarget.WithLabelValues(full, target).Set(now.Sub(oldest[target]).Seconds())
	}
}

// syncHotfix matches the hotfix a sync-back pull request's body names.
var syncHotfix = regexp.MustCompile(`Brings hotfix #(\d+)`)

// remindMarkerPrefix starts the marker of every reminder of one pull
// request; the day ends it.
func remindMarkerPrefix(number int) string {
	return strings.TrimSuffix(facts.Marker(fmt.Sprintf("remind:%d:", number)), " -->")
}

// remind posts the day's reminder on a sync-back pull request open longer
// than sync.remind_after, once: the reminders carry their day in their
// marker, and of two replicas reminding at once only the one that claims
// the day (a ref, created atomically) posts.
func (g *Bot) remind(ctx context.Context, r *facts.Repo, cfg policy.Config, pr *github.PullRequest, now time.Time) error {
	day := cfg.ReminderDay(pr.GetCreatedAt().Time, now)
	if day == "" {
		return nil
	}
	number := pr.GetNumber()
	prefix := remindMarkerPrefix(number)
	last, err := r.FindComment(ctx, number, prefix, time.Time{})
	if err != nil {
		return err
	}
	lastDay := ""
	if last != nil {
		if i := strings.Index(last.Body, prefix); i >= 0 {
			lastDay, _, _ = strings.Cut(last.Body[i+len(prefix):], " ")
		}
	}
	if lastDay == day {
		return nil // reminded today
	}
	claimed, err := r.ClaimReminder(ctx, number, day, pr.GetHead().GetSHA())
	if err != nil || !claimed {
		return err // another replica reminds today
	}
	tag, target, _ := facts.SyncOf(pr)
	hotfix := 0
	if m := syncHotfix.FindStringSubmatch(pr.GetBody()); m != nil {
		hotfix, _ = strconv.Atoi(m[1]) // the pattern matched digits
	}
	var people []string
	for _, u := range pr.Assignees {
		people = append(people, "@"+u.GetLogin())
	}
	conflict := facts.SyncConflicts(cfg, pr)
	marker := facts.Marker(fmt.Sprintf("remind:%d:%s", number, day))
	body := cfg.SyncReminder(target, tag, hotfix, now.Sub(pr.GetCreatedAt().Time), conflict, people) + "\n" + marker
	if _, _, err := r.PostComment(ctx, number, marker, body, time.Time{}); err != nil {
		return err
	}
	g.notify(notify.Message{Text: fmt.Sprintf(":alarm_clock: *%s*: <%s|#%d %s> has been open since %s; it blocks %s.",
		r.FullName(), pr.GetHTMLURL(), number, slackText(pr.GetTitle()), pr.GetCreatedAt().UTC().Format("2006-01-02 15:04 UTC"), blocks(cfg, target))})
	zerolog.Ctx(ctx).Info().Int("pr", number).Str("day", day).Msg("Reminded of an open sync-back pull request")
	if lastDay != "" {
		return r.ForgetReminder(ctx, number, lastDay)
	}
	return nil
}

// blocks names what an open sync blocks, for chat.
func blocks(cfg policy.Config, target string) string {
	if cfg.IsReleaseBranch(target) {
		return "the release of " + target
	}
	return "the next release cut from " + target
}

// ownSyncHead reports whether a sync-back pull request's head is still
// exactly the bot's own sync commit: written by the app, one parent (the
// release tag's commit), the tag's tree. Anything else means someone
// committed to the branch.
func ownSyncHead(ctx context.Context, r *facts.Repo, tag, head string) (bool, error) {
	c, err := r.GitCommit(ctx, head)
	if err != nil {
		return false, err
	}
	if !r.MadeByApp(c) || len(c.Parents) != 1 || !strings.Contains(c.GetMessage(), syncCommitNote) {
		return false, nil
	}
	tagged, err := r.TagCommit(ctx, tag)
	if err != nil || tagged == "" || c.Parents[0].GetSHA() != tagged {
		return false, err
	}
	at, err := r.GitCommit(ctx, tagged)
	if err != nil {
		return false, err
	}
	return at.GetTree().GetSHA() == c.GetTree().GetSHA(), nil
}

// autoMergeSync merges a sync-back pull request itself when
// sync.auto_merge allows it (policy.DecideSyncMerge), with a merge commit
// and GitHub's guard on the head it checked. merged says it did. A merge
// GitHub refuses (branch protection that wants a review, a head that
// moved) is said once on the pull request, for a person to finish.
func (g *Bot) autoMergeSync(ctx context.Context, r *facts.Repo, cfg policy.Config, number int) (merged bool, err error) {
	if !cfg.Sync.AutoMerge {
		return false, nil
	}
	pr, err := g.readPullRequest(ctx, r, number)
	if err != nil {
		return false, err
	}
	tag, target, ok := facts.SyncOf(pr)
	if !ok || pr.GetState() != "open" {
		return false, nil
	}
	head := pr.GetHead().GetSHA()
	f := policy.SyncMergeFacts{Number: number, Target: target, Draft: pr.GetDraft(), Conflict: facts.SyncConflicts(cfg, pr),
		MergeableState: pr.GetMergeableState()}
	if f.OwnHead, err = ownSyncHead(ctx, r, tag, head); err != nil {
		return false, err
	}
	if cr, err := r.CheckRun(ctx, head, policy.CheckSync); err != nil {
		return false, err
	} else if cr != nil && cr.GetConclusion() != policy.Success {
		f.Conflict = true
	}
	if f.Checks, err = r.OtherChecks(ctx, head); err != nil {
		return false, err
	}
	verdict, why := cfg.DecideSyncMerge(f)
	log := zerolog.Ctx(ctx).Info().Int("pr", number).Str("sha", policy.Short(head))
	if verdict != policy.SyncMergeNow {
		log.Str("why", why).Msg("Sync-back pull request not merged by the bot")
		return false, nil
	}
	title := fmt.Sprintf("%s (#%d)", pr.GetTitle(), number)
	if _, err := r.MergePullRequest(ctx, number, head, "merge", title); err != nil {
		if facts.IsTransient(err) || facts.KindOf(err) == facts.RateLimited {
			return false, err
		}
		marker := facts.Marker(fmt.Sprintf("automerge-refused:%d:%s", number, head))
		body := fmt.Sprintf("⚠️ **hotfix-bot could not merge this sync** (`sync.auto_merge`): %s\n\n**Next:** a person merges it, with a merge commit; if a branch rule stopped the app, add hotfix-bot to its bypass list.\n%s", facts.Explain(err), marker)
		_, _, perr := r.PostComment(ctx, number, marker, body, time.Time{})
		return false, perr
	}
	marker := facts.Marker(fmt.Sprintf("automerged:%d", number))
	body := fmt.Sprintf("✅ **Merged by hotfix-bot** (`sync.auto_merge`) with a merge commit: %s is now in `%s`. It was the bot's own sync commit, untouched, without conflicts, and GitHub said its required checks passed.\n%s", tag, target, marker)
	var errs []error
	if _, _, err := r.PostComment(ctx, number, marker, body, time.Time{}); err != nil {
		errs = append(errs, err)
	}
	log.Str("target", target).Msg("Sync-back pull request merged by the bot")
	if cfg.IsReleaseBranch(target) {
		// The bot's own merge gets no push event of its own to act on:
		// the release branch's new head is checked here.
		pol := facts.Policy{Config: cfg}
		if tip, err := r.Fresh().BranchSHA(ctx, target); err != nil {
			errs = append(errs, err)
		} else if tip != "" {
			errs = append(errs, g.releaseCheck(ctx, r.Fresh(), pol, target, tip))
		}
	}
	return true, errors.Join(errs...)
}
