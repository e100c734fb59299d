package handlers

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	doorjson "github.com/segmentio/encoding/json"
)

// At the door (app.Door) each handler decides, from the payload and what
// the Bot already knows (the app's identity, the policies it cached), with
// no GitHub call, whether a delivery needs any work and in which lane it
// runs. Most of an installation's deliveries need none (feature-branch
// pushes, pull requests into develop, comments without a command, the
// bot's own writes): they are answered at once and take no room in the
// queue. The door only skips what Handle would skip before its first API
// call; anything it cannot tell (the app's identity not known yet, a
// policy not cached) is queued, and Handle decides.

var (
	skip        = app.Admission{Skip: true}
	interactive = app.Admission{Lane: app.Interactive}
	background  = app.Admission{Lane: app.Background}
	// command: its author waits for the 👀 (or production for its
	// rollback), so it goes ahead of the gate evaluations waiting in the
	// installation's interactive lane.
	command = app.Admission{Lane: app.Interactive, First: true}
)

// decodeAtDoor decodes what a door reads of a payload. When it cannot,
// the admission says what happens: a body that is not JSON is refused as
// malformed; JSON the door cannot read is queued (Handle reports it).
// (The JSON is checked for validity only then: a delivery that needs no
// work is read once, not twice.) The door decodes with
// github.com/segmentio/encoding/json, a drop-in for encoding/json that
// reads a payload in one pass, about ten times faster on a pull request's
// 24 KB (TestDoorDecodesAsEncodingJSON holds it to the standard library's
// answers); the handlers decode with go-github and encoding/json.
func decodeAtDoor(payload []byte, v any) (app.Admission, bool) {
	if err := doorjson.Unmarshal(payload, v); err != nil {
		// What was read before the error is not the payload's: v is left
		// zero (the queue reads the installation itself).
		reflect.ValueOf(v).Elem().SetZero()
		if !json.Valid(payload) {
			return app.Admission{Malformed: true}, false
		}
		return interactive, false
	}
	return app.Admission{}, true
}

