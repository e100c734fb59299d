package main

import (
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/handlers"
	"github.com/palantir/go-githubapp/githubapp"
)

// newHandlers builds the event handlers the server dispatches to.
func newHandlers(deps app.Deps) []githubapp.EventHandler { return handlers.New(deps) }
