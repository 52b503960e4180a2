package alarms

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// kind is an alarm's condition (the `cond` of its events).
type kind uint8

const (
	kHiHi kind = iota
	kHi
	kLo
	kLoLo
	kROC
	kOn
	kVote    // rules.go: K out of N member alarms
	kDev     // rules.go: two redundant points disagree
	kLinkage // rules.go: a linkage output failed
	kFault   // quality alarms from here on: they never latch
	kComm
	kStale
)

var kindNames = [...]string{"hihi", "hi", "lo", "lolo", "roc", "on", "vote", "dev", "linkage", "fault", "comm", "stale"}

// alarm flags: the suppressions over the alarm's state, and the filtering
// (DOMAIN §5) that decides when its condition counts.
const (
	fCond    uint8 = 1 << iota // condition after deadband, before delays
	fPendOn                    // on-delay running, due at alarm.due
	fPendOff                   // off-delay running, due at alarm.due
	fLatch                     // rtn_unack of a latching clear: the ack latches it
	fShelved                   // shelved until Machine.shelved[i]
	fOOS                       // point out of service (st is then normal)
)

// alarm is the hot per-alarm state: 32 bytes.
type alarm struct {
	due       int64 // pending delay deadline, unix ns
	activated int64 // last activation, unix ns (0: never)
	pt        int32
	gen       uint32 // bumped at each (re-)annunciation; stale escalation timers carry an older one
	kind      kind
	st        State // Normal, Unack, Acked, RtnUnack or Latched (transitions.go)
	flags     uint8
	stage     uint8
	prio      Priority
}

// point is the per-point evaluation state (kept small: 10,000 points
// should fit in a few MiB; see docs/PERFORMANCE.md). It holds what the
// machine needs of the point's config and nothing that points into it, so
// the config is collected once loaded (at 100,000 points it is ≈ 65 MiB);
// the point's name, the one string only events read, is in Machine.names
// (one string for all, 4 bytes of offset per point).
type point struct {
	id                 string  // the config's id, here so lookups stay in this cache line
	hi, hihi, lo, lolo float64 // NaN: no such limit
	deadband           float64
	value              float64    // last value (good or not) for events
	lastGood           int64      // engine time of the last good sample, unix ns
	win                *rocWindow // nil: no roc alarm
	rule               *rule      // a vote, deviation or linkage (rules.go); nil for a point a driver feeds
	// Delays in milliseconds.
	onDelay, offDelay, faultDelay, stale int32
	first                                int32 // alarms[first : first+n]; process alarms first, then fault?, comm, stale
	commCount, commAfter                 uint16
	dev                                  uint16
	unit                                 uint16 // Machine.units
	n, nproc                             uint8
	tier                                 uint8 // tier of the `on` alarm
	quality                              drivers.Quality
	oos, latch, alarmOn, hasFault        bool
	hasDeps                              bool // rule points to evaluate after a sample of it: Machine.deps
}

func (p *point) commIdx() int32  { return p.first + int32(p.n) - 2 }
func (p *point) staleIdx() int32 { return p.first + int32(p.n) - 1 }
func (p *point) faultIdx() int32 { return p.first + int32(p.n) - 3 }

func ms(d int32) int64 { return int64(d) * int64(time.Millisecond) }

func toMS(d configs.Duration) int32 {
	return int32(min(d.D().Milliseconds(), 1<<31-1))
}

// toMSp is toMS of an optional duration, def when unset.
func toMSp(d *configs.Duration, def time.Duration) int32 {
	if d == nil {
		return toMS(configs.Duration(def))
	}
	return toMS(*d)
}

