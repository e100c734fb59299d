package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

const pageSHA = "384782b9e2d1a8f3f932c738ca857a297f30af07"

var pageNow = time.Date(2026, 11, 23, 3, 30, 0, 0, time.UTC)

func at(min int) *github.Timestamp {
	return &github.Timestamp{Time: pageNow.Add(time.Duration(min-30) * time.Minute)}
}

// releasedPage is the facts of a hotfix released as v1.4.3, with two
// sync-back pull requests, one of them conflicting.
func releasedPage() detailsFacts {
	pr := &github.PullRequest{Number: github.Int(7), Title: github.String("Raise the timeout"), State: github.String("closed"), Merged: github.Bool(true),
		HTMLURL: github.String("https://github.com/acme/pay/pull/7"), User: &github.User{Login: github.String("dana")},
		Head: &github.PullRequestBranch{Ref: github.String("hotfix/timeout")}, Base: &github.PullRequestBranch{Ref: github.String("main")},
		CreatedAt: at(1), MergedAt: at(9)}
	deployment := facts.StoryDeployment{
		BotDeployment: facts.BotDeployment{
			Deployment: &github.Deployment{ID: github.Int64(501), Environment: github.String("production"), Task: github.String(policy.TaskHotfix), CreatedAt: at(6)},
			Payload:    policy.DeploymentPayload{Kind: "hotfix", PR: 7, RequestedBy: "rob", NextTag: "v1.4.3"},
		},
		Latest: &github.DeploymentStatus{State: github.String("success"), LogURL: github.String("https://ci.example.com/runs/501"), CreatedAt: at(8)},
	}
	sync := func(n int, base string, labels ...string) *github.PullRequest {
		p := &github.PullRequest{Number: github.Int(n), Title: github.String("Sync v1.4.3 into " + base), State: github.String("open"), Draft: github.Bool(len(labels) > 0),
			Base: &github.PullRequestBranch{Ref: github.String(base)}, Head: &github.PullRequestBranch{Ref: github.String("hotfix-bot/sync/v1.4.3-to-" + base)},
			HTMLURL: github.String("https://github.com/acme/pay/pull/" + base), CreatedAt: at(10)}
		for _, l := range labels {
			p.Labels = append(p.Labels, &github.Label{Name: github.String(l)})
		}
		return p
	}
	prod := policy.ProductionState{Known: true, SHA: pageSHA, Tag: "v1.4.3", Source: "deployment 501 to production"}
	return detailsFacts{
		Owner: "acme", Repo: "pay", RepoURL: "https://github.com/acme/pay", SHA: pageSHA, Now: pageNow,
		Runs: map[string]*github.CheckRun{
			policy.CheckSchema: {Name: github.String(policy.CheckSchema), Status: github.String("completed"), Conclusion: github.String(policy.Success), CompletedAt: at(3),
				Output: &github.CheckRunOutput{Title: github.String("No schema changes")}},
			policy.CheckBase: {Name: github.String(policy.CheckBase), Status: github.String("completed"), Conclusion: github.String(policy.Success), CompletedAt: at(2),
				Output: &github.CheckRunOutput{Title: github.String("Starts at production (v1.4.2)"), Summary: github.String("**ok**")}},
			policy.CheckApproval: {Name: github.String(policy.CheckApproval), Status: github.String("in_progress")},
		},
		Policy: facts.Policy{Config: policy.Default()}, Production: &prod, Lock: &facts.Lock{State: "free"},
		Deployments: []facts.StoryDeployment{deployment}, PRNumber: 7, PR: pr,
		Tag: "v1.4.3", TagCommit: pageSHA,
		Syncs: []*github.PullRequest{sync(8, "develop"), sync(9, "release/1.5", "sync-conflict")},
	}
}

