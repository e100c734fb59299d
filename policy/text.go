package policy

import (
	"strings"
	"time"
)

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func labelList(labels []string) string {
	quoted := make([]string, len(labels))
	for i, l := range labels {
		quoted[i] = "`" + l + "`"
	}
	return strings.Join(quoted, " and ")
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }

// Fit shortens a summary to GitHub's limit, saying so.
func Fit(s string) string {
	return FitTo(s, MaxSummary)
}

// FitTo shortens text to limit bytes on a character boundary, saying so.
func FitTo(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const note = "\n\n… (truncated: the full text exceeds GitHub's 65535-character limit)"
	cut := limit - len(note)
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
