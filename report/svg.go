package report

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// The charts are SVG drawn on the server: no script, scaled to the
// screen by their viewBox (400 units wide, about a phone's width in CSS
// pixels, so their text stays readable there).
const svgWidth = 400

// LeadTimeBuckets and RecoveryBuckets are the upper edges of the
// distributions' bars (the last bar holds everything longer).
var (
	LeadTimeBuckets = []time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}
	RecoveryBuckets = []time.Duration{15 * time.Minute, time.Hour, 4 * time.Hour, 24 * time.Hour}
)

// LeadTimes are the lead times of the window's hotfixes.
func (r Report) LeadTimes() []time.Duration {
	var out []time.Duration
	for _, h := range r.Hotfixes {
		if h.LeadTime != nil {
			out = append(out, time.Duration(*h.LeadTime))
		}
	}
	return out
}

// RecoveryTimes are the recovery times of the window's failures.
func (r Report) RecoveryTimes() []time.Duration {
	var out []time.Duration
	for _, f := range r.Failures {
		if f.Recovery != nil {
			out = append(out, time.Duration(*f.Recovery))
		}
	}
	return out
}

func esc(s string) string { return html.EscapeString(s) }

// TimelineSVG draws the window's production deployments on one time
// axis, a lane each for successes, failures and rollbacks; every mark
// names its deployment (its title is the tooltip).
func (r Report) TimelineSVG() string {
	const left, right, height = 70.0, 10.0, 104.0
	lanes := map[string]float64{"success": 22, "failure": 46, "rollback": 70}
	span := r.Until.Sub(r.Since)
	x := func(t time.Time) float64 {
		if span <= 0 {
			return left
		}
		return left + (svgWidth-left-right)*float64(t.Sub(r.Since))/float64(span)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" viewBox="0 0 %d %.0f" width="100%%" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		svgWidth, height, esc(fmt.Sprintf("Timeline of %d production deployments", len(r.Timeline))))
	b.WriteString(`<style>text{font:10px sans-serif;fill:#59636e}.axis{stroke:#d1d9e0}.success{fill:#1a7f37}.failure{stroke:#cf222e;stroke-width:2}.rollback{fill:#bc4c00}</style>`)
	for _, l := range []struct{ name, label string }{{"success", "deployed"}, {"failure", "failed"}, {"rollback", "rolled back"}} {
		y := lanes[l.name]
		fmt.Fprintf(&b, `<text x="0" y="%.0f">%s</text><line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`, y+3, l.label, left, y, svgWidth-right, y)
	}
	// Month starts on the axis.
	for m := time.Date(r.Since.Year(), r.Since.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0); m.Before(r.Until); m = m.AddDate(0, 1, 0) {
		fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="10" x2="%.1f" y2="80"/>`, x(m), x(m))
		if x(m) > left+40 && x(m) < svgWidth-right-45 { // clear of the window's own dates
			fmt.Fprintf(&b, `<text x="%.1f" y="94">%s</text>`, x(m)-8, m.Format("Jan"))
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="94">%s</text>`, left, r.Since.UTC().Format("2 Jan"))
	fmt.Fprintf(&b, `<text x="%.0f" y="94" text-anchor="end">%s</text>`, svgWidth-right, r.Until.UTC().Format("2 Jan"))
	for _, e := range r.Timeline {
		title := fmt.Sprintf("<title>deployment %d, %s: %s at %s</title>", e.Deployment, esc(e.Name), e.Kind, when(e.At))
		cx, cy := x(e.At), lanes[e.Kind]
		switch e.Kind {
		case "success":
			fmt.Fprintf(&b, `<circle class="success" cx="%.1f" cy="%.0f" r="4">%s</circle>`, cx, cy, title)
		case "failure":
			fmt.Fprintf(&b, `<path class="failure" d="M%.1f %.0fl8 8m0 -8l-8 8">%s</path>`, cx-4, cy-4, title)
		case "rollback":
			fmt.Fprintf(&b, `<path class="rollback" d="M%.1f %.0fl5 5l-5 5l-5 -5z">%s</path>`, cx, cy-5, title)
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// DistributionSVG draws durations as bars over buckets (upper edges;
// the last bar holds everything longer), each bar with its count.
func DistributionSVG(name string, values []time.Duration, edges []time.Duration) string {
	counts := make([]int, len(edges)+1)
	for _, v := range values {
		i := 0
		for i < len(edges) && v > edges[i] {
			i++
		}
		counts[i]++
	}
	most := 1
	for _, c := range counts {
		most = max(most, c)
	}
	const height, base, top = 120.0, 96.0, 14.0
	slot := float64(svgWidth) / float64(len(counts))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="distribution" viewBox="0 0 %d %.0f" width="100%%" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		svgWidth, height, esc(fmt.Sprintf("%s: %d values", name, len(values))))
	b.WriteString(`<style>text{font:10px sans-serif;fill:#59636e}.bar{fill:#0969da}.axis{stroke:#d1d9e0}</style>`)
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%.0f" x2="%d" y2="%.0f"/>`, base, svgWidth, base)
	for i, c := range counts {
		label := ""
		switch {
		case i == 0:
			label = "≤ " + Duration(edges[0]).String()
		case i == len(edges):
			label = "> " + Duration(edges[i-1]).String()
		default:
			label = Duration(edges[i-1]).String() + "–" + Duration(edges[i]).String()
		}
		label = strings.NewReplacer(" 0m", "", " 0h", "").Replace(label)
		h := (base - top) * float64(c) / float64(most)
		bx := float64(i)*slot + slot*0.15
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`, bx, base-h, slot*0.7, h, esc(label), c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`, bx+slot*0.35, base-h-3, c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, bx+slot*0.35, base+14, esc(label))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
