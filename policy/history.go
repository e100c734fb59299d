package policy

import (
	"fmt"
	"strings"
	"time"
)

// ZeroSHA is what GitHub's activity log records as the "before" of a
// branch's creation and the "after" of its deletion.
const ZeroSHA = "0000000000000000000000000000000000000000"

// PushEntry is one move of a branch, as GitHub's repository activity log
// records it: who moved it, from which commit to which, and when (GitHub's
// clock, to the second).
type PushEntry struct {
	Before, After string
	At            time.Time
	Actor         string
	ActorBot      bool
	// Kind is the activity type: push, force_push, branch_creation,
	// branch_deletion, pr_merge, merge_queue_merge.
	Kind string
}

// PushHistory is a branch's moves, newest first, as far back as the bot
// read them.
type PushHistory struct {
	Branch  string
	Entries []PushEntry
	// Complete: Entries reach back to the branch's creation (its newest
	// branch_creation entry is the last one).
	Complete bool
	// Unknown says why the history could not be read at all (a GitHub
	// failure, or a GitHub without the activity log).
	Unknown string
}

// Caught reports whether the history shows the push that made head the
// tip: the activity log lags a push by a few seconds, and until it shows
// it nothing about head's pushes can be told. why says what is missing.
func (h PushHistory) Caught(head string) (ok bool, why string) {
	switch {
	case h.Unknown != "":
		return false, h.Unknown
	case len(h.Entries) == 0 || h.Entries[0].After != head:
		return false, fmt.Sprintf("GitHub's activity log does not show the push of `%s` to `%s` yet (it can lag a push by a few seconds)", Short(head), h.Branch)
	}
	return true, ""
}

// Superseded reports whether the history shows head moved on from (a
// later push started at it): the branch is past head, so waiting for
// the log to show head's push is pointless.
func (h PushHistory) Superseded(head string) bool {
	for _, e := range h.Entries {
		if e.Before == head {
			return true
		}
	}
	return false
}

// LastPush is when head last became the tip (zero when the history does
// not show it yet).
func (h PushHistory) LastPush(head string) time.Time {
	if ok, _ := h.Caught(head); !ok {
		return time.Time{}
	}
	return h.Entries[0].At
}

// gap returns the index i of the first entry whose predecessor in time
// (Entries[i+1]) does not end where it starts: the log lacks a move of the
// branch between them. -1 when the chain is whole.
func (h PushHistory) gap() int {
	for i := 0; i+1 < len(h.Entries); i++ {
		if h.Entries[i].Kind == "branch_creation" {
			return -1 // older entries belong to an earlier life of the branch
		}
		if h.Entries[i+1].After != h.Entries[i].Before {
			return i
		}
	}
	return -1
}

// HeadAt is the branch's tip at the moment t (a label being added), from
// the history, given that head is its tip now. It fails (sha "", why set)
// when the history cannot place t: the log does not show the current
// head's push yet and t came after everything it shows, t falls in the
// same second as a move (which came first cannot be told), the log lacks
// a move before t, or does not reach back to t.
func (h PushHistory) HeadAt(t time.Time, head string) (sha, why string) {
	if h.Unknown != "" {
		return "", h.Unknown
	}
	second := t.Truncate(time.Second)
	for i, e := range h.Entries {
		if e.At.Truncate(time.Second).Equal(second) {
			return "", fmt.Sprintf("it was added in the same second as a push to `%s` (`%s` at %s), so which came first cannot be told", h.Branch, Short(e.After), clock(e.At))
		}
		if !e.At.Before(t) {
			continue
		}
		if i > 0 && h.Entries[i-1].Before != e.After {
			return "", fmt.Sprintf("GitHub's activity log lacks a push to `%s` between `%s` and `%s`, so the head at %s cannot be placed", h.Branch, Short(e.After), Short(h.Entries[i-1].Before), clock(t))
		}
		// e is the newest move before t: its result was the tip at t.
		if i == 0 && e.After != head {
			_, why := h.Caught(head)
			return "", why + ", and that push may have come before it"
		}
		if e.After == ZeroSHA {
			return "", fmt.Sprintf("`%s` did not exist at %s", h.Branch, clock(t))
		}
		return e.After, ""
	}
	if len(h.Entries) == 0 {
		_, why := h.Caught(head)
		return "", why
	}
	if h.Complete {
		return "", fmt.Sprintf("`%s` did not exist yet at %s", h.Branch, clock(t))
	}
	return "", fmt.Sprintf("GitHub's activity log, as far back as the bot reads it, does not reach back to %s", clock(t))
}

// Pusher is someone who moved a branch: the commits they made its tip,
// and whether they created it.
type Pusher struct {
	Login   string
	Bot     bool
	Pushed  []string
	Created bool
}

// Pushers are everyone who moved the branch in its current life (since
// its creation), each with the commits they pushed, newest first. It
// fails (why set) when the history cannot say who pushed: the current
// head's push is not in the log yet, the log does not reach back to the
// branch's creation, or it lacks a move in between.
func (h PushHistory) Pushers(head string) (pushers map[string]*Pusher, why string) {
	if ok, why := h.Caught(head); !ok {
		return nil, fmt.Sprintf("cannot tell who pushed `%s` yet: %s", Short(head), why)
	}
	if i := h.gap(); i >= 0 {
		return nil, fmt.Sprintf("GitHub's activity log lacks a push to `%s` between `%s` and `%s`, so the bot cannot tell everyone who pushed to it", h.Branch, Short(h.Entries[i+1].After), Short(h.Entries[i].Before))
	}
	if !h.Complete {
		return nil, fmt.Sprintf("GitHub's activity log, as far back as the bot reads it, does not reach back to the creation of `%s`, so the bot cannot tell everyone who pushed to it", h.Branch)
	}
	pushers = map[string]*Pusher{}
	for _, e := range h.Entries {
		if e.Actor == "" {
			return nil, fmt.Sprintf("GitHub's activity log does not say who pushed `%s` to `%s`", Short(e.After), h.Branch)
		}
		key := strings.ToLower(e.Actor)
		p, ok := pushers[key]
		if !ok {
			p = &Pusher{Login: e.Actor}
			pushers[key] = p
		}
		p.Bot = p.Bot || e.ActorBot
		if e.Kind == "branch_creation" {
			p.Created = true
			break
		}
		if e.After != ZeroSHA {
			p.Pushed = append(p.Pushed, e.After)
		}
	}
	return pushers, ""
}
