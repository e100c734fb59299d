package handlers

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// detailsView is what the template shows.
type detailsView struct {
	Repo, RepoURL, SHA, Short, CommitURL string
	Branch                               string
	PR                                   *prView
	Gates                                []gateView
	Production                           string
	Lock                                 string
	Tag                                  string
	Chain                                []deploymentView
	Syncs                                []prView
	// ChainRead and SyncsRead say the lists were read: an empty list
	// GitHub would not give is "not read", never "none".
	ChainRead, SyncsRead bool
	Timeline             []eventView
	Missing              []string
	Generated            time.Time
	// Ledger is the hotfix ledger of the release branch the commit is the
	// tip of (a hotfix-bot/release page), nil otherwise.
	Ledger *ledgerView

	// Freeze is the freeze now or the next one; Hold the pull request's;
	// Report the repository's report page.
	Freeze, Hold, Report string
}

// ledgerView is a release branch's hotfix ledger: each hotfix since the
// branch was cut, and where it has landed.
type ledgerView struct {
	Branch  string
	Targets []string
	Rows    []ledgerRowView
	More    int
}

type ledgerRowView struct {
	Name, URL string
	Cells     []ledgerCell
}

type ledgerCell struct {
	Text, URL string
}

type prView struct {
	Number       int
	Title, URL   string
	State, Base  string
	Author, Head string
}

type gateView struct {
	Name, Conclusion, Icon, Title string
	Summary                       template.HTML
	At                            time.Time
}

type deploymentView struct {
	ID                       int64
	Environment, Task, State string
	Icon, LogURL, By         string
	At                       time.Time
}

type eventView struct {
	At         time.Time
	What, Link string
}

