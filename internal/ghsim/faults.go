package ghsim

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Fault is a rule that makes matching API calls fail the way GitHub fails.
type Fault struct {
	// Op is the operation id to match (e.g. "checks/create"); "" matches all.
	Op string
	// Times is how many matching calls the rule answers; 0 means every one.
	Times int

	// Status answers with this HTTP status (e.g. 502) and GitHub's error body.
	Status int
	// RetryAfter makes the answer a secondary rate limit: 403 (or Status,
	// e.g. 429) with a Retry-After header.
	RetryAfter time.Duration
	// Latency delays the call (real time) before it is answered normally.
	Latency time.Duration
	// Hang never answers: the client's timeout ends the call.
	Hang bool
	// AfterEffect performs the call, then answers with Status anyway (the
	// write happened, the response was lost).
	AfterEffect bool
	// Hold makes a matching call wait, before GitHub acts on it, until
	// the channel is closed; Holding (if set) receives once the call
	// waits. Scenarios use them to order two replicas' work exactly.
	Hold    chan struct{}
	Holding chan struct{}

	hits int
}

func (f *Fault) name() string {
	switch {
	case f.Hang:
		return "hang"
	case f.Hold != nil:
		return "hold"
	case f.RetryAfter > 0:
		return "secondary_rate_limit"
	case f.AfterEffect:
		return fmt.Sprintf("status_%d_after_effect", f.Status)
	case f.Status != 0:
		return fmt.Sprintf("status_%d", f.Status)
	}
	return "latency"
}

// Inject adds a fault rule; rules are tried in the order added.
func (s *Sim) Inject(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// ClearFaults removes every fault rule.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Hits reports how many calls a rule has answered.
func (s *Sim) Hits(f *Fault) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return f.hits
}

// matchFault finds the first rule for this call with uses left (lock held).
func (s *Sim) matchFault(c *call) *Fault {
	for _, f := range s.faults {
		if f.Op != "" && f.Op != c.route.op {
			continue
		}
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		f.hits++
		return f
	}
	return nil
}

func (s *Sim) faultResponse(c *call, f *Fault) (int, any) {
	s.rateHeaders(c)
	if f.RetryAfter > 0 {
		c.header.Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		status := http.StatusForbidden
		if f.Status != 0 {
			status = f.Status
		}
		return status, obj{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		}
	}
	status := f.Status
	if status == 0 {
		status = http.StatusBadGateway
	}
	return fail(status, http.StatusText(status))
}
