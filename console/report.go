package console

import (
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"hazardgw/alarms"
)

// Alarm statistics for GET /api/report (SPEC §8; ISA-18.2 §16 and EEMUA
// 191's performance levels). Everything is computed from the journal for
// the period asked.

const (
	bucket       = 10 * time.Minute
	floodOver    = 10 // more than this many activations in 10 minutes is a flood (EEMUA 191, DOMAIN §5)
	chatterCount = 3  // activations of one alarm within chatterSpan make it chattering (ISA-18.2)
	chatterSpan  = time.Minute
	standingFor  = 24 * time.Hour
	maxPeriod    = 31 * 24 * time.Hour
	topN         = 10
)

// Report is the /api/report body. Times are SPEC times; durations seconds.
type Report struct {
	From        string         `json:"from"`
	To          string         `json:"to"`
	Activations int            `json:"activations"`
	ByPriority  map[string]int `json:"by_priority"` // urgent high medium low
	ByTier      map[string]int `json:"by_tier"`     // "0" "1" "2"
	// Per10Min counts activations in each 10-minute bucket from From.
	Per10Min     []int   `json:"per_10min"`
	AvgPer10Min  float64 `json:"avg_per_10min"`
	PeakPer10Min int     `json:"peak_per_10min"`
	PeakAt       string  `json:"peak_at,omitempty"` // start of the peak bucket
	// Targets: EEMUA 191's acceptable rate (1 per 10 min) and the flood
	// threshold (more than 10 per 10 min).
	Targets     map[string]int `json:"targets"`
	Floods      []Flood        `json:"floods"`
	FloodS      float64        `json:"flood_s"` // time in flood
	Top         []Count        `json:"top"`     // the 10 most frequent alarms
	Chattering  []Count        `json:"chattering"`
	Standing    []Standing     `json:"standing"` // active for more than 24 h at the end of the period
	Ack         AckStats       `json:"ack"`
	ShelvedS    float64        `json:"shelved_s"`
	Shelved     []Span         `json:"shelved"` // by alarm
	OOSS        float64        `json:"oos_s"`
	OOS         []Span         `json:"oos"` // by point
	EventsTotal int            `json:"events"`
}

type Flood struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Activations int    `json:"activations"`
}

type Count struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Priority string `json:"priority"`
	Count    int    `json:"count"`
}

type Standing struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Priority  string  `json:"priority"`
	Activated string  `json:"activated"`
	Hours     float64 `json:"hours"`
}

// AckStats: time from activation to an operator's acknowledgement.
type AckStats struct {
	Count   int     `json:"count"`
	MedianS float64 `json:"median_s"`
	P90S    float64 `json:"p90_s"`
	Unacked int     `json:"unacked"` // alarms whose last activation in the period nobody acknowledged by its end
}

type Span struct {
	ID      string  `json:"id"`
	Seconds float64 `json:"seconds"`
}

// alarmTrack is what the report follows of one alarm while scanning.
type alarmTrack struct {
	seen, active, acked bool
	last                alarms.Event
	pendingAck          time.Time // activation waiting for an ack; zero: none
	acts                []time.Time
	shelvedAt, oosAt    time.Time // zero: not shelved / oos
	shelved, oos        time.Duration
}

// overlap is the part of [a, b) inside [from, to).
func overlap(a, b, from, to time.Time) time.Duration {
	if a.Before(from) {
		a = from
	}
	if b.After(to) {
		b = to
	}
	if b.Before(a) {
		return 0
	}
	return b.Sub(a)
}

