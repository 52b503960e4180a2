package console

import (
	"net/http"

	"hazardgw/configs"
)

// present is how the page shows a point besides its value: the config's
// presentation keys and its limits (for labelled limit lines on trends).
type present struct {
	states   []string
	decimals *int
	fire     bool
	plan     []float64
	limits   []limit
}

// limit is one configured alarm limit of a point.
type limit struct {
	Cond  string  `json:"cond"` // hihi hi lo lolo
	Value float64 `json:"value"`
}

func presentOf(p configs.Point) *present {
	pr := &present{states: p.States, decimals: p.Decimals, fire: p.Fire, plan: p.Plan}
	for _, l := range []struct {
		cond string
		v    *float64
	}{{"hihi", p.HiHi}, {"hi", p.Hi}, {"lo", p.Lo}, {"lolo", p.LoLo}} {
		if l.v != nil {
			pr.limits = append(pr.limits, limit{Cond: l.cond, Value: *l.v})
		}
	}
	if pr.states == nil && pr.decimals == nil && !pr.fire && pr.plan == nil && pr.limits == nil {
		return nil
	}
	return pr
}

// presentationJSON is one point of GET /api/presentation (an addition):
// how the page shows it. Kept out of /api/points and the snapshot, whose
// point objects have a fixed set of keys (SPEC §7).
type presentationJSON struct {
	Point    string    `json:"point"`
	States   []string  `json:"states,omitempty"`   // texts for 0 and 1
	Decimals *int      `json:"decimals,omitempty"` // digits to show
	Fire     bool      `json:"fire,omitempty"`     // a fire input (fire panel)
	Plan     []float64 `json:"plan,omitempty"`     // [x, y] on the site plan
	Limits   []limit   `json:"limits,omitempty"`   // configured limits, for trend lines
}

// apiPresentation serves GET /api/presentation: every configured point's
// presentation, from the config (no hub state).
func (s *Server) apiPresentation(w http.ResponseWriter, r *http.Request, _ identity) {
	s.pointsMu.RLock()
	points := s.points // replaced whole at a reload, never modified
	s.pointsMu.RUnlock()
	out := make([]presentationJSON, len(points))
	for i, p := range points {
		out[i] = presentationJSON{Point: p.ID}
		if pr := p.present; pr != nil {
			out[i].States, out[i].Decimals, out[i].Fire, out[i].Plan, out[i].Limits = pr.states, pr.decimals, pr.fire, pr.plan, pr.limits
		}
	}
	writeJSON(w, http.StatusOK, out)
}
