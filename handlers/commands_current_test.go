package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/app"
	"github.com/migueleliasweb/go-github-mock/src/mock"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A command that changes something runs on its comment as GitHub has it
// now, read alongside the 👀: deleted, edited or another author's, it
// runs not and answers nothing; too old, it answers and runs not; if the
// comment cannot be read, it refuses (fail closed).
func TestCommandsRunOnTheCommentAsItIsNow(t *testing.T) {
	// now answers the comment as GitHub has it; the example's author is
	// Codertocat, account 21031067.
	now := func(body, login string, age time.Duration, app bool) http.HandlerFunc {
		id := map[string]int64{"Codertocat": 21031067, "Codertocat-renamed": 21031067}[login]
		if id == 0 {
			id = 666
		}
		return func(w http.ResponseWriter, _ *http.Request) {
			c := map[string]any{"id": 492700400, "body": body, "created_at": time.Now().UTC().Add(-age),
				"user": map[string]any{"login": login, "id": id, "type": "User"}}
			if app {
				c["performed_via_github_app"] = map[string]any{"id": 99}
			}
			_, _ = w.Write(mock.MustMarshal(c))
		}
	}
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { mock.WriteError(w, code, http.StatusText(code)) }
	}
	tests := []struct {
		name     string
		body     string
		reaction http.HandlerFunc // nil: 201
		now      http.HandlerFunc // the comment read again; nil: never read
		reason   string           // counted as not run
		reply    []string         // nil: no reply at all
		err      bool
	}{
		{name: "deleted: the 👀 answers 404", body: "/rollback", reaction: status(http.StatusNotFound), now: status(http.StatusNotFound), reason: "deleted"},
		{name: "deleted after the 👀: the read answers 404", body: "/unlock", now: status(http.StatusNotFound), reason: "deleted"},
		{name: "edited: the command line is gone", body: "/rollback", now: now("never mind, it recovered", "Codertocat", 0, false), reason: "edited"},
		{name: "edited: the command line changed", body: "/rollback", now: now("/rollback v1.4.1", "Codertocat", 0, false), reason: "edited"},
		{name: "edited: the line moved", body: "/hotfix start x", now: now("Please:\n/hotfix start x", "Codertocat", 0, false), reason: "edited"},
		{name: "another author by GitHub's account", body: "/promote", now: now("/promote", "mallory", 0, false), reason: "other_author"},
		{name: "an app's comment by GitHub's account", body: "/unlock", now: now("/unlock", "Codertocat", 0, true), reason: "other_author"},
		{name: "a renamed account is the same author", body: "/rollback", now: now("/rollback", "Codertocat-renamed", time.Hour, false), reason: "too_old",
			reply: []string{"this /rollback is 60 minutes old"}},
		{name: "47 minutes old", body: "/rollback", now: now("/rollback", "Codertocat", 47*time.Minute+10*time.Second, false), reason: "too_old",
			reply: []string{"👎 **/rollback refused: too old.**", "this /rollback is 47 minutes old and was not run", "**What to do:** comment it again if you still want it."}},
		{name: "hours old, replayed by the sweep", body: "/unlock", now: now("/unlock", "Codertocat", 3*time.Hour, false), reason: "too_old",
			reply: []string{"this /unlock is 3 hours old and was not run"}},
		{name: "the comment cannot be read", body: "/rollback", now: status(http.StatusBadGateway), err: true,
			reply: []string{"/rollback failed: re-read your comment.", "502", "comment the command again in a minute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]mock.MockBackendOption{}, commentBackend("admin", tt.body)...)
			if tt.reaction != nil {
				opts = append([]mock.MockBackendOption{mock.WithRequestMatchHandler(mock.PostReposIssuesCommentsReactionsByOwnerByRepoByCommentId, tt.reaction)}, opts...)
			}
			if tt.now != nil {
				opts = append([]mock.MockBackendOption{mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByCommentId, tt.now)}, opts...)
			}
			g, rec := newBot(opts...)
			g.metrics = app.NewMetrics()
			err := (&IssueComment{g}).Handle(ctx, "issue_comment", "d-1", comment(t, tt.body, nil))
			if (err != nil) != tt.err {
				t.Fatalf("Handle = %v, want an error: %v", err, tt.err)
			}
			replies := posted(rec)
			for _, r := range rec.reqs {
				if strings.Contains(r, "/collaborators/") || strings.Contains(r, "/deployments") || strings.Contains(r, "/git/") {
					t.Errorf("a command that was not run read or wrote %s", r)
				}
			}
			if tt.reply == nil && len(replies) != 0 {
				t.Errorf("replies = %v, want none", replies)
			}
			if tt.reply != nil {
				if len(replies) != 1 {
					t.Fatalf("replies = %v, want one", replies)
				}
				for _, f := range tt.reply {
					if !strings.Contains(replies[0], f) {
						t.Errorf("reply lacks %q:\n%s", f, replies[0])
					}
				}
			}
			if tt.reason != "" {
				if n := testutil.ToFloat64(g.metrics.CommandsNotRun.WithLabelValues(tt.reason)); n != 1 {
					t.Errorf("hotfixbot_commands_not_run_total{reason=%q} = %v, want 1", tt.reason, n)
				}
			}
			reactions := rec.body["POST /repos/Codertocat/Hello-World/issues/comments/492700400/reactions"]
			if len(reactions) == 0 || !strings.Contains(reactions[0], `"eyes"`) {
				t.Errorf("reactions = %v, want 👀 first", reactions)
			}
			if tt.reply == nil && len(reactions) != 1 {
				t.Errorf("reactions = %v, want only the 👀 for a command that was not run", reactions)
			}
		})
	}
}

