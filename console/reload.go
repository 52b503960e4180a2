package console

import (
	"context"
	"net/http"

	"hazardgw/configs"
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
	t := newTable(cfg)
	return s.hub.call(ctx, func() {
		h := s.hub
		h.drainEvents() // the events of the reload (removed alarms) go first
		h.drainSamples()
		h.latest = h.latest.moveTo(s.table.Load(), t)
		s.table.Store(t)
		h.batches.Reset() // the cached indexes were into the old table
		for c := range h.clients {
			h.sendSnapshot(c)
		}
	})
}
