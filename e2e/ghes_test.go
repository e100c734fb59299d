package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/harness"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// The whole lifecycle against GitHub Enterprise Server's layout: the API
// under /api/v3, the web pages at the root. Every call (installation
// tokens included) goes to the configured API URL, and nothing the bot
// writes links to github.com.
func TestGitHubEnterpriseServerEndToEnd(t *testing.T) {
	w := start(t, harness.Options{GHES: true})
	r, in := w.in.Repo, w.in

	// Gates on a hotfix branch and its pull request.
	n, head := w.approvedHotfix("hotfix/ghes")
	w.expect(head, policy.CheckBase, policy.Success)
	w.expect(head, policy.CheckSchema, policy.Success)
	// A bad hotfix, for a failing check's links too.
	must[string](t)(r.CreateBranch(in.Dana, "hotfix/from-develop", "develop"))
	badHead := must[string](t)(r.Push(in.Dana, "hotfix/from-develop", "Fix", map[string]string{"x.go": "package x\n"}))
	w.settle()
	w.expect(badHead, policy.CheckBase, policy.Failure)

	// Promote, deploy, tag, merge, sync back.
	id := w.comment(in.Rob, n, "/promote")
	w.reply(n, id, "Promoting #")
	d, _ := w.onlyDeployment()
	w.report(d.ID, "success")
	if r.TagCommit("v1.4.3") != head {
		t.Fatal("not released as v1.4.3")
	}
	if len(w.pullsInto("develop", "hotfix-bot/sync/")) != 1 {
		t.Error("no sync-back pull request into develop")
	}
	w.noHandlerErrors()

	// Every API call went under /api/v3 (the contract check turns any
	// other path into a violation, reported by start's cleanup).
	calls := w.h.Sim.Calls()
	if len(calls) < 50 {
		t.Fatalf("only %d calls recorded", len(calls))
	}
	tokens := 0
	for _, c := range calls {
		if !strings.HasPrefix(c.Path, "/api/v3/") {
			t.Errorf("%s %s outside the API URL", c.Method, c.Path)
		}
		if strings.HasSuffix(c.Path, "/access_tokens") {
			tokens++
		}
	}
	if tokens == 0 {
		t.Error("no installation token was fetched through the configured API URL")
	}

	// Nothing written links to github.com; links point at the web URL,
	// or at the bot's own details pages (server.public_url).
	web, pages := w.h.Sim.WebURL(), w.h.PublicURL()+"/details/"
	link := regexp.MustCompile(`https?://[^\s)"'\]>|\\` + "`" + `]+`)
	writes, links := 0, 0
	for _, c := range calls {
		if !c.Write || strings.HasSuffix(c.Path, "/access_tokens") {
			continue
		}
		writes++
		if strings.Contains(strings.ToLower(c.Body), "github.com") {
			t.Errorf("%s %s writes github.com:\n%s", c.Method, c.Path, c.Body)
		}
		for _, u := range link.FindAllString(c.Body, -1) {
			links++
			if !strings.HasPrefix(u, web) && !strings.HasPrefix(u, pages) && !strings.HasPrefix(u, "https://ci.example.com/") {
				t.Errorf("%s %s writes a link outside the web URL %s: %s", c.Method, c.Path, web, u)
			}
		}
	}
	if writes < 20 || links < 5 {
		t.Errorf("only %d writes searched, %d links found in them", writes, links)
	}

	// The details page the checks link to links to the web URL too.
	code, page := get(t, w.check(head, policy.CheckBase).DetailsURL)
	if code != 200 || !strings.Contains(page, web+"/acme/payments") {
		t.Fatalf("details page: %d\n%s", code, page)
	}
	if strings.Contains(strings.ToLower(page), "github.com") {
		t.Errorf("the details page links to github.com:\n%s", page)
	}
}