// Commands that change nothing answer from GitHub as it is when they run:
// their comment is not read again and they have no age.
func TestReadOnlyCommandsAreNotReadAgain(t *testing.T) {
	body := "/help"
	g, rec := newBot(append([]mock.MockBackendOption{mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByCommentId,
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { t.Error("the comment of /help was read again") }))},
		commentBackend("read", body)...)...)
	old := comment(t, body, func(m map[string]any) { set(m, "comment.created_at", "2019-05-15T15:20:21Z") })
	if err := (&IssueComment{g}).Handle(ctx, "issue_comment", "d-1", old); err != nil {
		t.Fatal(err)
	}
	if replies := posted(rec); len(replies) != 1 || !strings.Contains(replies[0], "hotfix-bot commands") {
		t.Errorf("replies = %v, want the help", replies)
	}
}

// posted are the bodies of the comments a handler posted.
func posted(rec *recorder) []string {
	var out []string
	for key, bodies := range rec.body {
		if strings.HasPrefix(key, "POST ") && strings.HasSuffix(key, "/comments") {
			for _, b := range bodies {
				var c github.IssueComment
				_ = json.Unmarshal([]byte(b), &c)
				out = append(out, c.GetBody())
			}
		}
	}
	return out
}

// /unlock frees only a lock taken before its comment was written, and
// names the lock it frees; a newer lock is refused, named, and left.
func TestUnlockFreesOnlyALockTakenBeforeItsComment(t *testing.T) {
	lockAt := func(at time.Time) []mock.MockBackendOption {
		// The lock commit is the app's own (the bot reads no other).
		botAuthor := &github.CommitAuthor{Name: github.String("hotfix-bot[bot]"), Email: github.String("hotfix-bot[bot]@users.noreply.github.com")}
		record, _ := json.Marshal(map[string]any{"state": "held", "phase": "deploying", "kind": "promote", "pr": 7, "comment_id": 5,
			"requested_by": "dana", "deployment": 99, "at": at, "updated": at})
		return []mock.MockBackendOption{
			mock.WithRequestMatch(mock.GetReposGitRefByOwnerByRepoByRef, github.Reference{Ref: github.String("refs/hotfix-bot/production-lock"),
				Object: &github.GitObject{SHA: github.String("lock1")}}),
			mock.WithRequestMatch(mock.GetReposGitCommitsByOwnerByRepoByCommitSha, github.Commit{SHA: github.String("lock1"),
				Message: github.String("hotfix-bot production lock: held by @dana\n\n" + string(record) + "\n"),
				Author:  botAuthor, Committer: botAuthor}),
			mock.WithRequestMatch(mock.PostReposGitCommitsByOwnerByRepo, github.Commit{SHA: github.String("lock2")}),
			mock.WithRequestMatch(mock.PatchReposGitRefsByOwnerByRepoByRef, github.Reference{Ref: github.String("refs/hotfix-bot/production-lock")}),
		}
	}
	tests := []struct {
		name  string
		at    time.Duration // when the lock was taken, from the comment
		reply []string
		freed bool
	}{
		{"a lock taken before the comment", -5 * time.Minute, []string{"Released the production lock held by @dana for a promote of #7 (deployment 99).", "deployment 99"}, true},
		{"a lock taken after the comment", time.Minute, []string{"/unlock refused: lock taken before this command", "held by @dana for a promote of #7", "taken after this `/unlock` was written", "comment `/unlock` again"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			written := time.Now().UTC().Truncate(time.Second)
			opts := append(lockAt(written.Add(tt.at)),
				mock.WithRequestMatchHandler(mock.GetReposIssuesCommentsByOwnerByRepoByCommentId, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					_, _ = w.Write(mock.MustMarshal(map[string]any{"id": 492700400, "body": "/unlock", "created_at": written,
						"user": map[string]any{"login": "Codertocat", "type": "User"}}))
				})))
			g, rec := newBot(append(opts, commentBackend("maintain", "/unlock")...)...)
			if err := (&IssueComment{g}).Handle(ctx, "issue_comment", "d-1", comment(t, "/unlock", nil)); err != nil {
				t.Fatal(err)
			}
			replies := posted(rec)
			if len(replies) != 1 {
				t.Fatalf("replies = %v, want one", replies)
			}
			for _, f := range tt.reply {
				if !strings.Contains(replies[0], f) {
					t.Errorf("reply lacks %q:\n%s", f, replies[0])
				}
			}
			commits := rec.body["POST /repos/Codertocat/Hello-World/git/commits"]
			if freed := len(commits) == 1 && strings.Contains(commits[0], `\"state\":\"free\"`) && strings.Contains(commits[0], `\"kind\":\"unlock\"`); freed != tt.freed {
				t.Errorf("lock writes %v, want freed %v", commits, tt.freed)
			}
		})
	}
}
