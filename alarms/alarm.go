package alarms

import (
	"cmp"
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

// alarm is the per-alarm state: 32 bytes, a row of Machine.rows. An
// alarm gets its row the first time anything about it changes
// (Machine.row); until then it is pristine: normal, no flag, never
// activated, and its kind and priority are its point's config
// (Machine.view). A site of 100,000 points with no alarm configured keeps
// no row at all for their comm and stale alarms until one changes.
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

// point is the per-point evaluation state: 32 bytes, no pointer (the GC
// does not scan the slice). What a point shares with others is in
// Machine.confs (limits, delays, priority, device, unit: points of the
// same shape on the same device share one entry); its id and name are in
// Machine.ids and Machine.names (one string each for all points); a roc
// window in Machine.wins. Nothing points into the config, so the config
// is collected once loaded (at 100,000 points it is ≈ 65 MiB).
type point struct {
	value     float64 // last value (good or not) for events
	lastGood  int64   // engine time of the last good sample, unix ns
	first     int32   // alarm numbers first : first+n; process alarms first, then fault?, comm, stale
	conf      uint32  // Machine.confs
	win       int32   // Machine.wins[win-1]; 0: no roc alarm
	commCount uint16
	quality   drivers.Quality
	flags     uint8 // pOOS, pDeps
}

// point flags.
const (
	pOOS  uint8 = 1 << iota // out of service
	pDeps                   // rule points to evaluate after a sample of it: Machine.deps
)

func (p *point) oos() bool     { return p.flags&pOOS != 0 }
func (p *point) hasDeps() bool { return p.flags&pDeps != 0 }

func (p *point) setOOS(oos bool) {
	if oos {
		p.flags |= pOOS
	} else {
		p.flags &^= pOOS
	}
}

// maxKinds is the most alarms a point has: hihi hi lo lolo roc on fault
// comm stale.
const maxKinds = 9

// pconf is what a point takes from its config, shared by every point of
// the same shape (Machine.confs). A point's device is where its index
// falls in Machine.devEnd.
type pconf struct {
	hi, hihi, lo, lolo float64 // NaN: no such limit
	deadband, roc      float64
	// Delays in milliseconds.
	onDelay, offDelay, faultDelay, stale int32
	rule                                 *rule // a vote, deviation or linkage (rules.go); nil for a point a driver feeds
	commAfter                            uint16
	unit                                 uint16 // Machine.units
	n, nproc                             uint8  // alarms; process alarms
	tier                                 uint8  // tier of the `on` alarm
	prio                                 Priority
	latch, alarmOn, hasFault             bool
	kinds                                [maxKinds]kind // of alarms first .. first+n
	prios                                [maxKinds]Priority
}

// confKey is a pconf as a map key: NaN limits compare equal as bits.
type confKey struct {
	bits [6]uint64
	rest pconf
}

func keyOf(c pconf) confKey {
	k := confKey{bits: [6]uint64{math.Float64bits(c.hi), math.Float64bits(c.hihi), math.Float64bits(c.lo),
		math.Float64bits(c.lolo), math.Float64bits(c.deadband), math.Float64bits(c.roc)}, rest: c}
	k.rest.hi, k.rest.hihi, k.rest.lo, k.rest.lolo, k.rest.deadband, k.rest.roc = 0, 0, 0, 0, 0, 0
	return k
}

// strtab is many strings kept as one (4 bytes of offset each): point ids
// and names. A string taken from it keeps the whole table alive: events
// and samples that outlive the machine take copies.
type strtab struct {
	s   string
	end []uint32 // by string: where it ends in s
}

func (t *strtab) at(i int32) string {
	start := uint32(0)
	if i > 0 {
		start = t.end[i-1]
	}
	return t.s[start:t.end[i]]
}

// strtabBuilder builds a strtab.
type strtabBuilder struct {
	b   strings.Builder
	end []uint32
}

func (b *strtabBuilder) add(s string) {
	b.b.WriteString(s)
	b.end = append(b.end, uint32(b.b.Len()))
}

func (b *strtabBuilder) build() strtab { return strtab{s: b.b.String(), end: slices.Clip(b.end)} }

// Alarm rows live in chunks, so a row's address never changes while rows
// are added.
const (
	rowShift = 10
	rowMask  = 1<<rowShift - 1
)

// conf is point p's shared config.
func (m *Machine) conf(p *point) *pconf { return &m.confs[p.conf] }

func (m *Machine) commIdx(p *point) int32  { return p.first + int32(m.confs[p.conf].n) - 2 }
func (m *Machine) staleIdx(p *point) int32 { return p.first + int32(m.confs[p.conf].n) - 1 }
func (m *Machine) faultIdx(p *point) int32 { return p.first + int32(m.confs[p.conf].n) - 3 }

// peek is alarm ai's row, nil while it is pristine.
func (m *Machine) peek(ai int32) *alarm {
	r := m.slot[ai]
	if r == 0 {
		return nil
	}
	r--
	return &m.rows[r>>rowShift][r&rowMask]
}

// flagsOf is alarm ai's flags (0 while pristine).
func (m *Machine) flagsOf(ai int32) uint8 {
	if a := m.peek(ai); a != nil {
		return a.flags
	}
	return 0
}

// row is alarm ai's row, made (pristine) when it has none: for anything
// that may change the alarm. Its address stays valid for the machine's
// life.
func (m *Machine) row(ai int32) *alarm {
	if a := m.peek(ai); a != nil {
		return a
	}
	a := m.view(ai)
	if m.nrows&rowMask == 0 {
		m.rows = append(m.rows, make([]alarm, 1<<rowShift))
	}
	r := m.nrows
	m.nrows++
	m.slot[ai] = r + 1
	m.rows[r>>rowShift][r&rowMask] = a
	return &m.rows[r>>rowShift][r&rowMask]
}

// view is alarm ai as it stands (a copy): its row, or the pristine alarm
// its point's config describes.
func (m *Machine) view(ai int32) alarm {
	if a := m.peek(ai); a != nil {
		return *a
	}
	pi := m.pointOf(ai)
	p := &m.points[pi]
	c := m.conf(p)
	k := ai - p.first
	return alarm{pt: pi, kind: c.kinds[k], prio: c.prios[k], st: Normal}
}

// pointOf is the point alarm ai belongs to (points are in alarm order).
func (m *Machine) pointOf(ai int32) int32 {
	i, _ := slices.BinarySearchFunc(m.points, ai, func(p point, ai int32) int {
		return cmp.Compare(p.first, ai+1)
	})
	return int32(i - 1)
}

// kindOf is alarm ai's kind.
func (m *Machine) kindOf(ai int32) kind {
	if a := m.peek(ai); a != nil {
		return a.kind
	}
	p := &m.points[m.pointOf(ai)]
	return m.conf(p).kinds[ai-p.first]
}

// addConf returns the index of c in m.confs, adding it.
func (m *Machine) addConf(c pconf, seen map[confKey]uint32) uint32 {
	k := keyOf(c)
	if i, ok := seen[k]; ok {
		return i
	}
	i := uint32(len(m.confs))
	m.confs = append(m.confs, c)
	seen[k] = i
	return i
}

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
	n += len(cfg.Votes) + len(cfg.Deviations) + len(cfg.Linkages)
	m.points = make([]point, 0, n)
	var ids, names strtabBuilder
	ids.end = make([]uint32, 0, n)
	names.end = make([]uint32, 0, n)
	seen := map[confKey]uint32{}
	nalarms := int32(0)
	t0 := start.UnixNano()
	for di := range cfg.Devices {
		d := &cfg.Devices[di]
		m.devs = append(m.devs, d.ID)
		for pi := range d.Points {
			pc := &d.Points[pi]
			c := pconf{
				unit: m.unit(pc.Unit), tier: uint8(min(max(pc.Tier, 0), 255)), hi: nanOr(pc.Hi), hihi: nanOr(pc.HiHi), lo: nanOr(pc.Lo), lolo: nanOr(pc.LoLo),
				deadband: pc.Deadband, onDelay: toMS(pc.OnDelay), offDelay: toMS(pc.OffDelay), faultDelay: toMSp(pc.FaultDelay, 4*time.Second),
				stale: toMS(pc.Stale), latch: pc.Latch,
				commAfter: uint16(min(max(d.CommAfter, 0), 1<<16-1)),
			}
			p := point{value: math.NaN(), lastGood: t0, first: nalarms}
			if pc.Priority != "" {
				if c.prio, err = ParsePriority(pc.Priority); err != nil {
					return nil, fmt.Errorf("point %s: priority: %w", pc.ID, err)
				}
			}
			add := func(k kind, def Priority) {
				if c.prio != 0 {
					def = c.prio
				}
				c.kinds[c.n], c.prios[c.n] = k, def
				c.n++
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
				c.roc = pc.ROC
				m.wins = append(m.wins, rocWindow{})
				p.win = int32(len(m.wins))
			}
			if pc.AlarmOn != nil {
				c.alarmOn = *pc.AlarmOn
				add(kOn, High)
			}
			c.nproc = c.n
			if len(pc.Range) == 2 && pc.Range[0] < pc.Range[1] {
				add(kFault, Low)
				c.hasFault = true
			}
			add(kComm, Low)
			add(kStale, Low)
			nalarms += int32(c.n)
			p.conf = m.addConf(c, seen)
			m.points = append(m.points, p)
			ids.add(pc.ID)
			names.add(pc.Name)
		}
		m.devEnd = append(m.devEnd, int32(len(m.points)))
	}
	if err := m.addRules(cfg, t0, &nalarms, &ids, &names); err != nil {
		return nil, err
	}
	m.ids, m.names = ids.build(), names.build()
	m.slot = make([]int32, nalarms)
	m.confs = slices.Clip(m.confs)
	m.wins = slices.Clip(m.wins)
	m.byID.build(len(m.points))
	for i := range m.points {
		if !m.byID.insert(&m.ids, int32(i)) {
			return nil, fmt.Errorf("point %s: duplicate point id", m.ids.at(int32(i)))
		}
	}
	m.lookup = func(id drivers.PointID) int32 {
		if pi, ok := m.byID.find(&m.ids, string(id)); ok {
			return pi
		}
		return -1
	}
	if err := m.resolveRules(cfg); err != nil {
		return nil, err
	}
	m.nextScan = t0
	m.units = slices.Clip(m.units)
	return m, nil
}

