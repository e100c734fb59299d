package facts

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// ourCheckRuns lists this app's newest check run per name on a commit,
// with one request (remembered for the event).
func (r *Repo) ourCheckRuns(ctx context.Context, sha string) (map[string]*github.CheckRun, error) {
	r.mu.Lock()
	runs, ok := r.checkRuns[sha]
	r.mu.Unlock()
	if ok {
		return runs, nil
	}
	list, err := all(ctx, "list check runs", func(o github.ListOptions) ([]*github.CheckRun, *github.Response, error) {
		res, resp, err := r.Client.Checks.ListCheckRunsForRef(ctx, r.Owner, r.Name, sha, &github.ListCheckRunsOptions{
			AppID: github.Int64(r.AppID), Filter: github.String("latest"), ListOptions: o,
		})
		if err != nil {
			return nil, resp, err
		}
		return res.CheckRuns, resp, nil
	})
	if err != nil {
		return nil, err
	}
	runs = map[string]*github.CheckRun{}
	for _, cr := range list {
		if prev, ok := runs[cr.GetName()]; !ok || cr.GetID() > prev.GetID() {
			runs[cr.GetName()] = cr
		}
	}
	r.mu.Lock()
	r.checkRuns[sha] = runs
	r.mu.Unlock()
	return runs, nil
}

// CheckRun returns this app's newest check run with a name on a commit,
// or nil.
func (r *Repo) CheckRun(ctx context.Context, sha, name string) (*github.CheckRun, error) {
	runs, err := r.ourCheckRuns(ctx, sha)
	if err != nil {
		return nil, err
	}
	return runs[name], nil
}

func (r *Repo) remember(sha string, cr *github.CheckRun) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checkRuns[sha] == nil {
		r.checkRuns[sha] = map[string]*github.CheckRun{}
	}
	r.checkRuns[sha][cr.GetName()] = cr
}

// StartCheck shows a check as in progress: it creates the check run if
// there is none for (name, sha), and otherwise moves the existing one back
// to in_progress. A failure while evaluating then leaves "in progress",
// never a stale success.
func (r *Repo) StartCheck(ctx context.Context, sha, name, detailsURL string) error {
	existing, err := r.CheckRun(ctx, sha, name)
	if err != nil {
		return err
	}
	if existing != nil && existing.GetStatus() == "in_progress" {
		return nil
	}
	var cr *github.CheckRun
	if existing == nil {
		opts := github.CreateCheckRunOptions{Name: name, HeadSHA: sha, Status: github.String("in_progress")}
		if detailsURL != "" {
			opts.DetailsURL = github.String(detailsURL)
		}
		cr, _, err = r.Client.Checks.CreateCheckRun(ctx, r.Owner, r.Name, opts)
	} else {
		cr, _, err = r.Client.Checks.UpdateCheckRun(ctx, r.Owner, r.Name, existing.GetID(), github.UpdateCheckRunOptions{
			Name: name, Status: github.String("in_progress"),
		})
	}
	if err != nil {
		return fmt.Errorf("start check %s on %s: %w", name, policy.Short(sha), err)
	}
	r.remember(sha, cr)
	return nil
}

// annotationBatch is GitHub's limit of annotations per request.
const annotationBatch = 50

