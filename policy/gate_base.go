package policy

import (
	"fmt"
	"strings"
)

// UnreleasedCommits are commits a hotfix carries that sit on a development
// branch (develop or a release branch) but not in production.
type UnreleasedCommits struct {
	Branch  string
	Count   int
	Commits []Commit // the first few, oldest first
	// ForkPoint is where the hotfix branched off Branch.
	ForkPoint string
}

// BaseFacts is what the base gate needs to know about a hotfix head.
type BaseFacts struct {
	Branch     string
	Head       string
	Production ProductionState
	// ForkRepo is set when the head lives in a fork ("owner/name").
	ForkRepo string
	// MergeBase is the merge base of Head with the production commit, and
	// MergeBaseTag a release tag on it, if any.
	MergeBase    string
	MergeBaseTag string
	// BehindBy counts production commits the head lacks.
	BehindBy int
	// Unreleased lists, per development branch, what the head carries
	// that production lacks.
	Unreleased []UnreleasedCommits
	// MissingDevelop names branches.develop when that branch does not
	// exist: the gate cannot know what is unreleased.
	MissingDevelop string
	// Unknown says why the facts above could not all be read (a GitHub
	// failure, a listing cut short). The gate fails with it.
	Unknown string
}

// ShownCommits is how many unreleased commits a failure lists by name.
const ShownCommits = 5

// EvaluateBase decides hotfix-bot/base: success only when the head's merge
// base with production is the production commit itself and the head
// carries no commit of develop or a release branch that production lacks.
// Every fact it could not establish fails it.
func EvaluateBase(f BaseFacts) CheckResult {
	r := CheckResult{Name: CheckBase}
	switch {
	case f.ForkRepo != "":
		r.Conclusion = Failure
		r.Title = "Hotfix PRs must come from a branch of this repository"
		r.Summary = fmt.Sprintf("This pull request comes from the fork **%s**. hotfix PRs must come from a branch of this repository, "+
			"so that the bot can check, tag and merge exactly what was reviewed.\n\n"+
			"**What to do:** push the branch to this repository (someone with write access can do it) and open the pull request from there.", f.ForkRepo)
		return r
	case f.Production.Unknown != "":
		return unknownProduction(CheckBase, f.Production)
	case !f.Production.Known:
		r.Conclusion = Failure
		r.Title = "Production is unknown: nothing to compare with"
		r.Summary = "hotfix-bot cannot tell what runs in production: this repository has no successful deployment to the production environment and no release tag.\n\n" +
			"**What to do**, either:\n" +
			"- report your current production deployment to GitHub (a deployment with a `success` status in the production environment), or\n" +
			"- tag the commit production runs, e.g. `git tag v1.0.0 <sha> && git push origin v1.0.0` (the tag must match `production.tag_pattern`).\n\n" +
			"Then re-run this check."
		return r
	case f.MissingDevelop != "":
		r.Conclusion = Failure
		r.Title = fmt.Sprintf("The develop branch %q does not exist", f.MissingDevelop)
		r.Summary = fmt.Sprintf("The base gate compares the hotfix with `branches.develop` (%q) to find unreleased work riding along, and this repository has no such branch. "+
			"Passing without that comparison could ship unreleased commits, so the gate fails.\n\n"+
			"**What to do:** set `branches.develop` in `.github/hotfix-bot.yml` on the default branch to the name of your development branch (for example `dev` or `development`), then re-run this check.", f.MissingDevelop)
		return r
	case f.Unknown != "":
		r.Conclusion = Failure
		r.Title = "Cannot check where the hotfix starts"
		r.Summary = "hotfix-bot could not read everything the base gate needs:\n\n> " + f.Unknown +
			"\n\nThe gate fails rather than guess. **What to do:** re-run this check (\"Re-run\" on the check, or push); if it keeps failing, see the message above."
		return r
	}

	prod := f.Production
	startsAtProduction := f.MergeBase == prod.SHA
	var unreleased []UnreleasedCommits
	total := 0
	for _, u := range f.Unreleased {
		if u.Count > 0 {
			unreleased = append(unreleased, u)
			total += u.Count
		}
	}
	if startsAtProduction && total == 0 {
		r.Conclusion = Success
		r.Title = fmt.Sprintf("Starts at production (%s)", prod.Name())
		r.Summary = fmt.Sprintf("%s branches from the production commit `%s` (%s) and carries nothing unreleased.\n\nProduction: %s.",
			Code(f.Branch), Short(prod.SHA), prod.Name(), prod.Source)
		return r
	}

	r.Conclusion = Failure
	var b strings.Builder
	switch {
	case !startsAtProduction && total > 0:
		r.Title = fmt.Sprintf("Not cut from production: %d unreleased commit%s, %d behind %s", total, plural(total), f.BehindBy, prod.Name())
	case !startsAtProduction:
		r.Title = fmt.Sprintf("Not cut from production: %d commit%s behind %s", f.BehindBy, plural(f.BehindBy), prod.Name())
	default:
		r.Title = fmt.Sprintf("Carries %d unreleased commit%s", total, plural(total))
	}
	fmt.Fprintf(&b, "%s must start exactly at the production commit, and carry only the fix.\n\n", Code(f.Branch))
	fmt.Fprintf(&b, "- Production: **%s** (`%s`), from %s.\n", prod.Name(), Short(prod.SHA), prod.Source)
	mb := "`" + Short(f.MergeBase) + "`"
	if f.MergeBaseTag != "" {
		mb += " (" + f.MergeBaseTag + ")"
	}
	if startsAtProduction {
		fmt.Fprintf(&b, "- Merge base with production: %s, the production commit.\n", mb)
	} else {
		fmt.Fprintf(&b, "- Merge base with production: %s, **%d commit%s behind production**: the branch lacks fixes that are live.\n", mb, f.BehindBy, plural(f.BehindBy))
	}
	for _, u := range unreleased {
		fmt.Fprintf(&b, "- **%d commit%s from %s that production does not have** (they would ship with this hotfix):\n", u.Count, plural(u.Count), Code(u.Branch))
		for _, c := range u.Commits {
			fmt.Fprintf(&b, "  - `%s` %s\n", Short(c.SHA), UserText(c.Title, 200))
		}
		if u.Count > len(u.Commits) {
			fmt.Fprintf(&b, "  - … and %d more\n", u.Count-len(u.Commits))
		}
	}

	// The hotfix's own commits start after the fork point: the merge base
	// with production, or where it left a development branch.
	forkPoint := f.MergeBase
	if len(unreleased) > 0 {
		forkPoint = unreleased[0].ForkPoint
	}
	fmt.Fprintf(&b, "\n### How to fix\n\nMove only your hotfix commits onto the production %s", map[bool]string{true: "tag", false: "commit"}[prod.Tag != ""])
	b.WriteString(fixCommands(f.Branch, prod.Ref(), forkPoint))
	r.Summary = b.String()
	return r
}

