package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hotfix-bot/hotfix-bot/e2e/ghsim"
	"github.com/hotfix-bot/hotfix-bot/e2e/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// demo plays an incident against the embedded GitHub simulator and prints
// what the bot did. It exits 0 only if every expected outcome happened.
func demo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "also print the bot's JSON log")
	if err := fs.Parse(args); err != nil {
		return 2
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	d := &demoRun{h: h, out: stdout, ctx: ctx}
	if err := d.play(); err != nil {
		fmt.Fprintf(stderr, "hotfix-bot demo: %v\n", err)
		return 1
	}
	return d.verdict()
}

type demoRun struct {
	h      *harness.Harness
	in     *harness.Incident
	out    io.Writer
	ctx    context.Context
	failed []string
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
	d.say("github", "production runs v1.4.2 (%s, deployment succeeded); develop holds 3 unreleased commits; release/1.5 is open", policy.Short(in.V142))

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

	fmt.Fprintln(d.out, "\n— What comes next —")
	fmt.Fprintln(d.out, "          /promote, the production deployment, tagging v1.4.3, merging and the sync-back pull requests")
	fmt.Fprintln(d.out, "          into develop and release/1.5 are not built yet; the gates above are what they will rely on.")
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
