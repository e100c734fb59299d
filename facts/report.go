package facts

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/hotfix-bot/hotfix-bot/report"
	"github.com/palantir/go-githubapp/githubapp"
	"golang.org/x/sync/errgroup"
)

// What one report reads at most: it is bounded, and says so when a
// listing is cut short (the report is then marked incomplete).
const (
	// ReportDeploymentPages bounds the production deployments read (100
	// a page, newest first), each with its statuses.
	ReportDeploymentPages = 3
	// ReportPullPages bounds the pull requests read, newest first, for
	// the sync-back pull requests among them.
	ReportPullPages = 5
	// ReportIssuePages bounds the bot's issues read for incident issues.
	ReportIssuePages = 2
	// ReportHotfixes bounds the hotfixes read in detail (their pull
	// request, commits, event log and tag).
	ReportHotfixes = 50
)

// OpenInstalled finds this app's installation on owner/name and opens
// the repository through it (for the pages and the CLI, which are not
// handed an installation by a webhook). A repository the app is not
// installed on is a NotFound error.
func OpenInstalled(ctx context.Context, cc githubapp.ClientCreator, owner, name string, appID int64) (*Repo, error) {
	appClient, err := cc.NewAppClient()
	if err != nil {
		return nil, err
	}
	inst, resp, err := appClient.Apps.FindRepositoryInstallation(ctx, owner, name)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return nil, &Error{Op: "find the app's installation on " + owner + "/" + name, Kind: NotFound, Status: http.StatusNotFound,
				Message: "the app is not installed on it"}
		}
		return nil, wrap("find the app's installation on "+owner+"/"+name, err)
	}
	client, err := cc.NewInstallationClient(inst.GetID())
	if err != nil {
		return nil, err
	}
	gh, _, err := client.Repositories.Get(ctx, owner, name)
	if err != nil {
		return nil, wrap("read the repository "+owner+"/"+name, err)
	}
	return NewRepo(client, owner, name, gh.GetDefaultBranch(), appID), nil
}

// ReportFacts reads from GitHub what a report over [since, now] is
// computed from: production's deployments (newest first, back past
// since) with their statuses, the bot's hotfix pull requests (created,
// approved, their first commit), the bot's tags, the sync-back pull
// requests and the bot's incident issues. Every listing is bounded; one
// cut short, and any fact GitHub would not give, is recorded in the
// facts' Reads and Missing, never guessed. Only the deployments are
// essential: without them there is no report, and that is the error.
func (r *Repo) ReportFacts(ctx context.Context, cfg policy.Config, since, now time.Time) (report.Facts, error) {
	env := cfg.Production.Environment
	f := report.Facts{Repo: r.FullName(), Environment: env, Since: since, Now: now, Pulls: map[int]report.PullRequest{}, TaggedAt: map[string]time.Time{}}
	var mu sync.Mutex
	missing := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		f.Missing = append(f.Missing, what+": "+Explain(err))
	}
	day := since.UTC().Format("2006-01-02")

	tags, err := r.Tags(ctx)
	if err != nil {
		missing("the tags (deployments are named by their commits instead)", err)
	}
	list, complete, err := r.deploymentsSince(ctx, env, since)
	if err != nil {
		return f, err
	}
	f.Reads = append(f.Reads, report.Read{Complete: complete,
		What: fmt.Sprintf("production deployments to `%s` back to %s: %d, each with its statuses (at most %d)", env, day, len(list), ReportDeploymentPages*perPage)})
	deps, err := r.withStatuses(ctx, cfg, list, tags)
	if err != nil {
		return f, err
	}
	f.Deployments = make([]report.Deployment, len(list))
	for i, d := range deps {
		f.Deployments[i] = report.Deployment{ID: d.ID, SHA: d.SHA, Tag: d.Tag, CreatedAt: list[i].GetCreatedAt().Time, Statuses: d.Statuses, Bot: d.Bot}
	}

	// Each hotfix of the window, in detail.
	var hotfixes []report.Deployment
	hotfixTags := map[string]bool{}
	for _, d := range f.Deployments {
		if d.Bot != nil && d.Bot.Kind == "hotfix" && d.Bot.Final() && !d.CreatedAt.Before(since) {
			hotfixes = append(hotfixes, d)
			hotfixTags[d.Bot.NextTag] = true
		}
	}
	if len(hotfixes) > ReportHotfixes {
		f.Missing = append(f.Missing, fmt.Sprintf("the details of %d older hotfixes (the bot reads the newest %d in detail): their lead time, time to approval and propagation", len(hotfixes)-ReportHotfixes, ReportHotfixes))
		hotfixes = hotfixes[len(hotfixes)-ReportHotfixes:]
	}
	f.Reads = append(f.Reads, report.Read{Complete: true,
		What: fmt.Sprintf("per hotfix (%d): its pull request, the commits it brought (a comparison), its event log (the approval labels) and its tag", len(hotfixes))})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ReadsInFlight)
	for _, d := range hotfixes {
		g.Go(func() error {
			r.hotfixFacts(gctx, cfg, d, &f, &mu, missing)
			return nil
		})
	}
	_ = g.Wait() // each failure is recorded as missing

	syncs, complete, err := r.syncPullsSince(ctx, since, hotfixTags)
	if err != nil {
		missing("the sync-back pull requests (propagation is left out)", err)
	} else {
		f.Syncs = syncs
		f.Reads = append(f.Reads, report.Read{Complete: complete,
			What: fmt.Sprintf("pull requests, newest first, back to %s, for the sync-back pull requests among them (at most %d)", day, ReportPullPages*perPage)})
	}
	incidents, complete, err := r.incidentsSince(ctx, since)
	if err != nil {
		missing("the incident issues", err)
	} else {
		f.Incidents = incidents
		f.Reads = append(f.Reads, report.Read{Complete: complete,
			What: fmt.Sprintf("the bot's incident issues since %s (at most %d issues)", day, ReportIssuePages*perPage)})
	}
	return f, nil
}

