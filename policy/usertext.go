package policy

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text the bot writes is read by people at 3 a.m. and pasted into shells.
// Everything in it that someone else chose (branch and tag names, pull
// request titles, commit titles, command arguments, what a CD system
// says) goes through the functions below, so that it can neither run as
// a command, nor ping a team, nor forge markup.

// ShellQuote returns name as one word of a POSIX sh command: as it is
// when it holds only letters, digits and `._/+-`, otherwise in single
// quotes (a single quote inside becomes '\”). ok is false for a name no
// quoting makes safe to paste: one starting with `-` (a command would
// read it as an option), and one holding control, line-separator or
// invisible formatting characters (a terminal or the page would show
// something other than what runs). The caller then prints no command and
// says why (ShellRefusal).
func ShellQuote(name string) (quoted string, ok bool) {
	if ShellProblem(name) != "" {
		return "", false
	}
	if strings.IndexFunc(name, func(r rune) bool { return !shellPlain(r) }) < 0 {
		return name, true
	}
	return "'" + strings.ReplaceAll(name, "'", `'\''`) + "'", true
}

// ShellProblem says why a name cannot go into a printed shell command,
// or "".
func ShellProblem(name string) string {
	switch {
	case name == "":
		return "it is empty"
	case !utf8.ValidString(name):
		return "it is not valid UTF-8"
	case strings.HasPrefix(name, "-"):
		return "it starts with `-`, which a command reads as an option"
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return "it contains control or invisible formatting characters, which would show something other than what runs"
		}
	}
	return ""
}

// ShellRefusal is what the bot writes instead of a command it will not
// print: which name, and what to do.
func ShellRefusal(what, name string) string {
	return "The bot prints no command here: the " + what + " name " + Code(name) + " cannot be pasted into a shell safely (" +
		ShellProblem(name) + "). Rename it to letters, digits, `-`, `_`, `.` and `/` (for a branch: `git branch -m`, then push it) and the commands appear."
}

func shellPlain(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._/+-", r))
}

// zwj (zero width joiner) after an @ keeps GitHub from reading a mention,
// and looks the same.
const zwj = "\u200d"

// NoMention makes @user and @org/team in text inert: GitHub notifies
// nobody, and the text reads the same.
func NoMention(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '@' && i+1 < len(s) && isMentionStart(s[i+1]) {
			b.WriteString(zwj)
		}
	}
	return b.String()
}

func isMentionStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// UserText renders text someone wrote (a title, a reason, a CD system's
// description) for a comment, a check run or an issue: on one line,
// bounded, and unable to forge markup (no angle brackets, backticks or
// entities: a hidden marker, a fake bot message, a code span to break
// out of) or to mention anyone.
func UserText(s string, limit int) string {
	s = strings.NewReplacer("<", "‹", ">", "›", "`", "'", "&", "&amp;", "\r", " ", "\n", " ", "\u2028", " ", "\u2029", " ").Replace(s)
	if len(s) > limit {
		s = truncateUTF8(s, limit) + "…"
	}
	return NoMention(s)
}

// Code renders a name (a branch, a tag, a file, a check) as an inline
// code span that shows it exactly, whatever it contains: the fence is
// longer than any run of backticks inside, so the name cannot end the
// span early and put markup or a mention after it. Mentions inside a code
// span are inert.
func Code(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if s == "" {
		return "(empty)"
	}
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		s = " " + s + " " // CommonMark strips one space each side
	}
	return fence + s + fence
}

// SafeLink is a URL someone else gave (a deployment's log_url) as a
// Markdown link target: "" unless it is an absolute http(s) URL, and with
// the characters that could end the link and start markup escaped.
func SafeLink(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return strings.NewReplacer("(", "%28", ")", "%29", "<", "%3C", ">", "%3E", "`", "%60", "\"", "%22", "'", "%27", " ", "%20").Replace(u.String())
}
