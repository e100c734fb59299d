package facts

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Stamp is what the bot records in a check run's external_id: facts its
// result rests on, so that any replica handling a later event can read
// them (GitHub is the bot's only memory).
//
// It once also recorded when the head was pushed (from the push's own
// delivery), to cover the activity log's lag. That time was per commit,
// not per branch, and only a lower bound of the latest push: a commit
// pushed again (or pushed to another branch) kept its earlier time. The
// approval gate now rests on the branch's push history alone, and an
// old "pushed=" part is ignored.
type Stamp struct {
	// EventID is the newest event of the pull request's event log the
	// result was computed from; a result from an older log never
	// overwrites one from a newer log.
	EventID int64
}

// String renders the stamp as "ev=<id>".
func (s Stamp) String() string {
	if s.EventID == 0 {
		return ""
	}
	return "ev=" + strconv.FormatInt(s.EventID, 10)
}

// ParseStamp reads an external_id written by String; anything else reads
// as an empty stamp.
func ParseStamp(s string) Stamp {
	var st Stamp
	for _, part := range strings.Split(s, ";") {
		if k, v, _ := strings.Cut(part, "="); k == "ev" {
			st.EventID, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return st
}

// CheckRuns lists this app's check run per name on a commit (the newest
// of a name: see settleDuplicates), with one request (remembered for the
// event).
func (r *Repo) CheckRuns(ctx context.Context, sha string) (map[string]*github.CheckRun, error) {
	return remember(ctx, &r.memo, "checkruns:"+sha, func() (map[string]*github.CheckRun, error) {
		runs, err := r.listCheckRuns(ctx, sha, "")
		if err != nil {
			return nil, err
		}
		return newestByName(runs), nil
	})
}

// listCheckRuns lists every check run of this app on a commit (of one
// name, unless name is ""). It asks for all of them (filter=all) and
// picks the newest itself: which run GitHub's filter=latest keeps when a
// superseded run completed after the newer one is not documented.
func (r *Repo) listCheckRuns(ctx context.Context, sha, name string) ([]*github.CheckRun, error) {
	opts := &github.ListCheckRunsOptions{AppID: github.Int64(r.AppID), Filter: github.String("all")}
	if name != "" {
		opts.CheckName = github.String(name)
	}
	return all(ctx, "list the check runs of "+shortSHA(sha), func(o github.ListOptions) ([]*github.CheckRun, *github.Response, error) {
		opts.ListOptions = o
		res, resp, err := r.client.Checks.ListCheckRunsForRef(ctx, r.Owner, r.Name, sha, opts)
		if err != nil {
			return nil, resp, err
		}
		return res.CheckRuns, resp, nil
	})
}

// newestByName keeps the newest run (highest id) of each name.
func newestByName(list []*github.CheckRun) map[string]*github.CheckRun {
	runs := map[string]*github.CheckRun{}
	for _, cr := range list {
		if prev, ok := runs[cr.GetName()]; !ok || cr.GetID() > prev.GetID() {
			runs[cr.GetName()] = cr
		}
	}
	return runs
}

// CheckRun returns this app's newest check run with a name on a commit,
// or nil.
func (r *Repo) CheckRun(ctx context.Context, sha, name string) (*github.CheckRun, error) {
	runs, err := r.CheckRuns(ctx, sha)
	if err != nil {
		return nil, err
	}
	return runs[name], nil
}

func (r *Repo) remember(sha string, cr *github.CheckRun) {
	key := "checkruns:" + sha
	runs := map[string]*github.CheckRun{}
	if v, ok := r.memo.get(key); ok && v.(result[map[string]*github.CheckRun]).err == nil {
		for k, x := range v.(result[map[string]*github.CheckRun]).v {
			runs[k] = x
		}
	}
	runs[cr.GetName()] = cr
	r.memo.put(key, result[map[string]*github.CheckRun]{v: runs})
}

// findCheckRun looks for this app's check run with a name on a commit,
// asking GitHub afresh: what a failed create may have made.
func (r *Repo) findCheckRun(ctx context.Context, sha, name string) (*github.CheckRun, error) {
	list, err := r.listCheckRuns(ctx, sha, name)
	if err != nil {
		return nil, err
	}
	return newestByName(list)[name], nil
}

// SupersededTitle is the title of a check run closed because a newer run
// of the same name was created on the same commit at the same moment.
const SupersededTitle = "Superseded by a newer run of this check"

// Superseded reports whether a check run was closed as a duplicate.
func Superseded(cr *github.CheckRun) bool {
	return cr.GetConclusion() == "neutral" && cr.GetOutput().GetTitle() == SupersededTitle
}

// settleDuplicates runs after this event created a check run. GitHub has
// no conditional create, so two processes that both found no run (two
// replicas given the same delivery) each create one. Instead of a lock
// paid for on every commit, the rare duplicate is settled afterwards, by
// a rule every process applies alike: the newest run of a name wins, and
// the older ones are completed as neutral, "superseded". Both creators
// see the newer run once it exists (the second create happens after the
// first), so at least one of them closes the older one. It costs one
// read per created run and a write only when there is a duplicate. It
// returns the run that counts.
func (r *Repo) settleDuplicates(ctx context.Context, sha string, mine *github.CheckRun) (*github.CheckRun, error) {
	list, err := r.listCheckRuns(ctx, sha, mine.GetName())
	if err != nil {
		return mine, err
	}
	return r.settle(ctx, sha, mine, list)
}

// settle applies the rule to one created run, given the runs of the
// commit: it returns the run of that name that counts.
func (r *Repo) settle(ctx context.Context, sha string, mine *github.CheckRun, list []*github.CheckRun) (*github.CheckRun, error) {
	name := mine.GetName()
	winner := mine
	for _, cr := range list {
		if cr.GetName() == name && cr.GetID() > winner.GetID() {
			winner = cr
		}
	}
	for _, cr := range list {
		if cr.GetName() != name || cr.GetID() == winner.GetID() || Superseded(cr) {
			continue
		}
		id := cr.GetID()
		err := r.retryWrite(ctx, func() error {
			_, _, err := r.client.Checks.UpdateCheckRun(ctx, r.Owner, r.Name, id, github.UpdateCheckRunOptions{
				Name: name, Conclusion: github.String("neutral"),
				Output: &github.CheckRunOutput{Title: github.String(SupersededTitle), Summary: github.String(fmt.Sprintf(
					"Two hotfix-bot processes created `%s` on this commit at the same moment (GitHub has no conditional create). "+
						"The newer run on this commit is the one that counts; this one is closed as neutral. Nothing to do.", name))},
			})
			return wrap(fmt.Sprintf("close a duplicate %s on %s", name, shortSHA(sha)), err)
		}, nil)
		if err != nil {
			return winner, err
		}
	}
	return winner, nil
}

// checkBatch collects the runs CompleteCheck created on one commit while
// BatchChecks runs.
type checkBatch struct {
	mu      sync.Mutex
	sha     string
	created []*github.CheckRun
}

// BatchChecks runs write, in which the check runs of one commit are
// completed (CompleteCheck), and settles the duplicates of those it
// created with one listing afterwards instead of one after each create:
// the second check of a new commit does not wait for a look at the first.
func (r *Repo) BatchChecks(ctx context.Context, sha string, write func() error) error {
	b := &checkBatch{sha: sha}
	r.batch.Store(b)
	err := write()
	r.batch.Store(nil)
	if err != nil || len(b.created) == 0 {
		return err
	}
	list, err := r.listCheckRuns(ctx, sha, "")
	if err != nil {
		return err
	}
	for _, cr := range b.created {
		winner, err := r.settle(ctx, sha, cr, list)
		if err != nil {
			return err
		}
		r.remember(sha, winner)
	}
	return nil
}

// batched records a run created during BatchChecks of its commit; false
// when there is no such batch (the caller settles at once).
func (r *Repo) batched(sha string, cr *github.CheckRun) bool {
	b := r.batch.Load()
	if b == nil || b.sha != sha {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.created = append(b.created, cr)
	return true
}

// StartCheck moves an existing check run back to in_progress: a success
// that may be stale is not shown while the gate is evaluated again, so a
// failure halfway leaves "in progress", never a wrong success.
func (r *Repo) StartCheck(ctx context.Context, sha string, existing *github.CheckRun) error {
	var cr *github.CheckRun
	err := r.retryWrite(ctx, func() (err error) {
		cr, _, err = r.client.Checks.UpdateCheckRun(ctx, r.Owner, r.Name, existing.GetID(), github.UpdateCheckRunOptions{
			Name: existing.GetName(), Status: github.String("in_progress"),
		})
		return wrap(fmt.Sprintf("show %s on %s in progress", existing.GetName(), shortSHA(sha)), err)
	}, nil)
	if err != nil {
		return err
	}
	r.remember(sha, cr)
	return nil
}

// linkCurrent reports whether a check run's details link can stay.
func (r *Repo) linkCurrent(have, want string) bool {
	return want == "" || have == want || (r.KeepLink != nil && r.KeepLink(have, want))
}

// annotationBatch is GitHub's limit of annotations per request.
const annotationBatch = 50

// CompleteCheck writes a gate's result onto the check run for (name, sha):
// it updates the existing run (re-delivery never adds a second one), or
// creates one; a create whose answer was lost is found again rather than
// repeated, and a duplicate another process created at the same moment is
// settled (settleDuplicates). Nothing is written when the run already
// shows this result (the same conclusion, text, link and push time). Annotations go in batches of 50; they are written only to a run
// that has none yet, because GitHub appends annotations on every update.
func (r *Repo) CompleteCheck(ctx context.Context, sha string, res policy.CheckResult, stamp Stamp, detailsURL string) error {
	existing, err := r.CheckRun(ctx, sha, res.Name)
	if err != nil {
		return err
	}
	summary := policy.Fit(res.Summary)
	externalID := stamp.String()
	if existing != nil && existing.GetStatus() == "completed" && existing.GetConclusion() == res.Conclusion &&
		existing.GetOutput().GetTitle() == res.Title && existing.GetOutput().GetSummary() == summary &&
		sameStamp(ParseStamp(existing.GetExternalID()), stamp) && r.linkCurrent(existing.GetDetailsURL(), detailsURL) {
		return nil // a new link (public URL set, key rotated, expiry near) is worth one write
	}
	var annotations []*github.CheckRunAnnotation
	if existing == nil || existing.GetOutput().GetAnnotationsCount() == 0 {
		for _, a := range res.Annotations {
			annotations = append(annotations, &github.CheckRunAnnotation{
				Path: github.String(a.Path), StartLine: github.Int(1), EndLine: github.Int(1),
				AnnotationLevel: github.String("warning"), Title: github.String(a.Title), Message: github.String(a.Message),
			})
		}
	}
	first := annotations
	if len(first) > annotationBatch {
		first = first[:annotationBatch]
	}
	op := fmt.Sprintf("write %s on %s", res.Name, shortSHA(sha))
	output := &github.CheckRunOutput{Title: github.String(res.Title), Summary: github.String(summary), Annotations: first}
	update := github.UpdateCheckRunOptions{Name: res.Name, Conclusion: github.String(res.Conclusion), Output: output, ExternalID: github.String(externalID)}
	if detailsURL != "" {
		update.DetailsURL = github.String(detailsURL)
	}
	var cr *github.CheckRun
	if existing == nil {
		create := github.CreateCheckRunOptions{
			Name: res.Name, HeadSHA: sha, Conclusion: github.String(res.Conclusion), Output: output,
			ExternalID: github.String(externalID),
		}
		if detailsURL != "" {
			create.DetailsURL = github.String(detailsURL)
		}
		err = r.retryWrite(ctx, func() (err error) {
			cr, _, err = r.client.Checks.CreateCheckRun(ctx, r.Owner, r.Name, create)
			return wrap(op, err)
		}, func() (bool, error) {
			found, err := r.findCheckRun(ctx, sha, res.Name)
			if found != nil {
				cr = found
			}
			return found != nil, err
		})
	} else {
		cr = existing
		err = r.retryWrite(ctx, func() (err error) {
			cr, _, err = r.client.Checks.UpdateCheckRun(ctx, r.Owner, r.Name, existing.GetID(), update)
			return wrap(op, err)
		}, func() (bool, error) {
			// The update is idempotent but for its annotations, which
			// GitHub appends: repeat it only if they did not land.
			if len(first) == 0 {
				return false, nil
			}
			got, _, err := r.client.Checks.GetCheckRun(ctx, r.Owner, r.Name, existing.GetID())
			if err != nil {
				return false, wrap(op, err)
			}
			if got.GetOutput().GetAnnotationsCount() >= len(first) {
				cr = got
				return true, nil
			}
			return false, nil
		})
	}
	if err != nil {
		return err
	}
	created := existing == nil
	for i := annotationBatch; i < len(annotations); i += annotationBatch {
		batch := annotations[i:min(i+annotationBatch, len(annotations))]
		want := i + len(batch)
		id := cr.GetID()
		err := r.retryWrite(ctx, func() (err error) {
			cr, _, err = r.client.Checks.UpdateCheckRun(ctx, r.Owner, r.Name, id, github.UpdateCheckRunOptions{
				Name:   res.Name,
				Output: &github.CheckRunOutput{Title: github.String(res.Title), Summary: github.String(summary), Annotations: batch},
			})
			return wrap(fmt.Sprintf("annotate %s on %s", res.Name, shortSHA(sha)), err)
		}, func() (bool, error) {
			got, _, err := r.client.Checks.GetCheckRun(ctx, r.Owner, r.Name, id)
			if err != nil {
				return false, err
			}
			cr = got
			return got.GetOutput().GetAnnotationsCount() >= want, nil
		})
		if err != nil {
			return err
		}
	}
	if created && !r.batched(sha, cr) {
		if cr, err = r.settleDuplicates(ctx, sha, cr); err != nil {
			return err
		}
	}
	r.remember(sha, cr)
	return nil
}

// sameStamp reports whether a written stamp says what a new one would: a
// label-decided result (an event id) or not. A newer event id alone is
// not worth a write: the verdict did not move.
func sameStamp(written, now Stamp) bool {
	return (written.EventID == 0) == (now.EventID == 0)
}
