package facts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Kind classifies what GitHub's answer means for the caller, so that a
// find-or-create write can tell "422 reference already exists" from any
// other 422, and a gate can tell a missing branch from a passing outage.
type Kind int

// The kinds of failure a GitHub call can end in.
const (
	// Other is anything not classified below (a bug, a 400, a 401).
	Other Kind = iota
	// NotFound is a 404: the thing does not exist, or the app cannot see it.
	NotFound
	// AlreadyExists is a 422 whose validation error says so (a ref, a
	// label, a pull request for the same head and base).
	AlreadyExists
	// Validation is any other 422: GitHub refused the request's content.
	Validation
	// Conflict is a 409: the state moved under the request (a merge whose
	// head moved, a deployment whose ref needs a merge first).
	Conflict
	// NotAllowed is a 405: GitHub will not do it (a pull request that is
	// not mergeable).
	NotAllowed
	// Forbidden is a 403 that is not a rate limit: a missing permission.
	Forbidden
	// RateLimited is a 403 or 429 for a primary or secondary rate limit
	// that the retries could not wait out.
	RateLimited
	// Transient is a 5xx, a network error or a timeout: GitHub may or may
	// not have acted, and asking again later may work.
	Transient
	// Incomplete is a listing cut short by the bot's own page bound: what
	// was read is not everything there is.
	Incomplete
)

var kindNames = map[Kind]string{
	Other: "other", NotFound: "not found", AlreadyExists: "already exists", Validation: "validation failed",
	Conflict: "conflict", NotAllowed: "not allowed", Forbidden: "forbidden", RateLimited: "rate limited",
	Transient: "transient", Incomplete: "incomplete",
}

func (k Kind) String() string { return kindNames[k] }

// Error is a failed GitHub call: what the bot was doing, how GitHub
// answered and what that means.
type Error struct {
	// Op says what the bot was doing, for people: "compare v1.4.2...abc1234".
	Op     string
	Kind   Kind
	Status int
	// Message is GitHub's message, if it gave one.
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Status != 0 && e.Message != "":
		return fmt.Sprintf("%s: GitHub answered %d (%s)", e.Op, e.Status, e.Message)
	case e.Status != 0:
		return fmt.Sprintf("%s: GitHub answered %d", e.Op, e.Status)
	case e.Message != "":
		return e.Op + ": " + e.Message
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	}
	return e.Op + ": " + e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable says whether trying again later may succeed: GitHub failed or
// did not answer (app.Retryable; the queue handles the event again).
func (e *Error) Retryable() bool { return e.Kind == Transient }

// wrap classifies err as the failure of op. It returns nil for nil and
// keeps an already classified error's kind (adding the outer op).
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		return &Error{Op: op + ": " + fe.Op, Kind: fe.Kind, Status: fe.Status, Message: fe.Message, Err: fe.Err}
	}
	e := &Error{Op: op, Kind: Other, Err: err}
	var ge *github.ErrorResponse
	var rl *github.RateLimitError
	var al *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		e.Kind, e.Message = RateLimited, rl.Message
		if rl.Response != nil {
			e.Status = rl.Response.StatusCode
		}
	case errors.As(err, &al):
		e.Kind, e.Message = RateLimited, al.Message
		if al.Response != nil {
			e.Status = al.Response.StatusCode
		}
	case errors.As(err, &ge) && ge.Response != nil:
		e.Status, e.Message = ge.Response.StatusCode, ge.Message
		e.Kind = kindOfStatus(ge)
	case errors.As(err, new(interface{ RateLimitedUntil() time.Time })):
		// The server held the request back: its installation waits for a
		// GitHub rate limit (app.BlockedError).
		e.Kind = RateLimited
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.Kind = Transient
	default:
		var ne net.Error
		var ue *url.Error
		if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			e.Kind = Transient
		}
	}
	return e
}

func kindOfStatus(ge *github.ErrorResponse) Kind {
	switch s := ge.Response.StatusCode; {
	case s == http.StatusNotFound:
		return NotFound
	case s == http.StatusConflict:
		return Conflict
	case s == http.StatusMethodNotAllowed:
		return NotAllowed
	case s == http.StatusUnprocessableEntity:
		if strings.Contains(strings.ToLower(ge.Message), "already exists") {
			return AlreadyExists
		}
		for _, e := range ge.Errors {
			if e.Code == "already_exists" || strings.Contains(strings.ToLower(e.Message), "already exists") {
				return AlreadyExists
			}
		}
		return Validation
	case s == http.StatusTooManyRequests:
		return RateLimited
	case s == http.StatusForbidden:
		if strings.Contains(strings.ToLower(ge.Message), "rate limit") {
			return RateLimited
		}
		return Forbidden
	case s >= 500:
		return Transient
	}
	return Other
}

// KindOf returns the kind of a classified error, Other for anything else
// (and for nil).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var ge *github.ErrorResponse
	if errors.As(err, &ge) && ge.Response != nil {
		return kindOfStatus(ge)
	}
	return Other
}

// IsNotFound reports whether GitHub answered 404.
func IsNotFound(err error) bool { return KindOf(err) == NotFound }

// IsAlreadyExists reports whether GitHub refused a create because the
// thing exists.
func IsAlreadyExists(err error) bool { return KindOf(err) == AlreadyExists }

// IsTransient reports whether the call may have failed for reasons that
// pass (and may, for a write, have taken effect anyway).
func IsTransient(err error) bool { return KindOf(err) == Transient }

// Explain says, for people, what a failed fact means and what to do:
// the sentence a check run or a refusal shows.
func Explain(err error) string {
	// Errors quote GitHub's messages, which can quote names people chose
	// (a branch called release/@team): they are shown, never mentioned.
	return policy.NoMention(explain(err))
}

func explain(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Sprintf("%v. Try again in a minute.", err)
	}
	switch e.Kind {
	case Transient:
		return fmt.Sprintf("GitHub did not answer in time or failed (%s). This usually passes: try again in a minute.", e.Error())
	case RateLimited:
		return fmt.Sprintf("GitHub's rate limit for this installation was reached (%s). Try again after the limit resets (within the hour).", e.Error())
	case Forbidden:
		return fmt.Sprintf("GitHub refused the app (%s): check that the installation still grants the permissions hotfix-bot asks for.", e.Error())
	case Incomplete:
		return e.Error() + "."
	}
	return e.Error() + "."
}
