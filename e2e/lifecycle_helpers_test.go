package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// approvedHotfix is Dana's good hotfix, opened as a pull request and
// approved by Rob: ready for /promote. It returns the PR and its head.
func (w *world) approvedHotfix(branch string) (int, string) {
	w.t.Helper()
	r, in := w.in.Repo, w.in
	head := w.hotfixFromProduction(branch)
	n := must[int](w.t)(r.OpenPR(in.Dana, branch, "main", "Raise the payment timeout to 60s"))
	w.settle()
	noErr(w.t, r.AddLabel(in.Rob, n, "hotfix-approved"))
	w.settle()
	w.expect(head, policy.CheckApproval, policy.Success)
	return n, head
}

// comment posts a comment as who and settles; it returns the comment id.
func (w *world) comment(who *ghsim.User, n int, body string) int64 {
	w.t.Helper()
	id := must[int64](w.t)(w.in.Repo.Comment(who, n, body))
	w.settle()
	return id
}

// replies are the bot's comments on an issue that answer comment id.
func (w *world) replies(n int, id int64) []ghsim.Comment {
	var out []ghsim.Comment
	for _, c := range w.in.Repo.Comments(n) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, "hotfix-bot:reply:"+itoa(id)+":") {
			out = append(out, c)
		}
	}
	return out
}

// reply returns the one reply to comment id, failing unless there is
// exactly one and it contains each fragment.
func (w *world) reply(n int, id int64, fragments ...string) ghsim.Comment {
	w.t.Helper()
	got := w.replies(n, id)
	if len(got) != 1 {
		var bodies []string
		for _, c := range got {
			bodies = append(bodies, c.Body)
		}
		w.t.Fatalf("%d replies to comment %d, want 1:\n%s", len(got), id, strings.Join(bodies, "\n---\n"))
	}
	for _, f := range fragments {
		if !strings.Contains(got[0].Body, f) {
			w.t.Errorf("reply lacks %q:\n%s", f, got[0].Body)
		}
	}
	return got[0]
}

// reactions lists the bot's reactions to a comment.
func (w *world) reactions(n int, id int64) []string {
	var out []string
	for _, c := range w.in.Repo.Comments(n) {
		if c.ID == id {
			for _, r := range c.Reactions {
				out = append(out, r.Content)
			}
		}
	}
	return out
}

// botDeployments are the deployments the app created, oldest first.
func (w *world) botDeployments() []ghsim.Deployment {
	var out []ghsim.Deployment
	for _, d := range w.in.Repo.Deployments() {
		if d.Creator != nil && d.Creator.Type == "Bot" {
			out = append(out, d)
		}
	}
	return out
}

// onlyDeployment asserts the app created exactly one deployment and
// returns it with its payload.
func (w *world) onlyDeployment() (ghsim.Deployment, policy.DeploymentPayload) {
	w.t.Helper()
	ds := w.botDeployments()
	if len(ds) != 1 {
		w.t.Fatalf("%d deployments by the bot, want 1: %+v", len(ds), ds)
	}
	var p policy.DeploymentPayload
	if err := json.Unmarshal(ds[0].Payload, &p); err != nil {
		w.t.Fatal(err)
	}
	return ds[0], p
}

func payloadOf(t *testing.T, d ghsim.Deployment) policy.DeploymentPayload {
	t.Helper()
	var p policy.DeploymentPayload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// report is the CD system reporting a deployment's status.
func (w *world) report(id int64, state string) {
	w.t.Helper()
	noErr(w.t, w.in.Repo.SetDeploymentStatusWithLog(w.in.CD, id, state, "CD "+state, "https://ci.example.com/runs/"+itoa(id)))
	w.settle()
}

// botComments are the bot's comments on an issue containing a fragment.
func (w *world) botComments(n int, fragment string) []ghsim.Comment {
	var out []ghsim.Comment
	for _, c := range w.in.Repo.Comments(n) {
		if c.User.Type == "Bot" && strings.Contains(c.Body, fragment) {
			out = append(out, c)
		}
	}
	return out
}

// pullsInto lists the pull requests into base from a branch prefix.
func (w *world) pullsInto(base, headPrefix string) []ghsim.Issue {
	var out []ghsim.Issue
	for _, is := range w.in.Repo.Issues() {
		if is.PR != nil && is.PR.BaseRef == base && strings.HasPrefix(is.PR.HeadRef, headPrefix) {
			out = append(out, is)
		}
	}
	return out
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
