package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// helpText is a subcommand's --help: what it does, how to call it, an
// example; its flags follow.
type helpText struct {
	usage   string // "hotfix-bot serve [--config FILE]"
	about   string // what it does, in a paragraph
	example string // one or more command lines
}

func (h helpText) write(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  %s\n\nExample:\n", strings.TrimSpace(h.about), h.usage)
	for _, line := range strings.Split(strings.TrimSpace(h.example), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// parseArgs parses a subcommand's arguments. --help (-h) prints its help
// on stdout and ends it with 0; a wrong flag prints the error and the
// help on stderr and ends it with 2. ok is false when the command is
// ended (exit is its code).
func parseArgs(fs *flag.FlagSet, h helpText, args []string, stdout, stderr io.Writer) (exit int, ok bool) {
	fs.SetOutput(io.Discard) // the flag package's own usage is replaced
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		h.write(stdout, fs)
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "hotfix-bot %s: %v\n\n", fs.Name(), err)
		h.write(stderr, fs)
		return 2, false
	}
	fs.SetOutput(stderr)
	return 0, true
}

var serveHelp = helpText{
	usage: "hotfix-bot serve [--config FILE]",
	about: `serve runs the GitHub App: it receives GitHub's webhooks on
/api/github/hook, puts the hotfix-bot checks on hotfix branches and pull
requests, answers /promote, /rollback and the other commands, and follows
deployments to production. /healthz, /readyz and /metrics are served
beside it. Its configuration is a YAML file (the file register writes, or
none) and the environment, which overrides the file (README "Server
configuration").`,
	example: `hotfix-bot serve --config hotfix-bot-app/server.yml
GITHUB_APP_INTEGRATION_ID=12345 GITHUB_APP_PRIVATE_KEY_PATH=key.pem GITHUB_APP_WEBHOOK_SECRET=... hotfix-bot serve`,
}

var registerHelp = helpText{
	usage: "hotfix-bot register [--webhook-url URL] [--org ORG] [--github-url URL] [--out DIR] [--force]",
	about: `register creates the GitHub App from its manifest (app.yml): it opens
a local page that sends you to GitHub to confirm, then writes the app's
credentials and a server configuration for serve into --out.`,
	example: `hotfix-bot register --webhook-url https://hotfix-bot.example.com/api/github/hook --org acme
hotfix-bot serve --config hotfix-bot-app/server.yml`,
}

var validateHelp = helpText{
	usage: "hotfix-bot validate FILE...",
	about: `validate checks repository policy files (.github/hotfix-bot.yml)
offline, with the bot's own parser: it prints "FILE: ok", or every error
with its line, and exits 1 when a file is broken or cannot be read.`,
	example: `hotfix-bot validate .github/hotfix-bot.yml`,
}

var demoHelp = helpText{
	usage: "hotfix-bot demo [-v] [--keep]",
	about: `demo plays a 3 a.m. production incident against the GitHub simulator
built into this binary (no credentials, no network): the gates on a good
hotfix and on one cut from develop, approvals that count and one that
does not, /promote and the deployment's success (tag, merge, sync-back),
the details page, and a hotfix that fails in production and is rolled
back. It prints what happened and exits 0 only if every expected outcome
did.`,
	example: `hotfix-bot demo
hotfix-bot demo -v 2>bot.log`,
}

var versionHelp = helpText{
	usage:   "hotfix-bot version",
	about:   `version prints the version this binary was built as.`,
	example: `hotfix-bot version`,
}