// fixCommands are the exact commands that move a hotfix onto production,
// every name quoted for sh; a name no quoting makes safe gets no command
// at all, and the text says why.
func fixCommands(branch, production, forkPoint string) string {
	qBranch, ok1 := ShellQuote(branch)
	qProd, ok2 := ShellQuote(production)
	qFork, ok3 := ShellQuote(forkPoint)
	qNew, ok4 := ShellQuote(branch + "-2")
	switch {
	case !ok1:
		return ".\n\n" + ShellRefusal("branch", branch) + "\n\nThe checks re-run on the next push."
	case !ok2:
		return ".\n\n" + ShellRefusal("production tag", production) + "\n\nThe checks re-run on the next push."
	case !ok3 || !ok4:
		return ".\n\n" + ShellRefusal("branch", branch+"-2") + "\n\nThe checks re-run on the next push."
	}
	return fmt.Sprintf(":\n\n```sh\ngit fetch origin --tags\ngit rebase --onto %s %s %s\ngit push --force-with-lease origin %s\n```\n\n", qProd, qFork, qBranch, qBranch) +
		fmt.Sprintf("Or recreate the branch from production and cherry-pick the fix:\n\n```sh\ngit switch -c %s %s\ngit cherry-pick <your fix commits>\n```\n\nThe checks re-run on the next push.", qNew, qProd)
}
