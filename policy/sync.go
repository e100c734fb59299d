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

// IsSyncBranch reports whether a branch is one of the bot's sync branches.
func IsSyncBranch(branch string) bool { return strings.HasPrefix(branch, "hotfix-bot/sync/") }

// SyncTitle is the title of a sync-back pull request.
func SyncTitle(tag, target string) string { return fmt.Sprintf("Sync %s into %s", tag, target) }

// CheckSync is the check run on a sync branch that conflicts with its
// target, failing until the conflict is resolved.
const CheckSync = "hotfix-bot/sync"
