package facts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// LabelEvent is the latest `labeled` or `unlabeled` event of one label.
type LabelEvent struct {
	Label string
	// Added: the latest event is `labeled`.
	Added bool
	Actor string
	Bot   bool
	At    time.Time
}

// LabelHistory is what a pull request's event log says about its labels.
type LabelHistory struct {
	// Latest event per label (lower-case) among the labels asked about
	// whose events were found; a label asked about and absent from a
	// fully read log was never added.
	Latest map[string]LabelEvent
	// Undetermined are labels asked about whose latest event lies beyond
	// the pages the bot reads (a very long log).
	Undetermined map[string]bool
	// NewestEventID is the id of the newest label event (labeled or
	// unlabeled) in the newest page of the log that this app did not
	// cause, 0 when there is none: a later reading with another id saw
	// someone change the labels. The app's own label writes (the
	// `hotfix` label, an approval reset) are not news to it.
	NewestEventID int64
}

// byThisApp reports whether an event's actor is this app's bot user.
func (r *Repo) byThisApp(actor *github.User) bool {
	return r.BotLogin != "" && actor.GetLogin() == r.BotLogin
}

// LabelHistory reads a pull request's event log newest first and returns,
// for each label asked about, its latest labeled/unlabeled event. GitHub
// lists the log oldest first without a sort option, so the bot reads the
// first page (for the page count), then the pages from the last one
// backwards, and stops as soon as every label is determined. Labels it
// could not determine within its page bound are Undetermined, never
// "absent".
func (r *Repo) LabelHistory(ctx context.Context, number int, labels []string) (LabelHistory, error) {
	h := LabelHistory{Latest: map[string]LabelEvent{}, Undetermined: map[string]bool{}}
	want := map[string]bool{}
	for _, l := range labels {
		want[strings.ToLower(l)] = true
	}
	op := fmt.Sprintf("read the event log of #%d", number)
	first, resp, err := r.client.Issues.ListIssueEvents(ctx, r.Owner, r.Name, number, &github.ListOptions{PerPage: perPage})
	if err != nil {
		return h, wrap(op, err)
	}
	last := 1
	if resp != nil && resp.LastPage > 1 {
		last = resp.LastPage
	}
	visit := func(events []*github.IssueEvent, newestPage bool) {
		for i := len(events) - 1; i >= 0; i-- {
			e := events[i]
			if (e.GetEvent() != "labeled" && e.GetEvent() != "unlabeled") || e.Label == nil {
				continue
			}
			if newestPage && h.NewestEventID == 0 && !r.byThisApp(e.GetActor()) {
				h.NewestEventID = e.GetID()
			}
			key := strings.ToLower(e.GetLabel().GetName())
			if _, done := h.Latest[key]; done || !want[key] {
				continue
			}
			h.Latest[key] = LabelEvent{Label: e.GetLabel().GetName(), Added: e.GetEvent() == "labeled",
				Actor: e.GetActor().GetLogin(), Bot: e.GetActor().GetType() == "Bot", At: e.GetCreatedAt().Time}
		}
	}
	determined := func() bool { return len(h.Latest) == len(want) }
	if last == 1 {
		visit(first, true)
		return h, nil
	}
	read := 1
	for page := last; page > 1; page-- {
		if read >= maxPages {
			break
		}
		events, _, err := r.client.Issues.ListIssueEvents(ctx, r.Owner, r.Name, number, &github.ListOptions{PerPage: perPage, Page: page})
		if err != nil {
			return h, wrap(op, err)
		}
		read++
		visit(events, page == last)
		if determined() {
			return h, nil
		}
		if page == 2 {
			visit(first, false)
			return h, nil
		}
	}
	for l := range want {
		if _, ok := h.Latest[l]; !ok {
			h.Undetermined[l] = true
		}
	}
	return h, nil
}
