package harness

import (
	"fmt"
	"slices"
	"sync"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
)

// Incident is the scenario repository: acme/payments, production at
// v1.4.2 (a successful deployment), develop ahead with unreleased work, an
// open release/1.5 branch (which retuned the payment timeout, so a timeout
// hotfix conflicts with it) and release/1.4, merged into main long ago.
// The people:
//
//	dana: developer (write), who writes hotfixes
//	rob:  reviewer (maintain), who approves them
//	dora: DBA (write), who approves schema changes
//	ivan: intern (read)
//	cd:   the CD system that reports deployments
//
// CI (GitHub Actions' app, github-actions) reports a successful `test`
// check run on every commit pushed once the app is installed; tests that
// need CI failing, slow or absent change it with Repo.SetCI.
type Incident struct {
	Repo *ghsim.Repo
	Inst *ghsim.Installation
	CI   *ghsim.App

	Dana, Rob, Dora, Ivan, CD *ghsim.User

	// V141 and V142 are the commits of the v1.4.1 and v1.4.2 tags
	// (production runs V142).
	V141, V142 string
	// Unreleased are develop's commits that production lacks, oldest first.
	Unreleased []string
}

// SetupIncident copies the scenario repository into the simulator and
// installs the app on it. Its history is built once per process, in a
// simulator of its own, and copied (git objects and GitHub's records):
// the bot never saw it happen, as if it was installed afterwards.
func (h *Harness) SetupIncident() (*Incident, error) {
	if !h.opts.Start.IsZero() && !h.opts.RealTime {
		// A story that starts at a moment of its own (a freeze's
		// weekend) has its history made then, in its own simulator: the
		// copy's records carry the template's times.
		in, err := buildIncident(h.Sim)
		if err != nil {
			return nil, err
		}
		return h.installIncident(in)
	}
	tpl, err := incidentTemplate()
	if err != nil {
		return nil, err
	}
	s := h.Sim
	repo, err := s.RestoreRepo(tpl.snap)
	if err != nil {
		return nil, fmt.Errorf("harness: copying the incident repository: %w", err)
	}
	in := &Incident{Repo: repo, Dana: s.User("dana"), Rob: s.User("rob"), Dora: s.User("dora"), Ivan: s.User("ivan"), CD: s.User("deploy-bot"),
		V141: tpl.V141, V142: tpl.V142, Unreleased: slices.Clone(tpl.Unreleased)}
	return h.installIncident(in)
}

// installIncident installs the app and CI on the incident repository and
// forgets the deliveries of its history.
func (h *Harness) installIncident(in *Incident) (*Incident, error) {
	s, repo := h.Sim, in.Repo
	in.Inst = s.Install(h.App, repo)
	ci, err := s.RegisterApp(ghsim.AppOptions{Slug: "github-actions", Permissions: map[string]string{"checks": "write", "statuses": "write", "metadata": "read"}})
	if err != nil {
		return nil, err
	}
	s.Install(ci, repo)
	in.CI = ci
	repo.SetCI(&ghsim.CI{App: ci, Checks: []string{"test"}, Conclusion: "success"})
	s.DiscardPending()
	return in, nil
}

// incident is the scenario repository, built once.
type incident struct {
	snap       *ghsim.RepoSnapshot
	V141, V142 string
	Unreleased []string
}

var incidentTemplate = sync.OnceValues(func() (*incident, error) {
	s, err := ghsim.New(ghsim.Options{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	in, err := buildIncident(s)
	if err != nil {
		return nil, err
	}
	snap, err := in.Repo.Snapshot()
	if err != nil {
		return nil, err
	}
	return &incident{snap: snap, V141: in.V141, V142: in.V142, Unreleased: in.Unreleased}, nil
})

// buildIncident makes the scenario repository's history in s.
func buildIncident(s *ghsim.Sim) (*Incident, error) {
	repo, err := s.CreateRepo("acme", "payments")
	if err != nil {
		return nil, err
	}
	in := &Incident{Repo: repo, Dana: s.User("dana"), Rob: s.User("rob"), Dora: s.User("dora"), Ivan: s.User("ivan"), CD: s.User("deploy-bot")}
	repo.SetRole("dana", "write")
	repo.SetRole("rob", "maintain")
	repo.SetRole("dora", "write")
	repo.SetRole("ivan", "read")
	repo.SetRole("deploy-bot", "write")

	// Record the first failure and carry on: the steps are independent
	// enough, and the first error is the one worth reporting.
	var firstErr error
	step := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	must := func(sha string, err error) string { step(err); return sha }

	dana := in.Dana
	in.Repo.SetMergeableDelay(1)
	must(repo.Push(dana, "main", "Initial payments service", ghsim.Files{
		"README.md":                  "# payments\n",
		"payments/charge.go":         "package payments\n\n// Charge charges a card.\nfunc Charge() {}\n",
		"payments/timeout.go":        "package payments\n\nconst Timeout = 30 // seconds\n",
		"db/migrations/001_init.sql": "create table charges (id bigint primary key);\n",
	}))
	must(repo.AnnotatedTag(dana, "v1.4.0", "main", "Release 1.4.0"))
	must(repo.Push(dana, "main", "Retry card declines once", ghsim.Files{"payments/charge.go": "package payments\n\n// Charge charges a card, retrying a decline once.\nfunc Charge() {}\n"}))
	in.V141 = must(repo.AnnotatedTag(dana, "v1.4.1", "main", "Release 1.4.1"))
	must(repo.Push(dana, "main", "Fix rounding in refunds", ghsim.Files{"payments/refund.go": "package payments\n\n// Refund rounds half up.\nfunc Refund() {}\n"}))
	in.V142 = must(repo.AnnotatedTag(dana, "v1.4.2", "main", "Release 1.4.2"))
	_, err = repo.SeedDeployment(in.CD, in.V142, "production", "success")
	step(err)
	if firstErr != nil {
		return nil, fmt.Errorf("harness: building the incident repository: %w", firstErr)
	}

	must(repo.CreateBranch(dana, "develop", "main"))
	for _, c := range []struct {
		msg   string
		files ghsim.Files
	}{
		{"Add the new checkout flow", ghsim.Files{"checkout/flow.go": "package checkout\n"}},
		{"Drop the legacy card API", ghsim.Files{"payments/legacy.go": "package payments\n// removed soon\n"}},
		{"Add loyalty points", ghsim.Files{"db/migrations/002_loyalty.sql": "create table points (id bigint);\n"}},
	} {
		in.Unreleased = append(in.Unreleased, must(repo.Push(dana, "develop", c.msg, c.files)))
	}
	must(repo.CreateBranch(dana, "release/1.5", "develop"))
	must(repo.Push(dana, "release/1.5", "Bump version to 1.5.0", ghsim.Files{"VERSION": "1.5.0\n"}))
	must(repo.Push(dana, "release/1.5", "Tune the payment timeout for 1.5", ghsim.Files{"payments/timeout.go": "package payments\n\nconst Timeout = 45 // seconds, tuned for 1.5\n"}))
	must(repo.CreateBranch(dana, "release/1.4", "v1.4.1"))

	if firstErr != nil {
		return nil, fmt.Errorf("harness: building the incident repository: %w", firstErr)
	}
	return in, nil
}
