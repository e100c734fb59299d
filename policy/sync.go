package policy

import (
	"fmt"
	"strings"
	"time"
)

// SyncCandidate is a branch a hotfix may need to be synced back into:
// develop, a release branch found by branches.release, or one listed in
// sync.targets.
type SyncCandidate struct {
	Branch  string
	Develop bool
	// Listed: named in sync.targets, which replaces discovery: the team
	// says it is open.
	Listed bool
	// Exists is false for a configured branch that is missing.
	Exists bool
	// OwnCommits counts the commits the branch has that the production
	// branch lacks.
	OwnCommits int
	// TreeInProduction: a commit of the production branch that the branch
	// lacks carries exactly the branch's tree (it was squash-merged, or
	// merged while nothing else changed). TreesUnchecked: the production
	// branch has more commits since the branch left it than the bot reads,
	// so the tree was not found among them but may be there.
	TreeInProduction, TreesUnchecked bool
	// Shipped: the branch holds nothing the production branch lacks, and
	// production had already moved past its tip before this hotfix (the
	// release it was cut for has shipped). LastTag is the release tag on
	// its tip, if any.
	Shipped bool
	LastTag string
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
	// Why says why a pull request is opened (the summary shows it).
	Why string
}

// SyncTargets decides which branches get a sync-back pull request:
// develop, and every open release branch that does not already contain
// the tag. A release branch is open until production has absorbed it:
// the production branch contains neither its tree (TreeInProduction)
// nor its last release (Shipped). So a release cut at production, with
// nothing of its own yet, is open (the fix would miss that release
// otherwise), and a squash-merged one is closed. With sync.targets the
// listed branches are the release branches, open by the team's word.
func (c Config) SyncTargets(tag string, candidates []SyncCandidate) []SyncTarget {
	prod := Code(c.Branches.Production)
	var out []SyncTarget
	for _, s := range candidates {
		t := SyncTarget{Branch: s.Branch}
		release := !s.Develop && !s.Listed
		switch {
		case s.Unknown != "":
			t.Skip, t.Problem = "not synced: "+s.Unknown+"; open the sync pull request by hand", true
		case s.Develop && !s.Exists:
			t.Skip, t.Problem = fmt.Sprintf("`branches.develop` names %s, which does not exist: the fix is not synced into your development branch; set `branches.develop` and sync it by hand", Code(s.Branch)), true
		case s.Listed && !s.Exists:
			t.Skip, t.Problem = fmt.Sprintf("`sync.targets` names %s, which does not exist: the fix is not synced there; correct `sync.targets` and sync by hand", Code(s.Branch)), true
		case release && s.TreeInProduction:
			t.Skip = fmt.Sprintf("closed: %s already has its exact tree (it was merged or squash-merged)", prod)
		case release && s.Shipped:
			last := "its tip"
			if s.LastTag != "" {
				last = "its last release, " + Code(s.LastTag)
			}
			t.Skip = fmt.Sprintf("closed: it holds nothing %s lacks, and production had moved past %s before this hotfix", prod, last)
		case s.ContainsTag:
			t.Skip = "already contains " + tag
		}
		switch {
		case t.Skip != "":
		case s.Develop:
			t.Why = "the development branch"
		case s.Listed:
			t.Why = "listed in `sync.targets`"
		case s.OwnCommits > 0:
			t.Why = fmt.Sprintf("open: %d commit%s %s lacks", s.OwnCommits, plural(s.OwnCommits), prod)
			if s.TreesUnchecked {
				t.Why += fmt.Sprintf(" (its tree was not looked for among %s's commits since it left: too many to read)", prod)
			}
		default:
			t.Why = "open: nothing of its own yet, cut at or after what production ran"
		}
		out = append(out, t)
	}
	return out
}

// SyncBranchName is the branch a sync-back pull request comes from.
func SyncBranchName(tag, target string) string {
	return "hotfix-bot/sync/" + tag + "-to-" + target
}

// MaxSyncBranches bounds the names the bot tries for one sync: the plain
// name, then -2, -3... when someone else holds the one before.
const MaxSyncBranches = 5

// SyncBranchNameN is the n-th name (from 1) the bot tries for a sync:
// SyncBranchName, then the same with -2, -3...
func SyncBranchNameN(tag, target string, n int) string {
	if n <= 1 {
		return SyncBranchName(tag, target)
	}
	return fmt.Sprintf("%s-%d", SyncBranchName(tag, target), n)
}

// SyncPR is a pull request from a sync branch into its target.
type SyncPR struct {
	Number  int
	Author  string
	State   string // open, open, draft, closed or merged
	HTMLURL string
	// ContainsRelease says its head still holds the release (not asked
	// of a merged one), and Extra counts the commits it has beyond it.
	ContainsRelease bool
	Extra           int
}

// SyncBranchFacts is what lies at one sync branch name: anyone with write
// access can create a branch of that name (the tag is announced in the
// /promote plan) and open pull requests from it.
type SyncBranchFacts struct {
	Branch string
	// Head is the branch's tip, "" when there is no such branch.
	Head string
	// HeadIsRelease: the tip is the released commit itself, or one commit
	// on top of it with its exact tree (the bot's sync commit; whoever
	// wrote such a commit, it brings the release and nothing else).
	HeadIsRelease bool
	// OwnPR is the pull request the app opened from the branch into the
	// target, if any; ForeignPRs are everyone else's.
	OwnPR      *SyncPR
	ForeignPRs []SyncPR
}

// SyncBranchUse is what the bot does with one sync branch name.
type SyncBranchUse int

// What a sync branch name is good for.
const (
	// SyncCreate: nothing is there: make the branch and open the PR.
	SyncCreate SyncBranchUse = iota
	// SyncOpenPR: the bot's branch, without a pull request yet.
	SyncOpenPR
	// SyncReuse: the bot's pull request is there already.
	SyncReuse
	// SyncForeign: someone else's: left alone, and the next name tried.
	SyncForeign
)

// SyncBranchChoice is the decision for one name; Why says, for a
// foreign one, what the bot found there.
type SyncBranchChoice struct {
	Use SyncBranchUse
	Why string
}

// ChooseSyncBranch decides whether a sync branch name is the bot's to
// use. Only the app's own pull request is reused (a merged one always:
// it was reviewed and merged as it was; an open or closed one only while
// it still carries the release), and only a branch holding exactly the
// release is opened from; anything else is someone else's, never
// presented as the hotfix.
func ChooseSyncBranch(f SyncBranchFacts) SyncBranchChoice {
	switch own := f.OwnPR; {
	case own != nil && (own.State == "merged" || own.ContainsRelease):
		return SyncBranchChoice{Use: SyncReuse}
	case own != nil:
		return SyncBranchChoice{Use: SyncForeign, Why: fmt.Sprintf("the bot's #%d from it no longer carries the release (its branch was rewritten)", own.Number)}
	case len(f.ForeignPRs) > 0:
		var prs []string
		for _, p := range f.ForeignPRs {
			prs = append(prs, fmt.Sprintf("#%d (%s, by %s)", p.Number, p.State, Code(p.Author)))
		}
		return SyncBranchChoice{Use: SyncForeign, Why: "pull requests from it were opened by someone other than the app: " + strings.Join(prs, ", ")}
	case f.Head == "":
		return SyncBranchChoice{Use: SyncCreate}
	case f.HeadIsRelease:
		return SyncBranchChoice{Use: SyncOpenPR}
	}
	return SyncBranchChoice{Use: SyncForeign, Why: fmt.Sprintf("its head `%s` is neither the release nor the bot's one commit on it: someone else put commits there", Short(f.Head))}
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
