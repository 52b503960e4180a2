package console

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"hazardgw/alarms"
)

// History on every screen (issue 14): /api/events with filters and CSV,
// /api/records and POST /api/alarms/{id}/dispose (SPEC §8).

const (
	maxEvents    = 1000   // one JSON page of /api/events
	maxCSVEvents = 100000 // one CSV export
	scanPage     = 1000   // journal read size while filtering
)

// eventFilter is /api/events' query. Lists (point, priority, state, id)
// are comma separated; an empty list matches everything.
type eventFilter struct {
	after    uint64
	limit    int
	from, to time.Time // on the event's time; zero: open
	points   map[string]bool
	ids      map[string]bool
	prios    map[string]bool
	states   map[string]bool
	csv      bool
}

func set(v string) map[string]bool {
	if v == "" {
		return nil
	}
	m := map[string]bool{}
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			m[x] = true
		}
	}
	return m
}

// parseTime reads an RFC 3339 query time; key names it in the error.
func parseTime(q url.Values, key string) (time.Time, error) {
	v := q.Get(key)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalid(key + ": want an RFC 3339 time such as 2026-11-28T08:00:00Z")
	}
	return t, nil
}

func parseFormat(q url.Values) (bool, error) {
	switch q.Get("format") {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	}
	return false, invalid("format: want json or csv")
}

func parseEventFilter(q url.Values) (eventFilter, error) {
	f := eventFilter{limit: 100, points: set(q.Get("point")), ids: set(q.Get("id")),
		prios: set(q.Get("priority")), states: set(q.Get("state"))}
	var err error
	if f.csv, err = parseFormat(q); err != nil {
		return f, err
	}
	if v := q.Get("after"); v != "" {
		if f.after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return f, invalid("after: want a seq (unsigned integer)")
		}
	}
	most := maxEvents
	if f.csv {
		most, f.limit = maxCSVEvents, maxCSVEvents
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return f, invalid("limit: want a positive integer")
		}
		f.limit = min(n, most)
	}
	if f.from, err = parseTime(q, "from"); err != nil {
		return f, err
	}
	if f.to, err = parseTime(q, "to"); err != nil {
		return f, err
	}
	for p := range f.prios {
		if _, err := alarms.ParsePriority(p); err != nil {
			return f, invalid("priority: " + err.Error())
		}
	}
	for st := range f.states {
		var s alarms.State
		if err := s.UnmarshalText([]byte(st)); err != nil {
			return f, invalid("state: " + err.Error())
		}
	}
	return f, nil
}

func (f *eventFilter) filtered() bool {
	return !f.from.IsZero() || !f.to.IsZero() || f.points != nil || f.ids != nil || f.prios != nil || f.states != nil
}

func (f *eventFilter) match(ev *alarms.Event) bool {
	return (f.from.IsZero() || !ev.Time.Before(f.from)) && (f.to.IsZero() || ev.Time.Before(f.to)) &&
		(f.points == nil || f.points[ev.Point]) && (f.ids == nil || f.ids[ev.ID]) &&
		(f.prios == nil || f.prios[ev.Priority.String()]) && (f.states == nil || f.states[ev.State.String()])
}

// clockSlack is how far an event's acquisition time may lie before its
// emission (on_delay, a device clock behind ours): scans by emission time
// start and stop this much wider than the filter.
const clockSlack = time.Hour

// seqBefore returns a seq after which every event with time >= t lies: the
// last event emitted before t - clockSlack, found by bisection over the
// journal (emission times grow with seq).
func seqBefore(e Engine, t time.Time) (uint64, error) {
	t = t.Add(-clockSlack)
	lo, hi := uint64(0), e.Seq() // answer in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		evs, err := e.Events(mid-1, 1)
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 || !evs[0].Emitted.Before(t) {
			hi = mid - 1
		} else {
			lo = evs[0].Seq
		}
	}
	return lo, nil
}

// scanEvents calls fn with every journal event after f.after that matches
// f, oldest first, until fn returns false or the journal ends.
func scanEvents(e Engine, f eventFilter, fn func(alarms.Event) bool) error {
	after := f.after
	if !f.from.IsZero() {
		s, err := seqBefore(e, f.from)
		if err != nil {
			return err
		}
		after = max(after, s)
	}
	for {
		evs, err := e.Events(after, scanPage)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for i := range evs {
			if !f.to.IsZero() && evs[i].Emitted.After(f.to.Add(clockSlack)) {
				return nil
			}
			if f.match(&evs[i]) && !fn(evs[i]) {
				return nil
			}
		}
		after = evs[len(evs)-1].Seq
	}
}

// apiEvents serves GET /api/events (SPEC §8): after/limit pages the
// journal; from, to (RFC 3339, on the event's time, to exclusive), point,
// id, priority and state (comma lists) filter it; format=csv exports.
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request, _ identity) {
	f, err := parseEventFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	evs := []alarms.Event{}
	if f.after >= s.deps.Engine.Seq() {
		// Nothing is newer; and after+1 must not wrap to 0 (SPEC §8).
	} else if f.filtered() {
		err = scanEvents(s.deps.Engine, f, func(ev alarms.Event) bool {
			evs = append(evs, ev)
			return len(evs) < f.limit
		})
	} else {
		var page []alarms.Event
		if page, err = s.deps.Engine.Events(f.after, f.limit); page != nil {
			evs = page
		}
	}
	if err != nil {
		s.log.Warn("console: events", "err", err)
		writeError(w, http.StatusInternalServerError, "journal: "+err.Error())
		return
	}
	if f.csv {
		writeEventsCSV(w, evs)
		return
	}
	writeJSON(w, http.StatusOK, evs)
}

