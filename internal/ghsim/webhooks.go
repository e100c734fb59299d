package ghsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/fixtures"
)

// Delivery is one webhook delivery (one event, its GUID) and its
// attempts, as GitHub's "Recent Deliveries" shows them.
type Delivery struct {
	ID           string // the GUID, X-GitHub-Delivery
	Event        string
	Action       string
	Repo         string
	RepoID       int64
	Installation int64
	Payload      []byte
	App          *App
	Attempts     []Attempt
	// redeliver marks a queued redelivery (POST .../attempts).
	redeliver bool
}

// Attempt is one try at delivering: GitHub lists each as a hook delivery
// with its own id.
type Attempt struct {
	ID         int64
	Status     int // 0: the target could not be reached
	At         time.Time
	Redelivery bool
}

// Succeeded reports whether some attempt was answered 2xx.
func (d Delivery) Succeeded() bool {
	for _, a := range d.Attempts {
		if a.Status >= 200 && a.Status < 300 {
			return true
		}
	}
	return false
}

// templates: event[.action] → example payload file, from GitHub's own
// examples (internal/fixtures/webhooks).
var templateFiles = map[string]string{
	"push":                       "push.json",
	"pull_request":               "pull_request.opened.json",
	"pull_request.synchronize":   "pull_request.synchronize.json",
	"pull_request.labeled":       "pull_request.labeled.json",
	"pull_request.unlabeled":     "pull_request.unlabeled.json",
	"pull_request.reopened":      "pull_request.reopened.json",
	"pull_request.closed":        "pull_request.closed.json",
	"issue_comment":              "issue_comment.created.json",
	"issue_comment.edited":       "issue_comment.edited.json",
	"check_run":                  "check_run.created.json",
	"check_suite":                "check_suite.rerequested.json",
	"deployment_status":          "deployment_status.created.json",
	"deployment_protection_rule": "deployment_protection_rule.requested.json",
	"issues":                     "issues.labeled.json",
	"installation":               "installation.created.json",
	"ping":                       "ping.json",
}

var (
	templateOnce  sync.Once
	templateCache map[string]map[string]any // parsed once, copied for each use
	templateErr   error
)

// template returns a fresh copy of GitHub's example payload for
// event.action (or for the event), as json.Unmarshal gives it.
func template(event, action string) (map[string]any, error) {
	templateOnce.Do(func() {
		templateCache = map[string]map[string]any{}
		for key, file := range templateFiles {
			b, err := fixtures.Webhooks.ReadFile("webhooks/" + file)
			if err != nil {
				templateErr = err
				return
			}
			var parsed map[string]any
			if err := json.Unmarshal(b, &parsed); err != nil {
				templateErr = fmt.Errorf("%s: %w", file, err)
				return
			}
			templateCache[key] = parsed
		}
	})
	if templateErr != nil {
		return nil, templateErr
	}
	t, ok := templateCache[event+"."+action]
	if !ok {
		t, ok = templateCache[event]
	}
	if !ok {
		return nil, fmt.Errorf("ghsim: no example payload for %s.%s", event, action)
	}
	return deepCopy(t).(map[string]any), nil
}

// deepCopy copies what json.Unmarshal builds: objects and arrays anew,
// the rest (strings, numbers, booleans, null) as they are.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		cp := make(map[string]any, len(v))
		for k, e := range v {
			cp[k] = deepCopy(e)
		}
		return cp
	case []any:
		cp := make([]any, len(v))
		for i, e := range v {
			cp[i] = deepCopy(e)
		}
		return cp
	}
	return v
}