// doorSender is the part of a payload that says who acted.
type doorSender struct {
	Sender struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"sender"`
	Via *appRef `json:"performed_via_github_app"`
	// Installation and Repository: every handled event has them.
	Installation struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Repository struct {
		Name          string `json:"name"`
		DefaultBranch string `json:"default_branch"`
		Owner         struct {
			Login string `json:"login"`
		} `json:"owner"`
	} `json:"repository"`
}

func (d doorSender) fullName() string { return d.Repository.Owner.Login + "/" + d.Repository.Name }

// selfAtDoor reports whether the event is known, without waiting, to be
// the app's own.
func (g *Bot) selfAtDoor(d doorSender) bool {
	via := int64(0)
	if d.Via != nil {
		via = d.Via.ID
	}
	self, known := g.identity.KnownSelf(d.Sender.Login, d.Sender.Type, via)
	return known && self
}

// doorPolicy is the repository's policy if this replica has it cached:
// the one that governs pull requests into base ("" for events without a
// pull request). At the door, an expired one still counts while an event
// reads it again (facts.PolicyCache.ForDoor); in a handler's own
// judgement (Handle asks AtDoor first) only a fresh one does, so the
// event queued to read it again does read it.
func (g *Bot) doorPolicy(ctx context.Context, full, base string) (facts.Policy, bool) {
	if app.InRun(ctx) {
		return g.policies.CachedFor(full, base)
	}
	return g.policies.ForDoor(full, base)
}

// cachedPolicy is doorPolicy's configuration, if it is valid.
func (g *Bot) cachedPolicy(ctx context.Context, full, base string) (policy.Config, bool) {
	p, ok := g.doorPolicy(ctx, full, base)
	if !ok || p.Broken() {
		return policy.Config{}, false
	}
	return p.Config, true
}

// pushAtDoor is what the door reads of a push.
type pushAtDoor struct {
	doorSender
	Ref     string `json:"ref"`
	After   string `json:"after"`
	Created bool   `json:"created"`
	Deleted bool   `json:"deleted"`
	Commits []struct {
		Added    []string `json:"added"`
		Modified []string `json:"modified"`
		Removed  []string `json:"removed"`
	} `json:"commits"`
}

func (p *pushAtDoor) touches(paths ...string) bool {
	for _, c := range p.Commits {
		for _, list := range [][]string{c.Added, c.Modified, c.Removed} {
			for _, f := range list {
				for _, want := range paths {
					if f == want {
						return true
					}
				}
			}
		}
	}
	return false
}

// AtDoor skips deletions, tag pushes, the app's own pushes, new branches
// without commits of their own and, once the policy is cached, pushes to
// branches that are neither hotfix, release nor sync-back branches
// (unless they change a policy file, which the handler must forget, or
// the hourly look over the sync-back pull requests is due). A hotfix push
// is interactive: its author waits for the checks.
func (h *Push) AtDoor(ctx context.Context, _ string, payload []byte) (adm app.Admission) {
	var ev pushAtDoor
	defer func() { adm.Installation = ev.Installation.ID }()
	if adm, ok := decodeAtDoor(payload, &ev); !ok {
		return adm
	}
	branch, isBranch := strings.CutPrefix(ev.Ref, "refs/heads/")
	// A push that changes a policy file is forgotten here, whoever pushed
	// it: the bot's own merge of a hotfix or a sync-back that carries the
	// file is skipped below, and the old policy must not outlive it. (The
	// cache is this process's memory: no GitHub call.)
	if isBranch && ev.Repository.Name != "" {
		if ev.touches(policy.ConfigPath) {
			h.g.policies.Forget(ev.fullName())
		}
		if ev.Repository.Name == ".github" && ev.touches(facts.OwnerPolicyPaths...) {
			h.g.policies.ForgetOwner(ev.Repository.Owner.Login)
		}
	}
	switch {
	case ev.Deleted || !isBranch || ev.Installation.ID == 0 || ev.Repository.Name == "" || ev.After == "":
		return skip
	case h.g.selfAtDoor(ev.doorSender):
		return skip
	case ev.Created && len(ev.Commits) == 0:
		return skip
	case ev.touches(policy.ConfigPath), // on the default branch, the production branch or a pull request's base
		ev.Repository.Name == ".github" && ev.touches(facts.OwnerPolicyPaths...):
		return interactive
	}
	cfg, ok := h.g.cachedPolicy(ctx, ev.fullName(), "")
	if !ok {
		return interactive
	}
	if !cfg.IsHotfixBranch(branch) && !policy.IsSyncBranch(branch) && !cfg.IsReleaseBranch(branch) {
		if h.g.roundWanted(ev.fullName()) {
			return background // the hourly look over the sync-back pull requests
		}
		return skip
	}
	return interactive
}

// prAtDoor is what the door reads of a pull_request event.
type prAtDoor struct {
	doorSender
	Action      string `json:"action"`
	PullRequest struct {
		Head struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"head"`
		Base struct {
			Ref string `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	Label struct {
		Name string `json:"name"`
	} `json:"label"`
	Changes struct {
		Base *struct{} `json:"base"`
	} `json:"changes"`
}

// AtDoor skips actions that cannot change a gate, the app's own label
// writes, title and body edits and, once the policy is cached, labels
// that approve nothing and pull requests that are not from a hotfix
// branch into the production branch.
func (h *PullRequest) AtDoor(ctx context.Context, _ string, payload []byte) (adm app.Admission) {
	var ev prAtDoor
	defer func() { adm.Installation = ev.Installation.ID }()
	if adm, ok := decodeAtDoor(payload, &ev); !ok {
		return adm
	}
	if ev.Installation.ID == 0 || ev.Repository.Name == "" || ev.PullRequest.Head.SHA == "" {
		return skip
	}
	switch ev.Action {
	case "opened", "reopened", "synchronize", "edited", "labeled", "unlabeled":
	default:
		return skip
	}
	if h.g.selfAtDoor(ev.doorSender) || (ev.Action == "edited" && ev.Changes.Base == nil) {
		return skip
	}
	cfg, ok := h.g.cachedPolicy(ctx, ev.fullName(), ev.PullRequest.Base.Ref)
	if !ok {
		return interactive
	}
	labelEvent := ev.Action == "labeled" || ev.Action == "unlabeled"
	if labelEvent && !isApprovalLabel(cfg, ev.Label.Name) {
		return skip
	}
	release := !labelEvent && cfg.IsReleaseBranch(ev.PullRequest.Head.Ref)
	if (!cfg.IsHotfixBranch(ev.PullRequest.Head.Ref) && !release) || ev.PullRequest.Base.Ref != cfg.Branches.Production {
		return skip
	}
	return interactive
}

// isApprovalLabel reports whether a label is one of the policy's approval
// labels, or the hold label (the approval check shows a hold).
func isApprovalLabel(cfg policy.Config, name string) bool {
	if strings.EqualFold(name, policy.LabelHold) {
		return true // a hold label put on or taken off by hand: the approval check shows the hold
	}
	for _, l := range cfg.ApprovalLabels() {
		if strings.EqualFold(l, name) {
			return true
		}
	}
	return false
}

// AtDoor skips every check_run event but "Re-run" on one of the app's
// gates (the created and completed events the app's own writes cause are
// most of them) and another app's completed check on a sync-back pull
// request the bot may merge (sync.auto_merge), or when the hourly look
// over the sync-back pull requests is due (background work).
func (h *CheckRun) AtDoor(ctx context.Context, _ string, payload []byte) (adm app.Admission) {
	var ev checkRunEvent
	defer func() { adm.Installation = ev.Installation.ID }()
	if adm, ok := decodeAtDoor(payload, &ev); !ok {
		return adm
	}
	if ev.Installation.ID == 0 {
		return skip
	}
	if ev.Action == "completed" && ev.CheckRun.App.ID != h.g.identity.AppID() {
		// Another app's check finished: a sync-back pull request may now
		// be merged (sync.auto_merge), and the sync-back round may be due.
		full := ev.Repository.Owner.Login + "/" + ev.Repository.Name
		if h.g.roundWanted(full) {
			return background
		}
		for _, pr := range ev.CheckRun.PullRequests {
			if policy.IsSyncBranch(pr.Head.Ref) {
				p, ok := h.g.doorPolicy(ctx, full, "")
				if !ok {
					return background
				}
				if p.Broken() || !p.Config.Sync.AutoMerge {
					return skip
				}
				return background
			}
		}
		return skip
	}
	if ev.Action != "rerequested" || ev.CheckRun.App.ID != h.g.identity.AppID() {
		return skip
	}
	switch ev.CheckRun.Name {
	case policy.CheckBase, policy.CheckSchema, policy.CheckApproval, policy.CheckRelease, policy.CheckSync:
		return interactive
	}
	return skip
}

// AtDoor skips all but new comments by people that give a command; a
// command is interactive and goes first (its 👀 is the first thing the
// bot writes, and its author is watching for it).
func (h *IssueComment) AtDoor(_ context.Context, _ string, payload []byte) (adm app.Admission) {
	var ev commentEvent
	defer func() { adm.Installation = ev.Installation.ID }()
	if adm, ok := decodeAtDoor(payload, &ev); !ok {
		return adm
	}
	if ev.Action != "created" || ev.Comment.ID == 0 || ev.Issue.Number == 0 || ev.Installation.ID == 0 ||
		ev.Sender.Type == "Bot" || ev.Comment.User.Type == "Bot" || ev.Comment.App != nil {
		return skip
	}
	body := ev.Comment.Body
	if len(body) > maxCommentBody {
		body = body[:maxCommentBody]
	}
	if cmds, _ := policy.ParseCommands(body); len(cmds) == 0 {
		return skip
	}
	return command
}

// AtDoor skips deployment states that are not final and, once the policy
// is cached, other environments' successes of deployments the bot did not
// create. A failure is interactive and goes first (production may need
// its rollback now); the success of a staged step is interactive (the
// next environment's deployment is what people wait for); the success of production (tag,
// merge, sync-back, re-checks) and of deployments the bot did not create
// (re-checks) is background work.
func (h *DeploymentStatus) AtDoor(ctx context.Context, _ string, payload []byte) (adm app.Admission) {
	var ev deploymentStatusEvent
	defer func() { adm.Installation = ev.Installation.ID }()
	if adm, ok := decodeAtDoor(payload, &ev); !ok {
		return adm
	}
	state := ev.DeploymentStatus.State
	switch state {
	case "success", "failure", "error":
	default:
		return skip
	}
	if ev.Deployment.ID == 0 || ev.Installation.ID == 0 {
		return skip
	}
	via := int64(0)
	if ev.Deployment.App != nil {
		via = ev.Deployment.App.ID
	}
	ours, known := h.g.identity.KnownSelf(ev.Deployment.Creator.Login, ev.Deployment.Creator.Type, via)
	p, valid := facts.DecodePayload(ev.Deployment.Payload)
	switch {
	case state != "success":
		if known && (!ours || !valid) {
			return skip
		}
		return command // a failed deployment: its rollback goes ahead of gate evaluations
	case known && ours && valid && !p.Final():
		return interactive
	case known && (!ours || !valid):
		full := ev.Repository.Owner.Login + "/" + ev.Repository.Name
		cfg, ok := h.g.cachedPolicy(ctx, full, "")
		if !ok {
			return background
		}
		if ev.Deployment.Environment != cfg.Production.Environment {
			return skip
		}
	}
	return background
}
