package facts

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

func TestReadLockTrustsOnlyTheAppsCommits(t *testing.T) {
	const record = "hotfix-bot production lock: held by @rob for a promote (deploying), #5\n\n" +
		`{"state":"held","phase":"deploying","kind":"promote","pr":5,"comment_id":11,"requested_by":"rob","deployment":20,"at":"1970-01-01T00:00:00Z","updated":"1970-01-01T00:00:00Z"}` + "\n"
	bot := &github.CommitAuthor{Name: github.String("hotfix-bot[bot]"), Email: github.String("123+hotfix-bot[bot]@users.noreply.github.com")}
	mallory := &github.CommitAuthor{Name: github.String("mallory"), Email: github.String("mallory@example.com")}
	signed := &github.SignatureVerification{Verified: github.Bool(true), Reason: github.String("valid")}
	unsigned := &github.SignatureVerification{Verified: github.Bool(false), Reason: github.String("unsigned")}
	badSig := &github.SignatureVerification{Verified: github.Bool(false), Reason: github.String("bad_email")}
	tests := []struct {
		name              string
		signedHere        bool
		author, committer *github.CommitAuthor
		verification      *github.SignatureVerification
		trusted           bool
	}{
		{"the app's commit, signed by GitHub", true, bot, bot, signed, true},
		{"the bot's name on an unsigned commit where GitHub signs the app's", true, bot, bot, unsigned, false},
		{"the app's commit where GitHub signs nothing", false, bot, bot, unsigned, true},
		{"someone else's commit", false, mallory, mallory, unsigned, false},
		{"the bot as author, someone else committing", false, bot, mallory, unsigned, false},
		{"a signature GitHub rejects", false, bot, bot, badSig, false},
		{"the bot's name with another email", false, &github.CommitAuthor{Name: bot.Name, Email: github.String("hotfix-bot@example.com")}, bot, unsigned, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := mockedRepo(
				mock.WithRequestMatch(mock.GetReposGitRefByOwnerByRepoByRef, github.Reference{Ref: github.String("refs/" + LockRef), Object: &github.GitObject{SHA: github.String("c0ffee")}}),
				mock.WithRequestMatch(mock.GetReposGitCommitsByOwnerByRepoByCommitSha, github.Commit{SHA: github.String("c0ffee"), Message: github.String(record),
					Author: tt.author, Committer: tt.committer, Verification: tt.verification}),
			)
			r.BotLogin, r.SignedCommits = "hotfix-bot[bot]", tt.signedHere
			l, err := r.ReadLock(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.trusted && (l.Kind != "promote" || l.RequestedBy != "rob" || l.Deployment != 20):
				t.Errorf("the app's record was not read: %+v", l)
			case !tt.trusted && (l.Kind != "unknown" || !l.Held() || !strings.Contains(l.RequestedBy, "unknown writer")):
				t.Errorf("a record the app did not write was read: %+v", l)
			}
		})
	}
}

func TestLockStaleOnlyWhenItsDeploymentEnded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	old := now.Add(-2 * time.Hour)
	timeout := time.Hour
	tests := []struct {
		name  string
		lock  Lock
		stale bool
	}{
		{"old, its deployment failed", Lock{State: "held", Kind: "promote", Deployment: 20, DeploymentState: "failure", Updated: old}, true},
		{"old, its deployment succeeded", Lock{State: "held", Kind: "promote", Deployment: 20, DeploymentState: "success", Updated: old}, true},
		{"old, its deployment waits for the environment's reviewers", Lock{State: "held", Kind: "promote", Deployment: 20, DeploymentState: "waiting", Updated: old}, false},
		{"old, its deployment has no status yet", Lock{State: "held", Kind: "promote", Deployment: 20, DeploymentState: "none", Updated: old}, false},
		{"old, its deployment's status could not be read", Lock{State: "held", Kind: "promote", Deployment: 20, Updated: old}, false},
		{"young, its deployment failed", Lock{State: "held", Kind: "promote", Deployment: 20, DeploymentState: "failure", Updated: now.Add(-time.Minute)}, false},
		{"old, no deployment, its command died", Lock{State: "held", Kind: "promote", Updated: old, ClaimAt: old}, true},
		{"old, no deployment, its command still claims it", Lock{State: "held", Kind: "promote", Updated: old, ClaimAt: now.Add(-time.Minute)}, false},
		{"an unknown writer's", Lock{State: "held", Kind: "unknown", Updated: old}, false},
		{"free", Lock{State: "free", Updated: old}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.lock.View(now, timeout).Stale; got != tt.stale {
				t.Errorf("stale = %v, want %v", got, tt.stale)
			}
		})
	}
}
