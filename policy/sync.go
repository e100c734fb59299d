package policy

import (
	"fmt"
	"strings"
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
