package console

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// auth wraps an API handler with SPEC §7's authentication: a wrong token is
// 401 (429 once the address is throttled); no token (or no users) is a
// viewer.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := s.authenticate(w, r); ok {
			h(w, r, id)
		}
	})
}

// healthJSON is SPEC §8's /api/health object plus `flood` (true while the
// site is in an alarm flood, DOMAIN §5; issue 3 asks for it here).
type healthJSON struct {
	Status  string       `json:"status"` // ok | degraded
	UptimeS int64        `json:"uptime_s"`
	Devices []deviceJSON `json:"devices"`
	Store   StoreHealth  `json:"store"`
	Flood   bool         `json:"flood"`
}

// deviceJSON is one device of /api/health. LastOK is a SPEC time (RFC
// 3339, UTC, milliseconds), null when the device never answered; the last
// error text (drivers.Health.Err) is not shown: it may name hosts.
type deviceJSON struct {
	ID     string  `json:"id"`
	State  string  `json:"state"` // up | down
	LastOK *string `json:"last_ok"`
	Errors uint64  `json:"errors"`
}

// apiHealth is open without a token and reveals no secrets.
func (s *Server) apiHealth(w http.ResponseWriter, r *http.Request) {
	h := healthJSON{Status: "ok", UptimeS: int64(s.opts.Now().Sub(s.opts.Started) / time.Second),
		Devices: []deviceJSON{}, Store: StoreHealth{InfluxDB: "off"}}
	if s.deps.Devices != nil {
		for _, d := range s.deps.Devices() {
			j := deviceJSON{ID: d.ID, State: d.State, Errors: d.Errors}
			if !d.LastOK.IsZero() {
				t := alarms.FormatTime(d.LastOK)
				j.LastOK = &t
			}
			h.Devices = append(h.Devices, j)
		}
	}
	if s.deps.Store != nil {
		h.Store = s.deps.Store()
	}
	for _, d := range h.Devices {
		if d.State != "up" {
			h.Status = "degraded"
		}
	}
	if h.Store.Down || h.Store.InfluxDB == "down" {
		h.Status = "degraded"
	}
	h.Flood = s.deps.Engine.Flood()
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) apiPoints(w http.ResponseWriter, r *http.Request, _ identity) {
	var pts []pointJSON
	if err := s.hub.call(r.Context(), func() { pts = s.hub.points() }); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, pts)
}

func (s *Server) apiAlarms(w http.ResponseWriter, r *http.Request, _ identity) {
	var evs []alarms.Event
	if err := s.hub.call(r.Context(), func() { evs = s.hub.alarmList() }); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, evs)
}

type historyJSON struct {
	Point   string               `json:"point"`
	Unit    string               `json:"unit"`
	Samples []drivers.SampleJSON `json:"samples"`
}

// apiHistory serves GET /api/history?point=ID&since=DURATION (an addition
// to SPEC §8): the point's samples from the store's local history.
func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request, _ identity) {
	q := r.URL.Query()
	id := q.Get("point")
	t := s.table.Load()
	row, ok := t.row(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown point")
		return
	}
	since := time.Hour
	if v := q.Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "since: want a positive duration such as \"1h\"")
			return
		}
		since = d
	}
	if s.deps.History == nil {
		writeError(w, http.StatusNotFound, "no history store")
		return
	}
	now := s.opts.Now()
	ss, err := s.deps.History(r.Context(), drivers.PointID(id), now.Add(-since), now)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "history: "+err.Error())
		return
	}
	out := historyJSON{Point: id, Unit: t.unit(row), Samples: make([]drivers.SampleJSON, len(ss))}
	for k, x := range ss {
		out.Samples[k] = x.JSON()
	}
	writeJSON(w, http.StatusOK, out)
}

// maxBody bounds a command's JSON body.
const maxBody = 16 << 10

func (s *Server) apiAlarmCommand(w http.ResponseWriter, r *http.Request, id identity) {
	s.command(w, r, id, command{Type: r.PathValue("op"), Alarm: r.PathValue("id")}, "ack", "reset", "shelve", "unshelve")
}

// apiPointCommand serves POST /api/points/{id}/oos and .../ios (an
// addition to SPEC §8).
func (s *Server) apiPointCommand(w http.ResponseWriter, r *http.Request, id identity) {
	s.command(w, r, id, command{Type: r.PathValue("op"), Point: r.PathValue("id")}, "oos", "ios")
}

func (s *Server) command(w http.ResponseWriter, r *http.Request, id identity, c command, ops ...string) {
	known := false
	for _, o := range ops {
		known = known || c.Type == o
	}
	if !known {
		writeError(w, http.StatusNotFound, "unknown operation "+strconv.Quote(c.Type))
		return
	}
	var body struct {
		Comment string `json:"comment"`
		For     string `json:"for"`
		Reason  string `json:"reason"`
	}
	if !readBody(w, r, &body) {
		return
	}
	c.Comment, c.For, c.Reason = body.Comment, body.For, body.Reason
	ec, err := toEngine(c, id, s.cfg.Console.MaxShelve.D())
	if err == nil {
		var ev alarms.Event
		ev, err = s.deps.Engine.Do(r.Context(), ec)
		if err == nil {
			s.recordCommand(id, ec, ev)
			s.metrics.commands.WithLabelValues(c.Type, "ok").Inc()
			writeJSON(w, http.StatusOK, ev)
			return
		}
	}
	s.metrics.commands.WithLabelValues(label(c.Type), outcome(err)).Inc()
	writeError(w, statusOf(err), err.Error())
}

// statusOf maps a command error to SPEC §8's codes. An error that is
// neither the console's validation nor one of the engine's sentinels (the
// engine stopped, the request was cancelled) is 503.
func statusOf(err error) int {
	var inv invalidError
	switch {
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, alarms.ErrUnknown):
		return http.StatusNotFound
	case errors.Is(err, alarms.ErrRefused):
		return http.StatusConflict
	case errors.Is(err, alarms.ErrInvalid), errors.As(err, &inv):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

// readBody decodes a command's JSON body (at most maxBody; empty is {})
// into v; on error it answers 400 and returns false.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, v); err != nil {
			writeError(w, http.StatusBadRequest, "malformed body: "+err.Error())
			return false
		}
	}
	return true
}
