package console

import (
	"context"
	"net/http"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// ReloadFunc re-reads the config file and applies it (SPEC §12). It
// returns every error of a file it refused (nothing changed then), or nil.
type ReloadFunc func(ctx context.Context) []string

// reloadJSON is the answer of POST /api/reload (SPEC §8).
type reloadJSON struct {
	OK     bool     `json:"ok"`
	Errors []string `json:"errors,omitempty"`
}

// apiReload serves POST /api/reload, role admin (SPEC §2, §8): 200
// {"ok": true}, or 422 {"ok": false, "errors": [...]} when the file was
// refused and the running config stays.
func (s *Server) apiReload(w http.ResponseWriter, r *http.Request, id identity) {
	if id.role < Admin {
		writeError(w, http.StatusForbidden, "reload needs role admin")
		return
	}
	if s.deps.Reload == nil {
		writeError(w, http.StatusNotFound, "reload not available")
		return
	}
	s.log.Info("reload requested", "by", id.user)
	if errs := s.deps.Reload(r.Context()); len(errs) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, reloadJSON{OK: false, Errors: errs})
		return
	}
	writeJSON(w, http.StatusOK, reloadJSON{OK: true})
}

// Reload takes the points of cfg (SPEC §12): a point that is still
// configured keeps its latest sample, a new point starts as never seen, a
// removed one disappears. Every connected websocket client stays connected
// and gets a fresh snapshot. The console's own section (listen, users,
// TLS) is not reloaded. It runs in the hub goroutine and returns when the
// snapshots are queued; errHubStopped when the console is not serving.
func (s *Server) Reload(ctx context.Context, cfg *configs.Config) error {
	points, index := pointsOf(cfg)
	return s.hub.call(ctx, func() {
		h := s.hub
		h.drainEvents() // the events of the reload (removed alarms) go first
		h.drainSamples()
		last, seen := make([]drivers.Sample, len(points)), make([]bool, len(points))
		for i, p := range points {
			if j, ok := s.index[p.ID]; ok {
				last[i], seen[i] = h.last[j], h.seen[j]
			}
		}
		s.pointsMu.Lock()
		s.points, s.index = points, index
		s.pointsMu.Unlock()
		h.last, h.seen = last, seen
		h.batches.Reset() // the cached indexes were into the old table
		for c := range h.clients {
			h.sendSnapshot(c)
		}
	})
}

// pointsOf lists the configured points as the console shows them.
func pointsOf(cfg *configs.Config) ([]pointInfo, map[string]int) {
	n := 0
	for _, d := range cfg.Devices {
		n += len(d.Points)
	}
	points := make([]pointInfo, 0, n)
	index := make(map[string]int, n)
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			pi := pointInfo{ID: p.ID, Name: p.Name, Unit: p.Unit, Device: d.ID, Area: d.Area, present: presentOf(p)}
			if len(p.Range) == 2 {
				pi.Lo, pi.Hi = &p.Range[0], &p.Range[1]
			}
			index[p.ID] = len(points)
			points = append(points, pi)
		}
	}
	return points, index
}

// point returns a configured point by id; any goroutine (the hub replaces
// the list at a reload).
func (s *Server) point(id string) (pointInfo, bool) {
	s.pointsMu.RLock()
	defer s.pointsMu.RUnlock()
	i, ok := s.index[id]
	if !ok {
		return pointInfo{}, false
	}
	return s.points[i], true
}
