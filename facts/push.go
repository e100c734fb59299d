package facts

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/hotfix-bot/hotfix-bot/policy"
)

// activity is one entry of GET /repos/{owner}/{repo}/activity (go-github
// v60 has no type for it).
type activity struct {
	Before    string    `json:"before"`
	After     string    `json:"after"`
	Ref       string    `json:"ref"`
	Timestamp time.Time `json:"timestamp"`
	Type      string    `json:"activity_type"`
	Actor     *struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"actor"`
}

// activityPages bounds how far back a branch's history is read: 1000
// moves of one hotfix branch.
const activityPages = 10

// historyWaits are the pauses while GitHub's activity log catches up with
// the push of the head (it lags a push by a few seconds): 15 s in all.
var historyWaits = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// PushHistory reads a branch's moves from GitHub's repository activity
// log, newest first, back to the branch's creation (or the bot's page
// bound): who pushed which commit, and when, in GitHub's time. head is
// the branch's tip as the event says: while the log does not show its push
// yet (it is eventually consistent), the bot waits for it up to 15 s. A
// GitHub without the activity log (older Enterprise Server, 404) gives a
// history that says so in Unknown; a GitHub failure is an error.
func (r *Repo) PushHistory(ctx context.Context, branch, head string) (policy.PushHistory, error) {
	return remember(ctx, &r.memo, "history:"+branch+"@"+head, func() (policy.PushHistory, error) {
		for i := 0; ; i++ {
			h, err := r.readHistory(ctx, branch)
			if err != nil || h.Unknown != "" {
				return h, err
			}
			if ok, _ := h.Caught(head); ok || h.Superseded(head) || i == len(historyWaits) {
				return h, nil
			}
			if err := r.Clock.Sleep(ctx, historyWaits[i]); err != nil {
				return h, err
			}
		}
	})
}

func (r *Repo) readHistory(ctx context.Context, branch string) (policy.PushHistory, error) {
	h := policy.PushHistory{Branch: branch}
	after := ""
	for page := 0; page < activityPages; page++ {
		u := fmt.Sprintf("repos/%s/%s/activity?ref=%s&per_page=%d", r.Owner, r.Name, url.QueryEscape("refs/heads/"+branch), perPage)
		if after != "" {
			u += "&after=" + url.QueryEscape(after)
		}
		req, err := r.client.NewRequest("GET", u, nil)
		if err != nil {
			return h, err
		}
		var list []activity
		resp, err := r.client.Do(ctx, req, &list)
		if err != nil {
			err := wrap("read the activity log of "+branch, err)
			if IsNotFound(err) {
				h.Unknown = "this GitHub has no repository activity log (GitHub Enterprise Server before it had one), so the bot cannot tell who pushed to `" + branch + "` or what its head was when"
				return h, nil
			}
			return h, err
		}
		for _, a := range list { // newest first
			e := policy.PushEntry{Before: a.Before, After: a.After, At: a.Timestamp, Kind: a.Type}
			if a.Actor != nil {
				e.Actor, e.ActorBot = a.Actor.Login, a.Actor.Type == "Bot"
			}
			h.Entries = append(h.Entries, e)
			if a.Type == "branch_creation" {
				h.Complete = true
				return h, nil
			}
		}
		if resp.After == "" {
			break
		}
		after = resp.After
	}
	return h, nil
}
