package configs

import (
	"strings"
	"time"
)

// Vote is a K-out-of-N voting group (SPEC §3, §11; GB 16808-2025
// two-detector confirmation). Its alarm is ID:vote.
type Vote struct {
	ID       string   `toml:"id"`
	Alarms   []string `toml:"alarms"` // member alarm ids, POINT:COND
	K        int      `toml:"k"`      // active while at least k members count
	BadVotes *bool    `toml:"bad_votes"`
	Tier     int      `toml:"tier"`     // default 2
	Priority string   `toml:"priority"` // default by tier: 2 high, 1 medium
}

// CountsBad reports bad_votes (default true).
func (v *Vote) CountsBad() bool { return v.BadVotes == nil || *v.BadVotes }

// Deviation is two redundant instruments that must agree (SPEC §11; GB
// 17681 tank level). Its alarm is ID:dev, tier 1.
type Deviation struct {
	ID       string   `toml:"id"`
	Points   []string `toml:"points"` // exactly two analog points
	Max      float64  `toml:"max"`    // active while |a - b| > max
	OnDelay  Duration `toml:"on_delay"`
	Priority string   `toml:"priority"` // default "high"
}

// Linkage is an output driven by alarms (SPEC §11; GB 50072 exhaust fan,
// GB 17681 feed valve): it writes a coil or holding register of a modbus
// device. Its alarm is ID:linkage, tier 2.
type Linkage struct {
	ID       string   `toml:"id"`
	When     []string `toml:"when"`     // alarm ids; fires when one becomes active
	Mode     string   `toml:"mode"`     // auto | manual (default auto)
	Device   string   `toml:"device"`   // a modbus device
	Register string   `toml:"register"` // coil | holding
	Address  *int     `toml:"address"`
	Value    *int     `toml:"value"`   // written when it fires (default 1)
	Release  *int     `toml:"release"` // written by a commander's release (default 0)
	Feedback string   `toml:"feedback"`
	Expect   *float64 `toml:"expect"`   // default: value
	Confirm  Duration `toml:"confirm"`  // default 10s
	Priority string   `toml:"priority"` // default "high"
}

// LinkageModes are the values of linkage.mode.
var LinkageModes = []string{"auto", "manual"}

func (c *Config) safetyDefaults() {
	for i := range c.Votes {
		if c.Votes[i].Tier == 0 {
			c.Votes[i].Tier = 2
		}
	}
	for i := range c.Deviations {
		if c.Deviations[i].Priority == "" {
			c.Deviations[i].Priority = "high"
		}
	}
	for i := range c.Linkages {
		l := &c.Linkages[i]
		if l.Mode == "" {
			l.Mode = "auto"
		}
		if l.Value == nil {
			one := 1
			l.Value = &one
		}
		if l.Release == nil {
			zero := 0
			l.Release = &zero
		}
		if l.Expect == nil && l.Feedback != "" {
			e := float64(*l.Value)
			l.Expect = &e
		}
		if l.Confirm == 0 {
			l.Confirm = Duration(10 * time.Second)
		}
		if l.Priority == "" {
			l.Priority = "high"
		}
	}
}

// AlarmIDs returns every alarm id the config defines: each point's limit,
// roc, on, fault (with a range), comm and stale alarms, and ID:vote,
// ID:dev and ID:linkage.
func (c *Config) AlarmIDs() map[string]bool {
	ids := map[string]bool{}
	for i := range c.Devices {
		for j := range c.Devices[i].Points {
			p := &c.Devices[i].Points[j]
			for _, k := range []struct {
				cond string
				set  bool
			}{{"hihi", p.HiHi != nil}, {"hi", p.Hi != nil}, {"lo", p.Lo != nil}, {"lolo", p.LoLo != nil},
				{"roc", p.ROC > 0}, {"on", p.AlarmOn != nil}, {"fault", len(p.Range) == 2 && p.Range[0] < p.Range[1]},
				{"comm", true}, {"stale", true}} {
				if k.set {
					ids[p.ID+":"+k.cond] = true
				}
			}
		}
	}
	for _, v := range c.Votes {
		ids[v.ID+":vote"] = true
	}
	for _, d := range c.Deviations {
		ids[d.ID+":dev"] = true
	}
	for _, l := range c.Linkages {
		ids[l.ID+":linkage"] = true
	}
	return ids
}

// analog reports whether a point carries a measured value (not a bit).
func analog(p *Point) bool {
	switch {
	case p.AlarmOn != nil, p.Type == "bool", p.Bit != nil, p.Register == "coil", p.Register == "discrete":
		return false
	}
	return true
}

