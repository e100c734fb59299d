package facts

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// A hold lives in GitHub: the bot's answer to `/hold` or `/hold cancel`
// carries a hidden record (who, why, when), and the pull request carries
// the hold label while it is held. Every replica reads the same.

// HoldMarker is the hidden line that records a hold or its lifting in
// the bot's answer. JSON escapes < and >, so a reason cannot end the
// HTML comment early.
func HoldMarker(rec policy.HoldRecord) string {
	b, _ := json.Marshal(rec) // a struct of strings, times and numbers always marshals
	return Marker("hold:" + string(b))
}

var holdRecordRe = regexp.MustCompile(`<!-- hotfix-bot:hold:(\{.*?\}) -->`)

// HoldRecords reads the hold records of the app's own comments on a pull
// request, oldest first (anyone can type a marker; only the app's count).
// A listing longer than the bot reads is an Incomplete error: the newest
// record could be on a page not read.
func (r *Repo) HoldRecords(ctx context.Context, number int) ([]policy.HoldRecord, error) {
	return remember(ctx, &r.memo, fmt.Sprintf("holds:%d", number), func() ([]policy.HoldRecord, error) {
		comments, err := all(ctx, fmt.Sprintf("list the comments of #%d", number), func(o github.ListOptions) ([]Comment, *github.Response, error) {
			u, err := addQuery(fmt.Sprintf("repos/%s/%s/issues/%d/comments", r.Owner, r.Name, number), o)
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
		if err != nil {
			return nil, err
		}
		var out []policy.HoldRecord
		for _, c := range comments {
			if !r.byApp(c) || !strings.Contains(c.Body, "hotfix-bot:hold:") {
				continue
			}
			for _, m := range holdRecordRe.FindAllStringSubmatch(c.Body, -1) {
				var rec policy.HoldRecord
				if json.Unmarshal([]byte(m[1]), &rec) == nil && rec.By != "" {
					out = append(out, rec)
				}
			}
		}
		return out, nil
	})
}

// Hold reads whether a pull request is on hold: its labels as given (the
// caller's fresh read of the pull request) and the bot's records.
func (r *Repo) Hold(ctx context.Context, number int, labels []*github.Label) (policy.Hold, error) {
	records, err := r.HoldRecords(ctx, number)
	if err != nil {
		return policy.Hold{Unknown: Explain(err)}, err
	}
	on := false
	for _, l := range labels {
		on = on || strings.EqualFold(l.GetName(), policy.LabelHold)
	}
	return policy.HoldNow(on, records), nil
}
