package handlers

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// detailsFacts are what a details page shows, as read from GitHub. A
// fact GitHub would not give keeps its error beside it: the page says
// which fact is missing, shows the rest, and is not kept.
type detailsFacts struct {
	Owner, Repo, RepoURL, SHA string
	Now                       time.Time
	// Runs are this app's check runs on the commit, by name (never
	// empty: a commit without them has no page).
	Runs map[string]*github.CheckRun

	Policy    facts.Policy
	PolicyErr error
	// Production and the lock are read only under a policy that parsed.
	Production    *policy.ProductionState
	ProductionErr error
	Lock          *facts.Lock
	LockErr       error

	// Deployments are the bot's deployments of the commit, and the
	// rollbacks of its pull request.
	Deployments    []facts.StoryDeployment
	DeploymentsErr error

	// PRNumber is the commit's hotfix pull request (from the check runs,
	// else from a deployment's payload), 0 if none.
	PRNumber int
	PR       *github.PullRequest
	PRErr    error
	// Hold is the open pull request's hold (read only while it is open).
	Hold    *policy.Hold
	HoldErr error

	// Tag is the release tag a hotfix deployment of the commit named, and
	// TagCommit where that tag is now ("" when it does not exist yet).
	Tag       string
	TagCommit string
	TagErr    error
	// Syncs are the tag's sync-back pull requests, read when the tag is
	// on this commit.
	Syncs    []*github.PullRequest
	SyncsErr error

	// Ledger is the hotfix ledger of the release branch the commit is the
	// tip of, read (under the policy) when the commit carries
	// hotfix-bot/release; LedgerErr says what could not be read
	// (LedgerWhat names it).
	Ledger     *facts.Ledger
	LedgerErr  error
	LedgerWhat string
}

// gatherDetails reads a details page's facts, independent reads side by
// side (at most facts.ReadsInFlight requests in flight): the check runs
// first (no runs, no page: errNotFound), then the policy (and under it
// production and the lock) beside the deployments, then the pull request
// beside the release tag and its sync-back pull requests.
func gatherDetails(ctx context.Context, r *facts.Repo, policies *facts.PolicyCache, now time.Time, sha string) (detailsFacts, error) {
	f := detailsFacts{Owner: r.Owner, Repo: r.Name, RepoURL: r.HTMLURL, SHA: sha, Now: now}
	runs, err := r.CheckRuns(ctx, sha)
	if err != nil {
		if facts.IsNotFound(err) || facts.KindOf(err) == facts.Validation {
			return f, errNotFound
		}
		return f, err
	}
	if len(runs) == 0 {
		return f, errNotFound // not a commit the bot checked
	}
	f.Runs = runs
	for _, name := range sortedNames(runs) {
		for _, p := range runs[name].PullRequests {
			if f.PRNumber == 0 {
				f.PRNumber = p.GetNumber()
			}
		}
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		f.Policy, f.PolicyErr = r.Policy(ctx, policies)
		if f.PolicyErr != nil || f.Policy.Broken() {
			return // production and the lock are not guessed from defaults
		}
		cfg := f.Policy.Config
		var inner sync.WaitGroup
		inner.Go(func() {
			prod, err := r.Production(ctx, cfg)
			if f.ProductionErr = err; err == nil {
				f.Production = &prod
			}
		})
		inner.Go(func() {
			lock, err := r.ReadLock(ctx)
			if f.LockErr = err; err == nil {
				f.Lock = &lock
			}
		})
		if cr := runs[policy.CheckRelease]; cr != nil {
			inner.Go(func() { f.Ledger, f.LedgerWhat, f.LedgerErr = releaseLedger(ctx, r, cfg, sha, cr) })
		}
		inner.Wait()
	})
	wg.Go(func() {
		f.Deployments, f.DeploymentsErr = r.HotfixDeployments(ctx, sha, f.PRNumber)
		sort.Slice(f.Deployments, func(i, j int) bool { return f.Deployments[i].GetID() < f.Deployments[j].GetID() })
		for _, d := range f.Deployments {
			if f.PRNumber == 0 && d.Payload.PR != 0 && d.Payload.Kind == "hotfix" {
				f.PRNumber = d.Payload.PR
			}
			if d.Payload.Kind == "hotfix" && d.Payload.NextTag != "" {
				f.Tag = d.Payload.NextTag // the newest hotfix deployment's
			}
		}
		var then sync.WaitGroup
		if f.PRNumber != 0 {
			then.Go(func() {
				f.PR, f.PRErr = r.PullRequest(ctx, f.PRNumber)
				if f.PRErr == nil && f.PR.GetState() == "open" {
					h, err := r.Hold(ctx, f.PRNumber, f.PR.Labels)
					if f.HoldErr = err; err == nil {
						f.Hold = &h
					}
				}
			})
		}
		if f.Tag != "" {
			then.Go(func() {
				// Where the tag is unknown, its sync-back is still shown.
				if f.TagCommit, f.TagErr = r.TagCommit(ctx, f.Tag); f.TagErr != nil || f.TagCommit == sha {
					f.Syncs, f.SyncsErr = r.SyncPullRequests(ctx, f.Tag)
				}
			})
		}
		then.Wait()
	})
	wg.Wait()
	return f, nil
}

// releaseLedger reads the ledger of the release branch whose tip is sha
// (the branch of its release pull request, or found among the release
// branches); nil when sha is no release branch's tip any more. On an
// error, what names the fact that could not be read.
func releaseLedger(ctx context.Context, r *facts.Repo, cfg policy.Config, sha string, cr *github.CheckRun) (l *facts.Ledger, what string, err error) {
	branch := ""
	for _, p := range cr.PullRequests {
		if ref := p.GetHead().GetRef(); cfg.IsReleaseBranch(ref) && p.GetHead().GetSHA() == sha {
			branch = ref
		}
	}
	if branch == "" {
		releases, err := r.ReleaseBranches(ctx, cfg)
		if err != nil {
			return nil, "the release branches", err
		}
		for _, b := range releases {
			if b.SHA == sha {
				branch = b.Name
			}
		}
	}
	if branch == "" {
		return nil, "", nil
	}
	ledger, err := r.ReleaseLedger(ctx, cfg, branch, sha)
	if err != nil {
		return nil, "the release ledger of " + branch, err
	}
	return &ledger, "", nil
}
