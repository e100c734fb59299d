package handlers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/palantir/go-githubapp/githubapp"
)

// CheckSuite re-runs the bot's checks of a commit when someone clicks
// "Re-run all checks" on them (check_suite rerequested for this app): the
// same as "Re-run" on each (CheckRun), once for the whole suite. Every
// other check_suite delivery (requested, completed, other apps' suites)
// is answered at the door.
type CheckSuite struct{ g *Bot }

var _ githubapp.EventHandler = (*CheckSuite)(nil)

// Handles names the event.
func (h *CheckSuite) Handles() []string { return []string{"check_suite"} }

// checkSuiteEvent is what the bot uses of check_suite (decoded by hand,
// like check_run: GitHub's recorded deliveries carry dates go-github
// cannot always read).
type checkSuiteEvent struct {
	envelope
	CheckSuite struct {
		HeadBranch   string    `json:"head_branch"`
		HeadSHA      string    `json:"head_sha"`
		App          appRef    `json:"app"`
		PullRequests []checkPR `json:"pull_requests"`
	} `json:"check_suite"`
}

// AtDoor skips all but "Re-run all checks" on this app's own suite; that
// is interactive (someone clicked it and watches the checks).
func (h *CheckSuite) AtDoor(_ context.Context, _ string, payload []byte) (adm app.Admission) {
	var ev checkSuiteEvent
	defer func() { adm.Installation = ev.Installation.ID }()
	if adm, ok := decodeAtDoor(payload, &ev); !ok {
		return adm
	}
	if !h.wanted(&ev) {
		return skip
	}
	return interactive
}

// wanted reports whether a check_suite delivery asks the bot for work:
// "Re-run all checks" on this app's own suite of a commit.
func (h *CheckSuite) wanted(ev *checkSuiteEvent) bool {
	return ev.Action == "rerequested" && ev.Installation.ID != 0 && ev.Repository.Name != "" && ev.CheckSuite.HeadSHA != "" &&
		ev.CheckSuite.App.ID == h.g.identity.AppID()
}

// Handle evaluates again the checks the suite's commit has, as its
// branches say (see CheckRun.rerun).
func (h *CheckSuite) Handle(ctx context.Context, _, _ string, payload []byte) error {
	var ev checkSuiteEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode check_suite: %w", err)
	}
	if !h.wanted(&ev) {
		return nil
	}
	var run checkRunEvent
	run.envelope = ev.envelope
	run.CheckRun.HeadSHA = ev.CheckSuite.HeadSHA
	run.CheckRun.App = ev.CheckSuite.App
	run.CheckRun.CheckSuite.HeadBranch = ev.CheckSuite.HeadBranch
	run.CheckRun.PullRequests = ev.CheckSuite.PullRequests
	return (&CheckRun{h.g}).rerun(ctx, &run, true)
}
