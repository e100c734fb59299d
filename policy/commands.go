package policy

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The commands people give the bot in issue and pull request comments.
const (
	CmdPromote     = "promote"
	CmdRollback    = "rollback"
	CmdHotfixStart = "hotfix start"
	CmdUnlock      = "unlock"
	CmdHelp        = "help"
	CmdHold        = "hold"
)

// Command is one command line of a comment.
type Command struct {
	Name string
	// Line is the command's 1-based line in the comment: with the comment
	// id it names the command (replies are found by it).
	Line int
	// Text is the line as written, trimmed.
	Text string

	// /promote; Reason is also /hold's
	DryRun    bool
	Emergency bool
	Reason    string
	// /rollback
	Tag   string
	Force bool
	// /hotfix start
	BranchName string
	// /hold REASON (Reason) or /hold cancel
	Cancel bool

	// Usage, when set, says what is wrong with the command's arguments:
	// the command is not run, and the reply shows its usage.
	Usage string
}

// Acts reports whether running the command changes something: a
// deployment, the production lock or a branch. /help, /promote --dry-run
// and a command with a usage error only answer, from GitHub as it is when
// they run.
func (c Command) Acts() bool {
	if c.Usage != "" {
		return false
	}
	switch c.Name {
	case CmdPromote:
		return !c.DryRun
	case CmdRollback, CmdHotfixStart, CmdUnlock, CmdHold:
		return true
	}
	return false
}

// StillGiven reports whether a comment's body, as GitHub has it now,
// still gives the command: the same command line, written the same way,
// on the same line. An edit that changed or removed the line took the
// command back.
func StillGiven(cmd Command, body string) bool {
	now, _ := ParseCommands(body)
	for _, c := range now {
		if c.Line == cmd.Line && c.Text == cmd.Text {
			return true
		}
	}
	return false
}

// CommandTooOld refuses a command that changes something when its
// comment was written longer than commands.max_age ago: production, the
// lock and the branches may have moved since, and whoever wrote it may
// have done it another way meanwhile. writtenAt is the comment's
// created_at as GitHub has it, now the bot's clock.
func (c Config) CommandTooOld(cmd Command, writtenAt, now time.Time) *Refusal {
	age := now.Sub(writtenAt)
	if !cmd.Acts() || age <= time.Duration(c.Commands.MaxAge) {
		return nil
	}
	name := "/" + cmd.Name
	return &Refusal{Rule: "too old",
		Why: fmt.Sprintf("this %s is %s old and was not run; a command that changes something runs only within `commands.max_age` (%s) of being written, because production may have moved since",
			name, Age(age), Age(time.Duration(c.Commands.MaxAge))),
		Next: "comment it again if you still want it"}
}

// Age says how long a time is, for people, to the minute: "47 minutes",
// "3 hours 5 minutes", "2 days 4 hours".
func Age(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	both := func(a, b string, second int64) string {
		if second == 0 {
			return a
		}
		return a + " " + b
	}
	switch {
	case d < time.Minute:
		return unit(int64(d/time.Second), "second")
	case d < 2*time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
		return both(unit(h, "hour"), unit(m, "minute"), m)
	}
	days, h := int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour)
	return both(unit(days, "day"), unit(h, "hour"), h)
}

// Limits on what a comment can ask for.
const (
	// MaxCommands is how many commands one comment may give; further
	// lines are ignored (and the reply says so).
	MaxCommands = 10
	// MaxReason bounds an emergency reason, in bytes.
	MaxReason = 500
	// MaxBranchName bounds a /hotfix start name, in bytes.
	MaxBranchName = 200
	// maxLine bounds the command line read, in bytes.
	maxLine = 1000
)

// Usage is the syntax of each command, for help and usage replies.
var Usage = map[string]string{
	CmdPromote:     "/promote [--dry-run | --emergency REASON]",
	CmdRollback:    "/rollback [TAG] [--force]",
	CmdHotfixStart: "/hotfix start NAME",
	CmdUnlock:      "/unlock",
	CmdHelp:        "/help",
	CmdHold:        "/hold REASON | /hold cancel",
}

