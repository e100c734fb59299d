package ghsim

import (
	"regexp"
	"strings"
)

// Mentions lists the @user and @org/team mentions GitHub would find in a
// Markdown text (a comment, an issue or pull request body, a check run's
// summary), that is whom it would notify: an @ at the start or after a
// character that is not a letter, digit, `/` or backtick, followed by a
// login (and, for a team, a slash and its slug). Text in fenced code
// blocks and in code spans mentions nobody. The reading errs towards
// finding a mention: entities and backslash escapes that render as an @
// (`&#64;`, `&#x40;`, `&commat;`, `\@`) count as one.
func Mentions(markdown string) []string {
	text := stripCode(markdown)
	text = strings.NewReplacer("&#64;", "@", "&#x40;", "@", "&#X40;", "@", "&commat;", "@", `\@`, "@").Replace(text)
	var out []string
	for _, m := range mentionRe.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

var mentionRe = regexp.MustCompile("(?:^|[^A-Za-z0-9/`_])@([A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}(?:/[A-Za-z0-9][A-Za-z0-9_-]*)?)")

// stripCode drops fenced code blocks and code spans, where GitHub finds
// no mentions.
func stripCode(md string) string {
	var b strings.Builder
	fence := ""
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			fence = trimmed[:3]
			continue
		case fence != "" && strings.HasPrefix(trimmed, fence):
			fence = ""
			continue
		case fence != "":
			continue
		}
		b.WriteString(stripSpans(line))
		b.WriteByte('\n')
	}
	return b.String()
}

// stripSpans drops the code spans of a line: a run of backticks up to the
// next run of the same length (an unmatched run is literal text).
func stripSpans(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(line); {
			if line[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(line) && line[j+m] == '`' {
				m++
			}
			if m == n {
				end = j + m
				break
			}
			j += m
		}
		if end < 0 {
			b.WriteString(line[i : i+n])
			i += n
			continue
		}
		b.WriteByte(' ')
		i = end
	}
	return b.String()
}
