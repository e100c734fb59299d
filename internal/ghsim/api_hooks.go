package ghsim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// listHookDeliveries is GET /app/hook/deliveries: every attempt at
// delivering the app's webhooks, newest first, with cursor pagination and
// the `status` filter (success: 2xx/3xx; failure: 4xx/5xx; an unreachable
// target is status 0 and counts as a failure too).
func (s *Sim) listHookDeliveries(c *call) (int, any) {
	type row struct {
		d *Delivery
		a Attempt
	}
	var rows []row
	for _, d := range s.delivered {
		if d.App != c.app {
			continue
		}
		for _, a := range d.Attempts {
			rows = append(rows, row{d, a})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].a.ID > rows[j].a.ID })
	want := c.query("status")
	per := 30
	if v, err := strconv.Atoi(c.query("per_page")); err == nil && v > 0 {
		per = min(v, 100)
	}
	start := 0
	if cur := c.query("cursor"); cur != "" {
		start = len(rows)
		for i, r := range rows {
			if strconv.FormatInt(r.a.ID, 10) == cur {
				start = i + 1
				break
			}
		}
	}
	items := []any{}
	last := int64(0)
	more := false
	for _, r := range rows[start:] {
		ok := r.a.Status >= 200 && r.a.Status < 400
		if (want == "success" && !ok) || (want == "failure" && ok) {
			continue
		}
		if len(items) == per {
			more = true
			break
		}
		items = append(items, s.hookDeliveryJSON(r.d, r.a))
		last = r.a.ID
	}
	if more {
		u := *c.req.URL
		q := u.Query()
		q.Set("cursor", strconv.FormatInt(last, 10))
		u.RawQuery = q.Encode()
		c.header.Set("Link", `<`+strings.TrimSuffix(s.srv.URL, "/")+u.RequestURI()+`>; rel="next"`)
	}
	return http.StatusOK, items
}

func (s *Sim) hookDeliveryJSON(d *Delivery, a Attempt) obj {
	status := "OK"
	switch {
	case a.Status == 0:
		status = "failed to connect to host"
	case a.Status >= 300:
		status = "Invalid HTTP Response: " + strconv.Itoa(a.Status)
	}
	var action any
	if d.Action != "" {
		action = d.Action
	}
	return obj{
		"id": a.ID, "guid": d.ID, "delivered_at": ts(a.At), "redelivery": a.Redelivery, "duration": 0.01,
		"status": status, "status_code": a.Status, "event": d.Event, "action": action,
		"installation_id": d.Installation, "repository_id": d.RepoID, "throttled_at": nil,
	}
}

// attemptLocked finds a delivery by one of its attempts' ids.
func (s *Sim) attemptLocked(a *App, id int64) (*Delivery, bool) {
	for _, d := range s.delivered {
		if d.App != a {
			continue
		}
		for _, at := range d.Attempts {
			if at.ID == id {
				return d, true
			}
		}
	}
	return nil, false
}

func (s *Sim) getHookDelivery(c *call) (int, any) {
	id, _ := strconv.ParseInt(c.param("delivery_id"), 10, 64)
	d, ok := s.attemptLocked(c.app, id)
	if !ok {
		return notFound()
	}
	for _, a := range d.Attempts {
		if a.ID == id {
			o := s.hookDeliveryJSON(d, a)
			o["request"] = obj{"headers": obj{"X-GitHub-Event": d.Event}, "payload": nil}
			o["response"] = obj{"headers": obj{}, "payload": nil}
			return http.StatusOK, o
		}
	}
	return notFound()
}

// redeliverHookDelivery is POST /app/hook/deliveries/{id}/attempts: GitHub
// accepts (202) and delivers the same payload again, with the same GUID,
// shortly after (here: on the next Deliver).
func (s *Sim) redeliverHookDelivery(c *call) (int, any) {
	id, _ := strconv.ParseInt(c.param("delivery_id"), 10, 64)
	d, ok := s.attemptLocked(c.app, id)
	if !ok {
		return notFound()
	}
	if !d.redeliver {
		d.redeliver = true
		s.outbox = append(s.outbox, d)
	}
	return http.StatusAccepted, obj{}
}

// DeliveryAttempts counts the attempts, and the redeliveries among them,
// of the delivery with this GUID.
func (s *Sim) DeliveryAttempts(guid string) (attempts, redeliveries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.delivered {
		if d.ID == guid {
			for _, a := range d.Attempts {
				attempts++
				if a.Redelivery {
					redeliveries++
				}
			}
		}
	}
	return attempts, redeliveries
}
