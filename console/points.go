package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"
)

// table is the console's point table: every configured point, a row each
// in config order, as the overview shows it. It is built once from the
// config (New, Reload) and never modified: a reload replaces it whole.
//
// It is packed for a large site (16 bytes a point besides the text of its
// id and name): the ids and names are one string and offsets into it, what points share (device, area, unit, range) is
// interned once per distinct combination, and the few points with a
// presentation (states, decimals, fire, plan, limits) keep it in a map.
// No slice of rows holds a pointer, so the table costs the garbage
// collector's mark phase nothing. The JSON of the snapshot and the API is
// built from it when asked (hub.points, apiPresentation).
type table struct {
	text  string   // every row's id then its name, concatenated
	ends  []uint32 // row i: id text[ends[2i-1]:ends[2i]], name up to ends[2i+1] (ends[-1] = 0)
	kind  []uint32 // row -> index in kinds
	kinds []kind   // interned: what rows share
	byID  []int32  // rows in id order, for lookup
	pres  map[int32]*present
}

// kind is what a point shares with the others of its device.
type kind struct {
	device, area, unit string
	ranged             bool
	rng                [2]float64 // [lo, hi] when ranged
}

// newTable builds the table of cfg's points.
func newTable(cfg *configs.Config) *table {
	n, size := 0, 0
	for _, d := range cfg.Devices {
		n += len(d.Points)
		for _, p := range d.Points {
			size += len(p.ID) + len(p.Name)
		}
	}
	t := &table{ends: make([]uint32, 0, 2*n), kind: make([]uint32, 0, n), byID: make([]int32, n)}
	var text strings.Builder
	text.Grow(size)
	kinds := map[kind]uint32{}
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			row := int32(len(t.kind))
			text.WriteString(p.ID)
			t.ends = append(t.ends, uint32(text.Len()))
			text.WriteString(p.Name)
			t.ends = append(t.ends, uint32(text.Len()))
			k := kind{device: d.ID, area: d.Area, unit: p.Unit}
			if len(p.Range) == 2 {
				k.ranged, k.rng = true, [2]float64{p.Range[0], p.Range[1]}
			}
			ki, ok := kinds[k]
			if !ok {
				ki = uint32(len(t.kinds))
				kinds[k] = ki
				t.kinds = append(t.kinds, k)
			}
			t.kind = append(t.kind, ki)
			if pr := presentOf(p); pr != nil {
				if t.pres == nil {
					t.pres = map[int32]*present{}
				}
				t.pres[row] = pr
			}
		}
	}
	t.text = text.String()
	for i := range t.byID {
		t.byID[i] = int32(i)
	}
	slices.SortFunc(t.byID, func(a, b int32) int { return strings.Compare(t.id(int(a)), t.id(int(b))) })
	return t
}

// len is the number of rows.
func (t *table) len() int { return len(t.kind) }

// id is row i's point id (a substring of the table's text).
func (t *table) id(i int) string {
	start := uint32(0)
	if i > 0 {
		start = t.ends[2*i-1]
	}
	return t.text[start:t.ends[2*i]]
}

// name is row i's point name.
func (t *table) name(i int) string { return t.text[t.ends[2*i]:t.ends[2*i+1]] }

// unit is row i's engineering unit.
func (t *table) unit(i int) string { return t.kinds[t.kind[i]].unit }

// row returns the row of point id; false for a point the config does not
// know.
func (t *table) row(id string) (int, bool) {
	k, ok := slices.BinarySearchFunc(t.byID, id, func(r int32, id string) int { return strings.Compare(t.id(int(r)), id) })
	if !ok {
		return -1, false
	}
	return int(t.byID[k]), true
}

// json is row i as the snapshot and GET /api/points show it, with the
// latest sample l holds of it.
func (t *table) json(i int, l *latest) pointJSON {
	k := &t.kinds[t.kind[i]]
	j := pointJSON{Point: t.id(i), Unit: k.unit, Device: k.device, Name: t.name(i), Area: k.area,
		Quality: drivers.Bad.String(), Cause: drivers.CauseStale.String()}
	if k.ranged {
		j.Range = k.rng[:]
	}
	if l.seen[i] {
		tm := alarms.FormatTime(time.UnixMilli(l.time[i]))
		j.Value, j.Quality, j.Cause, j.Time = fnum(l.value[i]), l.quality[i].String(), l.cause[i].String(), &tm
	}
	return j
}

// latest is the latest sample of every row of a table, owned by the hub:
// pointer-free arrays indexed by row. Time is kept in Unix milliseconds,
// all that SPEC §7's time format shows.
type latest struct {
	value   []float64
	time    []int64 // Unix ms
	quality []drivers.Quality
	cause   []drivers.Cause
	seen    []bool // false: never seen (value null, bad/stale)
}

func newLatest(n int) latest {
	return latest{value: make([]float64, n), time: make([]int64, n), quality: make([]drivers.Quality, n),
		cause: make([]drivers.Cause, n), seen: make([]bool, n)}
}

// set records s as row i's latest sample.
func (l *latest) set(i int, s *drivers.Sample) {
	l.value[i], l.time[i], l.quality[i], l.cause[i], l.seen[i] = s.Value, s.Time.UnixMilli(), s.Quality, s.Cause, true
}

// moveTo returns the latest samples of to's rows: a point to still has
// keeps its sample, a new one starts as never seen (Reload).
func (l *latest) moveTo(from, to *table) latest {
	m := newLatest(to.len())
	for i := range to.len() {
		if j, ok := from.row(to.id(i)); ok && l.seen[j] {
			m.value[i], m.time[i], m.quality[i], m.cause[i], m.seen[i] = l.value[j], l.time[j], l.quality[j], l.cause[j], true
		}
	}
	return m
}

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

// presentOf is p's presentation; nil when it has nothing beyond the
// defaults (most points of a large site).
func presentOf(p configs.Point) *present {
	var limits []limit
	for _, l := range []struct {
		cond string
		v    *float64
	}{{"hihi", p.HiHi}, {"hi", p.Hi}, {"lo", p.Lo}, {"lolo", p.LoLo}} {
		if l.v != nil {
			limits = append(limits, limit{Cond: l.cond, Value: *l.v})
		}
	}
	if p.States == nil && p.Decimals == nil && !p.Fire && p.Plan == nil && limits == nil {
		return nil
	}
	return &present{states: p.States, decimals: p.Decimals, fire: p.Fire, plan: p.Plan, limits: limits}
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
// presentation, from the point table (no hub state).
func (s *Server) apiPresentation(w http.ResponseWriter, r *http.Request, _ identity) {
	t := s.table.Load()
	out := make([]presentationJSON, t.len())
	for i := range out {
		out[i] = presentationJSON{Point: t.id(i)}
		if pr := t.pres[int32(i)]; pr != nil {
			out[i].States, out[i].Decimals, out[i].Fire, out[i].Plan, out[i].Limits = pr.states, pr.decimals, pr.fire, pr.plan, pr.limits
		}
	}
	writeJSON(w, http.StatusOK, out)
}