// overlay writes src over dst, recursing into objects present in both, so
// fields the simulator does not model keep the example's real shape.
func overlay(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				overlay(dv, sv)
				continue
			}
		}
		if sv, ok := v.(obj); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				overlay(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

// emit announces a change in r to every app installed on it and
// subscribed to the event (lock held).
func (s *Sim) emit(r *Repo, event, action string, sender *User, fields map[string]any) {
	for _, in := range s.sortedInstalls() {
		if _, ok := in.Repos[r.FullName()]; !ok || !in.App.subscribed(event) {
			continue
		}
		s.queue(in, r, event, action, sender, fields)
	}
}

// listening reports whether some installation would be sent event about
// r: a payload nobody receives is not worth building (lock held).
func (s *Sim) listening(r *Repo, event string) bool {
	for _, in := range s.installs {
		if _, ok := in.Repos[r.FullName()]; ok && in.App.subscribed(event) {
			return true
		}
	}
	return false
}

// emitTo announces a change to one app only (check_run events go to the
// app that owns the check run).
func (s *Sim) emitTo(a *App, r *Repo, event, action string, sender *User, fields map[string]any) {
	for _, in := range s.sortedInstalls() {
		if in.App != a {
			continue
		}
		if _, ok := in.Repos[r.FullName()]; ok && a.subscribed(event) {
			s.queue(in, r, event, action, sender, fields)
		}
	}
}

func (s *Sim) sortedInstalls() []*Installation {
	var out []*Installation
	for id := int64(0); id <= s.nextID && len(out) < len(s.installs); id++ {
		if in, ok := s.installs[id]; ok {
			out = append(out, in)
		}
	}
	return out
}

func (s *Sim) queue(in *Installation, r *Repo, event, action string, sender *User, fields map[string]any) {
	p, err := template(event, action)
	if err != nil {
		panic(err) // a missing template is a bug in the simulator
	}
	if r.Owner.Type != "Organization" {
		delete(p, "organization")
	}
	// Keys that belong to the example's action, not necessarily this one.
	if event != "push" {
		for _, k := range []string{"label", "changes", "assignee", "requested_reviewer", "requested_team", "before", "after", "milestone"} {
			if _, ok := fields[k]; !ok {
				delete(p, k)
			}
		}
	}
	top := obj{
		"repository":   s.repoJSON(r),
		"sender":       s.userJSON(sender),
		"installation": obj{"id": in.ID, "node_id": nodeID("Installation", in.ID)},
	}
	if action != "" {
		top["action"] = action
	}
	for k, v := range fields {
		top[k] = v
	}
	overlay(p, top)
	payload, _ := json.Marshal(p)
	for _, problem := range checkWebhook(event, action, payload) {
		s.violations = append(s.violations, Violation{Operation: "webhook " + event, Method: "POST", Path: "(delivery of " + event + "." + action + ")", Problem: problem})
	}
	s.outbox = append(s.outbox, &Delivery{
		ID: newGUID(), Event: event, Action: action, Repo: r.FullName(), RepoID: r.ID, Installation: in.ID, Payload: payload, App: in.App,
	})
}

func newGUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// emitPush announces a push: a branch or tag moved (lock held).
func (s *Sim) emitPush(r *Repo, pusher *User, ref, before, after string, commits []string) {
	if !s.listening(r, "push") {
		return // history built before any app was installed
	}
	full := r.FullName()
	var list []any
	infos, _ := r.git.commits(commits...)
	var head any
	for i, c := range infos {
		var parent string
		if len(c.Parents) > 0 {
			parent = c.Parents[0]
		}
		added, removed, modified := []any{}, []any{}, []any{}
		files, _ := r.git.diff(parent, c.SHA)
		for _, f := range files {
			switch f.Status {
			case "added":
				added = append(added, f.Filename)
			case "removed":
				removed = append(removed, f.Filename)
			default:
				modified = append(modified, f.Filename)
			}
		}
		person := func(id Identity) obj {
			o := obj{"name": id.Name, "email": id.Email, "date": ts(id.When)}
			if u := s.userByEmail(id.Email); u != nil {
				o["username"] = u.Login
			}
			return o
		}
		commit := obj{
			"id": c.SHA, "tree_id": c.Tree, "distinct": true, "message": c.Message,
			"timestamp": ts(c.Committer.When), "url": s.web("%s/commit/%s", full, c.SHA),
			"author": person(c.Author), "committer": person(c.Committer),
			"added": added, "removed": removed, "modified": modified,
		}
		list = append(list, commit)
		if i == len(infos)-1 {
			head = commit
		}
	}
	if list == nil {
		list = []any{}
	}
	if head == nil && after != zeroSHA {
		if infos, _ := r.git.commits(after); len(infos) == 1 {
			c := infos[0]
			head = obj{"id": c.SHA, "tree_id": c.Tree, "distinct": false, "message": c.Message,
				"timestamp": ts(c.Committer.When), "url": s.web("%s/commit/%s", full, c.SHA),
				"author":    obj{"name": c.Author.Name, "email": c.Author.Email},
				"committer": obj{"name": c.Committer.Name, "email": c.Committer.Email},
				"added":     []any{}, "removed": []any{}, "modified": []any{}}
		}
	}
	repo := s.repoJSON(r)
	repo["pushed_at"] = s.clock.Now().Unix()
	repo["created_at"] = r.CreatedAt.Unix()
	owner := s.userJSON(r.Owner).(obj)
	owner["name"], owner["email"] = r.Owner.Login, r.Owner.Login+"@users.noreply.github.com"
	repo["owner"] = owner
	s.emit(r, "push", "", pusher, map[string]any{
		"ref": ref, "before": before, "after": after,
		"created": before == zeroSHA, "deleted": after == zeroSHA, "forced": false,
		"base_ref": nil, "compare": s.web("%s/compare/%s...%s", full, before[:12], after[:12]),
		"commits": list, "head_commit": head,
		"pusher":     obj{"name": pusher.Login, "email": pusher.Login + "@users.noreply.github.com"},
		"repository": repo,
	})
}

// Pending is the number of deliveries waiting to be sent.
func (s *Sim) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.outbox)
}

