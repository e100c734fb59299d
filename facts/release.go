package facts

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"golang.org/x/sync/errgroup"
)

// What production shipped, and what a commit lacks of it: the reads
// behind the hotfix-bot/release check, the deployment protection rule and
// the release ledger.

// enrichMost bounds the releases a listing reads details of (the
// annotated tag, the pull request's title): the rest are named by tag.
const enrichMost = 10

// botHotfixPages bounds the bot's hotfix deployments read to find an
// untagged hotfix production runs: the newest 100.
const botHotfixPages = 1

// MissingReleases finds the releases production shipped that sha lacks:
// of the commits production's history holds and sha's does not (one
// comparison, paged), those that carry a release tag (tag_pattern), a tag
// the bot made, or a successful hotfix deployment of the bot's. Each is
// named with its pull request and its open sync-back pull requests.
// target is the branch sha is the head of ("" when not known).
//
// It fails closed: production that cannot be established, a comparison
// or a tag listing cut short, any read that fails is an error, and the
// facts say why (Unknown).
func (r *Repo) MissingReleases(ctx context.Context, cfg policy.Config, sha, target string) (policy.ReleaseFacts, error) {
	f := policy.ReleaseFacts{SHA: sha, Target: target}
	fail := func(err error) (policy.ReleaseFacts, error) {
		f.Unknown = strings.TrimSuffix(Explain(err), ".")
		return f, err
	}
	prod, err := r.Production(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	f.Production = prod
	if !prod.Known || prod.SHA == sha {
		return f, nil // nothing shipped yet, or exactly what production runs
	}
	lacking, err := r.commitsLacking(ctx, sha, prod.SHA)
	if err != nil || len(lacking) == 0 {
		if err != nil {
			return fail(err)
		}
		return f, nil
	}
	var (
		tags []Tag
		bots map[string]policy.DeploymentPayload
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { tags, err = r.Tags(gctx); return err })
	g.Go(func() (err error) { bots, err = r.botHotfixesAt(gctx, cfg, lacking); return err })
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	found := map[string]*policy.ShippedRelease{}
	tagsAt := map[string][]string{}
	for _, t := range tags {
		if lacking[t.Commit] {
			tagsAt[t.Commit] = append(tagsAt[t.Commit], t.Name)
		}
	}
	for commit, names := range tagsAt {
		if tag := cfg.NewestTag(names); tag != "" {
			found[commit] = &policy.ShippedRelease{Tag: tag, SHA: commit}
			continue
		}
		// No release tag by the pattern: a tag the bot made still counts
		// (the pattern may have changed since).
		for _, name := range names {
			rec, err := r.tagRecord(ctx, name)
			if err != nil {
				return fail(err)
			}
			if rec.byBot {
				found[commit] = &policy.ShippedRelease{Tag: name, SHA: commit, PR: rec.pr}
				break
			}
		}
	}
	for commit, p := range bots {
		rel, ok := found[commit]
		if !ok {
			rel = &policy.ShippedRelease{SHA: commit}
			found[commit] = rel
		}
		rel.PR = p.PR
	}
	if len(found) == 0 {
		return f, nil // production has commits sha lacks, none of them a release
	}
	for _, rel := range found {
		f.Missing = append(f.Missing, *rel)
	}
	sortReleases(cfg, f.Missing)
	if err := r.describeReleases(ctx, cfg, f.Missing); err != nil {
		return fail(err)
	}
	return f, nil
}

// commitsLacking is the set of commits production's history holds and
// sha's does not (compare sha...production), every page of it: a list cut
// short is an Incomplete error.
func (r *Repo) commitsLacking(ctx context.Context, sha, production string) (map[string]bool, error) {
	cmp, err := r.Compare(ctx, sha, production)
	if err != nil {
		return nil, err
	}
	if cmp.GetAheadBy() == 0 {
		return nil, nil // sha contains production
	}
	list, err := r.commitsBetween(ctx, sha, production, cmp)
	if err != nil {
		return nil, err
	}
	if len(list) < cmp.GetAheadBy() {
		return nil, &Error{Op: fmt.Sprintf("list the commits production has that %s lacks", shortSHA(sha)), Kind: Incomplete,
			Message: fmt.Sprintf("GitHub listed %d of %d", len(list), cmp.GetAheadBy())}
	}
	out := make(map[string]bool, len(list))
	for _, c := range list {
		out[c] = true
	}
	return out, nil
}

// botHotfixesAt finds, among the bot's newest hotfix deployments to
// production, those of a commit in `at` that succeeded: hotfixes
// production shipped, tagged or not.
func (r *Repo) botHotfixesAt(ctx context.Context, cfg policy.Config, at map[string]bool) (map[string]policy.DeploymentPayload, error) {
	env := cfg.Production.Environment
	opts := &github.DeploymentsListOptions{Environment: env, Task: policy.TaskHotfix, ListOptions: github.ListOptions{PerPage: perPage}}
	var candidates []*BotDeployment
	for page := 0; page < botHotfixPages; page++ {
		list, resp, err := r.client.Repositories.ListDeployments(ctx, r.Owner, r.Name, opts)
		if err != nil {
			return nil, wrap(fmt.Sprintf("list the %s hotfix deployments", env), err)
		}
		for _, d := range list {
			if !at[d.GetSHA()] || !r.ByApp(d) {
				continue
			}
			if p, ok := DecodePayload(d.Payload); ok && p.Kind == "hotfix" && p.Final() {
				candidates = append(candidates, &BotDeployment{Deployment: d, Payload: p})
			}
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	out := map[string]policy.DeploymentPayload{}
	for _, d := range candidates {
		if _, ok := out[d.GetSHA()]; ok {
			continue
		}
		statuses, err := r.Statuses(ctx, d.GetID())
		if err != nil {
			return nil, err
		}
		for _, st := range statuses {
			if st.GetState() == "success" {
				out[d.GetSHA()] = d.Payload
				break
			}
		}
	}
	return out, nil
}

// tagRecordOf is what an annotated tag says: whether the bot made it, and
// the hotfix pull request its message names.
type tagRecordOf struct {
	byBot bool
	pr    int
}

// botTagMessage matches the first line of the bot's release tags:
// "v1.4.3: hotfix #12, <title>".
var botTagMessage = regexp.MustCompile(`^[^\n]*: hotfix #(\d+),`)

// tagRecord reads an annotated tag (a lightweight tag says nothing).
func (r *Repo) tagRecord(ctx context.Context, name string) (tagRecordOf, error) {
	return remember(ctx, &r.memo, "tagrecord:"+name, func() (tagRecordOf, error) {
		ref, _, err := r.client.Git.GetRef(ctx, r.Owner, r.Name, "tags/"+name)
		if err != nil {
			if err := wrap("read the tag "+name, err); IsNotFound(err) {
				return tagRecordOf{}, nil // deleted meanwhile
			} else {
				return tagRecordOf{}, err
			}
		}
		if ref.GetObject().GetType() != "tag" {
			return tagRecordOf{}, nil
		}
		t, _, err := r.client.Git.GetTag(ctx, r.Owner, r.Name, ref.GetObject().GetSHA())
		if err != nil {
			return tagRecordOf{}, wrap("read the tag "+name, err)
		}
		who := t.GetTagger()
		rec := tagRecordOf{byBot: r.BotLogin != "" && who.GetName() == r.BotLogin && botEmail(who.GetEmail(), r.BotLogin) &&
			strings.Contains(t.GetMessage(), "(hotfix-bot)")}
		if m := botTagMessage.FindStringSubmatch(t.GetMessage()); rec.byBot && m != nil {
			rec.pr, _ = strconv.Atoi(m[1])
		}
		return rec, nil
	})
}

// sortReleases orders releases oldest first: by version, untagged ones
// after the tagged.
func sortReleases(cfg policy.Config, rels []policy.ShippedRelease) {
	sort.SliceStable(rels, func(i, j int) bool {
		vi, oki := cfg.TagVersion(rels[i].Tag)
		vj, okj := cfg.TagVersion(rels[j].Tag)
		switch {
		case oki && okj:
			return vi.LessThan(vj)
		case oki != okj:
			return oki
		}
		if rels[i].Tag != rels[j].Tag {
			return rels[i].Tag < rels[j].Tag
		}
		return rels[i].PR < rels[j].PR
	})
}

// describeReleases fills in, for the first enrichMost releases, the
// hotfix pull request (from the bot's annotated tag when no deployment
// named it) and its title, and for every release its open sync-back pull
// requests (one listing).
func (r *Repo) describeReleases(ctx context.Context, cfg policy.Config, rels []policy.ShippedRelease) error {
	syncs, err := r.OpenSyncPullRequests(ctx)
	if err != nil {
		return err
	}
	for i := range rels {
		rel := &rels[i]
		if rel.Tag != "" {
			for _, pr := range syncs {
				if tag, target, ok := SyncOf(pr); ok && tag == rel.Tag {
					rel.Syncs = append(rel.Syncs, policy.OpenSync{Number: pr.GetNumber(), Target: target, Conflict: SyncConflicts(cfg, pr)})
				}
			}
		}
		if i >= enrichMost {
			continue
		}
		if rel.PR == 0 && rel.Tag != "" {
			rec, err := r.tagRecord(ctx, rel.Tag)
			if err != nil {
				return err
			}
			rel.PR = rec.pr
		}
		if rel.PR != 0 {
			pr, err := r.PullRequest(ctx, rel.PR)
			if err != nil {
				return err
			}
			rel.Title = pr.GetTitle()
		}
	}
	return nil
}

// OpenSyncPullRequests lists the open sync-back pull requests of the
// repository (its own branches hotfix-bot/sync/...), oldest first.
func (r *Repo) OpenSyncPullRequests(ctx context.Context) ([]*github.PullRequest, error) {
	return remember(ctx, &r.memo, "open-syncs", func() ([]*github.PullRequest, error) {
		open, err := all(ctx, "list the open pull requests", func(o github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
			return r.client.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{State: "open", Sort: "created", Direction: "asc", ListOptions: o})
		})
		if err != nil {
			return nil, err
		}
		var out []*github.PullRequest
		for _, pr := range open {
			if _, _, ok := SyncOf(pr); ok {
				out = append(out, pr)
			}
		}
		return out, nil
	})
}

// SyncOf reads a sync-back pull request's tag and target from its branch
// (hotfix-bot/sync/<tag>-to-<target>, a branch of this repository into
// target); ok is false for any other pull request.
func SyncOf(pr *github.PullRequest) (tag, target string, ok bool) {
	head, base := pr.GetHead().GetRef(), pr.GetBase().GetRef()
	if !policy.IsSyncBranch(head) || pr.GetHead().GetRepo().GetFullName() != pr.GetBase().GetRepo().GetFullName() {
		return "", "", false
	}
	tag, ok = strings.CutSuffix(strings.TrimPrefix(head, "hotfix-bot/sync/"), "-to-"+base)
	return tag, base, ok && tag != ""
}

// SyncConflicts reports whether a sync-back pull request still needs a
// person to resolve a conflict: the bot opened it as a draft, or it
// carries the conflict label.
func SyncConflicts(cfg policy.Config, pr *github.PullRequest) bool {
	if pr.GetDraft() {
		return true
	}
	for _, l := range pr.Labels {
		if strings.EqualFold(l.GetName(), cfg.Sync.ConflictLabel) {
			return true
		}
	}
	return false
}
