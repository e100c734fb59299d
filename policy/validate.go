package policy

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
)

// Validate checks a policy built in code. Parse runs the same checks and
// adds the line of each problem.
func (c Config) Validate() error {
	if errs := validate(c, nil); len(errs) > 0 {
		return errs
	}
	return nil
}

// maxLabelLength is GitHub's limit on a label name.
const maxLabelLength = 50

var (
	loginRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`)
	teamRe  = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}/)?[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

type checker struct {
	lines map[string]int
	errs  Errors
}

// line finds the line of path, or of its nearest parent that has one.
func (c *checker) line(path string) int {
	for p := path; p != ""; {
		if l, ok := c.lines[p]; ok {
			return l
		}
		if i := strings.LastIndexAny(p, ".["); i >= 0 {
			p = p[:i]
		} else {
			break
		}
	}
	return 0
}

func (c *checker) fail(path, format string, args ...any) {
	c.errs = append(c.errs, Error{Line: c.line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func validate(cfg Config, lines map[string]int) Errors {
	c := &checker{lines: lines}

	if cfg.Version != 1 {
		c.fail("version", "unsupported version %d; this hotfix-bot understands version 1", cfg.Version)
	}

	c.branchName("branches.production", cfg.Branches.Production)
	c.branchName("branches.develop", cfg.Branches.Develop)
	c.glob("branches.hotfix", cfg.Branches.Hotfix)
	c.glob("branches.release", cfg.Branches.Release)
	for _, g := range []struct{ path, glob string }{
		{"branches.hotfix", cfg.Branches.Hotfix},
		{"branches.release", cfg.Branches.Release},
	} {
		for _, b := range []string{cfg.Branches.Production, cfg.Branches.Develop} {
			if b != "" && matchGlob(g.glob, b) {
				c.fail(g.path, "%q also matches the branch %q; make the pattern specific, like \"hotfix/**\"", g.glob, b)
			}
		}
	}
	if cfg.Branches.Hotfix != "" && cfg.Branches.Hotfix == cfg.Branches.Release {
		c.fail("branches.release", "is the same pattern as branches.hotfix; a branch cannot be both")
	}

	c.nonEmpty("production.environment", cfg.Production.Environment)
	c.glob("production.tag_pattern", cfg.Production.TagPattern)
	c.tagTemplate(cfg.Production)
	if t := cfg.Production.MovingTag; t != "" {
		if msg := refNameProblem(t); msg != "" {
			c.fail("production.moving_tag", "%q %s", t, msg)
		} else if matchGlob(cfg.Production.TagPattern, t) {
			c.fail("production.moving_tag", "%q matches tag_pattern %q, so it would be mistaken for a release tag; pick a name outside the pattern", t, cfg.Production.TagPattern)
		}
	}

	for i, p := range cfg.Schema.Paths {
		c.glob(fmt.Sprintf("schema.paths[%d]", i), p)
	}

	c.labels("approval.labels", cfg.Approval.Labels)
	c.labels("approval.schema_labels", cfg.Approval.SchemaLabels)
	if cfg.Approval.Required {
		// An empty list would approve everything: "no approval" is said
		// with approval.required, never by omission.
		for _, key := range []struct {
			path   string
			labels []string
		}{{"approval.labels", cfg.Approval.Labels}, {"approval.schema_labels", cfg.Approval.SchemaLabels}} {
			if len(key.labels) == 0 {
				c.fail(key.path, "must name at least one label; to ship hotfixes without any approval, say so with `approval.required: false`")
			}
		}
	}
	for i, l := range append(append([]string{}, cfg.Approval.Labels...), cfg.Approval.SchemaLabels...) {
		path := fmt.Sprintf("approval.labels[%d]", i)
		if i >= len(cfg.Approval.Labels) {
			path = fmt.Sprintf("approval.schema_labels[%d]", i-len(cfg.Approval.Labels))
		}
		for _, own := range cfg.botLabels() {
			if strings.EqualFold(l, own) {
				c.fail(path, "%q is a label the bot adds itself, so it cannot approve anything; choose another name", l)
			}
		}
	}
	c.permission("approval.permission", cfg.Approval.Permission)
	c.permission("commands.permission", cfg.Commands.Permission)
	c.permission("commands.force_permission", cfg.Commands.ForcePermission)
	for i, u := range cfg.Commands.Emergency.Users {
		if !loginRe.MatchString(u) {
			c.fail(fmt.Sprintf("commands.emergency.users[%d]", i), "%q is not a GitHub login", u)
		}
	}
	for i, t := range cfg.Commands.Emergency.Teams {
		if !teamRe.MatchString(t) {
			c.fail(fmt.Sprintf("commands.emergency.teams[%d]", i), "%q is not a team; write its slug, like \"sre\" or \"my-org/sre\"", t)
		}
	}

	if d := time.Duration(cfg.Commands.MaxAge); d < time.Minute || d > 24*time.Hour {
		c.fail("commands.max_age", "%s is out of range; use between 1m and 24h", d)
	}

	if !cfg.Promote.RequiredChecks.All {
		if len(cfg.Promote.RequiredChecks.Names) == 0 {
			c.fail("promote.required_checks", "must name at least one check (`name` or `source/name`), or be `all`; "+
				"an empty list would let every promotion through unchecked (a repository without CI uses `all`, which passes `promote.checks_grace` after a push with nothing reported)")
		}
		for i, n := range cfg.Promote.RequiredChecks.Names {
			c.nonEmpty(fmt.Sprintf("promote.required_checks[%d]", i), n)
		}
	}
	if d := time.Duration(cfg.Promote.ChecksGrace); d < 0 || d > time.Hour {
		c.fail("promote.checks_grace", "%s is out of range; use between 0s and 1h", d)
	}
	switch cfg.Promote.MergeMethod {
	case "merge", "squash", "rebase":
	default:
		c.fail("promote.merge_method", "%q is not a merge method; use merge, squash or rebase", cfg.Promote.MergeMethod)
	}
	if d := time.Duration(cfg.Promote.LockTimeout); d < time.Minute || d > 24*time.Hour {
		c.fail("promote.lock_timeout", "%s is out of range; use between 1m and 24h", d)
	}
	c.environments(cfg)

	c.labels("sync.labels", cfg.Sync.Labels)
	c.nonEmpty("sync.conflict_label", cfg.Sync.ConflictLabel)
	if l := cfg.Sync.ConflictLabel; len(l) > maxLabelLength {
		c.fail("sync.conflict_label", "%q is longer than GitHub's %d-character label limit", l, maxLabelLength)
	}
	seenTarget := map[string]bool{}
	for i, b := range cfg.Sync.Targets {
		path := fmt.Sprintf("sync.targets[%d]", i)
		switch {
		case !c.nonEmpty(path, b):
		case refNameProblem(b) != "":
			c.fail(path, "%q %s", b, refNameProblem(b))
		case b == cfg.Branches.Production:
			c.fail(path, "%q is the production branch, which the hotfix is merged into; list release branches only", b)
		case b == cfg.Branches.Develop:
			c.fail(path, "%q is branches.develop, which always gets a sync-back pull request; list release branches only", b)
		case !matchGlob(cfg.Branches.Release, b):
			c.fail(path, "%q does not match branches.release (%q); sync.targets lists release branches", b, cfg.Branches.Release)
		case seenTarget[b]:
			c.fail(path, "%q is listed twice", b)
		}
		seenTarget[b] = true
	}
	if d := time.Duration(cfg.Sync.RemindAfter); d != 0 && (d < time.Hour || d > 30*24*time.Hour) {
		c.fail("sync.remind_after", "%s is out of range; use between 1h and 720h, or 0 to send no reminders", d)
	}
	c.freezeWindows(cfg.Freeze)
	return c.errs
}

// botLabels are the labels the bot applies on its own.
func (cfg Config) botLabels() []string {
	own := []string{LabelHotfix, LabelSchemaChange, LabelHold, cfg.Sync.ConflictLabel}
	return append(own, cfg.Sync.Labels...)
}

func (c *checker) nonEmpty(path, v string) bool {
	if strings.TrimSpace(v) == "" {
		c.fail(path, "must not be empty")
		return false
	}
	return true
}

func (c *checker) glob(path, g string) {
	if !c.nonEmpty(path, g) {
		return
	}
	if !doublestar.ValidatePattern(g) {
		c.fail(path, "%q is not a valid glob (check its brackets and braces)", g)
	}
}

func (c *checker) branchName(path, name string) {
	if !c.nonEmpty(path, name) {
		return
	}
	if msg := refNameProblem(name); msg != "" {
		c.fail(path, "%q %s", name, msg)
	}
}

func (c *checker) permission(path string, p Permission) {
	if !p.Valid() {
		c.fail(path, "%q is not a permission; use read, triage, write, maintain or admin", string(p))
	}
}

func (c *checker) labels(path string, labels []string) {
	seen := map[string]bool{}
	for i, l := range labels {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !c.nonEmpty(p, l) {
			continue
		}
		if len(l) > maxLabelLength {
			c.fail(p, "%q is longer than GitHub's %d-character label limit", l, maxLabelLength)
		}
		if seen[strings.ToLower(l)] {
			c.fail(p, "%q is listed twice", l)
		}
		seen[strings.ToLower(l)] = true
	}
}

var placeholderRe = regexp.MustCompile(`\{[^{}]*\}`)

func (c *checker) tagTemplate(p Production) {
	const path = "production.tag_template"
	t := p.TagTemplate
	if !c.nonEmpty(path, t) {
		return
	}
	counts := map[string]int{}
	for _, ph := range placeholderRe.FindAllString(t, -1) {
		switch ph {
		case "{major}", "{minor}", "{patch}":
			counts[ph]++
		default:
			c.fail(path, "unknown placeholder %s; only {major}, {minor} and {patch} exist", ph)
			return
		}
	}
	for _, ph := range []string{"{major}", "{minor}", "{patch}"} {
		if counts[ph] != 1 {
			c.fail(path, "%q must contain %s exactly once", t, ph)
			return
		}
	}
	example := renderTag(t, 1, 4, 3)
	if msg := refNameProblem(example); msg != "" {
		c.fail(path, "renders tags like %q, which %s", example, msg)
		return
	}
	if p.TagPattern != "" && doublestar.ValidatePattern(p.TagPattern) && !matchGlob(p.TagPattern, example) {
		c.fail(path, "renders tags like %q, which tag_pattern %q does not match; the bot could not find the tags it creates", example, p.TagPattern)
	}
}

func (c *checker) environments(cfg Config) {
	const path = "promote.environments"
	envs := cfg.Promote.Environments
	if len(envs) == 0 {
		c.fail(path, "must list at least the production environment (%q)", cfg.Production.Environment)
		return
	}
	seen := map[string]bool{}
	for i, e := range envs {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !c.nonEmpty(p, e) {
			continue
		}
		if seen[e] {
			c.fail(p, "%q is listed twice", e)
		}
		seen[e] = true
	}
	if last := envs[len(envs)-1]; last != cfg.Production.Environment {
		c.fail(path, "must end with production.environment (%q), got %q last", cfg.Production.Environment, last)
	}
}

// refNameProblem returns why name cannot be a git branch or tag name
// (git check-ref-format rules), or "" if it can.
func refNameProblem(name string) string {
	switch {
	case name == "@":
		return "is not a valid git ref name"
	case strings.HasPrefix(name, "-"), strings.HasPrefix(name, "/"):
		return "must not start with - or /"
	case strings.HasSuffix(name, "/"), strings.HasSuffix(name, "."), strings.HasSuffix(name, ".lock"):
		return "must not end with /, . or .lock"
	case strings.Contains(name, ".."), strings.Contains(name, "//"), strings.Contains(name, "@{"), strings.Contains(name, "/."):
		return "must not contain .., //, /. or @{"
	case strings.ContainsAny(name, " ~^:?*[\\\t\n"):
		return "must not contain spaces or any of ~ ^ : ? * [ \\"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}

// matchGlob matches name against a validated doublestar pattern.
func matchGlob(pattern, name string) bool {
	ok, err := doublestar.Match(pattern, name)
	return err == nil && ok
}