// CompleteCheck writes a gate's result onto the check run for (name, sha):
// it updates the existing run (re-delivery never adds a second one), or
// creates one. Nothing is written when the run already shows exactly this
// result. Annotations go in batches of 50; they are written only to a run
// that has none yet, because GitHub appends annotations on every update.
func (r *Repo) CompleteCheck(ctx context.Context, sha string, res policy.CheckResult, externalID, detailsURL string) error {
	existing, err := r.CheckRun(ctx, sha, res.Name)
	if err != nil {
		return err
	}
	summary := policy.Fit(res.Summary)
	if existing != nil && existing.GetStatus() == "completed" && existing.GetConclusion() == res.Conclusion &&
		existing.GetOutput().GetTitle() == res.Title && existing.GetOutput().GetSummary() == summary &&
		existing.GetExternalID() == externalID {
		return nil
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
	output := &github.CheckRunOutput{Title: github.String(res.Title), Summary: github.String(summary), Annotations: first}
	var cr *github.CheckRun
	if existing == nil {
		opts := github.CreateCheckRunOptions{
			Name: res.Name, HeadSHA: sha, Conclusion: github.String(res.Conclusion), Output: output,
			ExternalID: github.String(externalID),
		}
		if detailsURL != "" {
			opts.DetailsURL = github.String(detailsURL)
		}
		cr, _, err = r.Client.Checks.CreateCheckRun(ctx, r.Owner, r.Name, opts)
	} else {
		opts := github.UpdateCheckRunOptions{
			Name: res.Name, Conclusion: github.String(res.Conclusion), Output: output, ExternalID: github.String(externalID),
		}
		if detailsURL != "" {
			opts.DetailsURL = github.String(detailsURL)
		}
		cr, _, err = r.Client.Checks.UpdateCheckRun(ctx, r.Owner, r.Name, existing.GetID(), opts)
	}
	if err != nil {
		return fmt.Errorf("complete check %s on %s: %w", res.Name, policy.Short(sha), err)
	}
	for i := annotationBatch; i < len(annotations); i += annotationBatch {
		batch := annotations[i:min(i+annotationBatch, len(annotations))]
		cr, _, err = r.Client.Checks.UpdateCheckRun(ctx, r.Owner, r.Name, cr.GetID(), github.UpdateCheckRunOptions{
			Name:   res.Name,
			Output: &github.CheckRunOutput{Title: github.String(res.Title), Summary: github.String(summary), Annotations: batch},
		})
		if err != nil {
			return fmt.Errorf("annotate check %s on %s: %w", res.Name, policy.Short(sha), err)
		}
	}
	r.remember(sha, cr)
	return nil
}

// LabelSpec is a label the bot needs in the repository.
type LabelSpec struct {
	Name        string
	Color       string
	Description string
}

// EnsureLabels creates the labels the repository lacks (GitHub would
// create a missing label on first use, but without colour or description).
func (r *Repo) EnsureLabels(ctx context.Context, specs []LabelSpec) error {
	r.mu.Lock()
	known := r.labelsKnown
	r.mu.Unlock()
	if known == nil {
		labels, err := all(ctx, "list labels", func(o github.ListOptions) ([]*github.Label, *github.Response, error) {
			return r.Client.Issues.ListLabels(ctx, r.Owner, r.Name, &o)
		})
		if err != nil {
			return err
		}
		known = map[string]bool{}
		for _, l := range labels {
			known[strings.ToLower(l.GetName())] = true
		}
	}
	for _, s := range specs {
		if known[strings.ToLower(s.Name)] {
			continue
		}
		_, _, err := r.Client.Issues.CreateLabel(ctx, r.Owner, r.Name, &github.Label{
			Name: github.String(s.Name), Color: github.String(s.Color), Description: github.String(s.Description),
		})
		if err != nil && statusOf(err) != 422 { // 422: someone created it meanwhile
			return fmt.Errorf("create label %q: %w", s.Name, err)
		}
		known[strings.ToLower(s.Name)] = true
	}
	r.mu.Lock()
	r.labelsKnown = known
	r.mu.Unlock()
	return nil
}

// AddLabels adds labels to an issue or pull request, in the body form
// GitHub's API description documents ({"labels": [...]}).
func (r *Repo) AddLabels(ctx context.Context, number int, names ...string) error {
	req, err := r.Client.NewRequest("POST", fmt.Sprintf("repos/%s/%s/issues/%d/labels", r.Owner, r.Name, number), map[string][]string{"labels": names})
	if err != nil {
		return err
	}
	if _, err := r.Client.Do(ctx, req, nil); err != nil {
		return fmt.Errorf("add labels %v to #%d: %w", names, number, err)
	}
	return nil
}

// RemoveLabel removes a label and reports whether this call removed it: a
// label already gone (another replica was first) is not an error, and
// only the replica that removed it says so in a comment.
func (r *Repo) RemoveLabel(ctx context.Context, number int, name string) (bool, error) {
	// go-github v60 does not escape the label name.
	req, err := r.Client.NewRequest("DELETE", fmt.Sprintf("repos/%s/%s/issues/%d/labels/%s", r.Owner, r.Name, number, url.PathEscape(name)), nil)
	if err != nil {
		return false, err
	}
	if _, err := r.Client.Do(ctx, req, nil); err != nil {
		if IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("remove label %q from #%d: %w", name, number, err)
	}
	return true, nil
}

// Comment posts a comment on an issue or pull request.
func (r *Repo) Comment(ctx context.Context, number int, body string) error {
	if _, _, err := r.Client.Issues.CreateComment(ctx, r.Owner, r.Name, number, &github.IssueComment{Body: github.String(body)}); err != nil {
		return fmt.Errorf("comment on #%d: %w", number, err)
	}
	return nil
}

// PullRequest reads a pull request.
func (r *Repo) PullRequest(ctx context.Context, number int) (*github.PullRequest, error) {
	pr, _, err := r.Client.PullRequests.Get(ctx, r.Owner, r.Name, number)
	if err != nil {
		return nil, fmt.Errorf("get pull request #%d: %w", number, err)
	}
	return pr, nil
}

// OpenPullRequests lists the open pull requests into base.
func (r *Repo) OpenPullRequests(ctx context.Context, base string) ([]*github.PullRequest, error) {
	return all(ctx, "list pull requests", func(o github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return r.Client.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{State: "open", Base: base, ListOptions: o})
	})
}
