package facts

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
)

// simRepo is one repository in the GitHub simulator, seen through facts
// the way the app sees it (an installation client, the simulator's
// clock). No bot server runs: the test calls facts and looks at GitHub.
//
// acme/pay: main with two commits, v1.0.0 (annotated) on the first, which
// production runs (a successful deployment); develop one commit ahead of
// main; hotfix/fix one commit on v1.0.0.
type simRepo struct {
	t    *testing.T
	sim  *ghsim.Sim
	app  *ghsim.App
	inst *ghsim.Installation
	gh   *ghsim.Repo
	r    *Repo

	dana, rob, cd *ghsim.User
	v100, main    string // the commits of v1.0.0 and main's tip
	develop, fix  string // develop's tip and hotfix/fix's
}

// simPermissions are what the app asks for (app.yml).
var simPermissions = map[string]string{
	"checks": "write", "contents": "write", "deployments": "write", "issues": "write", "pull_requests": "write",
	"metadata": "read", "members": "read", "statuses": "read",
}

func newSimRepo(t *testing.T) *simRepo {
	t.Helper()
	t.Parallel()
	sim, err := ghsim.New(ghsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	app, err := sim.RegisterApp(ghsim.AppOptions{Slug: "hotfix-bot", Permissions: simPermissions, Events: []string{"push"}})
	if err != nil {
		t.Fatal(err)
	}
	gh, err := sim.CreateRepo("acme", "pay")
	if err != nil {
		t.Fatal(err)
	}
	s := &simRepo{t: t, sim: sim, app: app, gh: gh, dana: sim.User("dana"), rob: sim.User("rob"), cd: sim.User("deploy-bot")}
	gh.SetRole("dana", "write")
	gh.SetRole("rob", "maintain")
	gh.SetRole("deploy-bot", "write")
	s.v100 = s.must(gh.Push(s.dana, "main", "Initial service", ghsim.Files{"README.md": "# pay\n", "pay/timeout.go": "package pay\n\nconst Timeout = 30\n"}))
	s.must(gh.AnnotatedTag(s.dana, "v1.0.0", "main", "Release 1.0.0"))
	if _, err := gh.SeedDeployment(s.cd, s.v100, "production", "success"); err != nil {
		t.Fatal(err)
	}
	s.main = s.must(gh.Push(s.dana, "main", "Document the service", ghsim.Files{"README.md": "# pay\n\nPayments.\n"}))
	s.must(gh.CreateBranch(s.dana, "develop", "main"))
	s.develop = s.must(gh.Push(s.dana, "develop", "Start the next release", ghsim.Files{"pay/next.go": "package pay\n"}))
	s.must(gh.CreateBranch(s.dana, "hotfix/fix", "v1.0.0"))
	s.fix = s.must(gh.Push(s.dana, "hotfix/fix", "Raise the timeout", ghsim.Files{"pay/timeout.go": "package pay\n\nconst Timeout = 60\n"}))
	s.inst = sim.Install(app, gh)

	client, err := s.clients().NewInstallationClient(s.inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.r = NewRepo(client, "acme", "pay", "main", app.ID)
	s.r.BotLogin, s.r.Clock = app.Bot.Login, sim.Clock()
	t.Cleanup(func() {
		for _, v := range sim.Violations() {
			t.Errorf("GitHub would reject: %s", v)
		}
	})
	return s
}

// clients are the app's GitHub clients against the simulator, as the
// server makes them (app JWTs, installation tokens).
func (s *simRepo) clients() AppClients { return simClients{s.sim, s.app} }

type simClients struct {
	sim *ghsim.Sim
	app *ghsim.App
}

func (c simClients) NewAppClient() (*github.Client, error) {
	tr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, c.app.ID, []byte(c.app.PrivateKeyPEM))
	if err != nil {
		return nil, err
	}
	tr.BaseURL = strings.TrimSuffix(c.sim.URL(), "/")
	return c.client(tr)
}

func (c simClients) NewInstallationClient(id int64) (*github.Client, error) {
	tr, err := ghinstallation.New(http.DefaultTransport, c.app.ID, id, []byte(c.app.PrivateKeyPEM))
	if err != nil {
		return nil, err
	}
	tr.BaseURL = strings.TrimSuffix(c.sim.URL(), "/")
	return c.client(tr)
}

func (c simClients) client(tr http.RoundTripper) (*github.Client, error) {
	client, err := github.NewClient(&http.Client{Transport: tr}).WithEnterpriseURLs(c.sim.URL(), c.sim.URL())
	if err != nil {
		return nil, err
	}
	client.BaseURL, _ = client.BaseURL.Parse(c.sim.URL())
	return client, nil
}

func (s *simRepo) must(sha string, err error) string {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
	return sha
}

// writes counts the writes GitHub answered since the last call, by
// operation.
func (s *simRepo) writes() map[string]int {
	out := map[string]int{}
	for _, c := range s.sim.Calls() {
		if c.Write {
			out[c.Op]++
		}
	}
	s.sim.ResetCalls()
	return out
}

// openPR opens the hotfix pull request hotfix/fix → main as dana.
func (s *simRepo) openPR() int {
	s.t.Helper()
	n, err := s.gh.OpenPR(s.dana, "hotfix/fix", "main", "Raise the timeout")
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
