package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/handlers"
	"github.com/hotfix-bot/hotfix-bot/report"
	"github.com/rs/zerolog"
)

// reportCmd is `hotfix-bot report OWNER/REPO [--since 90d] [--json]
// [--config FILE]`: the report page's numbers, read from GitHub as the
// app (the server configuration's credentials), printed as text or JSON.
func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := fs.String("since", "90d", "how far back to look: days (90d), weeks (12w) or hours (2160h), at most 366d")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	configPath := fs.String("config", "", "server configuration file with the app's credentials (optional; the environment overrides it, as for serve)")
	// Flags may come before or after OWNER/REPO.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	owner, repo, ok := "", "", len(positional) == 1
	if ok {
		owner, repo, ok = strings.Cut(positional[0], "/")
		ok = ok && owner != "" && repo != "" && !strings.Contains(repo, "/")
	}
	if !ok {
		fmt.Fprintln(stderr, "hotfix-bot report: name one repository, like acme/payments: hotfix-bot report OWNER/REPO [--since 90d] [--json] [--config FILE]")
		return 2
	}
	window, err := report.ParseWindow(*since)
	if err != nil {
		fmt.Fprintf(stderr, "hotfix-bot report: --since: %v\n", err)
		return 2
	}
	cfg, err := app.LoadConfig(*configPath, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "hotfix-bot report: %v\n", err)
		return 2
	}
	cfg.Redelivery.Interval = 0 // a report reads; it sweeps nothing
	srv, err := app.New(cfg, app.Options{Logger: zerolog.Nop()})
	if err != nil {
		fmt.Fprintf(stderr, "hotfix-bot report: %v\n", err)
		return 1
	}
	defer srv.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv.Start(ctx)
	ready, done := context.WithTimeout(ctx, 30*time.Second)
	defer done()
	if err := srv.WaitReady(ready); err != nil {
		_, why := srv.Ready()
		fmt.Fprintf(stderr, "hotfix-bot report: cannot read GitHub as the app: %s\n", why)
		return 1
	}
	rep, err := handlers.NewBot(srv.Deps()).Report(ctx, owner, repo, window)
	switch {
	case facts.IsNotFound(err):
		fmt.Fprintf(stderr, "hotfix-bot report: %s/%s: the app is not installed on it, or it does not exist (%s)\n", owner, repo, facts.Explain(err))
		return 1
	case err != nil:
		var fe *facts.Error
		if errors.As(err, &fe) {
			err = errors.New(facts.Explain(err))
		}
		fmt.Fprintf(stderr, "hotfix-bot report: %s/%s: %v\n", owner, repo, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "hotfix-bot report: %v\n", err)
			return 1
		}
		return 0
	}
	if err := rep.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "hotfix-bot report: %v\n", err)
		return 1
	}
	if link := handlers.ReportLink(cfg, owner, repo, time.Now()); link != "" {
		fmt.Fprintf(stdout, "\nThe page (charts, signed link): %s\n", link)
	}
	return 0
}
