package alarms

import (
	"fmt"
	"math"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Alarms over other alarms and points (SPEC §11): ID:vote (K out of N),
// ID:dev (two redundant instruments disagree) and ID:linkage (a linkage
// output failed). Each is one alarm of a rule point: a point of the
// Machine that no driver feeds (pconf.rule != nil, one alarm, no comm or
// stale), so every change goes through Machine.step like any other alarm:
// states, ack, shelving, escalation, flood, journal.
//
//	member alarm event ──> watch[member] ─┐
//	sample of a point  ──> p.deps ────────┼─> m.dirty ──> settle: evalRule
//	stale point        ──> p.deps ────────┘                 └─> setCond(rule alarm)
//
// settle runs at the end of every entry point (Sample, Advance, Command,
// Force), so a vote's event follows its member's in seq order.

// rule is the configuration and evaluation state of a rule point.
type rule struct {
	kind     kind
	device   string  // linkage: its device; else ""
	tier     int     // vote: configured; dev 1; linkage 2
	members  []int32 // vote: member alarms
	mpts     []int32 // vote: their points
	badVotes bool
	k        int
	pts      [2]int32 // dev: the two points
	max      float64
}

// dirty is a rule point to evaluate at time t.
type dirty struct {
	pt int32
	t  int64
}

// addRules appends one rule point per vote, deviation and linkage of cfg.
// Members are resolved by resolveRules once the point index is built.
func (m *Machine) addRules(cfg *configs.Config, t0 int64, nalarms *int32, ids, names *strtabBuilder) error {
	add := func(id, name, unit string, r *rule, prio string, def Priority, onDelay int32) error {
		pr := def
		if prio != "" {
			var err error
			if pr, err = ParsePriority(prio); err != nil {
				return fmt.Errorf("%s: priority: %w", id, err)
			}
		}
		c := pconf{unit: m.unit(unit), n: 1, nproc: 1, rule: r, onDelay: onDelay}
		c.kinds[0], c.prios[0] = r.kind, pr
		m.confs = append(m.confs, c) // its own: the rule is
		m.points = append(m.points, point{value: math.NaN(), lastGood: t0, first: *nalarms, conf: uint32(len(m.confs) - 1)})
		*nalarms++
		ids.add(id)
		names.add(name)
		return nil
	}
	for i := range cfg.Votes {
		v := &cfg.Votes[i]
		def := High
		if v.Tier == 1 {
			def = Medium
		}
		tier := v.Tier
		if tier == 0 {
			tier = 2
		}
		if err := add(v.ID, fmt.Sprintf("%d out of %d", v.K, len(v.Alarms)), "", &rule{kind: kVote, tier: tier, badVotes: v.CountsBad(), k: v.K}, v.Priority, def, 0); err != nil {
			return err
		}
	}
	for i := range cfg.Deviations {
		d := &cfg.Deviations[i]
		unit := ""
		if len(d.Points) == 2 {
			if p := cfg.Point(d.Points[0]); p != nil {
				unit = p.Unit
			}
		}
		if err := add(d.ID, "deviation", unit, &rule{kind: kDev, tier: 1, max: d.Max}, d.Priority, High, toMS(d.OnDelay)); err != nil {
			return err
		}
	}
	for i := range cfg.Linkages {
		l := &cfg.Linkages[i]
		if err := add(l.ID, "linkage", "", &rule{kind: kLinkage, tier: 2, device: l.Device}, l.Priority, High, 0); err != nil {
			return err
		}
	}
	return nil
}

// addDep makes rule point r dirty after every sample of point pi.
func (m *Machine) addDep(pi, r int32) {
	m.deps[pi] = appendOnce(m.deps[pi], r)
	m.points[pi].flags |= pDeps
}

// resolveRules links votes to their member alarms and deviations to their
// points, and registers what makes each rule dirty.
func (m *Machine) resolveRules(cfg *configs.Config) error {
	m.watch = map[int32][]int32{}
	vi, di := 0, 0
	for ri := range m.points {
		r := m.conf(&m.points[ri]).rule
		if r == nil {
			continue
		}
		id := m.id(int32(ri))
		switch r.kind {
		case kVote:
			for _, id := range cfg.Votes[vi].Alarms {
				ai, err := m.find(id)
				if err != nil {
					return fmt.Errorf("vote %s: %w", id, err)
				}
				pt := m.pointOf(ai)
				r.members = append(r.members, ai)
				r.mpts = append(r.mpts, pt)
				m.watch[ai] = append(m.watch[ai], int32(ri))
				if m.conf(&m.points[pt]).rule == nil {
					m.addDep(pt, int32(ri))
				}
			}
			vi++
		case kDev:
			ids := cfg.Deviations[di].Points
			if len(ids) != 2 {
				return fmt.Errorf("deviation %s: want two points", id)
			}
			for j, pid := range ids {
				pi, ok := m.byID.find(&m.ids, pid)
				if !ok || m.conf(&m.points[pi]).rule != nil {
					return fmt.Errorf("deviation %s: point %q: %w", id, pid, ErrUnknown)
				}
				r.pts[j] = pi
				m.addDep(pi, int32(ri))
			}
			di++
		}
	}
	return nil
}

func appendOnce(s []int32, v int32) []int32 {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// settle evaluates the dirty rules until none is left. A rule made dirty
// by another's event (a deviation voting) is evaluated in the same call;
// the bound only guards against a cycle of votes voting on each other.
func (m *Machine) settle(now time.Time) {
	for n := 0; len(m.dirty) > 0 && n < 64*(len(m.dirty)+1); n++ {
		d := m.dirty[0]
		m.dirty = m.dirty[1:]
		m.evalRule(d.pt, d.t, now)
	}
	m.dirty = m.dirty[:0]
}

// evalRule recomputes the condition of rule point ri at time t.
func (m *Machine) evalRule(ri int32, t int64, now time.Time) {
	p := &m.points[ri]
	c := m.conf(p)
	r := c.rule
	switch r.kind {
	case kVote:
		// SPEC §11: a member counts while active (whatever its
		// acknowledgement), shelving and out of service excepted; with
		// bad_votes, also while its point is bad.
		n := 0
		for i, ai := range r.members {
			a := m.peek(ai) // nil: pristine, normal
			if a != nil && a.flags&(fShelved|fOOS) != 0 {
				continue
			}
			mp := &m.points[r.mpts[i]]
			if (a != nil && a.st.active()) || (r.badVotes && m.conf(mp).rule == nil && !mp.oos() && mp.quality == drivers.Bad) {
				n++
			}
		}
		p.value = float64(n)
		m.setCond(p.first, n >= r.k, t, 0, 0, now)
	case kDev:
		a, b := &m.points[r.pts[0]], &m.points[r.pts[1]]
		if a.quality == drivers.Bad || b.quality == drivers.Bad || a.oos() || b.oos() || a.value != a.value || b.value != b.value {
			return // frozen: a bad point decides nothing
		}
		p.value = math.Abs(a.value - b.value)
		m.setCond(p.first, p.value > r.max, t, ms(c.onDelay), 0, now)
	}
}

// linkageCond raises (holds) or clears the ID:linkage alarm of command c.
func (m *Machine) linkageCond(now time.Time, c Command, holds bool) (Event, error) {
	ai, err := m.find(c.Alarm)
	if err != nil {
		return Event{}, err
	}
	if m.kindOf(ai) != kLinkage {
		return Event{}, fmt.Errorf("%s %s: not a linkage alarm: %w", c.Op, c.Alarm, ErrInvalid)
	}
	if (m.flagsOf(ai)&fCond != 0) == holds {
		return Event{}, fmt.Errorf("%s %s: nothing to change: %w", c.Op, c.Alarm, ErrRefused)
	}
	a := m.row(ai)
	start := len(m.out)
	n := now.UnixNano()
	if holds {
		a.flags |= fCond
		if !a.st.active() {
			_ = m.step(ai, inActivate, n, now, &c)
		}
	} else {
		a.flags &^= fCond
		if a.st.active() {
			_ = m.step(ai, inClear, n, now, &c)
		}
	}
	if len(m.out) == start {
		return m.event(ai, n, now), nil
	}
	return m.out[start], nil
}
