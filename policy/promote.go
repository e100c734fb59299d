package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// PullRequestState is what `/promote` checks about the pull request itself.
type PullRequestState struct {
	Number int
	Open   bool
	Draft  bool
	// Mergeable is nil while GitHub is still computing it.
	Mergeable *bool
	// Fork is "owner/name" when the head lives in a fork.
	Fork string
	// HeadRef and BaseRef are the branches; HeadSHA the head commit.
	HeadRef, BaseRef, HeadSHA string
}

// CheckState is one check run or commit status on a commit, other than
// the bot's own gates.
type CheckState struct {
	Name string
	// Source is who reported it: the app's slug for a check run
	// ("github-actions"), the creator's login for a commit status. A
	// check is known by its source and name together, so a status anyone
	// with write access posts cannot stand in for a CI check run.
	Source string
	// State is a check run's conclusion (success, failure, neutral,
	// skipped, cancelled, timed_out, action_required, stale), "pending"
	// while it runs, or a commit status's state.
	State string
	// Kind is "check run" or "commit status".
	Kind string
	URL  string
}

// Key is "source/name".
func (ch CheckState) Key() string { return ch.Source + "/" + ch.Name }

func (ch CheckState) label() string {
	if ch.Source == "" {
		return "`" + ch.Name + "`"
	}
	return fmt.Sprintf("`%s` (%s)", ch.Name, ch.Source)
}

// SuiteState is another app's check suite on a commit.
type SuiteState struct {
	App string
	// Status is queued, in_progress, completed, or one of the statuses
	// only GitHub Actions sets (requested, waiting, pending).
	Status string
	// Runs is how many check runs the suite has.
	Runs int
}

// Running reports whether the suite is still working on the commit. A
// suite queued without any check run is an app GitHub asked and that never
// answered (GitHub creates one on every push for every app that may write
// checks): it is not waited for.
func (s SuiteState) Running() bool {
	switch s.Status {
	case "completed":
		return false
	case "queued":
		return s.Runs > 0
	}
	return true
}

// CheckFacts is what promote.required_checks is judged on: the other
// checks and check suites on the head, and when the head was pushed.
type CheckFacts struct {
	Head   string
	Checks []CheckState
	Suites []SuiteState
	// Unknown says why the checks could not be read.
	Unknown string
	// PushedAt is when the head was pushed (zero: unknown), Now the
	// moment of the decision.
	PushedAt, Now time.Time
}

// LockState is the production lock as read from GitHub.
type LockState struct {
	Held bool
	// Kind is "promote" or "rollback".
	Kind        string
	RequestedBy string
	PR          int
	CommentID   int64
	// Deployment is the deployment the holder created, when known, and
	// DeploymentState its latest status when it was read ("" otherwise).
	Deployment      int64
	DeploymentState string
	SHA             string
	At              time.Time
	// Stale: held longer than promote.lock_timeout, and what it waited
	// for is over (its deployment has a final status, or the command that
	// took it died before deploying).
	Stale bool
}