// DiscardPending drops waiting deliveries (history built before the bot
// was listening).
func (s *Sim) DiscardPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outbox = nil
}

// Deliveries lists every delivery sent so far, oldest first.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.delivered))
	for i, d := range s.delivered {
		out[i] = *d
		out[i].Attempts = append([]Attempt(nil), d.Attempts...)
	}
	return out
}

// Deliver sends every waiting delivery, in order, and waits for each
// answer (a bot that queues events answers at once). It returns how many
// it sent. Deliveries queued while it runs wait for the next call.
func (s *Sim) Deliver(ctx context.Context) (int, error) {
	s.mu.Lock()
	batch := s.outbox
	s.outbox = nil
	s.mu.Unlock()
	for _, d := range batch {
		if err := s.send(ctx, d); err != nil {
			return 0, err
		}
	}
	return len(batch), nil
}

// Postpone takes the waiting deliveries that match out of the queue, so
// Deliver does not send them: GitHub sometimes delivers an event minutes
// late, after later events. DeliverLate sends them. It returns their
// GUIDs, oldest first.
func (s *Sim) Postpone(match func(Delivery) bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	kept := s.outbox[:0]
	for _, d := range s.outbox {
		if match(*d) {
			s.postponed = append(s.postponed, d)
			ids = append(ids, d.ID)
			continue
		}
		kept = append(kept, d)
	}
	s.outbox = kept
	return ids
}