// safety validates [[vote]], [[deviation]] and [[linkage]] (SPEC §3):
// every reference must exist; ids share the point namespace (their alarms
// are ID:vote, ID:dev, ID:linkage).
func (v *validator) safety(c *Config, points map[string]string) {
	pts := map[string]*Point{}
	devs := map[string]*Device{}
	for i := range c.Devices {
		d := &c.Devices[i]
		devs[d.ID] = d
		for j := range d.Points {
			pts[d.Points[j].ID] = &d.Points[j]
		}
	}
	alarms := c.AlarmIDs()
	ids := map[string]string{}
	for k, p := range points {
		ids[k] = p
	}
	uniqueID := func(p, what, id string) {
		v.id(p+".id", what+" id", id)
		if first, dup := ids[id]; dup && id != "" {
			v.errorf(p+".id", "%s id %q is already used (first %s): votes, deviations, linkages and points share ids", what, id, v.where(first))
		} else if id != "" {
			ids[id] = p + ".id"
		}
	}
	knownAlarm := func(p, id, self string) {
		switch {
		case id == self:
			v.errorf(p, "%q is this rule's own alarm", id)
		case !alarms[id]:
			v.errorf(p, "unknown alarm %q (want POINT:COND of a configured alarm, ID:vote or ID:dev)", id)
		}
	}

	for i := range c.Votes {
		vo := &c.Votes[i]
		p := idx("vote", i)
		uniqueID(p, "vote", vo.ID)
		if len(vo.Alarms) == 0 {
			v.errorf(p+".alarms", "alarms is required (the member alarm ids)")
		}
		seen := map[string]bool{}
		for j, a := range vo.Alarms {
			knownAlarm(idx(p+".alarms", j), a, vo.ID+":vote")
			if seen[a] {
				v.errorf(idx(p+".alarms", j), "alarm %q is a member twice", a)
			}
			seen[a] = true
		}
		if vo.K < 1 || vo.K > len(vo.Alarms) {
			v.errorf(p+".k", "k (%d) must be 1..%d (the number of alarms)", vo.K, len(vo.Alarms))
		}
		if vo.Tier < 1 || vo.Tier > 2 {
			v.errorf(p+".tier", "tier %d must be 1 or 2", vo.Tier)
		}
		v.enum(p+".priority", "priority", vo.Priority, Priorities, false)
	}

	for i := range c.Deviations {
		dv := &c.Deviations[i]
		p := idx("deviation", i)
		uniqueID(p, "deviation", dv.ID)
		if len(dv.Points) != 2 {
			v.errorf(p+".points", "points must be exactly two analog points (got %d)", len(dv.Points))
		}
		for j, id := range dv.Points {
			pt := pts[id]
			switch {
			case pt == nil:
				v.errorf(idx(p+".points", j), "unknown point %q", id)
			case !analog(pt):
				v.errorf(idx(p+".points", j), "point %q is not analog (a deviation compares two measured values)", id)
			case j == 1 && id == dv.Points[0]:
				v.errorf(idx(p+".points", j), "a point cannot deviate from itself")
			}
		}
		if v.finite(p+".max", dv.Max) && dv.Max <= 0 {
			v.errorf(p+".max", "max (%g) must be positive", dv.Max)
		}
		v.nonNegDur(p+".on_delay", dv.OnDelay)
		v.enum(p+".priority", "priority", dv.Priority, Priorities, false)
	}

	for i := range c.Linkages {
		l := &c.Linkages[i]
		p := idx("linkage", i)
		uniqueID(p, "linkage", l.ID)
		if len(l.When) == 0 {
			v.errorf(p+".when", "when is required (the alarm ids that fire it)")
		}
		for j, a := range l.When {
			knownAlarm(idx(p+".when", j), a, l.ID+":linkage")
		}
		v.enum(p+".mode", "mode", l.Mode, LinkageModes, true)
		switch d := devs[l.Device]; {
		case l.Device == "":
			v.errorf(p+".device", "device is required (a modbus device)")
		case d == nil:
			v.errorf(p+".device", "unknown device %q", l.Device)
		case d.Driver != "modbus":
			v.errorf(p+".device", "device %q is not a modbus device (a linkage writes a coil or holding register)", l.Device)
		}
		v.enum(p+".register", "register", l.Register, []string{"coil", "holding"}, true)
		switch {
		case l.Address == nil:
			v.errorf(p+".address", "address is required")
		case *l.Address < 0 || *l.Address > 65535:
			v.errorf(p+".address", "address %d must be 0..65535", *l.Address)
		}
		for _, k := range []struct {
			key string
			val *int
		}{{"value", l.Value}, {"release", l.Release}} {
			switch {
			case k.val == nil:
			case l.Register == "coil" && *k.val != 0 && *k.val != 1:
				v.errorf(p+"."+k.key, "%s %d: a coil takes 0 or 1", k.key, *k.val)
			case *k.val < 0 || *k.val > 65535:
				v.errorf(p+"."+k.key, "%s %d must be 0..65535", k.key, *k.val)
			}
		}
		switch {
		case l.Feedback != "" && pts[l.Feedback] == nil:
			v.errorf(p+".feedback", "unknown point %q", l.Feedback)
		case l.Feedback == "" && l.Expect != nil:
			v.errorf(p+".expect", "expect needs a feedback point")
		}
		if l.Expect != nil {
			v.finite(p+".expect", *l.Expect)
		}
		if l.Confirm < 0 {
			v.nonNegDur(p+".confirm", l.Confirm)
		}
		v.enum(p+".priority", "priority", l.Priority, Priorities, false)
	}
}

// SplitAlarm splits an alarm id "POINT:COND" at its last colon.
func SplitAlarm(id string) (point, cond string) {
	i := strings.LastIndexByte(id, ':')
	if i < 0 {
		return id, ""
	}
	return id[:i], id[i+1:]
}

// Point returns the point with that id, or nil.
func (c *Config) Point(id string) *Point {
	for i := range c.Devices {
		for j := range c.Devices[i].Points {
			if c.Devices[i].Points[j].ID == id {
				return &c.Devices[i].Points[j]
			}
		}
	}
	return nil
}
