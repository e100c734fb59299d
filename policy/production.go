package policy

// ProductionState is what runs in production.
type ProductionState struct {
	// Known is false when production could not be established: see
	// Unknown for why, or, when Unknown is empty, the repository has
	// neither a successful production deployment nor a release tag.
	Known bool
	SHA   string
	// Tag is the newest release tag on SHA (pre-releases never count),
	// "" when SHA is untagged.
	Tag string
	// Deployment is the successful deployment SHA was found from (0 when
	// production was found from a tag).
	Deployment int64
	// AncestorTag is, for an untagged SHA when it was asked for, the
	// newest release tag that is an ancestor of it: the version the next
	// tag bumps.
	AncestorTag string
	// Source says how SHA was found, for people.
	Source string
	// Unknown says why production could not be established although the
	// repository has something to establish it from (deployments that
	// could not all be read, a GitHub failure). Every gate fails with it.
	Unknown string
}

// Name is the tag, or "untagged <sha>".
func (p ProductionState) Name() string {
	if p.Tag != "" {
		return p.Tag
	}
	return "untagged " + Short(p.SHA)
}

// Ref is what a git command should name: the tag, or the sha.
func (p ProductionState) Ref() string {
	if p.Tag != "" {
		return p.Tag
	}
	return p.SHA
}

// Short abbreviates a sha for people.
func Short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// Commit is a commit as shown to people.
type Commit struct {
	SHA   string
	Title string
}

// unknownProduction is the result every gate gets when production could
// not be established although it should have been: failure, saying why.
func unknownProduction(name string, p ProductionState) CheckResult {
	return CheckResult{
		Name:       name,
		Conclusion: Failure,
		Title:      "Cannot tell what production runs",
		Summary: "hotfix-bot could not establish the production commit, so it cannot check this hotfix against it:\n\n> " + p.Unknown +
			"\n\nThe gate fails rather than guess. **What to do:** fix what the sentence above names, then re-run this check (\"Re-run\" on the check, or push).",
	}
}