// buildReport computes the report of [from, to) from the journal; now
// closes spans still open at the end.
func buildReport(e Engine, from, to, now time.Time) (*Report, error) {
	rep := &Report{From: alarms.FormatTime(from), To: alarms.FormatTime(to),
		ByPriority: map[string]int{"urgent": 0, "high": 0, "medium": 0, "low": 0},
		ByTier:     map[string]int{"0": 0, "1": 0, "2": 0},
		Targets:    map[string]int{"acceptable_per_10min": 1, "flood_per_10min": floodOver},
		Floods:     []Flood{}, Top: []Count{}, Chattering: []Count{}, Standing: []Standing{},
		Shelved: []Span{}, OOS: []Span{}}
	nb := int((to.Sub(from) + bucket - 1) / bucket)
	rep.Per10Min = make([]int, nb)
	tracks := map[string]*alarmTrack{}
	var acks []float64
	end := to
	if now.Before(end) {
		end = now
	}
	f := eventFilter{to: to}
	s, err := seqBefore(e, from)
	if err != nil {
		return nil, err
	}
	f.after = s
	err = scanEvents(e, f, func(ev alarms.Event) bool {
		tr := tracks[ev.ID]
		if tr == nil {
			tr = &alarmTrack{}
			tracks[ev.ID] = tr
		}
		in := !ev.Time.Before(from) && ev.Time.Before(to)
		if in {
			rep.EventsTotal++
		}
		// An activation: the alarm becomes active (the first event seen
		// of an alarm counts when it is its activation).
		activation := ev.Active && (tr.seen && !tr.active ||
			!tr.seen && ev.Activated != nil && ev.Activated.Equal(ev.Time) && ev.State == alarms.Unack)
		if activation {
			tr.pendingAck = ev.Time
			if in {
				rep.Activations++
				rep.ByPriority[ev.Priority.String()]++
				rep.ByTier[strconv.Itoa(ev.Tier)]++
				rep.Per10Min[int(ev.Time.Sub(from)/bucket)]++
				tr.acts = append(tr.acts, ev.Time)
			}
		}
		if ev.Acked && (!tr.acked || !tr.seen) && ev.By != "" && !tr.pendingAck.IsZero() {
			if in {
				acks = append(acks, ev.Time.Sub(tr.pendingAck).Seconds())
			}
			tr.pendingAck = time.Time{}
		}
		shelved, oos := ev.State == alarms.Shelved, ev.OOS || ev.State == alarms.OOS
		switch {
		case shelved && tr.shelvedAt.IsZero():
			tr.shelvedAt = ev.Time
		case !shelved && !tr.shelvedAt.IsZero():
			tr.shelved += overlap(tr.shelvedAt, ev.Time, from, to)
			tr.shelvedAt = time.Time{}
		}
		switch {
		case oos && tr.oosAt.IsZero():
			tr.oosAt = ev.Time
		case !oos && !tr.oosAt.IsZero():
			tr.oos += overlap(tr.oosAt, ev.Time, from, to)
			tr.oosAt = time.Time{}
		}
		tr.seen, tr.active, tr.acked, tr.last = true, ev.Active, ev.Acked, ev
		return true
	})
	if err != nil {
		return nil, err
	}
	// Rates and floods.
	peak := 0
	for i, n := range rep.Per10Min {
		if n > rep.PeakPer10Min {
			rep.PeakPer10Min, peak = n, i
		}
		if n > floodOver {
			start, stop := from.Add(time.Duration(i)*bucket), from.Add(time.Duration(i+1)*bucket)
			if k := len(rep.Floods) - 1; k >= 0 && rep.Floods[k].To == alarms.FormatTime(start) {
				rep.Floods[k].To, rep.Floods[k].Activations = alarms.FormatTime(stop), rep.Floods[k].Activations+n
			} else {
				rep.Floods = append(rep.Floods, Flood{From: alarms.FormatTime(start), To: alarms.FormatTime(stop), Activations: n})
			}
			rep.FloodS += bucket.Seconds()
		}
	}
	if nb > 0 {
		rep.AvgPer10Min = float64(rep.Activations) / float64(nb)
	}
	if rep.PeakPer10Min > 0 {
		rep.PeakAt = alarms.FormatTime(from.Add(time.Duration(peak) * bucket))
	}
	// Per alarm: top, chattering, standing, shelved, out of service.
	oosByPoint := map[string]time.Duration{}
	for id, tr := range tracks {
		ev := tr.last
		if n := len(tr.acts); n > 0 {
			rep.Top = append(rep.Top, Count{ID: id, Name: ev.Name, Priority: ev.Priority.String(), Count: n})
			for i := chatterCount - 1; i < n; i++ {
				if tr.acts[i].Sub(tr.acts[i-chatterCount+1]) <= chatterSpan {
					rep.Chattering = append(rep.Chattering, Count{ID: id, Name: ev.Name, Priority: ev.Priority.String(), Count: n})
					break
				}
			}
		}
		if !tr.pendingAck.IsZero() && !tr.pendingAck.Before(from) {
			rep.Ack.Unacked++
		}
		if ev.Active && ev.Activated != nil && end.Sub(*ev.Activated) > standingFor {
			rep.Standing = append(rep.Standing, Standing{ID: id, Name: ev.Name, Priority: ev.Priority.String(),
				Activated: alarms.FormatTime(*ev.Activated), Hours: end.Sub(*ev.Activated).Hours()})
		}
		if !tr.shelvedAt.IsZero() {
			tr.shelved += overlap(tr.shelvedAt, end, from, to)
		}
		if !tr.oosAt.IsZero() {
			tr.oos += overlap(tr.oosAt, end, from, to)
		}
		if tr.shelved > 0 {
			rep.Shelved = append(rep.Shelved, Span{ID: id, Seconds: tr.shelved.Seconds()})
			rep.ShelvedS += tr.shelved.Seconds()
		}
		if tr.oos > oosByPoint[ev.Point] {
			oosByPoint[ev.Point] = tr.oos // a point's alarms go out of service together
		}
	}
	for p, d := range oosByPoint {
		rep.OOS = append(rep.OOS, Span{ID: p, Seconds: d.Seconds()})
		rep.OOSS += d.Seconds()
	}
	byCount := func(a, b Count) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.ID, b.ID)
	}
	slices.SortFunc(rep.Top, byCount)
	rep.Top = rep.Top[:min(len(rep.Top), topN)]
	slices.SortFunc(rep.Chattering, byCount)
	slices.SortFunc(rep.Standing, func(a, b Standing) int { return strings.Compare(a.ID, b.ID) })
	bySeconds := func(a, b Span) int {
		if a.Seconds != b.Seconds {
			if a.Seconds > b.Seconds {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	}
	slices.SortFunc(rep.Shelved, bySeconds)
	slices.SortFunc(rep.OOS, bySeconds)
	if n := len(acks); n > 0 {
		sort.Float64s(acks)
		rep.Ack.Count = n
		rep.Ack.MedianS = acks[n/2]
		if n%2 == 0 {
			rep.Ack.MedianS = (acks[n/2-1] + acks[n/2]) / 2
		}
		rep.Ack.P90S = acks[min(n-1, (n*9+9)/10-1)]
	}
	return rep, nil
}

// apiReport serves GET /api/report?from=T&to=T (default: the last 24 h, at
// most 31 days).
func (s *Server) apiReport(w http.ResponseWriter, r *http.Request, _ identity) {
	q := r.URL.Query()
	now := s.opts.Now()
	from, err := parseTime(q, "from")
	var to time.Time
	if err == nil {
		to, err = parseTime(q, "to")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-24 * time.Hour)
	}
	if !from.Before(to) || to.Sub(from) > maxPeriod {
		writeError(w, http.StatusBadRequest, "from must be before to, at most 31 days apart")
		return
	}
	rep, err := buildReport(s.deps.Engine, from.UTC(), to.UTC(), now)
	if err != nil {
		s.log.Warn("console: report", "err", err)
		writeError(w, http.StatusInternalServerError, "journal: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// apiPlan serves the site plan image (console.plan), 404 without one.
func (s *Server) apiPlan(w http.ResponseWriter, r *http.Request, _ identity) {
	p := s.cfg.PlanPath()
	if p == "" {
		writeError(w, http.StatusNotFound, "no site plan (console.plan)")
		return
	}
	if _, err := os.Stat(p); err != nil {
		writeError(w, http.StatusNotFound, "site plan: "+err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFile(w, r, p)
}