// ParseCommands finds the bot's commands in a comment: every line that
// starts with `/` (leading spaces allowed) and names one of them, in
// order. Lines inside fenced code blocks are quoted text, not commands;
// unknown `/words` belong to other bots and are ignored. A known command
// with bad arguments is returned with Usage set. At most MaxCommands are
// returned; more is reported by the second result.
func ParseCommands(body string) ([]Command, bool) {
	var out []Command
	fence := ""
	more := false
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for i, raw := range lines {
		line := strings.TrimLeft(raw, " \t")
		if f := fenceOf(line); f != "" {
			switch {
			case fence == "":
				fence = f
			case strings.HasPrefix(line, fence) && strings.TrimSpace(strings.TrimLeft(line, fence[:1])) == "":
				fence = ""
			}
			continue
		}
		if fence != "" || !strings.HasPrefix(line, "/") {
			continue
		}
		if len(line) > maxLine {
			line = truncateUTF8(line, maxLine)
		}
		cmd, ok := parseLine(strings.TrimRight(line, " \t"))
		if !ok {
			continue
		}
		if len(out) == MaxCommands {
			more = true
			break
		}
		cmd.Line = i + 1
		out = append(out, cmd)
	}
	return out, more
}

// fenceOf returns the fence a line opens or closes (``` or ~~~), or "".
func fenceOf(line string) string {
	for _, f := range []string{"```", "~~~"} {
		if strings.HasPrefix(line, f) {
			return f
		}
	}
	return ""
}

// truncateUTF8 cuts s to at most n bytes, not inside a rune: it steps back
// at most to the start of the rune at n (a valid rune is at most 4
// bytes), so bytes that start no rune at all still leave n bytes.
func truncateUTF8(s string, n int) string {
	for back := 0; back < utf8.UTFMax && n-back > 0; back++ {
		if utf8.RuneStart(s[n-back]) {
			return s[:n-back]
		}
	}
	return s[:n]
}

// parseLine reads one command line; ok is false when it names no command
// of the bot's.
func parseLine(line string) (Command, bool) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return Command{}, false
	}
	word := strings.ToLower(strings.TrimPrefix(fields[0], "/"))
	args := fields[1:]
	c := Command{Text: line}
	switch word {
	case "promote":
		c.Name = CmdPromote
		parsePromote(&c, line, args)
	case "rollback":
		c.Name = CmdRollback
		parseRollback(&c, args)
	case "hotfix":
		c.Name = CmdHotfixStart
		switch {
		case len(args) == 0 || !strings.EqualFold(args[0], "start"):
			c.Usage = "say what to do: `/hotfix start NAME` creates the hotfix branch NAME at the production commit"
		case len(args) != 2:
			c.Usage = "give exactly one branch name, without spaces: `/hotfix start payment-timeout`"
		default:
			c.BranchName = args[1]
			if p := HotfixNameProblem(c.BranchName); p != "" {
				c.Usage = p
			}
		}
	case "unlock":
		c.Name = CmdUnlock
		if len(args) > 0 {
			c.Usage = "`/unlock` takes no arguments"
		}
	case "help":
		c.Name = CmdHelp
	case "hold":
		c.Name = CmdHold
		parseHold(&c, line, args)
	default:
		return Command{}, false
	}
	return c, true
}

func parsePromote(c *Command, line string, args []string) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "--dry-run":
			c.DryRun = true
		case "--emergency":
			c.Emergency = true
			// Everything after the flag is the reason, as written.
			_, rest, _ := strings.Cut(line, "--emergency")
			c.Reason = strings.TrimSpace(rest)
			i = len(args)
		default:
			if strings.HasPrefix(a, "-") {
				c.Usage = fmt.Sprintf("unknown option %s: `/promote` takes `--dry-run` or `--emergency REASON`", Code(a))
			} else {
				c.Usage = fmt.Sprintf("unexpected %s: `/promote` deploys this pull request's head; for an emergency write `/promote --emergency REASON`", Code(a))
			}
			return
		}
	}
	switch {
	case c.DryRun && c.Emergency:
		c.Usage = "`--dry-run` and `--emergency` do not go together: a dry run changes nothing"
	case c.Emergency && c.Reason == "":
		c.Usage = "an emergency promotion needs a reason, written after the flag: `/promote --emergency checkout is down for every EU customer`"
	case c.Emergency && len(c.Reason) > MaxReason:
		c.Usage = fmt.Sprintf("the emergency reason is longer than %d characters; say it in one sentence and put details in the audit issue", MaxReason)
	case c.Emergency && strings.ContainsFunc(c.Reason, isControl):
		c.Usage = "the emergency reason contains control characters"
	}
}

