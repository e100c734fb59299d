package handlers

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hotfix-bot/hotfix-bot/policy"
)

// On a public repository anyone can comment `/promote --dry-run` or
// `/help`, and open a details link; each costs tens of GitHub requests
// from the installation's budget. The cost guard bounds what one person
// (per pull request) and one repository's pages can spend. It is a cost
// guard, not a safety rule: it lives in this replica's memory, so N
// replicas allow up to N times as much, and a restart forgets it.
const (
	// DryRunEvery: one `/promote --dry-run` per person per pull request.
	DryRunEvery = time.Minute
	// HelpEvery: one `/help` per person per issue or pull request.
	HelpEvery = time.Minute
	// guardEntries bounds the guard's memory; older entries go first.
	guardEntries = 4096
)

// Metric labels of what the cost guard refused.
const (
	limitedDryRun  = "dry_run"
	limitedHelp    = "help"
	limitedDetails = "details_page"
)

type costGuard struct {
	mu   sync.Mutex
	last map[string]admission
}

// admission is the request let through last: when, and which command
// line of which comment (a redelivery repeats both).
type admission struct {
	at      time.Time
	comment int64
	line    int
}

func newCostGuard() *costGuard { return &costGuard{last: map[string]admission{}} }

// admit lets one request per key through every `every`; the admitted
// command line again (a redelivery) is let through, since it finds its
// answer and runs nothing. wait says how long until the next one.
func (c *costGuard) admit(key string, cmd admission, every time.Duration) (ok bool, wait time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := cmd.at
	if a, seen := c.last[key]; seen && (a.comment != cmd.comment || a.line != cmd.line) && now.Sub(a.at) < every {
		return false, every - now.Sub(a.at)
	}
	c.last[key] = cmd
	if len(c.last) > guardEntries {
		for k, a := range c.last {
			if now.Sub(a.at) >= max(DryRunEvery, HelpEvery) {
				delete(c.last, k)
			}
		}
	}
	return true, 0
}

// overLimit says, for each command of a comment, whether it is over the
// cost guard's limit, with the one short reply it gets instead; ""
// otherwise. It makes no API call.
func (g *Bot) overLimit(ev *commentEvent, cmds []policy.Command) []string {
	out := make([]string, len(cmds))
	now := g.clock.Now()
	who := strings.ToLower(ev.Comment.User.Login)
	where := strings.ToLower(ev.Repository.Owner.Login + "/" + ev.Repository.Name)
	for i, cmd := range cmds {
		var what, label string
		var every time.Duration
		switch {
		case cmd.Usage != "":
			continue
		case cmd.Name == policy.CmdPromote && cmd.DryRun:
			what, label, every = "dry run per person per minute on a pull request", limitedDryRun, DryRunEvery
		case cmd.Name == policy.CmdHelp:
			what, label, every = "`/help` per person per minute here", limitedHelp, HelpEvery
		default:
			continue
		}
		key := fmt.Sprintf("%s\x00%s#%d\x00%s", label, where, ev.Issue.Number, who)
		if ok, wait := g.cost.admit(key, admission{at: now, comment: ev.Comment.ID, line: cmd.Line}, every); !ok {
			g.countLimited(label)
			out[i] = fmt.Sprintf("> %s\n\n⏳ **One %s**: each reads tens of facts from GitHub. Ask again in %d s; nothing was run.",
				echoCommand(cmd), what, int(wait.Round(time.Second)/time.Second))
		}
	}
	return out
}

// countLimited counts a request the cost guard refused.
func (g *Bot) countLimited(what string) {
	if g.metrics != nil {
		g.metrics.CostLimited.WithLabelValues(what).Inc()
	}
}