// id is point pi's id, a substring of Machine.ids: what outlives the
// machine (an event, a sample) takes a copy.
func (m *Machine) id(pi int32) string { return m.ids.at(pi) }

// name is point pi's name, a substring of names: an event takes a copy
// (Machine.event), or a kept event would keep every name alive after the
// machine is replaced by a reload.
func (m *Machine) name(pi int32) string { return m.names.at(pi) }

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

func limit(a *alarm, c *pconf) float64 {
	switch a.kind {
	case kHiHi:
		return c.hihi
	case kHi:
		return c.hi
	case kLo:
		return c.lo
	case kLoLo:
		return c.lolo
	case kROC:
		return c.roc
	case kOn:
		if c.alarmOn {
			return 1
		}
		return 0
	case kVote:
		return float64(c.rule.k)
	case kDev:
		return c.rule.max
	}
	return math.NaN()
}

func tierOf(a *alarm, c *pconf) int {
	switch a.kind {
	case kHiHi, kLoLo:
		return 2
	case kHi, kLo:
		return 1
	case kOn:
		return int(c.tier)
	case kVote, kDev, kLinkage:
		return c.rule.tier
	}
	return 0
}

// device is the device an event names: point pi's, a linkage's, or none.
func (m *Machine) device(pi int32, c *pconf) string {
	if c.rule != nil {
		return c.rule.device
	}
	d, _ := slices.BinarySearch(m.devEnd, pi+1) // the first device ending after pi
	return m.devs[d]
}

// event builds the current view of alarm ai (seq not set).
func (m *Machine) event(ai int32, t int64, now time.Time) Event {
	av := m.view(ai)
	a := &av
	p := &m.points[a.pt]
	c := m.conf(p)
	aid := m.id(a.pt) + ":" + kindNames[a.kind] // a new string: Point is its start
	ev := Event{
		ID: aid, Point: aid[:len(aid)-len(kindNames[a.kind])-1], Cond: kindNames[a.kind],
		Tier: tierOf(a, c), Priority: a.prio, State: a.state(),
		Active: a.st.active(), Acked: !a.st.unacked(), Latched: a.latched(),
		OOS: a.flags&fOOS != 0, Stage: int(a.stage), Value: p.value, Limit: limit(a, c),
		Unit: m.units[c.unit], Quality: p.quality.String(), Time: time.Unix(0, t).UTC(), Emitted: now.UTC(),
		Site: m.site, Device: m.device(a.pt, c), Name: strings.Clone(m.name(a.pt)), Flood: m.flood.on,
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
