package facts

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
)

// simWorld is a repository in the GitHub simulator and the app's
// installation client on it: facts against GitHub as the simulator plays
// it (real git, every request checked against GitHub's API description).
type simWorld struct {
	sim    *ghsim.Sim
	repo   *ghsim.Repo
	app    *ghsim.App
	inst   *ghsim.Installation
	client *github.Client
	dana   *ghsim.User
}

func newSimWorld(t *testing.T) *simWorld {
	t.Helper()
	sim, err := ghsim.New(ghsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	app, err := sim.RegisterApp(ghsim.AppOptions{Slug: "hotfix-bot", Permissions: map[string]string{
		"checks": "write", "contents": "write", "deployments": "write", "issues": "write", "pull_requests": "write",
		"metadata": "read", "members": "read", "statuses": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := sim.CreateRepo("acme", "pay")
	if err != nil {
		t.Fatal(err)
	}
	inst := sim.Install(app, repo)
	tr, err := ghinstallation.New(http.DefaultTransport, app.ID, inst.ID, []byte(app.PrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	tr.BaseURL = strings.TrimSuffix(sim.URL(), "/")
	client := github.NewClient(&http.Client{Transport: tr})
	client.BaseURL, _ = client.BaseURL.Parse(sim.URL())
	t.Cleanup(func() {
		for _, v := range sim.Violations() {
			t.Errorf("GitHub would reject: %s", v)
		}
	})
	return &simWorld{sim: sim, repo: repo, app: app, inst: inst, client: client, dana: sim.User("dana")}
}

// facts opens the repository for one event, as a handler would.
func (w *simWorld) facts(t *testing.T) *Repo {
	t.Helper()
	r := NewRepo(w.client, "acme", "pay", w.repo.DefaultBranch, w.app.ID)
	r.Clock = w.sim.Clock()
	return r
}

func (w *simWorld) push(t *testing.T, branch, msg string, files ghsim.Files) string {
	t.Helper()
	sha, err := w.repo.Push(w.dana, branch, msg, files)
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

// must fails the test on a simulator error.
func (w *simWorld) must(t *testing.T) func(string, error) string {
	return func(v string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
