package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// IssueComment runs the commands reviewers give in issue and pull request
// comments: /promote, /rollback, /hotfix start, /unlock, /hold, /help.
type IssueComment struct{ g *Bot }

var _ githubapp.EventHandler = (*IssueComment)(nil)

// Handles names the event.
func (h *IssueComment) Handles() []string { return []string{"issue_comment"} }

// commentEvent is the part of issue_comment the bot uses (decoded by
// hand: go-github v60 has no performed_via_github_app on comments).
type commentEvent struct {
	envelope
	Comment struct {
		ID        int64     `json:"id"`
		Body      string    `json:"body"`
		HTMLURL   string    `json:"html_url"`
		CreatedAt time.Time `json:"created_at"`
		User      ghUser    `json:"user"`
		App       *appRef   `json:"performed_via_github_app"`
	} `json:"comment"`
	Issue struct {
		Number      int       `json:"number"`
		Title       string    `json:"title"`
		HTMLURL     string    `json:"html_url"`
		User        ghUser    `json:"user"`
		PullRequest *struct{} `json:"pull_request"`
	} `json:"issue"`
}

func (e *commentEvent) onPR() bool { return e.Issue.PullRequest != nil }

// maxCommentBody bounds the comment text read for commands.
const maxCommentBody = 65536

// Handle decodes the comment and, with no API call at all, ignores
// edited and deleted comments, comments by bots (this app included) and
// comments without a command of the bot's. Each command line then runs in
// order: a 👀 reaction first, one reply per command, and 🚀 or 👎 at the
// end. A re-delivered comment finds the replies it already made (by their
// hidden markers) and does not run those commands again.
//
// The event is a hint: a command that changes something runs only if its
// comment, read again from GitHub, still exists, still gives that command
// line and is the same author's, and is younger than commands.max_age.
// Otherwise nothing runs (a too old command is answered "too old").
//
// A command is never run again by the queue after a failure (app.Final):
// it runs when it is given and its reply says what failed; running it
// unasked minutes later, perhaps after the person gave it again, would
// surprise them.
func (h *IssueComment) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	return app.Final(h.handle(ctx, deliveryID, payload))
}

