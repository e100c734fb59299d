package facts

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// LabelSpec is a label the bot needs in the repository.
type LabelSpec struct {
	Name        string
	Color       string
	Description string
}

// autoColor is the colour GitHub gives a label it creates by itself
// (adding a missing label to an issue creates it, grey and without a
// description).
const autoColor = "ededed"

// EnsureLabels creates the labels the repository lacks, and gives the
// bot's colour and description to those GitHub created by itself when the
// bot added them before they existed (grey, no description); a label
// someone styled is left as it is.
func (r *Repo) EnsureLabels(ctx context.Context, specs []LabelSpec) error {
	known, err := remember(ctx, &r.memo, "repo-labels", func() (map[string]*github.Label, error) {
		labels, err := all(ctx, "list the repository's labels", func(o github.ListOptions) ([]*github.Label, *github.Response, error) {
			return r.client.Issues.ListLabels(ctx, r.Owner, r.Name, &o)
		})
		if err != nil && KindOf(err) != Incomplete {
			return nil, err
		}
		known := map[string]*github.Label{}
		for _, l := range labels {
			known[strings.ToLower(l.GetName())] = l
		}
		return known, nil
	})
	if err != nil {
		return err
	}
	for _, s := range specs {
		if l, ok := known[strings.ToLower(s.Name)]; ok {
			if !strings.EqualFold(l.GetColor(), autoColor) || l.GetDescription() != "" {
				continue
			}
			err := r.retryWrite(ctx, func() error {
				_, _, err := r.client.Issues.EditLabel(ctx, r.Owner, r.Name, l.GetName(), &github.Label{
					Color: github.String(s.Color), Description: github.String(s.Description),
				})
				return wrap(fmt.Sprintf("colour the label %q", s.Name), err)
			}, nil)
			if err != nil && !IsNotFound(err) { // deleted meanwhile: nothing to colour
				return err
			}
			continue
		}
		err := r.retryWrite(ctx, func() error {
			_, _, err := r.client.Issues.CreateLabel(ctx, r.Owner, r.Name, &github.Label{
				Name: github.String(s.Name), Color: github.String(s.Color), Description: github.String(s.Description),
			})
			return wrap(fmt.Sprintf("create the label %q", s.Name), err)
		}, nil)
		if err != nil && !IsAlreadyExists(err) && KindOf(err) != Validation { // someone created it meanwhile
			return err
		}
	}
	return nil
}

// AddLabels adds labels to an issue or pull request, in the body form
// GitHub's API description documents ({"labels": [...]}). Adding a label
// that is there already changes nothing, so it is retried freely.
func (r *Repo) AddLabels(ctx context.Context, number int, names ...string) error {
	return r.retryWrite(ctx, func() error {
		req, err := r.client.NewRequest("POST", fmt.Sprintf("repos/%s/%s/issues/%d/labels", r.Owner, r.Name, number), map[string][]string{"labels": names})
		if err != nil {
			return err
		}
		_, err = r.client.Do(ctx, req, nil)
		return wrap(fmt.Sprintf("add the labels %v to #%d", names, number), err)
	}, nil)
}

// RemoveLabel removes a label and reports whether this call removed it: a
// label already gone (another replica was first) is not an error, and
// only the replica that removed it says so in a comment.
func (r *Repo) RemoveLabel(ctx context.Context, number int, name string) (bool, error) {
	removed := false
	err := r.retryWrite(ctx, func() error {
		// go-github v60 does not escape the label name.
		req, err := r.client.NewRequest("DELETE", fmt.Sprintf("repos/%s/%s/issues/%d/labels/%s", r.Owner, r.Name, number, url.PathEscape(name)), nil)
		if err != nil {
			return err
		}
		_, err = r.client.Do(ctx, req, nil)
		if err := wrap(fmt.Sprintf("remove the label %q from #%d", name, number), err); IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		removed = true
		return nil
	}, nil)
	return removed, err
}