// deploymentsSince lists the environment's deployments, newest first,
// until one older than since (that page is kept whole: what ran before
// the window tells a rollback in it), within ReportDeploymentPages.
// complete is false when the bound stopped it first.
func (r *Repo) deploymentsSince(ctx context.Context, env string, since time.Time) ([]*github.Deployment, bool, error) {
	var out []*github.Deployment
	opts := &github.DeploymentsListOptions{Environment: env, ListOptions: github.ListOptions{PerPage: perPage}}
	for page := 0; page < ReportDeploymentPages; page++ {
		list, resp, err := r.client.Repositories.ListDeployments(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return nil, false, wrap(fmt.Sprintf("list the %s deployments", env), err)
		}
		out = append(out, list...)
		if resp == nil || resp.NextPage == 0 || (len(list) > 0 && list[len(list)-1].GetCreatedAt().Before(since)) {
			return out, true, nil
		}
		opts.Page = resp.NextPage
	}
	return out, false, nil
}

// hotfixFacts reads one hotfix's pull request, first commit, approval
// and tag into f.
func (r *Repo) hotfixFacts(ctx context.Context, cfg policy.Config, d report.Deployment, f *report.Facts, mu *sync.Mutex, missing func(string, error)) {
	p := d.Bot
	pr := report.PullRequest{Number: p.PR}
	if got, err := r.PullRequest(ctx, p.PR); err != nil {
		missing(fmt.Sprintf("pull request #%d (its time to approval is left out)", p.PR), err)
	} else {
		pr.Title, pr.URL, pr.CreatedAt = got.GetTitle(), got.GetHTMLURL(), got.GetCreatedAt().Time
	}
	if p.PreviousRef != "" {
		if cmp, err := r.Compare(ctx, p.PreviousRef, d.SHA); err != nil {
			missing(fmt.Sprintf("the commits of #%d (its lead time is left out)", p.PR), err)
		} else if cmp.GetTotalCommits() > len(cmp.Commits) {
			// GitHub lists 250 commits at most: the first may be unlisted.
			mu.Lock()
			f.Missing = append(f.Missing, fmt.Sprintf("the first commit of #%d: it brought %d commits, more than GitHub lists (its lead time is left out)", p.PR, cmp.GetTotalCommits()))
			mu.Unlock()
		} else {
			for _, c := range cmp.Commits {
				if at := c.GetCommit().GetAuthor().GetDate().Time; !at.IsZero() && (pr.FirstCommitAt.IsZero() || at.Before(pr.FirstCommitAt)) {
					pr.FirstCommitAt = at
				}
			}
		}
	}
	if !p.Emergency && !pr.CreatedAt.IsZero() {
		if h, err := r.LabelHistory(ctx, p.PR, cfg.ApprovalLabels()); err != nil {
			missing(fmt.Sprintf("the event log of #%d (its time to approval is left out)", p.PR), err)
		} else {
			for _, ev := range h.Latest {
				if ev.Added && !ev.Bot && !ev.At.After(d.CreatedAt) && ev.At.After(pr.ApprovedAt) {
					pr.ApprovedAt = ev.At
				}
			}
		}
	}
	var tagged time.Time
	if p.NextTag != "" {
		if at, err := r.tagDate(ctx, p.NextTag); err != nil {
			missing("the date of "+p.NextTag+" (its propagation is counted from the deployment's success)", err)
		} else {
			tagged = at
		}
	}
	mu.Lock()
	defer mu.Unlock()
	f.Pulls[p.PR] = pr
	if !tagged.IsZero() {
		f.TaggedAt[p.NextTag] = tagged
	}
}