func (h *IssueComment) handle(ctx context.Context, deliveryID string, payload []byte) error {
	var ev commentEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode issue_comment: %w", err)
	}
	if ev.Action != "created" || ev.Comment.ID == 0 || ev.Issue.Number == 0 || ev.Installation.ID == 0 {
		return nil
	}
	if ev.Sender.Type == "Bot" || ev.Comment.User.Type == "Bot" || ev.Comment.App != nil {
		return nil // bots, this app included, do not command the bot
	}
	cmds, more := policy.ParseCommands(commandText(ev.Comment.Body))
	if len(cmds) == 0 {
		return nil
	}
	installation := ev.Installation.ID
	ctx, logger := githubapp.PreparePRContext(ctx, installation, &github.Repository{
		Owner: &github.User{Login: github.String(ev.Repository.Owner.Login)}, Name: github.String(ev.Repository.Name),
	}, ev.Issue.Number)
	r, err := h.g.repo(installation, ev.Repository.Owner.Login, ev.Repository.Name, ev.Repository.DefaultBranch)
	if err != nil {
		return err
	}
	// Dry runs and /help over the cost guard's limit get one short reply
	// each and nothing else: no 👀, no reads.
	limited := h.g.overLimit(&ev, cmds)
	if allSet(limited) {
		for i, cmd := range cmds {
			marker := facts.Marker(fmt.Sprintf("reply:%d:%d", ev.Comment.ID, cmd.Line))
			if _, _, err := r.PostCommentUnsettled(ctx, ev.Issue.Number, marker, limited[i]+"\n"+marker, ev.Comment.CreatedAt); err != nil {
				return err
			}
		}
		return nil
	}
	// The 👀 goes out at once; the policy, and the comment as GitHub has
	// it now (when a command would change something), are read alongside.
	type policyResult struct {
		p   facts.Policy
		err error
	}
	// Neither read outlives the event: a return before their answers
	// (the comment deleted, the 👀 refused) cancels them and waits.
	readCtx, cancelReads := context.WithCancel(ctx)
	var reads sync.WaitGroup
	defer func() { cancelReads(); reads.Wait() }()
	var polc chan policyResult
	var nowc chan commentNow
	read := func() {
		// Each read answers on its own channel: reads begun again leave
		// the first ones' answers unread.
		pc := make(chan policyResult, 1)
		polc = pc
		reads.Go(func() {
			p, err := h.g.commandPolicy(readCtx, r, ev.Issue.Number, ev.onPR())
			pc <- policyResult{p, err}
		})
		if anyActs(cmds) {
			nc := make(chan commentNow, 1)
			nowc = nc
			reads.Go(func() {
				c, err := r.CommentNow(readCtx, ev.Comment.ID)
				nc <- commentNow{c, err}
			})
		}
	}
	read()
	gone := func() error {
		// Deleted before the bot got to it: nothing runs, nothing answers.
		for _, cmd := range cmds {
			h.g.notRun("deleted")
			logger.Info().Str("command", cmd.Name).Int64("comment_id", ev.Comment.ID).Str("reason", "deleted").Msg("Not run: the comment was deleted")
		}
		return nil
	}
	if err := r.React(ctx, ev.Comment.ID, "eyes"); err != nil {
		if facts.IsNotFound(err) {
			return gone()
		}
		return err
	}
	// The command went ahead of the gate evaluations waiting for their
	// turn so that its 👀 came at once; the rest of it takes its turn
	// behind those that came before it. If it stood aside, its author may
	// have deleted or edited the comment meanwhile: the reads begin again.
	if aside, err := app.Acknowledged(ctx); err != nil {
		return err
	} else if aside {
		read()
	}
	pol := <-polc
	if pol.err != nil {
		return pol.err
	}
	var now commentNow
	if nowc != nil {
		if now = <-nowc; facts.IsNotFound(now.err) {
			return gone()
		}
	}
	// One comment's commands run one delivery at a time on this replica:
	// copies of a delivery (GitHub keeps its GUID when it redelivers) share
	// a claim, so under the lock they would not keep each other off; in
	// turn, the second finds the first's answer.
	defer h.g.lock("comment:" + strconv.FormatInt(ev.Comment.ID, 10))()
	claim := h.g.claim(deliveryID)
	var lookAgain time.Time
	defer func() {
		if !lookAgain.IsZero() {
			h.g.lookAgain(ctx, ev.Comment.ID, lookAgain)
		}
	}()
	var errs []error
	anyDone, anyRefused := false, false
	for i, cmd := range cmds {
		run := &commandRun{g: h.g, r: r, pol: pol.p, cfg: pol.p.Config, ev: &ev, cmd: cmd, claim: claim, installation: installation,
			writtenAt: ev.Comment.CreatedAt}
		marker := run.replyMarker()
		if limited[i] != "" {
			if _, _, err := r.PostCommentUnsettled(ctx, ev.Issue.Number, marker, limited[i]+"\n"+marker, ev.Comment.CreatedAt); err != nil {
				return err
			}
			continue
		}
		prior, err := r.FindComment(ctx, ev.Issue.Number, marker, ev.Comment.CreatedAt)
		if err != nil {
			return err
		}
		if prior != nil {
			// Answered by an earlier delivery: never run twice.
			anyDone = anyDone || strings.Contains(prior.Body, outcomeMarker(true))
			anyRefused = anyRefused || strings.Contains(prior.Body, outcomeMarker(false))
			continue
		}
		var instead *outcome
		if cmd.Acts() {
			var reason string
			reason, instead = run.asGivenNow(now)
			if reason != "" {
				h.g.notRun(reason)
				logger.Info().Str("command", cmd.Name).Int64("comment_id", ev.Comment.ID).Str("reason", reason).Msg("Not run: " + notRunWhy[reason])
				if instead == nil {
					continue // taken back, or not the author's: no answer
				}
			}
		}
		var out outcome
		if instead != nil {
			out = *instead
		} else {
			out = run.run(ctx)
		}
		if out.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cmd.Name, out.err))
		}
		if cmd.Acts() {
			r = r.Fresh() // the next command reads GitHub as this one left it
		}
		if out.silent {
			logger.Info().Str("command", cmd.Name).Msg("Another replica is running this command; it answers")
			if out.claimedUntil.After(lookAgain) {
				lookAgain = out.claimedUntil
			}
			continue
		}
		if !out.posted {
			if _, _, err := r.PostComment(ctx, ev.Issue.Number, marker, replyText(out, cmd, marker), ev.Comment.CreatedAt); err != nil {
				return err
			}
		}
		anyDone = anyDone || out.ok
		anyRefused = anyRefused || !out.ok
		logger.Info().Str("command", cmd.Name).Bool("done", out.ok).Msg(out.headline)
	}
	if more {
		marker := facts.Marker(fmt.Sprintf("reply:%d:more", ev.Comment.ID))
		text := fmt.Sprintf("ℹ️ This comment gives more than %d commands; the bot ran the first %d and ignored the rest. Give the others in a new comment.\n%s", policy.MaxCommands, policy.MaxCommands, marker)
		if _, _, err := r.PostComment(ctx, ev.Issue.Number, marker, text, ev.Comment.CreatedAt); err != nil {
			return err
		}
	}
	if anyDone {
		if err := r.React(ctx, ev.Comment.ID, "rocket"); err != nil {
			return err
		}
	}
	if anyRefused {
		if err := r.React(ctx, ev.Comment.ID, "-1"); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// commandText is the part of a comment read for commands (GitHub's own
// limit is 65536 characters).
func commandText(body string) string {
	if len(body) > maxCommentBody {
		return body[:maxCommentBody]
	}
	return body
}

func anyActs(cmds []policy.Command) bool {
	for _, c := range cmds {
		if c.Acts() {
			return true
		}
	}
	return false
}

// commentNow is a command's comment as GitHub has it now, or why it
// could not be read.
type commentNow struct {
	c   *facts.Comment
	err error
}

// notRunWhy explains each reason a command is set aside, for the log.
var notRunWhy = map[string]string{
	"deleted":      "the comment was deleted",
	"edited":       "the comment was edited and no longer gives this command line",
	"other_author": "GitHub says the comment is not the author's the event named",
	"too_old":      "the command is older than commands.max_age",
}

// asGivenNow judges a command that changes something by its comment as
// GitHub has it now. A reason says why it is set aside: with no outcome
// it is not answered at all (the comment was edited so the line is gone,
// or is not the author's the event named); with one, that is its answer
// instead of running (too old). An outcome without a reason is a
// refusal because the comment could not be read (fail closed). Neither:
// run it, counting its age from the created_at GitHub gave.
func (c *commandRun) asGivenNow(now commentNow) (reason string, o *outcome) {
	if now.err != nil {
		out := c.failed("re-read your comment", now.err)
		return "", &out
	}
	// The same account: by its id (a login can be renamed), or by login
	// when either side lacks the id.
	was := c.ev.Comment.User
	same := now.c.User.ID == was.ID
	if now.c.User.ID == 0 || was.ID == 0 {
		same = strings.EqualFold(now.c.User.Login, was.Login)
	}
	if !same || now.c.User.Type == "Bot" || now.c.App != nil {
		return "other_author", nil
	}
	if !policy.StillGiven(c.cmd, commandText(now.c.Body)) {
		return "edited", nil
	}
	c.writtenAt = now.c.CreatedAt
	if r := hotfixConfig(c.pol).CommandTooOld(c.cmd, now.c.CreatedAt, c.g.clock.Now()); r != nil {
		out := refuse(c.cmd, []policy.Refusal{*r}, "")
		return "too_old", &out
	}
	return "", nil
}

func allSet(xs []string) bool {
	for _, x := range xs {
		if x == "" {
			return false
		}
	}
	return len(xs) > 0
}

// replyText is a command's answer as posted: the outcome, the marker
// that names the command, and whether it was done or refused.
func replyText(out outcome, cmd policy.Command, marker string) string {
	return out.render(cmd) + "\n" + marker + "\n" + outcomeMarker(out.ok)
}

// replyMarker names this command's answer.
func (c *commandRun) replyMarker() string {
	return facts.Marker(fmt.Sprintf("reply:%d:%d", c.ev.Comment.ID, c.cmd.Line))
}

// answerNow posts the command's answer before the command finishes (the
// answer is itself a record, as a hold's is); the outcome is then not
// posted again.
func (c *commandRun) answerNow(ctx context.Context, out *outcome) error {
	marker := c.replyMarker()
	if _, _, err := c.r.PostComment(ctx, c.ev.Issue.Number, marker, replyText(*out, c.cmd, marker), c.ev.Comment.CreatedAt); err != nil {
		return err
	}
	out.posted = true
	return nil
}

func outcomeMarker(ok bool) string {
	if ok {
		return facts.Marker("outcome:done")
	}
	return facts.Marker("outcome:refused")
}

// commandRun is one command of one comment.
type commandRun struct {
	g            *Bot
	r            *facts.Repo
	pol          facts.Policy
	cfg          policy.Config
	ev           *commentEvent
	cmd          policy.Command
	claim        string
	installation int64
	// writtenAt is when the comment was written: its created_at as
	// GitHub gave it when read again (the event's, for commands that
	// change nothing).
	writtenAt time.Time
	// perm is the commenter's permission, once authorize read it.
	perm facts.Permission
}

// outcome is what a command did, for its reply.
type outcome struct {
	// ok: done (🚀); otherwise refused (👎).
	ok bool
	// silent: another replica is running the same command; no reply.
	silent bool
	// claimedUntil: when that replica's claim lapses (zero: it has
	// answered, or will). The comment is looked at again then, in case
	// that replica stopped before it answered.
	claimedUntil time.Time
	// posted: the command posted its answer itself (answerNow).
	posted   bool
	headline string
	body     string
	// err is a failure worth counting (the reply still says what to do).
	err error
}

// claimedElsewhere is the outcome of a command another replica is
// running under the production lock l: no reply from here, and a look
// again once its claim lapses.
func claimedElsewhere(l facts.Lock) outcome {
	return outcome{silent: true, claimedUntil: l.ClaimAt.Add(facts.ClaimTTL)}
}

const (
	// lookAgainMargin: a comment another replica claimed is looked at
	// again this long after the claim lapses (replicas' clocks differ).
	lookAgainMargin = 10 * time.Second
	// lookAgainStep is how often a look waiting for that reads the clock.
	lookAgainStep = time.Second
)

// lookAgain handles the current comment again once `until` has passed on
// the bot's clock, for a command another replica claimed: if it stopped
// before it answered, the look again answers (its reply is found if it
// did). One look at a time per comment on this replica (copies of the
// delivery ask for the same one). It gives up a minute after it should
// have looked, and when the server stops.
func (g *Bot) lookAgain(ctx context.Context, commentID int64, until time.Time) {
	again, closing := app.Again(ctx)
	if again == nil {
		return
	}
	g.mu.Lock()
	pending := g.looks[commentID]
	if !pending {
		g.looks[commentID] = true
	}
	g.mu.Unlock()
	if pending {
		return
	}
	at := until.Add(lookAgainMargin)
	giveUp := time.Now().Add(at.Sub(g.clock.Now()) + time.Minute)
	zerolog.Ctx(ctx).Info().Time("at", at).Msg("The comment is looked at again when the other replica's claim lapses, in case it stopped before it answered")
	go func() {
		defer func() {
			g.mu.Lock()
			delete(g.looks, commentID)
			g.mu.Unlock()
		}()
		for g.clock.Now().Before(at) {
			if time.Now().After(giveUp) {
				return
			}
			select {
			case <-closing:
				return
			case <-time.After(lookAgainStep):
			}
		}
		again()
	}()
}

func (o outcome) render(cmd policy.Command) string {
	icon := "🚀"
	if !o.ok {
		icon = "👎"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "> %s\n\n%s **%s**\n", echoCommand(cmd), icon, o.headline)
	if o.body != "" {
		b.WriteString("\n" + o.body + "\n")
	}
	return policy.FitTo(b.String(), 60000)
}

// done is an outcome that did what was asked.
func done(headline, body string) outcome { return outcome{ok: true, headline: headline, body: body} }

// refuse is an outcome that changed nothing, saying which rules refused
// and what to do.
func refuse(cmd policy.Command, refusals []policy.Refusal, extra string) outcome {
	var b strings.Builder
	if len(refusals) == 1 {
		fmt.Fprintf(&b, "**Why:** %s.\n\n**What to do:** %s.\n", refusals[0].Why, refusals[0].Next)
	} else {
		b.WriteString("| rule | why | what to do |\n|---|---|---|\n")
		for _, r := range refusals {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", r.Rule, cell(r.Why), cell(r.Next))
		}
	}
	if extra != "" {
		b.WriteString("\n" + extra + "\n")
	}
	head := fmt.Sprintf("/%s refused: %s.", strings.SplitN(cmd.Name, " ", 2)[0], refusals[0].Rule)
	if cmd.Name == policy.CmdHotfixStart {
		head = "/hotfix start refused: " + refusals[0].Rule + "."
	}
	if len(refusals) > 1 {
		head = fmt.Sprintf("/%s refused: %d rules say no.", strings.SplitN(cmd.Name, " ", 2)[0], len(refusals))
	}
	return outcome{headline: head, body: b.String()}
}

// echoCommand quotes the command as given, in a code span (where nothing
// is a mention), bounded, and without angle brackets: it cannot carry a
// hidden marker into the bot's own reply.
func echoCommand(cmd policy.Command) string {
	echo := strings.NewReplacer("<", "‹", ">", "›").Replace(cmd.Text)
	if len(echo) > 200 {
		echo = truncate(echo, 200) + "…"
	}
	return policy.Code(echo)
}

func cell(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

// run authorizes and runs the command.
func (c *commandRun) run(ctx context.Context) outcome {
	cmd := c.cmd
	if cmd.Usage != "" {
		return outcome{headline: fmt.Sprintf("Usage: `%s`", policy.Usage[cmd.Name]),
			body: fmt.Sprintf("**What was wrong:** %s.\n\nNothing was changed. Write the command again on its own line.", cmd.Usage)}
	}
	if cmd.Name == policy.CmdHelp {
		return c.help(ctx)
	}
	if c.pol.Broken() {
		return outcome{headline: fmt.Sprintf("/%s refused: the hotfix-bot policy file is invalid.", cmd.Name),
			body: c.pol.Describe() + "\n\nThe bot does not act on production while it cannot read its rules."}
	}
	switch cmd.Name {
	case policy.CmdPromote:
		return c.promote(ctx)
	case policy.CmdRollback:
		return c.rollback(ctx)
	case policy.CmdHotfixStart:
		return c.hotfixStart(ctx)
	case policy.CmdUnlock:
		return c.unlock(ctx)
	case policy.CmdHold:
		return c.hold(ctx)
	}
	return outcome{headline: "unknown command"}
}

// authorize checks the commenter's repository permission with GitHub
// (role_name; never author_association).
func (c *commandRun) authorize(ctx context.Context, need policy.Permission) (facts.Permission, *outcome) {
	who := c.ev.Comment.User.Login
	perm, err := c.r.Permission(ctx, who)
	c.perm = perm
	if err != nil {
		o := refuse(c.cmd, []policy.Refusal{{Rule: "permission", Why: "the bot could not read your permission on this repository: " + facts.Explain(err),
			Next: "comment again in a minute"}}, "")
		o.err = err
		return perm, &o
	}
	if !perm.Level.AtLeast(need) {
		o := refuse(c.cmd, []policy.Refusal{{Rule: "permission",
			Why:  fmt.Sprintf("@%s has %s permission on this repository, and `%s` needs %s or more", who, describePermission(perm), policy.Usage[c.cmd.Name], need),
			Next: fmt.Sprintf("ask someone with %s permission to run it", need)}}, "")
		return perm, &o
	}
	return perm, nil
}

func describePermission(p facts.Permission) string {
	if p.Role != "" && p.Role != string(p.Level) {
		return fmt.Sprintf("%s (role %s)", p.Level, p.Role)
	}
	return string(p.Level)
}

// failed is a refusal caused by GitHub failing: counted, and the reply
// says to try again.
func (c *commandRun) failed(rule string, err error) outcome {
	o := refuse(c.cmd, []policy.Refusal{{Rule: rule, Why: facts.Explain(err), Next: "comment the command again in a minute; nothing was changed by this attempt, or it will be found and reused"}}, "")
	o.headline = strings.Replace(o.headline, " refused: ", " failed: ", 1) // GitHub failed, no rule said no
	o.err = err
	return o
}