func TestDetailsPageView(t *testing.T) {
	v := detailsPage(releasedPage())
	if v.Repo != "acme/pay" || v.CommitURL != "https://github.com/acme/pay/commit/"+pageSHA || v.Short != "384782b" || !v.Generated.Equal(pageNow) {
		t.Errorf("header: %+v", v)
	}
	var gates []string
	for _, g := range v.Gates {
		gates = append(gates, g.Name+" "+g.Conclusion)
	}
	if got := strings.Join(gates, ", "); got != "hotfix-bot/approval in_progress, hotfix-bot/base success, hotfix-bot/schema success" {
		t.Errorf("gates in name order, a running one by its status: %s", got)
	}
	if !strings.Contains(string(v.Gates[1].Summary), "<strong>ok</strong>") {
		t.Errorf("the summary is not rendered from its Markdown: %q", v.Gates[1].Summary)
	}
	if v.Production != "v1.4.3 (384782b, deployment 501 to production)" || v.Lock != "free" {
		t.Errorf("production %q, lock %q", v.Production, v.Lock)
	}
	if v.PR == nil || v.PR.State != "merged" || v.Branch != "hotfix/timeout" || v.PR.Author != "dana" {
		t.Errorf("pull request %+v on %q", v.PR, v.Branch)
	}
	if len(v.Chain) != 1 || v.Chain[0].State != "success" || v.Chain[0].Icon != policy.Icon(policy.Success) || v.Chain[0].By != "rob" || !v.ChainRead {
		t.Errorf("chain %+v", v.Chain)
	}
	if v.Tag != "v1.4.3" || !v.SyncsRead || len(v.Syncs) != 2 || v.Syncs[0].State != "open" || !strings.HasPrefix(v.Syncs[1].State, "conflicts: needs a person to merge release/1.5") {
		t.Errorf("tag %q, syncs %+v", v.Tag, v.Syncs)
	}
	var timeline []string
	for i, e := range v.Timeline {
		timeline = append(timeline, e.What)
		if i > 0 && e.At.Before(v.Timeline[i-1].At) {
			t.Errorf("the timeline is out of order at %q", e.What)
		}
	}
	want := []string{"#7 opened by @dana", "✅ hotfix-bot/base: Starts at production (v1.4.2)", "✅ hotfix-bot/schema: No schema changes",
		"deployment 501 to production created (@rob)", "deployment 501 to production: success", "#7 merged into main",
		"sync-back #8 into develop opened", "sync-back #9 into release/1.5 opened"}
	if got := strings.Join(timeline, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if len(v.Missing) != 0 {
		t.Errorf("missing %v", v.Missing)
	}
}

// A fact GitHub would not give is listed as missing and its part of the
// page says "not read"; it is never shown as "none".
func TestDetailsPageViewWithFactsMissing(t *testing.T) {
	failed := &facts.Error{Op: "list the deployments", Kind: facts.Transient, Status: 502}
	for name, tc := range map[string]struct {
		change  func(*detailsFacts)
		missing string
		check   func(t *testing.T, v detailsView)
	}{
		"the policy": {func(f *detailsFacts) { f.PolicyErr, f.Production, f.Lock = failed, nil, nil }, "the policy (production and the lock are read under it)",
			func(t *testing.T, v detailsView) {
				if v.Production != "" || v.Lock != "" {
					t.Errorf("production %q, lock %q guessed without a policy", v.Production, v.Lock)
				}
			}},
		"a broken policy": {func(f *detailsFacts) {
			f.Policy = facts.Policy{Source: ".github/hotfix-bot.yml", Invalid: policy.Errors{{Line: 3, Msg: "oops"}}}
			f.Production, f.Lock = nil, nil
		}, "the policy: .github/hotfix-bot.yml is broken", nil},
		"production": {func(f *detailsFacts) { f.ProductionErr, f.Production = failed, nil }, "production: GitHub did not answer", nil},
		"the lock":   {func(f *detailsFacts) { f.LockErr, f.Lock = failed, nil }, "the production lock", nil},
		"the deployments": {func(f *detailsFacts) { f.DeploymentsErr, f.Deployments = failed, nil }, "the deployments",
			func(t *testing.T, v detailsView) {
				if v.ChainRead || len(v.Chain) != 0 {
					t.Errorf("chain read %v: %+v", v.ChainRead, v.Chain)
				}
			}},
		"the pull request": {func(f *detailsFacts) { f.PRErr, f.PR = failed, nil }, "pull request #7", nil},
		"the tags": {func(f *detailsFacts) { f.TagErr, f.TagCommit = failed, "" }, "the tags",
			func(t *testing.T, v detailsView) {
				if v.Tag != "v1.4.3" || len(v.Syncs) != 2 {
					t.Errorf("where the tag is not known, the deployment's tag and its syncs still show: %q %d", v.Tag, len(v.Syncs))
				}
			}},
		"the sync-back": {func(f *detailsFacts) { f.SyncsErr, f.Syncs = failed, nil }, "the sync-back pull requests",
			func(t *testing.T, v detailsView) {
				if v.SyncsRead {
					t.Error("the sync-back list was not read, and says it was")
				}
			}},
	} {
		t.Run(name, func(t *testing.T) {
			f := releasedPage()
			tc.change(&f)
			v := detailsPage(f)
			if len(v.Missing) != 1 || !strings.Contains(v.Missing[0], tc.missing) {
				t.Fatalf("missing %q, want one naming %q", v.Missing, tc.missing)
			}
			if tc.check != nil {
				tc.check(t, v)
			}
		})
	}
}

func TestDetailsPageViewStates(t *testing.T) {
	t.Run("not yet released: the tag is elsewhere", func(t *testing.T) {
		f := releasedPage()
		f.TagCommit, f.Syncs = "0000000000000000000000000000000000000001", nil
		if v := detailsPage(f); v.Tag != "" || v.SyncsRead {
			t.Errorf("tag %q shown for another commit's tag", v.Tag)
		}
	})
	t.Run("production unknown, the lock held", func(t *testing.T) {
		f := releasedPage()
		f.Production = &policy.ProductionState{}
		f.Lock = &facts.Lock{State: "held", Kind: "promote", RequestedBy: "rob", PR: 7, At: pageNow.Add(-time.Minute), Updated: pageNow.Add(-time.Minute)}
		v := detailsPage(f)
		if v.Production != "unknown: no successful deployment to production and no release tag" || !strings.HasPrefix(v.Lock, "held by ") || !strings.Contains(v.Lock, "@rob") {
			t.Errorf("production %q, lock %q", v.Production, v.Lock)
		}
	})
	t.Run("a rollback, and a deployment CD has not reported", func(t *testing.T) {
		f := releasedPage()
		f.Deployments = append(f.Deployments, facts.StoryDeployment{BotDeployment: facts.BotDeployment{
			Deployment: &github.Deployment{ID: github.Int64(502), Environment: github.String("production"), Task: github.String(policy.TaskRollback), CreatedAt: at(20)},
			Payload:    policy.DeploymentPayload{Kind: "rollback", PR: 7, RequestedBy: "rob"},
		}})
		v := detailsPage(f)
		if len(v.Chain) != 2 || v.Chain[1].State != "waiting for CD" || v.Chain[1].Icon != policy.Icon("") {
			t.Errorf("chain %+v", v.Chain)
		}
		if last := v.Timeline[len(v.Timeline)-1].What; last != "rollback 502 to production created (@rob)" {
			t.Errorf("last event %q", last)
		}
	})
	t.Run("a draft, open pull request", func(t *testing.T) {
		f := releasedPage()
		f.PR.Merged, f.PR.State, f.PR.Draft = github.Bool(false), github.String("open"), github.Bool(true)
		if v := detailsPage(f); v.PR.State != "draft" {
			t.Errorf("state %q", v.PR.State)
		}
	})
	t.Run("a custom conflict label", func(t *testing.T) {
		f := releasedPage()
		f.Policy.Config.Sync.ConflictLabel = "needs-merge"
		f.Syncs[1].Labels = []*github.Label{{Name: github.String("Needs-Merge")}}
		if v := detailsPage(f); !strings.HasPrefix(v.Syncs[1].State, "conflicts:") {
			t.Errorf("sync state %q", v.Syncs[1].State)
		}
	})
}