// Comment is an issue comment as the bot reads it (go-github v60 does not
// decode performed_via_github_app).
type Comment struct {
	ID        int64     `json:"id"`
	Body      string    `json:"body"`
	HTMLURL   string    `json:"html_url"`
	CreatedAt time.Time `json:"created_at"`
	User      struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"user"`
	App *struct {
		ID int64 `json:"id"`
	} `json:"performed_via_github_app"`
}

// CommentNow reads a comment as GitHub has it now (its current body and
// author; created_at never changes), whatever an event said about it. A
// deleted comment is a NotFound error.
func (r *Repo) CommentNow(ctx context.Context, id int64) (*Comment, error) {
	req, err := r.client.NewRequest("GET", fmt.Sprintf("repos/%s/%s/issues/comments/%d", r.Owner, r.Name, id), nil)
	if err != nil {
		return nil, err
	}
	var c Comment
	if _, err := r.client.Do(ctx, req, &c); err != nil {
		return nil, wrap(fmt.Sprintf("read comment %d", id), err)
	}
	return &c, nil
}

// Marker is the hidden line that identifies what a bot comment or issue
// is about ("reply:1234:1"), so a repeated step finds it instead of
// writing another. Only the app's own comments are trusted to carry it:
// anyone can type the same text.
func Marker(key string) string { return "<!-- hotfix-bot:" + key + " -->" }

// byApp reports whether a comment was written by this app.
func (r *Repo) byApp(c Comment) bool {
	if c.App != nil && c.App.ID != 0 {
		return c.App.ID == r.AppID
	}
	return r.BotLogin != "" && c.User.Login == r.BotLogin
}

// FindComment returns this app's comment on an issue or pull request that
// carries marker, looking at comments updated since `since` (zero: all),
// or nil.
func (r *Repo) FindComment(ctx context.Context, number int, marker string, since time.Time) (*Comment, error) {
	return r.findComment(ctx, number, marker, since, false)
}

// findComment is FindComment; with oldest, the oldest such comment.
func (r *Repo) findComment(ctx context.Context, number int, marker string, since time.Time, oldest bool) (*Comment, error) {
	opts := github.IssueListCommentsOptions{}
	if !since.IsZero() {
		s := since.Add(-time.Second)
		opts.Since = &s
	}
	list, err := all(ctx, fmt.Sprintf("list the comments of #%d", number), func(o github.ListOptions) ([]Comment, *github.Response, error) {
		opts.ListOptions = o
		u := fmt.Sprintf("repos/%s/%s/issues/%d/comments", r.Owner, r.Name, number)
		u, err := addQuery(u, opts)
		if err != nil {
			return nil, nil, err
		}
		req, err := r.client.NewRequest("GET", u, nil)
		if err != nil {
			return nil, nil, err
		}
		var page []Comment
		resp, err := r.client.Do(ctx, req, &page)
		return page, resp, err
	})
	if err != nil && KindOf(err) != Incomplete {
		return nil, err
	}
	for i := len(list) - 1; i >= 0; i-- {
		if c := list[i]; strings.Contains(c.Body, marker) && r.byApp(c) {
			if oldest {
				for _, o := range list[:i] {
					if strings.Contains(o.Body, marker) && r.byApp(o) {
						return &o, nil
					}
				}
			}
			return &c, nil
		}
	}
	if err != nil {
		return nil, err // cut short: it may be on a page not read
	}
	return nil, nil
}

// PostComment posts body (which carries marker) on an issue or pull
// request unless this app's comment with the marker is already there:
// re-delivery and retries never post twice. created says whether this
// call posted it.
func (r *Repo) PostComment(ctx context.Context, number int, marker, body string, since time.Time) (c *Comment, created bool, err error) {
	return r.postComment(ctx, number, marker, body, since, true)
}

// PostCommentUnsettled is PostComment without the look for a duplicate
// posted at the same moment: for short answers where a rare duplicate is
// harmless and every request counts (the cost guard's).
func (r *Repo) PostCommentUnsettled(ctx context.Context, number int, marker, body string, since time.Time) (c *Comment, created bool, err error) {
	return r.postComment(ctx, number, marker, body, since, false)
}

// attemptPrefix begins the hidden mark postComment adds to a comment.
const attemptPrefix = "\n<!-- hotfix-bot:attempt:"

// sameText reports whether a comment's body says what body says,
// whatever attempt mark postComment added to either (a body made from a
// comment read back keeps its mark).
func sameText(comment, body string) bool {
	return withoutAttempt(comment) == withoutAttempt(body)
}

// withoutAttempt is a comment's text without the attempt mark
// postComment adds as its last line.
func withoutAttempt(s string) string {
	if i := strings.LastIndex(s, attemptPrefix); i >= 0 && strings.HasSuffix(s, " -->") && !strings.Contains(s[i+1:], "\n") {
		return s[:i]
	}
	return s
}

func (r *Repo) postComment(ctx context.Context, number int, marker, body string, since time.Time, settle bool) (c *Comment, created bool, err error) {
	if c, err = r.FindComment(ctx, number, marker, since); err != nil || c != nil {
		return c, false, err
	}
	// This call's own hidden mark: a comment found after a create whose
	// answer was lost is this call's if it carries it (then it was
	// created here, and what follows a creation, a chat message, is not
	// skipped), another process's otherwise.
	attempt := Marker("attempt:" + rand.Text())
	body += "\n" + attempt
	err = r.retryWrite(ctx, func() error {
		got, _, err := r.client.Issues.CreateComment(ctx, r.Owner, r.Name, number, &github.IssueComment{Body: github.String(body)})
		if err != nil {
			return wrap(fmt.Sprintf("comment on #%d", number), err)
		}
		c = &Comment{ID: got.GetID(), Body: got.GetBody(), HTMLURL: got.GetHTMLURL(), CreatedAt: got.GetCreatedAt().Time}
		created = true
		return nil
	}, func() (bool, error) {
		// This call's own comment, by its mark (another process's may be
		// newer); else another process's with the marker.
		mine, err := r.FindComment(ctx, number, attempt, since)
		if err != nil || mine != nil {
			c, created = mine, mine != nil
			return mine != nil, err
		}
		found, err := r.FindComment(ctx, number, marker, since)
		c = found
		return found != nil, err
	})
	if err != nil || !created || !settle {
		return c, created, err
	}
	// Two processes given the same delivery at the same moment may both
	// have found nothing and posted: the oldest comment stays, and a newer
	// one deletes itself (each process decides the same way). A check
	// that fails leaves the duplicate: it is harmless, and the work is
	// done.
	first, ferr := r.findComment(ctx, number, marker, since, true)
	if ferr != nil || first == nil || first.ID >= c.ID {
		return c, true, nil
	}
	if derr := r.retryWrite(ctx, func() error {
		_, err := r.client.Issues.DeleteComment(ctx, r.Owner, r.Name, c.ID)
		if KindOf(wrap("", err)) == NotFound {
			return nil
		}
		return wrap(fmt.Sprintf("delete duplicate comment %d on #%d", c.ID, number), err)
	}, nil); derr != nil {
		return c, true, nil
	}
	return first, false, nil
}

// UpsertComment writes body (which carries marker) as this app's comment
// with that marker: edited in place when it exists, created otherwise
// (created says which).
func (r *Repo) UpsertComment(ctx context.Context, number int, marker, body string, since time.Time) (c *Comment, created bool, err error) {
	c, err = r.FindComment(ctx, number, marker, since)
	if err != nil {
		return nil, false, err
	}
	if c == nil {
		c, created, err = r.PostComment(ctx, number, marker, body, since)
		if err != nil || c == nil || sameText(c.Body, body) {
			return c, created, err
		}
		// Another process posted the same comment at the same moment and
		// its older one stayed: it gets this call's text.
	}
	if sameText(c.Body, body) {
		return c, false, nil
	}
	err = r.retryWrite(ctx, func() error {
		_, _, err := r.client.Issues.EditComment(ctx, r.Owner, r.Name, c.ID, &github.IssueComment{Body: github.String(body)})
		return wrap(fmt.Sprintf("edit comment %d on #%d", c.ID, number), err)
	}, nil)
	c.Body = body
	return c, false, err
}

// React adds a reaction to a comment as the app. GitHub answers 200 for a
// reaction that exists already, so it is safe to repeat.
func (r *Repo) React(ctx context.Context, commentID int64, content string) error {
	return r.retryWrite(ctx, func() error {
		_, _, err := r.client.Reactions.CreateIssueCommentReaction(ctx, r.Owner, r.Name, commentID, content)
		return wrap(fmt.Sprintf("react %s to comment %d", content, commentID), err)
	}, nil)
}

// Issue is an issue the bot opened.
type Issue struct {
	Number  int
	HTMLURL string
}

// EnsureIssue opens an issue whose body carries marker, unless this app
// opened one with that marker already (since `since`, any state): a
// repeated step never opens a second incident or audit issue.
func (r *Repo) EnsureIssue(ctx context.Context, marker, title, body string, assignees []string, since time.Time) (Issue, bool, error) {
	find := func() (*Issue, error) {
		opts := &github.IssueListByRepoOptions{State: "all", Creator: r.BotLogin, ListOptions: github.ListOptions{PerPage: perPage}}
		if !since.IsZero() {
			opts.Since = since.Add(-time.Minute)
		}
		list, err := all(ctx, "list the bot's issues", func(o github.ListOptions) ([]*github.Issue, *github.Response, error) {
			opts.ListOptions = o
			return r.client.Issues.ListByRepo(ctx, r.Owner, r.Name, opts)
		})
		if err != nil {
			return nil, err
		}
		for _, is := range list {
			if strings.Contains(is.GetBody(), marker) && (r.BotLogin == "" || is.GetUser().GetLogin() == r.BotLogin) {
				return &Issue{Number: is.GetNumber(), HTMLURL: is.GetHTMLURL()}, nil
			}
		}
		return nil, nil
	}
	if r.BotLogin == "" {
		return Issue{}, false, &Error{Op: "find the bot's issues", Message: "the app's identity is not known yet"}
	}
	if is, err := find(); err != nil || is != nil {
		if is != nil {
			return *is, false, nil
		}
		return Issue{}, false, err
	}
	var made Issue
	created := false
	err := r.retryWrite(ctx, func() error {
		req := &github.IssueRequest{Title: github.String(title), Body: github.String(body)}
		if len(assignees) > 0 {
			req.Assignees = &assignees
		}
		is, _, err := r.client.Issues.Create(ctx, r.Owner, r.Name, req)
		if err != nil {
			return wrap("open the issue "+title, err)
		}
		made, created = Issue{Number: is.GetNumber(), HTMLURL: is.GetHTMLURL()}, true
		return nil
	}, func() (bool, error) {
		is, err := find()
		if is != nil {
			made = *is
		}
		return is != nil, err
	})
	return made, created, err
}
