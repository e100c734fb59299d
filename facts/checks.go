package facts

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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

// CheckRuns lists this app's newest check run per name on a commit, with
// one request (remembered for the event).
func (r *Repo) CheckRuns(ctx context.Context, sha string) (map[string]*github.CheckRun, error) {
	return remember(&r.memo, "checkruns:"+sha, func() (map[string]*github.CheckRun, error) {
		return r.listCheckRuns(ctx, sha, "")
	})
}

func (r *Repo) listCheckRuns(ctx context.Context, sha, name string) (map[string]*github.CheckRun, error) {
	opts := &github.ListCheckRunsOptions{AppID: github.Int64(r.AppID), Filter: github.String("latest")}
	if name != "" {
		opts.CheckName = github.String(name)
	}
	list, err := all(ctx, "list the check runs of "+shortSHA(sha), func(o github.ListOptions) ([]*github.CheckRun, *github.Response, error) {
		opts.ListOptions = o
		res, resp, err := r.client.Checks.ListCheckRunsForRef(ctx, r.Owner, r.Name, sha, opts)
		if err != nil {
			return nil, resp, err
		}
		return res.CheckRuns, resp, nil
	})
	if err != nil {
		return nil, err
	}
	runs := map[string]*github.CheckRun{}
	for _, cr := range list {
		if prev, ok := runs[cr.GetName()]; !ok || cr.GetID() > prev.GetID() {
			runs[cr.GetName()] = cr
		}
	}
	return runs, nil
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
	runs, err := r.listCheckRuns(ctx, sha, name)
	if err != nil {
		return nil, err
	}
	return runs[name], nil
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

// annotationBatch is GitHub's limit of annotations per request.
const annotationBatch = 50

// linkCurrent reports whether a check run's details link can stay.
func (r *Repo) linkCurrent(have, want string) bool {
	return want == "" || have == want || (r.KeepLink != nil && r.KeepLink(have, want))
}

// CompleteCheck writes a gate's result onto the check run for (name, sha):
// it updates the existing run (re-delivery never adds a second one), or
// creates one; a create whose answer was lost is found again rather than
// repeated. Nothing is written when the run already shows exactly this
// result. Annotations go in batches of 50; they are written only to a run
// that has none yet, because GitHub appends annotations on every update.
func (r *Repo) CompleteCheck(ctx context.Context, sha string, res policy.CheckResult, stamp Stamp, detailsURL string) error {
	existing, err := r.CheckRun(ctx, sha, res.Name)
	if err != nil {
		return err
	}
	if existing == nil {
		// The first creation on this commit is claimed: another
		// process may be creating the same run right now.
		other, taken, err := r.claimCreation(ctx, sha)
		if err != nil {
			return err
		}
		switch {
		case other:
			if existing, err = r.awaitCheckRun(ctx, sha, res.Name); err != nil {
				return err
			}
		case taken:
			// A process that claimed and released just before may have
			// made the runs: look again (the same URL: a free 304 when
			// nothing changed).
			runs, err := r.listCheckRuns(ctx, sha, "")
			if err != nil {
				return err
			}
			r.memo.put("checkruns:"+sha, result[map[string]*github.CheckRun]{v: runs})
			existing = runs[res.Name]
		}
	}
	summary := policy.Fit(res.Summary)
	externalID := stamp.String()
	if existing != nil && existing.GetStatus() == "completed" && existing.GetConclusion() == res.Conclusion &&
		existing.GetOutput().GetTitle() == res.Title && existing.GetOutput().GetSummary() == summary &&
		existing.GetExternalID() == externalID && r.linkCurrent(existing.GetDetailsURL(), detailsURL) {
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
	r.remember(sha, cr)
	return nil
}