// tagDate is when an annotated tag was made (zero for a lightweight tag
// or none).
func (r *Repo) tagDate(ctx context.Context, name string) (time.Time, error) {
	ref, _, err := r.client.Git.GetRef(ctx, r.Owner, r.Name, "tags/"+name)
	if err := wrap("read the tag "+name, err); IsNotFound(err) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, err
	}
	if ref.GetObject().GetType() != "tag" {
		return time.Time{}, nil
	}
	t, _, err := r.client.Git.GetTag(ctx, r.Owner, r.Name, ref.GetObject().GetSHA())
	if err != nil {
		return time.Time{}, wrap("read the tag "+name, err)
	}
	return t.GetTagger().GetDate().Time, nil
}

// syncPullsSince finds the sync-back pull requests of the window's
// releases among the pull requests GitHub lists newest first, back to
// since. complete is false when ReportPullPages stopped it first.
func (r *Repo) syncPullsSince(ctx context.Context, since time.Time, tags map[string]bool) ([]report.SyncPull, bool, error) {
	var out []report.SyncPull
	opts := &github.PullRequestListOptions{State: "all", Sort: "created", Direction: "desc", ListOptions: github.ListOptions{PerPage: perPage}}
	for page := 0; page < ReportPullPages; page++ {
		list, resp, err := r.client.PullRequests.List(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return nil, false, wrap("list the pull requests", err)
		}
		for _, pr := range list {
			head, base := pr.GetHead().GetRef(), pr.GetBase().GetRef()
			if !policy.IsSyncBranch(head) {
				continue
			}
			for tag := range tags {
				if tag != "" && head == policy.SyncBranchName(tag, base) {
					out = append(out, report.SyncPull{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), Tag: tag, Target: base,
						CreatedAt: pr.GetCreatedAt().Time, MergedAt: pr.GetMergedAt().Time, Open: pr.GetState() == "open"})
				}
			}
		}
		if resp == nil || resp.NextPage == 0 || (len(list) > 0 && list[len(list)-1].GetCreatedAt().Before(since)) {
			return out, true, nil
		}
		opts.Page = resp.NextPage
	}
	return out, false, nil
}

// incidentsSince lists the incident issues the bot opened since then.
func (r *Repo) incidentsSince(ctx context.Context, since time.Time) ([]report.Incident, bool, error) {
	if r.BotLogin == "" {
		return nil, false, &Error{Op: "find the bot's issues", Message: "the app's identity is not known yet"}
	}
	var out []report.Incident
	opts := &github.IssueListByRepoOptions{State: "all", Creator: r.BotLogin, Since: since, ListOptions: github.ListOptions{PerPage: perPage}}
	for page := 0; page < ReportIssuePages; page++ {
		list, resp, err := r.client.Issues.ListByRepo(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return nil, false, wrap("list the bot's issues", err)
		}
		for _, is := range list {
			if is.IsPullRequest() || !strings.Contains(is.GetBody(), "hotfix-bot:incident:") || is.GetUser().GetLogin() != r.BotLogin ||
				is.GetCreatedAt().Before(since) {
				continue
			}
			out = append(out, report.Incident{Number: is.GetNumber(), Title: is.GetTitle(), URL: is.GetHTMLURL(),
				CreatedAt: is.GetCreatedAt().Time, ClosedAt: is.GetClosedAt().Time})
		}
		if resp == nil || resp.NextPage == 0 {
			return out, true, nil
		}
		opts.Page = resp.NextPage
	}
	return out, false, nil
}
