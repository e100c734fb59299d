package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/hotfix-bot/hotfix-bot/register"
)

func registerCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	var o register.Options
	fs.StringVar(&o.WebhookURL, "webhook-url", "", "where GitHub posts events: the public URL of serve's /api/github/hook (default: the webhook is registered off, to be set in the app's settings)")
	fs.StringVar(&o.Org, "org", "", "register the app under this organisation (default: your account)")
	fs.StringVar(&o.WebURL, "github-url", "https://github.com", "GitHub's web address (a GitHub Enterprise Server's, e.g. https://github.example.com)")
	fs.StringVar(&o.APIURL, "api-url", "", "GitHub's REST API (default: derived from --github-url)")
	fs.StringVar(&o.Name, "name", "", "the app's name on GitHub, unique there (default hotfix-bot, or hotfix-bot-ORG)")
	fs.StringVar(&o.Out, "out", "hotfix-bot-app", "directory for the credentials and the server configuration")
	fs.BoolVar(&o.Force, "force", false, "replace credentials already in --out")
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:0", "local address of the registration page")
	fs.DurationVar(&o.Timeout, "timeout", 0, "give up after this long (default 15m)")
	if code, ok := parseArgs(fs, registerHelp, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hotfix-bot register: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o.Stdout = stdout
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if _, err := register.Run(ctx, o); err != nil {
		fmt.Fprintf(stderr, "hotfix-bot register: %v\n", err)
		if errors.Is(err, register.ErrExists) || errors.Is(err, register.ErrUsage) {
			return 2 // nothing was tried: fix the command line
		}
		return 1
	}
	return 0
}
