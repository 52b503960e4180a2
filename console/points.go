package console

import (
	"hazardgw/configs"
	"hazardgw/drivers"
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

func presentOf(p configs.Point) present {
	pr := present{states: p.States, decimals: p.Decimals, fire: p.Fire, plan: p.Plan}
	for _, l := range []struct {
		cond string
		v    *float64
	}{{"hihi", p.HiHi}, {"hi", p.Hi}, {"lo", p.Lo}, {"lolo", p.LoLo}} {
		if l.v != nil {
			pr.limits = append(pr.limits, limit{Cond: l.cond, Value: *l.v})
		}
	}
	return pr
}

// json is the point's static part of its snapshot entry; the hub fills in
// the latest sample. A point never seen is bad/stale with a null value.
func (p *pointInfo) json() pointJSON {
	j := pointJSON{Point: p.ID, Unit: p.Unit, Device: p.Device, Name: p.Name, Area: p.Area,
		Quality: drivers.Bad.String(), Cause: drivers.CauseStale.String(),
		States: p.states, Decimals: p.decimals, Fire: p.fire, Plan: p.plan, Limits: p.limits}
	if p.Lo != nil {
		j.Range = []float64{*p.Lo, *p.Hi}
	}
	return j
}
