package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// stepState is one deployment of a promotion's chain, as far as known.
type stepState struct {
	id int64
	// state is "waiting" (created, no final status yet), "success",
	// "failure", "error", or "stopped" (not run: the chain stopped).
	state  string
	logURL string
}

// planState is what the plan reply shows.
type planState struct {
	payload policy.DeploymentPayload
	head    string
	steps   map[int]stepState
	current int
	// result, when set, ends the chain section (what happened).
	result string
	cfg    *policy.Config
}

const (
	chainStart = "<!-- hotfix-bot:chain-start -->"
	chainEnd   = "<!-- hotfix-bot:chain-end -->"
)

// renderPlan is the plan reply of a /promote: what is deployed, as which
// tag, the chain of environments, and what happens on success and on
// failure.
func renderPlan(s planState) string {
	p := s.payload
	var b strings.Builder
	prev := p.PreviousTag
	if prev == "" {
		prev = "untagged `" + policy.Short(p.PreviousRef) + "`"
	}
	fmt.Fprintf(&b, "**Plan:** deploy `%s` (the head of #%d, exactly as checked) and release it as **%s**; production runs %s now.", policy.Short(s.head), p.PR, p.NextTag, prev)
	if p.Emergency && p.AuditIssue != 0 {
		fmt.Fprintf(&b, " Emergency promotion: approvals and required checks were skipped, recorded in #%d.", p.AuditIssue)
	}
	b.WriteString("\n\n" + renderChain(s) + "\n\n")
	fmt.Fprintf(&b, "**On success** in `%s`, the bot tags %s on `%s`, merges #%d, releases the production lock and opens sync-back pull requests into the development and open release branches.\n",
		p.Chain[len(p.Chain)-1], p.NextTag, policy.Short(s.head), p.PR)
	if len(p.Chain) > 1 {
		b.WriteString("**Between environments**, each next deployment is created only after the previous one reports `success`.\n")
	}
	onFailure := "it releases the lock and reports here"
	if s.cfg == nil || s.cfg.Rollback.OnFailure {
		onFailure = fmt.Sprintf("it releases the lock, reports here and, if that was `%s`, rolls production back to %s (`rollback.on_failure`)", p.Chain[len(p.Chain)-1], prev)
	}
	fmt.Fprintf(&b, "**On failure** %s.\n\n**Next:** your CD system carries out the deployment and reports its status to GitHub; nothing else is needed from you.", onFailure)
	return b.String()
}

// renderChain is the chain section of the plan, between its anchors, so
// that the deployment handling can replace it in place.
func renderChain(s planState) string {
	var b strings.Builder
	b.WriteString(chainStart + "\n| step | environment | deployment | state |\n|---|---|---|---|\n")
	for i, env := range s.payload.Chain {
		st, ok := s.steps[i]
		id, state := "–", "next"
		if ok && st.id != 0 {
			id = fmt.Sprint(st.id)
		}
		switch {
		case !ok && i > s.current:
			state = "⏸️ next"
		case !ok:
			state = "⏹️ not run"
		default:
			state = map[string]string{
				"waiting": "⏳ waiting for your CD system to report",
				"success": "✅ succeeded",
				"failure": "❌ failed",
				"error":   "❌ errored",
				"stopped": "⏹️ not run: the chain stopped",
			}[st.state]
			if st.logURL != "" {
				state += fmt.Sprintf(" ([log](%s))", st.logURL)
			}
		}
		name := "`" + env + "`"
		if i == len(s.payload.Chain)-1 {
			name = "**" + name + "**"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", i+1, name, id, state)
	}
	if s.result != "" {
		b.WriteString("\n" + s.result + "\n")
	}
	b.WriteString(chainEnd)
	return b.String()
}

// replaceChain puts a new chain section into a plan reply's body.
func replaceChain(body, chain string) string {
	i := strings.Index(body, chainStart)
	j := strings.Index(body, chainEnd)
	if i < 0 || j < i {
		return body + "\n\n" + chain
	}
	return body[:i] + chain + body[j+len(chainEnd):]
}

// planMarker finds a promotion's plan reply.
func planMarker(commentID int64) string { return facts.Marker(fmt.Sprintf("plan:%d", commentID)) }

// retryNote tells people that the bot handles the event again by itself
// after err, and when ("" when it will not: the error is not transient,
// or the tries are used up).
func retryNote(ctx context.Context, err error) string {
	if !app.WillRetry(ctx, err) {
		return ""
	}
	return "The bot tries again by itself in " + minutes(app.RetryIn(ctx)) + " (this comment changes when it does)."
}

func minutes(d time.Duration) string {
	if m := int(d.Round(time.Minute) / time.Minute); m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "a minute"
}
