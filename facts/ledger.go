package facts

import (
	"context"
	"sync"

	"github.com/hotfix-bot/hotfix-bot/policy"
	"golang.org/x/sync/errgroup"
)

// ledgerMost bounds the hotfixes a release ledger shows: the newest.
const ledgerMost = 10

// Ledger is a release branch's hotfix ledger, for its details page: each
// hotfix production shipped since the branch was cut, and where it has
// landed.
type Ledger struct {
	Branch string
	// Targets are the branches shown: develop, then every release branch.
	Targets []string
	Rows    []LedgerRow
	// More counts hotfixes left out (older than the newest ledgerMost).
	More int
}

// LedgerRow is one hotfix and, per target, whether it holds it.
type LedgerRow struct {
	Release policy.ShippedRelease
	// In says, per target, whether it contains the hotfix; Unknown why
	// that could not be read; Open the number of its open sync-back pull
	// request into the target (0 for none).
	In      map[string]bool
	Unknown map[string]string
	Open    map[string]int
}

// ReleaseLedger reads a release branch's ledger. "Since the branch was
// cut" is read from the sync-back pull requests: a hotfix shipped after
// the cut got one into the branch (in any state), and one it still lacks
// is listed too; a hotfix from before the cut came in with develop.
func (r *Repo) ReleaseLedger(ctx context.Context, cfg policy.Config, branch, head string) (Ledger, error) {
	l := Ledger{Branch: branch}
	missing, err := r.MissingReleases(ctx, cfg, head, branch)
	if err != nil {
		return l, err
	}
	into, err := r.PullRequestsInto(ctx, branch, "all")
	if err != nil {
		return l, err
	}
	tags, err := r.Tags(ctx)
	if err != nil {
		return l, err
	}
	commitOf := map[string]string{}
	for _, t := range tags {
		commitOf[t.Name] = t.Commit
	}
	seen := map[string]bool{}
	var rels []policy.ShippedRelease
	for _, m := range missing.Missing {
		seen[m.Tag+"@"+m.SHA] = true
		rels = append(rels, m)
	}
	for _, pr := range into {
		tag, target, ok := SyncOf(pr)
		if !ok || target != branch || commitOf[tag] == "" || seen[tag+"@"+commitOf[tag]] {
			continue
		}
		seen[tag+"@"+commitOf[tag]] = true
		rels = append(rels, policy.ShippedRelease{Tag: tag, SHA: commitOf[tag]})
	}
	sortReleases(cfg, rels)
	if len(rels) > ledgerMost {
		l.More = len(rels) - ledgerMost
		rels = rels[len(rels)-ledgerMost:]
	}
	if err := r.describeReleases(ctx, cfg, rels); err != nil {
		return l, err
	}
	releases, err := r.ReleaseBranches(ctx, cfg)
	if err != nil {
		return l, err
	}
	l.Targets = []string{cfg.Branches.Develop}
	for _, b := range releases {
		l.Targets = append(l.Targets, b.Name)
	}
	l.Rows = make([]LedgerRow, len(rels))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ReadsInFlight)
	for i, rel := range rels {
		row := &l.Rows[i]
		*row = LedgerRow{Release: rel, In: map[string]bool{}, Unknown: map[string]string{}, Open: map[string]int{}}
		for _, s := range rel.Syncs {
			row.Open[s.Target] = s.Number
		}
		for _, target := range l.Targets {
			in, unknown := row.In, row.Unknown
			g.Go(func() error {
				cmp, err := r.Compare(gctx, target, rel.SHA)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					unknown[target] = Explain(err)
					return nil
				}
				in[target] = cmp.GetStatus() == "behind" || cmp.GetStatus() == "identical"
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return l, err
	}
	return l, nil
}
