package facts

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// activity is one entry of GET /repos/{owner}/{repo}/activity (go-github
// v60 has no type for it).
type activity struct {
	Before    string    `json:"before"`
	After     string    `json:"after"`
	Ref       string    `json:"ref"`
	Timestamp time.Time `json:"timestamp"`
	Type      string    `json:"activity_type"`
}

// activityPages bounds the search for a push in the activity log.
const activityPages = 3

// PushedAt returns when sha last became the tip of branch, from GitHub's
// repository activity log (server time, like label events), or the zero
// time if the log does not say: it is eventually consistent and can lag
// the push's webhook, and older GitHub Enterprise Server has none (404).
// The caller decides what an unknown time means; it never means "long
// ago".
func (r *Repo) PushedAt(ctx context.Context, branch, sha string) (time.Time, error) {
	return remember(&r.memo, "pushed:"+branch+"@"+sha, func() (time.Time, error) {
		after := ""
		for page := 0; page < activityPages; page++ {
			u := fmt.Sprintf("repos/%s/%s/activity?ref=%s&per_page=%d", r.Owner, r.Name, url.QueryEscape("refs/heads/"+branch), perPage)
			if after != "" {
				u += "&after=" + url.QueryEscape(after)
			}
			req, err := r.client.NewRequest("GET", u, nil)
			if err != nil {
				return time.Time{}, err
			}
			var list []activity
			resp, err := r.client.Do(ctx, req, &list)
			if err != nil {
				if err := wrap("read the activity of "+branch, err); IsNotFound(err) {
					return time.Time{}, nil
				} else {
					return time.Time{}, err
				}
			}
			for _, a := range list { // newest first
				if a.After == sha {
					return a.Timestamp, nil
				}
			}
			if resp.After == "" {
				break
			}
			after = resp.After
		}
		return time.Time{}, nil
	})
}