// DeliverLate moves simulated time on by delay, then sends a postponed
// delivery: its first attempt, late.
func (s *Sim) DeliverLate(ctx context.Context, id string, delay time.Duration) error {
	s.mu.Lock()
	var found *Delivery
	for i, d := range s.postponed {
		if d.ID == id {
			found = d
			s.postponed = append(s.postponed[:i], s.postponed[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	if found == nil {
		return s.errorf("no postponed delivery %s", id)
	}
	s.clock.Advance(delay)
	return s.send(ctx, found)
}

// ReplayAfter moves simulated time on by delay, then sends a past
// delivery again with the same GUID (a redelivery attempt), as someone
// pressing "Redeliver" hours later would.
func (s *Sim) ReplayAfter(ctx context.Context, id string, delay time.Duration) error {
	s.clock.Advance(delay)
	return s.Redeliver(ctx, id)
}

// DeliverFunc is Deliver to a receiver in the same process: each waiting
// delivery is handed to receive (its event, its id and its payload, as
// the headers and the body would carry them), whose answer is recorded as
// the attempt's status. Tests use it to run handlers without a server.
func (s *Sim) DeliverFunc(receive func(event, id string, payload []byte) int) int {
	s.mu.Lock()
	batch := s.outbox
	s.outbox = nil
	s.mu.Unlock()
	for _, d := range batch {
		code := receive(d.Event, d.ID, d.Payload)
		s.mu.Lock()
		d.Attempts = append(d.Attempts, Attempt{ID: s.newID(), Status: code, At: s.clock.Now(), Redelivery: d.redeliver || len(d.Attempts) > 0})
		d.redeliver = false
		s.delivered = append(s.delivered, d)
		s.mu.Unlock()
	}
	return len(batch)
}

// Redeliver sends a past delivery again with the same delivery id, like
// "Redeliver" in the app's settings.
func (s *Sim) Redeliver(ctx context.Context, id string) error {
	s.mu.Lock()
	var found *Delivery
	for _, d := range s.delivered {
		if d.ID == id {
			found = d
		}
	}
	s.mu.Unlock()
	if found == nil {
		return s.errorf("no delivery %s", id)
	}
	return s.send(ctx, found)
}

// DeliverRaw sends a payload with chosen headers to every target of the
// app: for forged or badly signed deliveries.
func (s *Sim) DeliverRaw(ctx context.Context, a *App, event string, payload []byte, signature string) ([]int, error) {
	s.mu.Lock()
	targets := append([]string(nil), a.targets...)
	s.mu.Unlock()
	var codes []int
	for _, t := range targets {
		code, err := post(ctx, t, a.ID, event, newGUID(), payload, signature, "")
		if err != nil {
			return nil, err
		}
		codes = append(codes, code)
	}
	return codes, nil
}

func (s *Sim) send(ctx context.Context, d *Delivery) error {
	s.mu.Lock()
	a := d.App
	var targets []string
	switch {
	case len(a.targets) == 0:
	case a.Duplicate:
		targets = append(targets, a.targets...)
	default:
		targets = append(targets, a.targets[a.next%len(a.targets)])
		a.next++
	}
	secret := a.WebhookSecret
	s.mu.Unlock()

	redelivery := d.redeliver || len(d.Attempts) > 0
	if len(targets) == 0 {
		targets = []string{""} // nobody listens: a failed attempt
	}
	for _, t := range targets {
		code := 0
		if t != "" {
			var err error
			code, err = post(ctx, t, a.ID, d.Event, d.ID, d.Payload, sign256(d.Payload, secret), sign1(d.Payload, secret))
			if err != nil && ctx.Err() != nil {
				return err
			}
		}
		s.mu.Lock()
		d.Attempts = append(d.Attempts, Attempt{ID: s.newID(), Status: code, At: s.clock.Now(), Redelivery: redelivery})
		s.mu.Unlock()
	}
	s.mu.Lock()
	d.redeliver = false
	known := false
	for _, x := range s.delivered {
		known = known || x == d
	}
	if !known {
		s.delivered = append(s.delivered, d)
	}
	s.mu.Unlock()
	return nil
}

func sign256(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func sign1(body []byte, secret string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// hookClient delivers webhooks, keeping a connection to each target for
// every delivery made at once (the default transport keeps two, and
// httptest.Server.Close closes its idle ones, every test's).
var hookClient = &http.Client{Timeout: 30 * time.Second, Transport: hookTransport()}

func hookTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// post delivers one payload with GitHub's headers. A target that cannot
// be reached is status 0, not an error (GitHub records a failed delivery).
func post(ctx context.Context, url string, appID int64, event, id string, payload []byte, sig256, sig1 string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/ghsim")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	// The hook of a GitHub App: its target is the app.
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	req.Header.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(appID, 10))
	if sig256 != "" {
		req.Header.Set("X-Hub-Signature-256", sig256)
	}
	if sig1 != "" {
		req.Header.Set("X-Hub-Signature", sig1)
	}
	resp, err := hookClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Signature256 signs a payload with the app's secret, for tests that
// forge deliveries.
func (a *App) Signature256(payload []byte) string { return sign256(payload, a.WebhookSecret) }
