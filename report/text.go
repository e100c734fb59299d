package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

const textTime = "2006-01-02 15:04 UTC"

func when(t time.Time) string { return t.UTC().Format(textTime) }

// WindowText says what the report covers.
func (r Report) WindowText() string {
	days := int(r.Until.Sub(r.Since).Round(time.Hour) / (24 * time.Hour))
	return fmt.Sprintf("%s to %s (%d days)", when(r.Since), when(r.Until), days)
}

// Headline is the window's numbers in one line.
func (p Period) Headline() string {
	return fmt.Sprintf("%d hotfix%s shipped; change failure rate %s; lead time %s; time to approval %s; recovery %s; propagation %s",
		p.Hotfixes, map[bool]string{true: "", false: "es"}[p.Hotfixes == 1], p.CFR(), p.LeadTime, p.TimeToApproval, p.Recovery, p.Propagation)
}

// WriteText writes the report for a terminal.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "hotfix-bot report: %s (environment %s)\n", r.Repo, r.Environment)
	fmt.Fprintf(&b, "Window: %s\n", r.WindowText())
	if !r.Complete() {
		b.WriteString("\nINCOMPLETE: the numbers below leave out what the bot did not read:\n")
		for _, s := range r.Incomplete {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "month\thotfixes\tchange failure rate\tlead time\ttime to approval\trecovery time\tpropagation time\tincidents")
	row := func(name string, p Period) {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", name, p.Hotfixes, p.CFR(), p.LeadTime, p.TimeToApproval, p.Recovery, p.Propagation, p.Incidents)
	}
	for _, m := range r.Months {
		row(m.Month, m)
	}
	row("overall", r.Overall)
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("(times: median, with the 90th percentile and the count when there are several)\n")

	var pending []Hotfix
	for _, h := range r.Hotfixes {
		if len(h.Pending()) > 0 {
			pending = append(pending, h)
		}
	}
	if len(pending) > 0 {
		b.WriteString("\nNot yet propagated:\n")
		for _, h := range pending {
			for _, t := range h.Pending() {
				fmt.Fprintf(&b, "  - %s (#%d) into %s: sync-back #%d is %s, %s after the tag\n", h.Tag, h.PR, t.Branch, t.PR, t.State, Duration(r.Until.Sub(h.TaggedAt)))
			}
		}
	}
	if len(r.Hotfixes) > 0 {
		b.WriteString("\nHotfixes:\n")
		for _, h := range r.Hotfixes {
			fmt.Fprintf(&b, "  - #%d %s: %s", h.PR, h.Title, h.Outcome)
			if h.Tag != "" && !h.DeployedAt.IsZero() {
				fmt.Fprintf(&b, " as %s at %s", h.Tag, when(h.DeployedAt))
			}
			if h.LeadTime != nil {
				fmt.Fprintf(&b, "; lead time %s", *h.LeadTime)
			}
			if h.Approval != nil {
				fmt.Fprintf(&b, "; approved after %s", *h.Approval)
			} else if h.Emergency {
				b.WriteString("; emergency, not approved")
			}
			if h.PropagatedIn != nil {
				fmt.Fprintf(&b, "; propagated in %s", *h.PropagatedIn)
			}
			b.WriteString("\n")
		}
	}
	if len(r.Failures) > 0 {
		b.WriteString("\nFailed deployments:\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "  - deployment %d (%s): %s at %s; ", f.Deployment, f.Name, f.Kind, when(f.At))
			if f.Recovery != nil {
				fmt.Fprintf(&b, "recovered after %s (deployment %d)\n", *f.Recovery, f.RecoveredBy)
			} else {
				b.WriteString("not recovered yet\n")
			}
		}
	}
	if len(r.Incidents) > 0 {
		b.WriteString("\nIncident issues:\n")
		for _, is := range r.Incidents {
			state := "open"
			if !is.ClosedAt.IsZero() {
				state = "closed " + when(is.ClosedAt)
			}
			fmt.Fprintf(&b, "  - #%d %s (%s, %s)\n", is.Number, is.Title, when(is.CreatedAt), state)
		}
	}
	b.WriteString("\nRead from GitHub:\n")
	for _, rd := range r.Reads {
		mark := "all"
		if !rd.Complete {
			mark = "cut short"
		}
		fmt.Fprintf(&b, "  - %s (%s)\n", rd.What, mark)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