func isControl(r rune) bool { return unicode.IsControl(r) }

// parseHold reads `/hold REASON` (everything after the word, as
// written) and `/hold cancel` (that word alone).
func parseHold(c *Command, line string, args []string) {
	if len(args) > 0 && strings.EqualFold(args[0], "cancel") {
		c.Cancel = true
		if len(args) > 1 {
			c.Usage = "`/hold cancel` takes nothing after it; to hold with a reason that starts with \"cancel\", say it another way"
		}
		return
	}
	_, rest, _ := strings.Cut(line, fields0(line))
	c.Reason = strings.TrimSpace(rest)
	switch {
	case c.Reason == "":
		c.Usage = "a hold needs a reason, written after the command: `/hold the migration needs a DBA`"
	case len(c.Reason) > MaxReason:
		c.Usage = fmt.Sprintf("the reason is longer than %d characters; say it in one sentence", MaxReason)
	case strings.ContainsFunc(c.Reason, isControl):
		c.Usage = "the reason contains control characters"
	}
}

// fields0 is a line's first word.
func fields0(line string) string {
	if f := strings.Fields(line); len(f) > 0 {
		return f[0]
	}
	return ""
}

func parseRollback(c *Command, args []string) {
	for _, a := range args {
		switch {
		case a == "--force":
			c.Force = true
		case strings.HasPrefix(a, "-"):
			c.Usage = fmt.Sprintf("unknown option %s: `/rollback` takes a tag and `--force`", Code(a))
			return
		case c.Tag != "":
			c.Usage = fmt.Sprintf("one tag at most: got %s and %s", Code(c.Tag), Code(a))
			return
		default:
			c.Tag = a
		}
	}
	if c.Tag != "" {
		if p := refNameProblem(c.Tag); p != "" || strings.HasPrefix(c.Tag, "refs/") || len(c.Tag) > MaxBranchName {
			if p == "" {
				p = "must be a tag name, like v1.4.1"
			}
			c.Usage = fmt.Sprintf("%s is not a tag name: it %s", Code(c.Tag), p)
		}
	}
}

// HotfixNameProblem says why NAME cannot name a hotfix branch, or "".
// Beyond git's own rules it refuses what would surprise people: paths
// that climb (..), spaces and control characters, a refs/ prefix, a
// leading dash (it would read as an option), over-long names.
func HotfixNameProblem(name string) string {
	switch {
	case name == "":
		return "give the branch a name: `/hotfix start payment-timeout`"
	case len(name) > MaxBranchName:
		return fmt.Sprintf("the name is longer than %d bytes; pick a short one, like `payment-timeout`", MaxBranchName)
	case strings.HasPrefix(name, "refs/"):
		return "give the short name, without `refs/heads/`: `/hotfix start payment-timeout`"
	case strings.HasPrefix(name, "-"):
		return "a branch name must not start with `-`"
	case strings.ContainsFunc(name, isControl):
		return "a branch name must not contain control characters"
	case strings.ContainsFunc(name, unicode.IsSpace):
		return "a branch name must not contain spaces; use dashes: `payment-timeout`"
	case strings.Contains(name, ".."):
		return "a branch name must not contain `..`"
	case strings.ContainsAny(name, "`$;&|<>'\"(){}!#"):
		return "use letters, digits, `-`, `_`, `.` and `/` in a branch name"
	}
	if p := refNameProblem(name); p != "" {
		return "not a valid git branch name: it " + p
	}
	return ""
}

// HotfixBranch is the branch `/hotfix start NAME` creates: NAME under the
// literal start of branches.hotfix ("hotfix/" by default), unless NAME
// already starts there. ok is false when the result would not be a
// hotfix branch under the policy.
func (c Config) HotfixBranch(name string) (string, bool) {
	prefix := GlobPrefix(c.Branches.Hotfix)
	branch := name
	if !strings.HasPrefix(name, prefix) {
		branch = prefix + name
	}
	return branch, c.IsHotfixBranch(branch) && refNameProblem(branch) == ""
}
