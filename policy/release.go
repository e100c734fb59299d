package policy

import (
	"fmt"
	"strings"
)

// Never lose a hotfix: a commit about to reach production (a release
// branch's head, a deployment waiting for the environment's protection
// rules) must contain every release production has shipped and still
// stands on. What production shipped is read from GitHub by facts
// (MissingReleases); what that means, and what people read, is decided
// here.

// CheckRelease is the check run on release branches and on release pull
// requests into the production branch: green once the head contains every
// hotfix production shipped.
const CheckRelease = "hotfix-bot/release"

// ShippedRelease is a release production shipped: a release tag
// (production.tag_pattern), or a hotfix the bot released (found by its tag
// or by its successful production deployment).
type ShippedRelease struct {
	// Tag is the release tag, "" for a bot hotfix that was never tagged.
	Tag string
	SHA string
	// PR and Title are the hotfix pull request, 0 and "" for a release
	// the bot did not make.
	PR    int
	Title string
	// Syncs are the open sync-back pull requests that bring it somewhere.
	Syncs []OpenSync
}

// OpenSync is an open sync-back pull request of a shipped release.
type OpenSync struct {
	Number int
	Target string
	// Conflict: it conflicts with its target and needs a person.
	Conflict bool
}

// Name is how people know the release: "v1.4.3 (#12, fix payment
// timeout)", "v1.4.0", or "hotfix #12 (`abc1234`, untagged)".
func (s ShippedRelease) Name() string {
	switch {
	case s.Tag != "" && s.PR != 0 && s.Title != "":
		return fmt.Sprintf("%s (#%d, %s)", s.Tag, s.PR, oneLine(s.Title, 80))
	case s.Tag != "" && s.PR != 0:
		return fmt.Sprintf("%s (#%d)", s.Tag, s.PR)
	case s.Tag != "":
		return s.Tag
	case s.PR != 0:
		return fmt.Sprintf("hotfix #%d (`%s`, untagged)", s.PR, Short(s.SHA))
	}
	return fmt.Sprintf("`%s`", Short(s.SHA))
}

// ref is what git names the release by.
func (s ShippedRelease) ref() string {
	if s.Tag != "" {
		return s.Tag
	}
	return Short(s.SHA)
}

// ReleaseFacts is what GitHub says about one commit against what
// production shipped.
type ReleaseFacts struct {
	// SHA is the commit checked; Target the branch it is the head of
	// ("" when not known: a deployment of a bare commit).
	SHA    string
	Target string
	// Production is what production runs now.
	Production ProductionState
	// Missing are the releases production's history holds that SHA
	// lacks, oldest first.
	Missing []ShippedRelease
	// Unknown says why the bot could not tell (a read failed, a listing
	// was cut short); the check and the protection rule then refuse.
	Unknown string
}

// Complete reports whether SHA contains everything production shipped.
func (f ReleaseFacts) Complete() bool { return f.Unknown == "" && len(f.Missing) == 0 }

// MissingLines says, one line per missing release, what is not in the
// commit and what to do: "v1.4.3 (#12, fix payment timeout) is not in
// `a1b2c3d`: merge #14 into `release/1.5` first".
func (f ReleaseFacts) MissingLines() []string {
	var out []string
	for _, m := range f.Missing {
		out = append(out, fmt.Sprintf("%s is not in `%s`: %s", m.Name(), Short(f.SHA), f.bringIn(m)))
	}
	return out
}

// bringIn says how a missing release gets into the target.
func (f ReleaseFacts) bringIn(m ShippedRelease) string {
	var into, elsewhere []OpenSync
	for _, s := range m.Syncs {
		if f.Target != "" && s.Target == f.Target {
			into = append(into, s)
		} else {
			elsewhere = append(elsewhere, s)
		}
	}
	switch {
	case len(into) > 0:
		s := into[0]
		line := fmt.Sprintf("merge #%d into `%s` first", s.Number, s.Target)
		if s.Conflict {
			line += " (it conflicts: resolve it as its comment says, then merge it with a merge commit)"
		}
		return line
	case f.Target == "" && len(elsewhere) > 0:
		var names []string
		for _, s := range elsewhere {
			names = append(names, fmt.Sprintf("#%d (into `%s`)", s.Number, s.Target))
		}
		return "merge its sync-back pull request into the branch you deploy first; open: " + strings.Join(names, ", ")
	case f.Target == "":
		return fmt.Sprintf("merge `%s` into the branch you deploy first (`git merge %s`, with a merge commit)", m.ref(), m.ref())
	}
	return fmt.Sprintf("merge `%s` into `%s` first (no sync-back pull request into it is open: `git merge %s` on `%s`, with a merge commit)",
		m.ref(), f.Target, m.ref(), f.Target)
}

// ReleaseCheck is hotfix-bot/release on a release branch's head (or a
// release pull request's): success when it contains every release
// production shipped, failure listing what it lacks and how to bring it
// in, failure when the bot cannot tell.
func (c Config) ReleaseCheck(f ReleaseFacts) CheckResult {
	res := CheckResult{Name: CheckRelease}
	where := "`" + Short(f.SHA) + "`"
	if f.Target != "" {
		where = fmt.Sprintf("`%s` (`%s`)", f.Target, Short(f.SHA))
	}
	switch {
	case f.Unknown != "":
		res.Conclusion, res.Title = Failure, "Cannot tell whether it contains every shipped hotfix"
		res.Summary = fmt.Sprintf("hotfix-bot could not establish what production shipped, so it cannot vouch for %s:\n\n> %s\n\n"+
			"The check fails rather than guess. **What to do:** fix what the sentence above names, then re-run this check.", where, f.Unknown)
	case len(f.Missing) > 0:
		var names []string
		for _, m := range f.Missing {
			names = append(names, m.ref())
		}
		res.Conclusion = Failure
		res.Title = fmt.Sprintf("Lacks %d release%s production shipped: %s", len(f.Missing), plural(len(f.Missing)), plainList(names, 5))
		var b strings.Builder
		fmt.Fprintf(&b, "Releasing %s would undo what production already has (it runs %s):\n\n", where, f.Production.Name())
		for _, line := range f.MissingLines() {
			b.WriteString("- " + line + "\n")
		}
		b.WriteString("\n**What to do:** merge each fix in as its line says (with a merge commit: a squash breaks the next sync); this check runs again on the push. " +
			"Until then hotfix-bot also rejects deployments of it to `" + c.Production.Environment + "` (when it guards the environment).")
		res.Summary = b.String()
	default:
		res.Conclusion = Success
		res.Title = "Contains every release production shipped"
		res.Summary = fmt.Sprintf("%s contains every release and hotfix production stands on (production runs %s). Releasing it undoes no hotfix.",
			where, productionName(f.Production))
	}
	return res
}

// productionName names production for a success, also when it is unknown
// because nothing was ever released.
func productionName(p ProductionState) string {
	if !p.Known {
		return "nothing the bot knows of yet"
	}
	return p.Name()
}

// plainList joins at most n names, saying how many more there are.
func plainList(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// oneLine trims text to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