// detailsPage turns a page's facts into what it shows: the gates, what
// production runs and the lock, the deployments, the release tag and its
// sync-back pull requests, and one timeline of all of it. It reads
// nothing and decides nothing: a fact that could not be read is listed
// in Missing, and the part of the page that needs it says "not read".
func detailsPage(f detailsFacts) detailsView {
	v := detailsView{Repo: f.Owner + "/" + f.Repo, RepoURL: f.RepoURL, SHA: f.SHA, Short: policy.Short(f.SHA),
		CommitURL: f.RepoURL + "/commit/" + f.SHA, Generated: f.Now}
	missing := func(what string, err error) { v.Missing = append(v.Missing, what+": "+facts.Explain(err)) }

	for _, name := range sortedNames(f.Runs) {
		cr := f.Runs[name]
		g := gateView{Name: name, Conclusion: cr.GetConclusion(), Title: cr.GetOutput().GetTitle()}
		if md := cr.GetOutput().GetSummary(); md != "" {
			g.Summary = markdownHTML(md)
		}
		if g.Conclusion == "" {
			g.Conclusion = cr.GetStatus()
		}
		g.Icon = policy.Icon(g.Conclusion)
		if t := cr.GetCompletedAt(); !t.IsZero() {
			g.At = t.Time
			v.Timeline = append(v.Timeline, eventView{At: t.Time, What: fmt.Sprintf("%s %s: %s", g.Icon, name, g.Title)})
		}
		v.Gates = append(v.Gates, g)
	}

	conflictLabel := policy.Default().Sync.ConflictLabel
	switch {
	case f.PolicyErr != nil:
		missing("the policy (production and the lock are read under it)", f.PolicyErr)
	case f.Policy.Broken():
		v.Missing = append(v.Missing, "the policy: "+f.Policy.Source+" is broken (the checks above quote the error), so production and the lock are not read under it")
	default:
		cfg := f.Policy.Config
		conflictLabel = cfg.Sync.ConflictLabel
		v.Freeze = cfg.FreezeText(f.Now)
		switch prod := f.Production; {
		case f.ProductionErr != nil:
			missing("production", f.ProductionErr)
		case prod != nil && prod.Known:
			v.Production = fmt.Sprintf("%s (%s, %s)", prod.Name(), policy.Short(prod.SHA), prod.Source)
		case prod != nil:
			v.Production = "unknown: no successful deployment to " + cfg.Production.Environment + " and no release tag"
		}
		switch {
		case f.LockErr != nil:
			missing("the production lock", f.LockErr)
		case f.Lock != nil:
			if view := f.Lock.View(f.Now, time.Duration(cfg.Promote.LockTimeout)); view.Held {
				v.Lock = "held by " + view.Describe()
			} else {
				v.Lock = "free"
			}
		}
		switch {
		case f.LedgerErr != nil:
			missing(f.LedgerWhat, f.LedgerErr)
		case f.Ledger != nil:
			v.Ledger = viewLedger(f.Ledger, f.RepoURL)
		}
	}

	if f.DeploymentsErr != nil {
		missing("the deployments", f.DeploymentsErr)
	}
	v.ChainRead = f.DeploymentsErr == nil
	for _, d := range f.Deployments {
		dv := deploymentView{ID: d.GetID(), Environment: d.GetEnvironment(), Task: d.GetTask(), State: "waiting for CD", By: d.Payload.RequestedBy, At: d.GetCreatedAt().Time}
		if d.Latest != nil {
			dv.State, dv.LogURL = d.Latest.GetState(), d.Latest.GetLogURL()
			v.Timeline = append(v.Timeline, eventView{At: d.Latest.GetCreatedAt().Time, What: fmt.Sprintf("deployment %d to %s: %s", d.GetID(), d.GetEnvironment(), dv.State), Link: dv.LogURL})
		}
		dv.Icon = policy.Icon(map[string]string{"success": policy.Success, "failure": policy.Failure, "error": policy.Failure}[dv.State])
		what := fmt.Sprintf("deployment %d to %s created", d.GetID(), d.GetEnvironment())
		if d.Payload.Kind == "rollback" {
			what = fmt.Sprintf("rollback %d to %s created", d.GetID(), d.GetEnvironment())
		}
		if d.Payload.RequestedBy != "" {
			what += " (@" + d.Payload.RequestedBy + ")"
		}
		v.Timeline = append(v.Timeline, eventView{At: dv.At, What: what})
		v.Chain = append(v.Chain, dv)
	}

	switch pr := f.PR; {
	case f.PRErr != nil:
		missing(fmt.Sprintf("pull request #%d", f.PRNumber), f.PRErr)
	case pr != nil:
		v.PR = viewPR(pr)
		v.Branch = pr.GetHead().GetRef()
		v.Timeline = append(v.Timeline, eventView{At: pr.GetCreatedAt().Time, What: fmt.Sprintf("#%d opened by @%s", pr.GetNumber(), pr.GetUser().GetLogin()), Link: pr.GetHTMLURL()})
		if pr.GetMerged() {
			v.Timeline = append(v.Timeline, eventView{At: pr.GetMergedAt().Time, What: fmt.Sprintf("#%d merged into %s", pr.GetNumber(), pr.GetBase().GetRef()), Link: pr.GetHTMLURL()})
		}
	}
	switch {
	case f.HoldErr != nil:
		missing("whether it is on hold", f.HoldErr)
	case f.Hold != nil:
		v.Hold = f.Hold.Describe()
	}

	switch {
	case f.Tag == "":
	case f.TagErr != nil:
		missing("the tags", f.TagErr)
		v.Tag = f.Tag // named by the deployment; whether it is there is not known
	case f.TagCommit == f.SHA:
		v.Tag = f.Tag // released; otherwise not (yet) as that tag
	}
	if v.Tag != "" {
		if f.SyncsErr != nil {
			missing("the sync-back pull requests", f.SyncsErr)
		}
		v.SyncsRead = f.SyncsErr == nil
		for _, pr := range f.Syncs {
			sv := viewPR(pr)
			for _, l := range pr.Labels {
				if sv.State != "merged" && sv.State != "closed" && strings.EqualFold(l.GetName(), conflictLabel) {
					sv.State = "conflicts: needs a person to merge " + sv.Base + " into it"
				}
			}
			v.Syncs = append(v.Syncs, *sv)
			v.Timeline = append(v.Timeline, eventView{At: pr.GetCreatedAt().Time, What: fmt.Sprintf("sync-back #%d into %s opened", pr.GetNumber(), pr.GetBase().GetRef()), Link: pr.GetHTMLURL()})
		}
	}
	sort.SliceStable(v.Timeline, func(i, j int) bool { return v.Timeline[i].At.Before(v.Timeline[j].At) })
	return v
}

func viewPR(pr *github.PullRequest) *prView {
	state := pr.GetState()
	if pr.GetMerged() {
		state = "merged"
	} else if pr.GetDraft() && state == "open" {
		state = "draft"
	}
	return &prView{Number: pr.GetNumber(), Title: pr.GetTitle(), URL: pr.GetHTMLURL(), State: state,
		Base: pr.GetBase().GetRef(), Head: pr.GetHead().GetRef(), Author: pr.GetUser().GetLogin()}
}

func sortedNames(m map[string]*github.CheckRun) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// viewLedger is a release ledger as the page shows it.
func viewLedger(l *facts.Ledger, repoURL string) *ledgerView {
	view := &ledgerView{Branch: l.Branch, Targets: l.Targets, More: l.More}
	for _, row := range l.Rows {
		rv := ledgerRowView{Name: row.Release.Name()}
		if row.Release.PR != 0 {
			rv.URL = fmt.Sprintf("%s/pull/%d", repoURL, row.Release.PR)
		}
		for _, target := range l.Targets {
			c := ledgerCell{}
			switch {
			case row.Unknown[target] != "":
				c.Text = "not read"
			case row.In[target]:
				c.Text = "✅ in"
			case row.Open[target] != 0:
				c.Text, c.URL = fmt.Sprintf("⏳ #%d open", row.Open[target]), fmt.Sprintf("%s/pull/%d", repoURL, row.Open[target])
			default:
				c.Text = "❌ not in, no sync open"
			}
			rv.Cells = append(rv.Cells, c)
		}
		view.Rows = append(view.Rows, rv)
	}
	return view
}