// Describe says whose lock it is, for people.
func (l LockState) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "held by @%s for a %s", l.RequestedBy, l.Kind)
	if l.PR != 0 {
		fmt.Fprintf(&b, " of #%d", l.PR)
	}
	if l.SHA != "" {
		fmt.Fprintf(&b, " (`%s`)", Short(l.SHA))
	}
	if l.Deployment != 0 {
		fmt.Fprintf(&b, ", deployment %d", l.Deployment)
		switch {
		case !l.Held || l.Stale || l.DeploymentState == "":
		case l.DeploymentState == "none":
			b.WriteString(" (no status yet: waiting for your CD system or the environment's reviewers)")
		default:
			fmt.Fprintf(&b, " (%s)", l.DeploymentState)
		}
	}
	if !l.At.IsZero() {
		fmt.Fprintf(&b, ", since %s", l.At.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return b.String()
}

// PromotionFacts is everything `/promote` decides on.
type PromotionFacts struct {
	PR PullRequestState
	// Gates is the gate table of the pull request's current head, from
	// the same evaluation the check runs use.
	Gates GateTable
	// Checks are the other check runs, statuses and suites on the head.
	Checks CheckFacts
	// Lock is the production lock; LockUnknown says why it could not be
	// read.
	Lock        LockState
	LockUnknown string
	// HeadPushedAt is when the head was pushed (zero: unknown);
	// CommentAt when the /promote comment was written.
	HeadPushedAt time.Time
	CommentAt    time.Time
	Emergency    bool
	// EmergencyMaintainer: the emergency's actor has maintain permission
	// or more, the only emergency that passes a hold (Gates.Hold).
	EmergencyMaintainer bool
	// Now is when the bot decides: freeze windows are judged at it.
	Now time.Time
	// Recheck is the promotion decided again before the next step of a
	// staged chain: the lock is the chain's own and nobody commented, so
	// those rows are left out; instead production must still run
	// PreviousRef, what the chain replaces (a release pipeline that
	// deployed meanwhile stops it).
	Recheck     bool
	PreviousRef string
	Production  ProductionState
}

// Row is one line of a command's verdict table.
type Row struct {
	Rule    string
	Verdict string // "pass", "fail", "skip" or "wait"
	Details string
}

// Refusal is one rule that refuses a command: which rule, why, and what to
// do next, in words for 3 a.m.
type Refusal struct {
	Rule string
	Why  string
	Next string
}

// PromotionDecision is the verdict on a `/promote`.
type PromotionDecision struct {
	Rows     []Row
	Refusals []Refusal
}

// Allowed reports whether nothing refuses the promotion.
func (d PromotionDecision) Allowed() bool { return len(d.Refusals) == 0 }

// DecidePromotion decides whether a hotfix pull request may be deployed
// now: the pull request's own state, every gate on its current head,
// promote.required_checks, no hold, no freeze window, the production
// lock, and that the head is what the commenter saw. An emergency skips
// the approval labels (and the schema approval, which is one), the
// required checks and a freeze window, and a hold only when its actor
// has maintain permission; never anything else.
func (c Config) DecidePromotion(f PromotionFacts) PromotionDecision {
	var d PromotionDecision
	add := func(rule, verdict, details string, refusal *Refusal) {
		d.Rows = append(d.Rows, Row{Rule: rule, Verdict: verdict, Details: details})
		if refusal != nil {
			refusal.Rule = rule
			d.Refusals = append(d.Refusals, *refusal)
		}
	}
	pr := f.PR
	switch {
	case pr.Fork != "":
		add("from this repository", "fail", "from the fork "+pr.Fork, &Refusal{
			Why:  "hotfix PRs must come from a branch of this repository, so the bot deploys and merges exactly what was reviewed",
			Next: "push the branch to this repository and open the pull request from there"})
	case !c.IsHotfixBranch(pr.HeadRef) || pr.BaseRef != c.Branches.Production:
		add("a hotfix pull request", "fail", fmt.Sprintf("%s → %s", Code(pr.HeadRef), Code(pr.BaseRef)), &Refusal{
			Why:  fmt.Sprintf("`/promote` deploys hotfix pull requests: from a `%s` branch into `%s`", c.Branches.Hotfix, c.Branches.Production),
			Next: fmt.Sprintf("open the fix from a hotfix branch (`/hotfix start NAME` makes one at the production commit) into `%s`", c.Branches.Production)})
	default:
		add("a hotfix pull request", "pass", fmt.Sprintf("%s → %s", Code(pr.HeadRef), Code(pr.BaseRef)), nil)
	}
	if !pr.Open {
		add("open", "fail", "the pull request is closed", &Refusal{Why: "it is closed", Next: "reopen it, or promote the pull request that replaced it"})
	}
	if pr.Draft {
		add("not a draft", "fail", "the pull request is a draft", &Refusal{Why: "it is a draft", Next: "mark it ready for review, then comment `/promote` again"})
	}
	switch {
	case pr.Mergeable == nil:
		add("mergeable", "wait", "GitHub is still computing it", &Refusal{
			Why: "GitHub is still computing whether it can be merged", Next: "comment `/promote` again in a minute"})
	case !*pr.Mergeable:
		add("mergeable", "fail", fmt.Sprintf("conflicts with `%s`", pr.BaseRef), &Refusal{
			Why:  fmt.Sprintf("it conflicts with `%s`", pr.BaseRef),
			Next: fmt.Sprintf("a hotfix starts at production, so `%s` moved: rebase the fix onto the production tag (see `hotfix-bot/base`) and push", pr.BaseRef)})
	default:
		add("mergeable", "pass", "", nil)
	}

	for _, g := range f.Gates.Results {
		if g.Name == CheckApproval && f.Gates.Hold.Blocks() {
			g = c.EvaluateApproval(f.Gates.Approval, f.Gates.ApprovalFacts) // the hold has a row of its own
		}
		skippable := g.Name == CheckApproval || (g.Name == CheckSchema && g.Conclusion == ActionRequired)
		switch {
		case g.Passed():
			add(g.Name, "pass", g.Title, nil)
		case f.Emergency && skippable:
			add(g.Name, "skip", "skipped (emergency): "+g.Title, nil)
		default:
			add(g.Name, "fail", g.Title, &Refusal{Why: g.Title, Next: gateNext(g)})
		}
	}
	if len(f.Gates.Results) == 0 {
		add("gates", "fail", "not evaluated", &Refusal{Why: "the gates could not be evaluated", Next: "comment `/promote` again"})
	}

	checks := c.RequiredChecksVerdict(f.Checks)
	switch {
	case checks.Verdict == "pass":
		add("required checks", "pass", checks.Details, nil)
	case f.Emergency:
		add("required checks", "skip", "skipped (emergency): "+checks.Details, nil)
	default:
		add("required checks", checks.Verdict, checks.Details, &Refusal{Why: checks.Details, Next: checks.Next})
	}

	hold, refusal := holdRow(f.Gates.Hold, f.Emergency, f.EmergencyMaintainer)
	add(hold.Rule, hold.Verdict, hold.Details, refusal)
	freeze, refusal := c.freezeRow(f.Now, f.Emergency)
	add(freeze.Rule, freeze.Verdict, freeze.Details, refusal)

	if f.Recheck {
		switch prod := f.Production; {
		case !prod.Known:
			why := "the bot cannot tell what production runs now"
			if prod.Unknown != "" {
				why += ": " + prod.Unknown
			}
			add("production unchanged", "fail", "cannot tell", &Refusal{Why: why, Next: "comment `/promote` again once GitHub answers"})
		case prod.SHA != f.PreviousRef:
			add("production unchanged", "fail", fmt.Sprintf("production moved from `%s` to %s", Short(f.PreviousRef), prod.Name()), &Refusal{
				Why:  fmt.Sprintf("production now runs %s, not `%s`, which this promotion was checked against (another deployment reached production meanwhile)", prod.Name(), Short(f.PreviousRef)),
				Next: "check that the hotfix still belongs on top of what production runs now (`hotfix-bot/base` says), then comment `/promote` again"})
		default:
			add("production unchanged", "pass", prod.Name(), nil)
		}
		return d
	}
	switch {
	case f.LockUnknown != "":
		add("production lock", "fail", "cannot read it", &Refusal{Why: "the production lock could not be read: " + f.LockUnknown, Next: "comment `/promote` again in a minute"})
	case f.Lock.Held && !f.Lock.Stale:
		add("production lock", "fail", f.Lock.Describe(), &Refusal{
			Why:  "a promotion is in progress: the lock is " + f.Lock.Describe(),
			Next: "wait for it to finish (the bot releases the lock when the deployment reports its result); if it is stuck, someone with maintain permission comments `/unlock`"})
	case f.Lock.Held:
		add("production lock", "pass", "stale ("+f.Lock.Describe()+"): it will be taken over", nil)
	default:
		add("production lock", "pass", "free", nil)
	}

	switch {
	case f.HeadPushedAt.IsZero():
		add("head seen by you", "fail", "cannot tell when `"+Short(pr.HeadSHA)+"` was pushed", &Refusal{
			Why:  "the bot cannot tell when `" + Short(pr.HeadSHA) + "` was pushed (GitHub's activity log can lag a push), so it cannot tell whether you saw it",
			Next: "comment `/promote` again in a minute"})
	case !f.HeadPushedAt.Before(f.CommentAt):
		add("head seen by you", "fail", fmt.Sprintf("`%s` was pushed at %s, after your comment (%s)", Short(pr.HeadSHA), clock(f.HeadPushedAt), clock(f.CommentAt)), &Refusal{
			Why:  fmt.Sprintf("new commits arrived after your /promote (`%s`, pushed at %s)", Short(pr.HeadSHA), clock(f.HeadPushedAt)),
			Next: "review them and comment `/promote` again"})
	default:
		add("head seen by you", "pass", fmt.Sprintf("`%s`, pushed at %s", Short(pr.HeadSHA), clock(f.HeadPushedAt)), nil)
	}
	return d
}

func gateNext(g CheckResult) string {
	switch g.Name {
	case CheckApproval:
		return "a reviewer adds the missing approval labels (see the `hotfix-bot/approval` check), then comment `/promote` again"
	case CheckSchema:
		return "someone who may approve schema changes reviews the migration and adds the schema approval label, then comment `/promote` again"
	}
	return fmt.Sprintf("see the `%s` check for what to do, then comment `/promote` again", g.Name)
}

// ChecksVerdict is the verdict on promote.required_checks.
type ChecksVerdict struct {
	Verdict string // pass, fail or wait
	Details string
	Next    string
}

// RequiredChecksVerdict judges promote.required_checks on the head.
// Checks are told apart by source and name; of several checks that
// match, a failing or running one wins over a success. With `all`, every
// other check (skipped and neutral ones aside) must be successful, no
// other app's check suite may still be running, and "nothing reported
// yet" within promote.checks_grace of the push (or at an unknown push
// time) waits, never passes. With a list, each entry (`name` or
// `source/name`) must match a check, and every match must be successful.
// Still running is "wait"; unreadable is "fail".
func (c Config) RequiredChecksVerdict(f CheckFacts) ChecksVerdict {
	if f.Unknown != "" {
		return ChecksVerdict{Verdict: "fail", Details: "the checks on the head could not be read: " + f.Unknown, Next: "comment `/promote` again in a minute"}
	}
	var missing, running, failing, passing []string
	judge := func(what string, matches []CheckState) {
		worst := ""
		for _, ch := range matches {
			switch {
			case ch.State == "success":
			case ch.State == "pending" || ch.State == "queued" || ch.State == "in_progress" || ch.State == "":
				if worst == "" {
					worst = "running"
				}
			default:
				worst = fmt.Sprintf("%s: %s", ch.label(), ch.State)
			}
		}
		switch worst {
		case "":
			passing = append(passing, what)
		case "running":
			running = append(running, what)
		default:
			failing = append(failing, worst)
		}
	}
	if c.Promote.RequiredChecks.All {
		byKey := map[string][]CheckState{}
		var keys []string
		for _, ch := range f.Checks {
			if ch.State == "skipped" || ch.State == "neutral" {
				continue
			}
			if _, ok := byKey[ch.Key()]; !ok {
				keys = append(keys, ch.Key())
			}
			byKey[ch.Key()] = append(byKey[ch.Key()], ch)
		}
		sort.Strings(keys)
		for _, k := range keys {
			judge(byKey[k][0].label(), byKey[k])
		}
		for _, s := range f.Suites {
			if s.Running() {
				running = append(running, fmt.Sprintf("%s's check suite (%s)", s.App, s.Status))
			}
		}
		if len(f.Checks) == 0 && len(running) == 0 {
			grace := time.Duration(c.Promote.ChecksGrace)
			switch {
			case f.PushedAt.IsZero():
				return ChecksVerdict{Verdict: "wait", Details: fmt.Sprintf("CI has not reported on `%s` yet, and the bot cannot tell when it was pushed", Short(f.Head)),
					Next: "wait for CI to report on the head, then comment `/promote` again"}
			case f.Now.Sub(f.PushedAt) < grace:
				return ChecksVerdict{Verdict: "wait", Details: fmt.Sprintf("CI has not reported on `%s` yet (pushed at %s; `promote.checks_grace` is %s)", Short(f.Head), clock(f.PushedAt), grace),
					Next: fmt.Sprintf("wait for CI to report, then comment `/promote` again; with no CI at all, `/promote` passes this row %s after the push", grace)}
			}
			return ChecksVerdict{Verdict: "pass", Details: fmt.Sprintf("no other checks on the head, %s after its push", grace)}
		}
	} else {
		for _, want := range c.Promote.RequiredChecks.Names {
			var matches []CheckState
			for _, ch := range f.Checks {
				if ch.Name == want || ch.Key() == want {
					matches = append(matches, ch)
				}
			}
			if len(matches) == 0 {
				missing = append(missing, "`"+want+"`")
				continue
			}
			judge("`"+want+"`", matches)
		}
	}
	switch {
	case len(failing) > 0:
		return ChecksVerdict{Verdict: "fail", Details: "failing: " + strings.Join(failing, ", "),
			Next: "fix what fails and push (reviewers re-approve the new head), or, if production is burning, someone allowed to may use `/promote --emergency REASON`"}
	case len(missing) > 0:
		return ChecksVerdict{Verdict: "fail", Details: "not reported on the head: " + strings.Join(missing, ", "),
			Next: "wait for those checks to run on the head (or re-run them), then comment `/promote` again; `promote.required_checks` names them"}
	case len(running) > 0:
		return ChecksVerdict{Verdict: "wait", Details: "still running: " + strings.Join(running, ", "),
			Next: "wait for them to finish, then comment `/promote` again"}
	case len(passing) == 0:
		return ChecksVerdict{Verdict: "pass", Details: "no other checks on the head (skipped and neutral ones aside)"}
	}
	return ChecksVerdict{Verdict: "pass", Details: fmt.Sprintf("%d passing: %s", len(passing), strings.Join(passing, ", "))}
}

// NextFreeTag names the tag a successful hotfix deployment gets: the patch
// bump of the production tag (or, when production is untagged, of the
// newest release tag that is its ancestor), rendered with tag_template,
// skipping names that exist already. A pre-release never gives the
// version. ok is false when no release tag does.
func (c Config) NextFreeTag(prod ProductionState, tags []string) (string, bool) {
	base := prod.Tag
	if base == "" {
		base = prod.AncestorTag
	}
	v, ok := c.TagVersion(base)
	if !ok || v.Prerelease() != "" {
		return "", false
	}
	exists := map[string]bool{}
	for _, t := range tags {
		exists[t] = true
	}
	patch := v.Patch()
	for i := 0; i < 1000; i++ {
		patch++
		name := renderTag(c.Production.TagTemplate, v.Major(), v.Minor(), patch)
		if !exists[name] {
			return name, true
		}
	}
	return "", false
}

// DeploymentPayload is what the bot records in every deployment it
// creates: enough for any replica to finish the story from the
// deployment_status event alone, and for a repeated command to find the
// deployment it made instead of making another.
type DeploymentPayload struct {
	// HotfixBot marks the payload's format (1).
	HotfixBot int `json:"hotfix_bot"`
	// Kind is "hotfix" or "rollback".
	Kind        string `json:"kind"`
	PR          int    `json:"pr,omitempty"`
	CommentID   int64  `json:"comment_id,omitempty"`
	RequestedBy string `json:"requested_by"`
	// Author is the hotfix pull request's author (incident issues are
	// assigned to them).
	Author string `json:"author,omitempty"`
	// PreviousRef and PreviousTag are what production ran before.
	PreviousRef string `json:"previous_ref"`
	PreviousTag string `json:"previous_tag,omitempty"`
	// NextTag is the tag the deployed commit gets on success.
	NextTag string `json:"next_tag,omitempty"`
	// Chain is promote.environments; ChainIndex this deployment's place.
	Chain      []string `json:"chain"`
	ChainIndex int      `json:"chain_index"`
	// Emergency and AuditIssue record a `/promote --emergency`.
	Emergency  bool `json:"emergency,omitempty"`
	AuditIssue int  `json:"audit_issue,omitempty"`
	// EmergencyMaintainer: the emergency's actor had maintain permission
	// (a hold placed during a staged chain is passed only then).
	EmergencyMaintainer bool `json:"emergency_maintainer,omitempty"`
	// Rollbacks: the tag rolled back to, and the deployment whose failure
	// caused an automatic one.
	Target           string `json:"target,omitempty"`
	FailedDeployment int64  `json:"failed_deployment,omitempty"`
	Automatic        bool   `json:"automatic,omitempty"`
}

// Deployment tasks the bot uses.
const (
	TaskHotfix   = "deploy:hotfix"
	TaskRollback = "deploy:rollback"
)

// Final reports whether the deployment is the last of its chain.
func (p DeploymentPayload) Final() bool { return p.ChainIndex >= len(p.Chain)-1 }

// Environment is the environment of this step of the chain.
func (p DeploymentPayload) Environment() string {
	if p.ChainIndex < 0 || p.ChainIndex >= len(p.Chain) {
		return ""
	}
	return p.Chain[p.ChainIndex]
}

// Valid reports whether a payload is one the bot wrote, with a chain it
// can follow.
func (p DeploymentPayload) Valid() bool {
	return p.HotfixBot == 1 && (p.Kind == "hotfix" || p.Kind == "rollback") && len(p.Chain) > 0 &&
		p.ChainIndex >= 0 && p.ChainIndex < len(p.Chain) && p.RequestedBy != ""
}
