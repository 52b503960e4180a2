package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"hazardgw/alarms"
)

// Linkages is what the console needs of the linkage runner
// (alarms.Linkages implements it): the states for GET /api/linkages and
// the snapshot, a commander's run/release, and a watch for the `linkage`
// frame (SPEC §7, §8, §11). Command's errors wrap alarms.ErrUnknown (404),
// alarms.ErrConflict (409) or alarms.ErrInvalid (400).
type Linkages interface {
	Views() []alarms.LinkView
	Command(ctx context.Context, id, op, by, comment string) (alarms.LinkView, error)
	// Watch registers f, called at every state change from the runner's
	// goroutine; f must not block. Called once, from New, before the
	// runner runs.
	Watch(f func(alarms.LinkView))
}

var _ Linkages = (*alarms.Linkages)(nil)

// linkageFrame is SPEC §7's `linkage` frame: one linkage's state at every
// change.
type linkageFrame struct {
	Type    string          `json:"type"` // "linkage"
	Linkage alarms.LinkView `json:"linkage"`
}

// framePump carries state changes from other components (the linkage
// runner's `linkage`, the notices' `notice` frames) to the hub without
// blocking them: a watch callback appends the frame under a mutex and
// wakes the pump goroutine (started by Serve), which hands the frames to
// the hub in the order they happened. Such changes are rare (a few per
// incident), so the pending list is unbounded; like alarm frames they are
// reliable frames for each client.
type framePump struct {
	mu      sync.Mutex
	pending [][]byte
	wake    chan struct{}
}

func newFramePump() *framePump { return &framePump{wake: make(chan struct{}, 1)} }

func (p *framePump) linkage(v alarms.LinkView) {
	p.push(mustJSON(linkageFrame{Type: "linkage", Linkage: v}))
}

func (p *framePump) notice(n Notice) { p.push(mustJSON(noticeFrame{Type: "notice", Notice: n})) }

func (p *framePump) push(frame []byte) {
	p.mu.Lock()
	p.pending = append(p.pending, frame)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run sends the pending changes to every client through the hub until ctx
// ends.
func (p *framePump) run(ctx context.Context, h *hub) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		p.mu.Lock()
		frames := p.pending
		p.pending = nil
		p.mu.Unlock()
		if !h.post(func() {
			for _, f := range frames {
				for c := range h.clients {
					h.sendReliable(c, f)
				}
			}
		}) {
			return
		}
	}
}

// linkViews is every linkage's state for the snapshot and the API (an
// empty list without linkages).
func (s *Server) linkViews() []alarms.LinkView {
	if s.deps.Linkages == nil {
		return []alarms.LinkView{}
	}
	return s.deps.Linkages.Views()
}

// linkageCommand runs a commander's run or release (SPEC §7, §8): the role
// is checked first, so an operator's run is forbidden whatever the
// linkage.
func (s *Server) linkageCommand(ctx context.Context, id identity, op, linkage, comment string) (alarms.LinkView, error) {
	if id.role < Commander {
		return alarms.LinkView{}, errForbidden
	}
	if linkage == "" {
		return alarms.LinkView{}, invalid("missing linkage")
	}
	if s.deps.Linkages == nil {
		return alarms.LinkView{}, fmt.Errorf("linkage %q: %w", linkage, alarms.ErrUnknown)
	}
	return s.deps.Linkages.Command(ctx, linkage, op, id.user, comment)
}

// linkStatus maps a linkage command error to SPEC §8's codes.
func linkStatus(err error) int {
	if errors.Is(err, alarms.ErrConflict) {
		return http.StatusConflict
	}
	return statusOf(err)
}

func (s *Server) apiLinkages(w http.ResponseWriter, r *http.Request, _ identity) {
	writeJSON(w, http.StatusOK, s.linkViews())
}

// apiLinkageCommand serves POST /api/linkages/{id}/run and .../release:
// 200 with the linkage's state, 403, 404, 409, 400.
func (s *Server) apiLinkageCommand(w http.ResponseWriter, r *http.Request, id identity) {
	op := r.PathValue("op")
	if op != "run" && op != "release" {
		writeError(w, http.StatusNotFound, "unknown operation "+fmt.Sprintf("%q", op))
		return
	}
	var body struct {
		Comment string `json:"comment"`
	}
	if !readBody(w, r, &body) {
		return
	}
	v, err := s.linkageCommand(r.Context(), id, op, r.PathValue("id"), body.Comment)
	if err != nil {
		s.metrics.commands.WithLabelValues(op, outcome(err)).Inc()
		writeError(w, linkStatus(err), err.Error())
		return
	}
	s.metrics.commands.WithLabelValues(op, "ok").Inc()
	writeJSON(w, http.StatusOK, v)
}

// voteJSON and devJSON are the snapshot's `votes` and `deviations`
// (additions to SPEC §7): what the page needs to show a vote's members
// and both values of a deviation.
type voteJSON struct {
	ID     string   `json:"id"`
	Alarms []string `json:"alarms"`
	K      int      `json:"k"`
}

type devJSON struct {
	ID     string   `json:"id"`
	Points []string `json:"points"`
	Max    float64  `json:"max"`
}

func (s *Server) votes() []voteJSON {
	out := []voteJSON{}
	for _, v := range s.cfg.Votes {
		out = append(out, voteJSON{ID: v.ID, Alarms: v.Alarms, K: v.K})
	}
	return out
}

func (s *Server) deviations() []devJSON {
	out := []devJSON{}
	for _, d := range s.cfg.Deviations {
		out = append(out, devJSON{ID: d.ID, Points: d.Points, Max: d.Max})
	}
	return out
}
