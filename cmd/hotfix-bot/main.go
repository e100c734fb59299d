// Command hotfix-bot is the GitHub App that makes production hotfixes in
// git-flow repositories safe: `register` creates the app on GitHub,
// `serve` runs it, `validate` checks policy files offline, `report`
// prints a repository's hotfix numbers, `demo` plays a whole hotfix
// against the embedded GitHub simulator, `version` prints the build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/handlers"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/rs/zerolog"
)

const usage = `hotfix-bot makes production hotfixes in git-flow repositories safe.

Usage:
  hotfix-bot register [--webhook-url URL] [--org ORG] [--github-url URL] [--out DIR] [--force]
                                     create the GitHub App from its manifest and write its credentials
  hotfix-bot serve [--config FILE]   run the GitHub App (configuration: README.md)
  hotfix-bot validate FILE...        check .github/hotfix-bot.yml files offline
  hotfix-bot report OWNER/REPO [--since 90d] [--json] [--config FILE]
                                     the numbers a repository's hotfixes are judged by, read from GitHub as the app
  hotfix-bot demo                    play a hotfix against the embedded GitHub simulator
  hotfix-bot version                 print the version

"hotfix-bot COMMAND --help" says more about each, with an example.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "register":
		return registerCmd(args[1:], stdout, stderr)
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "report":
		return reportCmd(args[1:], stdout, stderr)
	case "demo":
		return demo(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fs := flag.NewFlagSet("version", flag.ContinueOnError)
		if code, ok := parseArgs(fs, versionHelp, args[1:], stdout, stderr); !ok {
			return code
		}
		fmt.Fprintln(stdout, "hotfix-bot", app.Version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "hotfix-bot: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// serveGCPercent is the garbage collector's target heap growth for
// `serve` when GOGC is not set.
const serveGCPercent = 50

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", "", "server configuration file (YAML; optional, environment overrides it)")
	if code, ok := parseArgs(fs, serveHelp, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hotfix-bot serve: unexpected argument %q (see hotfix-bot serve --help)\n", fs.Arg(0))
		return 2
	}
	cfg, err := app.LoadConfig(*configPath, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "hotfix-bot: %v\n", err)
		return 2
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		// The bot's live memory is small and mostly short-lived (a
		// delivery, a GitHub answer): collecting at half the default
		// growth keeps a burst's peak low for little CPU (BENCHMARKS.md).
		// GOGC in the environment decides instead.
		debug.SetGCPercent(serveGCPercent)
	}
	level, _ := zerolog.ParseLevel(strings.ToLower(cfg.LogLevel))
	logger := zerolog.New(os.Stdout).Level(level).With().Timestamp().
		Str("service", "hotfix-bot").Str("version", app.Version).Logger()
	logger.Info().Fields(cfg.Summary()).Msg("Starting")

	srv, err := app.New(cfg, app.Options{Logger: logger, Handlers: newHandlers, Pages: handlers.Pages, Reports: handlers.Reports})
	if err != nil {
		fmt.Fprintf(stderr, "hotfix-bot: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := srv.ListenAndServe(ctx); err != nil {
		logger.Error().Err(err).Msg("Server stopped with an error")
		return 1
	}
	return 0
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	if code, ok := parseArgs(fs, validateHelp, args, stdout, stderr); !ok {
		return code
	}
	files := fs.Args() // a file named like a flag goes after --
	if len(files) == 0 {
		fmt.Fprintln(stderr, "hotfix-bot validate: name at least one policy file, e.g. .github/hotfix-bot.yml")
		return 2
	}
	code := 0
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			fmt.Fprintf(stderr, "%s: cannot read: %v\n", name, err)
			code = 1
			continue
		}
		if _, err := policy.Parse(b); err != nil {
			for _, e := range policy.AsErrors(err) {
				msg := e.Msg
				if e.Path != "" {
					msg = e.Path + ": " + msg
				}
				if e.Line > 0 {
					fmt.Fprintf(stdout, "%s:%d: %s\n", name, e.Line, msg)
				} else {
					fmt.Fprintf(stdout, "%s: %s\n", name, msg)
				}
			}
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", name)
	}
	return code
}