// eventColumns is the CSV header of /api/events: SPEC §6's fields in order.
var eventColumns = []string{"seq", "time", "id", "point", "cond", "tier", "priority", "state", "active", "acked",
	"latched", "shelved_until", "oos", "stage", "value", "limit", "unit", "quality", "emitted", "activated",
	"by", "comment", "site", "device", "name"}

func csvHeader(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
}

func optTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return alarms.FormatTime(*t)
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func writeEventsCSV(w http.ResponseWriter, evs []alarms.Event) {
	csvHeader(w, "alarm-events.csv")
	cw := csv.NewWriter(w)
	_ = cw.Write(eventColumns)
	for _, ev := range evs {
		_ = cw.Write([]string{strconv.FormatUint(ev.Seq, 10), alarms.FormatTime(ev.Time), ev.ID, ev.Point, ev.Cond,
			strconv.Itoa(ev.Tier), ev.Priority.String(), ev.State.String(), strconv.FormatBool(ev.Active),
			strconv.FormatBool(ev.Acked), strconv.FormatBool(ev.Latched), optTime(ev.ShelvedUntil),
			strconv.FormatBool(ev.OOS), strconv.Itoa(ev.Stage), num(ev.Value), num(ev.Limit), ev.Unit, ev.Quality,
			alarms.FormatTime(ev.Emitted), optTime(ev.Activated), ev.By, ev.Comment, ev.Site, ev.Device, ev.Name})
	}
	cw.Flush()
}

// recordCommand keeps an operator command the engine accepted in the
// records log. The command is done whatever happens here (its journal
// event names who), so a failing log is logged, not returned.
func (s *Server) recordCommand(id identity, c alarms.Command, ev alarms.Event) {
	if s.deps.Records == nil {
		return
	}
	rec := Record{Time: s.opts.Now(), By: id.user, Role: id.role.String(), Kind: string(c.Op),
		Comment: c.Comment, Seq: ev.Seq}
	if c.Alarm != "" {
		rec.Alarm = c.Alarm
	} else {
		rec.Point = c.Point
	}
	if err := s.deps.Records.Append(rec); err != nil {
		s.log.Error("console: record of an operator action lost", "kind", rec.Kind, "by", rec.By, "err", err)
	}
}

// apiDispose serves POST /api/alarms/{id}/dispose: role operator records
// what was done about an alarm (处置记录). The alarm must belong to a
// configured point, or be shown now (votes, deviations, linkages).
func (s *Server) apiDispose(w http.ResponseWriter, r *http.Request, id identity) {
	if id.role < Operator {
		s.metrics.commands.WithLabelValues("dispose", "forbidden").Inc()
		writeError(w, http.StatusForbidden, errForbidden.Error())
		return
	}
	var body struct {
		Action  string `json:"action"`
		Result  string `json:"result"`
		Comment string `json:"comment"`
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil && len(b) > 0 {
		err = json.Unmarshal(b, &body)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed body: "+err.Error())
		return
	}
	body.Action, body.Result = strings.TrimSpace(body.Action), strings.TrimSpace(body.Result)
	if body.Action == "" {
		writeError(w, http.StatusBadRequest, "action required")
		return
	}
	alarm := r.PathValue("id")
	var (
		cur   alarms.Event
		shown bool
	)
	if err := s.hub.call(r.Context(), func() { cur, shown = s.hub.alarms[alarm] }); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	point, _, _ := strings.Cut(alarm, ":")
	if _, known := s.table.Load().row(point); !shown && (!known || !strings.Contains(alarm, ":")) {
		writeError(w, http.StatusNotFound, "unknown alarm "+strconv.Quote(alarm))
		return
	}
	if s.deps.Records == nil {
		writeError(w, http.StatusServiceUnavailable, "no records log")
		return
	}
	rec := Record{Time: s.opts.Now(), By: id.user, Role: id.role.String(), Kind: "dispose", Alarm: alarm,
		Comment: body.Comment, Action: body.Action, Result: body.Result, Seq: cur.Seq}
	if err := s.deps.Records.Append(rec); err != nil {
		s.log.Error("console: disposal record", "alarm", alarm, "err", err)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	s.metrics.commands.WithLabelValues("dispose", "ok").Inc()
	writeJSON(w, http.StatusOK, rec)
}

// recordColumns is the CSV header of /api/records.
var recordColumns = []string{"time", "by", "role", "kind", "alarm", "point", "linkage", "comment", "action", "result", "seq", "notice"}

// apiRecords serves GET /api/records?from=T&to=T&kind=K&format=csv.
func (s *Server) apiRecords(w http.ResponseWriter, r *http.Request, _ identity) {
	q := r.URL.Query()
	from, err := parseTime(q, "from")
	var to time.Time
	if err == nil {
		to, err = parseTime(q, "to")
	}
	var isCSV bool
	if err == nil {
		isCSV, err = parseFormat(q)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	recs := []Record{}
	if s.deps.Records != nil {
		recs = s.deps.Records.Between(from, to)
	}
	if kinds := set(q.Get("kind")); kinds != nil {
		keep := recs[:0]
		for _, rec := range recs {
			if kinds[rec.Kind] {
				keep = append(keep, rec)
			}
		}
		recs = keep
	}
	if !isCSV {
		writeJSON(w, http.StatusOK, recs)
		return
	}
	csvHeader(w, "records.csv")
	cw := csv.NewWriter(w)
	_ = cw.Write(recordColumns)
	for _, rec := range recs {
		_ = cw.Write([]string{rec.Time.UTC().Format(timeFormat), rec.By, rec.Role, rec.Kind, rec.Alarm, rec.Point,
			rec.Linkage, rec.Comment, rec.Action, rec.Result, fmt.Sprint(rec.Seq), rec.Notice})
	}
	cw.Flush()
}
