package policy

import (
	"fmt"
	"strings"
	"time"
)

// SyncCandidate is a branch a hotfix may need to be synced back into:
// develop, or a release branch.
type SyncCandidate struct {
	Branch  string
	Develop bool
	// Exists is false for a configured develop branch that is missing.
	Exists bool
	// AheadOfProduction counts commits the branch has that the production
	// branch lacks (a release branch with none was merged: closed).
	AheadOfProduction int
	// ContainsTag: the branch already holds the production tag (compare
	// status behind or identical).
	ContainsTag bool
	// Unknown says why the comparisons could not be made.
	Unknown string
}

// SyncTarget is the decision for one candidate: a pull request, or why
// not.
type SyncTarget struct {
	Branch string
	// Skip, when set, says why no pull request is opened.
	Skip string
	// Problem marks a skip people must act on (the fix is not synced).
	Problem bool
}

// SyncTargets decides which branches get a sync-back pull request:
// develop and every open release branch (one holding commits production
// lacks) that does not already contain the tag.
func (c Config) SyncTargets(tag string, candidates []SyncCandidate) []SyncTarget {
	var out []SyncTarget
	for _, s := range candidates {
		t := SyncTarget{Branch: s.Branch}
		switch {
		case s.Unknown != "":
			t.Skip, t.Problem = "not synced: "+s.Unknown+"; open the sync pull request by hand", true
		case s.Develop && !s.Exists:
			t.Skip, t.Problem = fmt.Sprintf("`branches.develop` names %q, which does not exist: the fix is not synced into your development branch; set `branches.develop` and sync it by hand", s.Branch), true
		case !s.Develop && s.AheadOfProduction == 0:
			t.Skip = fmt.Sprintf("merged into `%s` already (closed)", c.Branches.Production)
		case s.ContainsTag:
			t.Skip = "already contains " + tag
		}
		out = append(out, t)
	}
	return out
}

// SyncBranchName is the branch a sync-back pull request comes from.
func SyncBranchName(tag, target string) string {
	return "hotfix-bot/sync/" + tag + "-to-" + target
}

// IsSyncBranch reports whether a branch is one of the bot's sync branches.
func IsSyncBranch(branch string) bool { return strings.HasPrefix(branch, "hotfix-bot/sync/") }

// SyncTitle is the title of a sync-back pull request.
func SyncTitle(tag, target string) string { return fmt.Sprintf("Sync %s into %s", tag, target) }

// CheckSync is the check run on a sync branch that conflicts with its
// target, failing until the conflict is resolved.
const CheckSync = "hotfix-bot/sync"

// SyncMergeFacts is what GitHub says about an open sync-back pull request
// when the bot considers merging it (sync.auto_merge).
type SyncMergeFacts struct {
	Number int
	Target string
	Draft  bool
	// Conflict: it carries the conflict label or a failing
	// hotfix-bot/sync check: a person resolved, or must resolve, it.
	Conflict bool
	// OwnHead: its head is still the bot's own sync commit, exactly as
	// the bot made it (nobody else committed to the branch).
	OwnHead bool
	// MergeableState is GitHub's mergeable_state: clean, unstable,
	// blocked, behind, dirty, draft, has_hooks, or unknown while GitHub
	// computes it.
	MergeableState string
	// Checks are the other check runs and commit statuses on its head.
	Checks []CheckState
}

// SyncMerge is the verdict on merging a sync-back pull request.
type SyncMerge int

// What the bot does with an open sync-back pull request.
const (
	// SyncMergeNo: not the bot's to merge (auto_merge off, a person's
	// resolution, a conflict); people merge it.
	SyncMergeNo SyncMerge = iota
	// SyncMergeWait: not yet (checks running, GitHub still computing);
	// a later event or re-check looks again.
	SyncMergeWait
	// SyncMergeNow: merge it with a merge commit.
	SyncMergeNow
)

// DecideSyncMerge decides whether the bot merges a sync-back pull request
// itself (sync.auto_merge): only its own, unchanged, conflict-free sync,
// once GitHub says it is mergeable with every required check passed
// (`clean`) and no other check on its head is failing or running. A sync
// someone committed to (a conflict resolution) is new code: people review
// and merge it. why says, for logs, why not.
func (c Config) DecideSyncMerge(f SyncMergeFacts) (verdict SyncMerge, why string) {
	switch {
	case !c.Sync.AutoMerge:
		return SyncMergeNo, "sync.auto_merge is off"
	case f.Draft || f.Conflict:
		return SyncMergeNo, "it conflicts with its target: a person resolves and merges it"
	case !f.OwnHead:
		return SyncMergeNo, "someone committed to it: a person reviews and merges it"
	}
	switch f.MergeableState {
	case "clean", "has_hooks":
	case "unknown", "", "blocked":
		return SyncMergeWait, "GitHub does not call it mergeable yet (" + orUnknown(f.MergeableState) + "): required checks or reviews pending"
	default:
		return SyncMergeNo, "GitHub says it is " + f.MergeableState
	}
	for _, ch := range f.Checks {
		switch ch.State {
		case "success", "neutral", "skipped":
		case "pending", "queued", "in_progress", "":
			return SyncMergeWait, fmt.Sprintf("%s %q is still running", ch.Kind, ch.Name)
		default:
			return SyncMergeNo, fmt.Sprintf("%s %q is %s", ch.Kind, ch.Name, ch.State)
		}
	}
	return SyncMergeNow, ""
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// ReminderDay is the day (UTC, 2006-01-02) a sync-back pull request
// opened at `opened` is due a reminder at `now`, "" when it is not
// (reminders off, or not open long enough). One reminder a day: the day
// names it.
func (c Config) ReminderDay(opened, now time.Time) string {
	after := time.Duration(c.Sync.RemindAfter)
	if after <= 0 || now.Sub(opened) < after {
		return ""
	}
	return now.UTC().Format("2006-01-02")
}

// SyncReminder is the reminder comment on a sync-back pull request open
// for `open`: what it brings, the release it blocks, who should act.
func (c Config) SyncReminder(target, tag string, hotfix int, open time.Duration, conflict bool, people []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "⏰ **This sync has been open for %s.** It brings %s", ageText(open), tag)
	if hotfix != 0 {
		fmt.Fprintf(&b, " (hotfix #%d)", hotfix)
	}
	fmt.Fprintf(&b, " into `%s`, and production already runs it.", target)
	if c.IsReleaseBranch(target) {
		fmt.Fprintf(&b, " It blocks the release of `%s`: until it is merged, `%s` fails on it and hotfix-bot rejects its deployments to `%s`, because shipping it would undo the fix.",
			target, CheckRelease, c.Production.Environment)
	} else {
		fmt.Fprintf(&b, " It blocks the next release: every release branch cut from `%s` before it is merged lacks the fix.", target)
	}
	next := "review it and merge it with a merge commit (not squash or rebase)."
	if conflict {
		next = "resolve the conflict as the comment above says, then merge it with a merge commit."
	}
	who := ""
	if len(people) > 0 {
		who = strings.Join(people, " ") + ": "
	}
	fmt.Fprintf(&b, "\n\n**Next:** %s%s One reminder a day until it is merged or closed (`sync.remind_after`).", who, next)
	return b.String()
}

// ageText is a duration for people: "26 hours", "3 days".
func ageText(d time.Duration) string {
	if h := int(d.Hours()); h < 48 {
		return fmt.Sprintf("%d hour%s", h, plural(h))
	}
	days := int(d.Hours() / 24)
	return fmt.Sprintf("%d days", days)
}