func nanOr(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// NewMachine builds the alarms of cfg. Every point gets comm and stale
// alarms, fault when it has a range, and one alarm per configured limit,
// roc and alarm_on. start is when the stale timers of never-seen points
// begin.
func NewMachine(cfg *configs.Config, start time.Time) (*Machine, error) {
	m := &Machine{
		site:          cfg.Site.ID,
		shelved:       map[int32]int64{},
		notify:        map[int32][]string{},
		maxShelve:     int64(cfg.Console.MaxShelve),
		maxOOS:        int64(cfg.Console.MaxOOS),
		chatter:       map[int32]*chatter{},
		chatterWindow: chatterWindow,
		units:         []string{""},
		deps:          map[int32][]int32{},
		oosSince:      map[int32]int64{},
		ladder:        buildLadder(cfg.Escalation.Stages),
	}
	// Every default comes from configs.SetDefaults: a config built in code
	// must call it (configs owns them, so they cannot disagree).
	var err error
	if m.minPrio, err = ParsePriority(cfg.Escalation.MinPriority); err != nil {
		return nil, fmt.Errorf("escalation.min_priority: %w", err)
	}
	n := 0
	for i := range cfg.Devices {
		n += len(cfg.Devices[i].Points)
	}
	m.points = make([]point, 0, n)
	m.nameEnd = make([]uint32, 0, n)
	var names strings.Builder
	m.alarms = make([]alarm, 0, n*4)
	t0 := start.UnixNano()
	for di := range cfg.Devices {
		d := &cfg.Devices[di]
		m.devs = append(m.devs, d.ID)
		for pi := range d.Points {
			pc := &d.Points[pi]
			p := point{
				id: pc.ID, unit: m.unit(pc.Unit), tier: uint8(min(max(pc.Tier, 0), 255)), hi: nanOr(pc.Hi), hihi: nanOr(pc.HiHi), lo: nanOr(pc.Lo), lolo: nanOr(pc.LoLo),
				deadband: pc.Deadband, value: math.NaN(), lastGood: t0,
				onDelay: toMS(pc.OnDelay), offDelay: toMS(pc.OffDelay), faultDelay: toMSp(pc.FaultDelay, 4*time.Second),
				stale: toMS(pc.Stale), first: int32(len(m.alarms)), dev: uint16(di), latch: pc.Latch,
				commAfter: uint16(min(max(d.CommAfter, 0), 1<<16-1)),
			}
			var override Priority
			if pc.Priority != "" {
				if override, err = ParsePriority(pc.Priority); err != nil {
					return nil, fmt.Errorf("point %s: priority: %w", pc.ID, err)
				}
			}
			add := func(k kind, def Priority) {
				pr := def
				if override != 0 {
					pr = override
				}
				m.alarms = append(m.alarms, alarm{pt: int32(len(m.points)), kind: k, prio: pr, st: Normal})
			}
			if pc.HiHi != nil {
				add(kHiHi, High)
			}
			if pc.Hi != nil {
				add(kHi, Medium)
			}
			if pc.Lo != nil {
				add(kLo, Medium)
			}
			if pc.LoLo != nil {
				add(kLoLo, High)
			}
			if pc.ROC > 0 {
				add(kROC, Medium)
				p.win = &rocWindow{roc: pc.ROC}
			}
			if pc.AlarmOn != nil {
				p.alarmOn = *pc.AlarmOn
				add(kOn, High)
			}
			p.nproc = uint8(len(m.alarms) - int(p.first))
			if len(pc.Range) == 2 && pc.Range[0] < pc.Range[1] {
				add(kFault, Low)
				p.hasFault = true
			}
			add(kComm, Low)
			add(kStale, Low)
			p.n = uint8(len(m.alarms) - int(p.first))
			m.points = append(m.points, p)
			m.addName(&names, pc.Name)
		}
	}
	if err := m.addRules(cfg, t0, &names); err != nil {
		return nil, err
	}
	m.names = names.String()
	m.byID.build(len(m.points))
	for i := range m.points {
		if !m.byID.insert(m.points, int32(i)) {
			return nil, fmt.Errorf("point %s: duplicate point id", m.points[i].id)
		}
	}
	m.lookup = func(id drivers.PointID) int32 {
		if pi, ok := m.byID.find(m.points, string(id)); ok {
			return pi
		}
		return -1
	}
	if err := m.resolveRules(cfg); err != nil {
		return nil, err
	}
	if cap(m.alarms) > len(m.alarms) {
		m.alarms = slices.Clone(m.alarms)
	}
	m.nextScan = t0
	m.units = slices.Clip(m.units)
	return m, nil
}

// addName appends the name of the point being added to names.
func (m *Machine) addName(names *strings.Builder, name string) {
	names.WriteString(name)
	m.nameEnd = append(m.nameEnd, uint32(names.Len()))
}

// name is point pi's name, a substring of names: an event takes a copy
// (Machine.event), or a kept event would keep every name alive after the
// machine is replaced by a reload.
func (m *Machine) name(pi int32) string {
	start := uint32(0)
	if pi > 0 {
		start = m.nameEnd[pi-1]
	}
	return m.names[start:m.nameEnd[pi]]
}

// unit returns the index of unit in m.units, adding it: a site has a few
// units shared by thousands of points.
func (m *Machine) unit(u string) uint16 {
	if i := slices.Index(m.units, u); i >= 0 {
		return uint16(i)
	}
	if len(m.units) == 1<<16-1 {
		return 0 // more distinct units than points of any real site; "" is index 0
	}
	m.units = append(m.units, u)
	return uint16(len(m.units) - 1)
}

func (m *Machine) limit(a *alarm, p *point) float64 {
	switch a.kind {
	case kHiHi:
		return p.hihi
	case kHi:
		return p.hi
	case kLo:
		return p.lo
	case kLoLo:
		return p.lolo
	case kROC:
		return p.win.roc
	case kOn:
		if p.alarmOn {
			return 1
		}
		return 0
	case kVote:
		return float64(p.rule.k)
	case kDev:
		return p.rule.max
	}
	return math.NaN()
}

func tierOf(a *alarm, p *point) int {
	switch a.kind {
	case kHiHi, kLoLo:
		return 2
	case kHi, kLo:
		return 1
	case kOn:
		return int(p.tier)
	case kVote, kDev, kLinkage:
		return p.rule.tier
	}
	return 0
}

// device is the device an event names: the point's, a linkage's, or none.
func (m *Machine) device(p *point) string {
	if p.rule != nil {
		return p.rule.device
	}
	return m.devs[p.dev]
}

// event builds the current view of alarm ai (seq not set).
func (m *Machine) event(ai int32, t int64, now time.Time) Event {
	a := &m.alarms[ai]
	p := &m.points[a.pt]
	ev := Event{
		ID: p.id + ":" + kindNames[a.kind], Point: p.id, Cond: kindNames[a.kind],
		Tier: tierOf(a, p), Priority: a.prio, State: a.state(),
		Active: a.st.active(), Acked: !a.st.unacked(), Latched: a.latched(),
		OOS: a.flags&fOOS != 0, Stage: int(a.stage), Value: p.value, Limit: m.limit(a, p),
		Unit: m.units[p.unit], Quality: p.quality.String(), Time: time.Unix(0, t).UTC(), Emitted: now.UTC(),
		Site: m.site, Device: m.device(p), Name: strings.Clone(m.name(a.pt)), Flood: m.flood.on,
		Notify: m.notify[ai],
	}
	if a.activated != 0 {
		at := time.Unix(0, a.activated).UTC()
		ev.Activated = &at
	}
	if a.flags&fShelved != 0 {
		su := time.Unix(0, m.shelved[ai]).UTC()
		ev.ShelvedUntil = &su
	}
	return ev
}
