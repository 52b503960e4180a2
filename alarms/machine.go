package alarms

import (
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Machine is every alarm of one site as one state machine. It owns no
// goroutine, no lock, no clock and does no I/O: the Engine feeds it samples,
// commands and the passage of time (each call takes `now`), and collects the
// events each call appends (Take). Tests drive it with timestamps in data.
//
//	         activation                ack
//	normal ────────────> unack ───────────────> acked
//	  ^  ^                 │  ^ re-activation     │ clear
//	  │  │          clear  v  │                   v
//	  │  └── ack ──── rtn_unack          normal, or latched (latch = true)
//	  │                   │ ack (latch)            │ reset (refused while
//	  └──── reset ─── latched <────────────────────┘  the condition holds)
//
//	shelved and oos override the derived state while set (see ALARMS.md).
type Machine struct {
	site      string
	points    []point
	devs      []string
	alarms    []alarm
	byID      pointIndex
	seq       uint64
	minPrio   Priority
	ladder    []rung
	maxShelve int64

	timers   timerHeap
	nextScan int64 // next stale and flood scan (unix ns)

	shelved map[int32]int64    // alarm -> shelved until (unix ns)
	notify  map[int32][]string // alarm -> accumulated escalation targets

	acts     []int64 // activation times inside the flood window
	actsHead int
	flooding bool

	out     []Event
	stale   []drivers.Sample // bad/stale samples of points gone stale, for TakeStale
	Unknown uint64           // samples of points not in the config
}

// rung is one escalation stage: `after` activation, `notify` these targets.
type rung struct {
	after  int64
	notify []string
}

type kind uint8

const (
	kHiHi kind = iota
	kHi
	kLo
	kLoLo
	kROC
	kOn
	kFault
	kComm
	kStale
)

var kindNames = [...]string{"hihi", "hi", "lo", "lolo", "roc", "on", "fault", "comm", "stale"}

// alarm flags.
const (
	fActive  uint8 = 1 << iota // condition holds after deadband and delays
	fAcked                     // latest activation acknowledged (true when normal)
	fLatched                   // cleared with latch = true, waits for reset
	fCond                      // condition after deadband, before delays
	fPendOn                    // on-delay running, due at alarm.due
	fPendOff                   // off-delay running, due at alarm.due
	fOOS                       // point out of service
	fShelved                   // shelved until Machine.shelved[i]
)

// alarm is the hot per-alarm state: 32 bytes.
type alarm struct {
	due       int64 // pending delay deadline, unix ns
	activated int64 // last activation, unix ns (0: never)
	pt        int32
	gen       uint32 // bumped at each (re-)annunciation; stale escalation timers carry an older one
	kind      kind
	flags     uint8
	stage     uint8
	prio      Priority
}

// point is the per-point evaluation state (kept small: 10,000 points
// should fit in a few MiB; see docs/PERFORMANCE.md).
type point struct {
	id                 string // cfg.ID, here so lookups stay in this cache line
	cfg                *configs.Point
	hi, hihi, lo, lolo float64 // NaN: no such limit
	deadband           float64
	value              float64    // last value (good or not) for events
	lastGood           int64      // engine time of the last good sample, unix ns
	win                *rocWindow // nil: no roc alarm
	// Delays in milliseconds.
	onDelay, offDelay, faultDelay, stale int32
	first                                int32 // alarms[first : first+n]; process alarms first, then fault?, comm, stale
	commCount, commAfter                 uint16
	dev                                  uint16
	n, nproc                             uint8
	quality                              drivers.Quality
	oos, latch, alarmOn, hasFault        bool
}

func ms(d int32) int64 { return int64(d) * int64(time.Millisecond) }

func toMS(d configs.Duration) int32 {
	return int32(min(d.D().Milliseconds(), 1<<31-1))
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
		site:      cfg.Site.ID,
		shelved:   map[int32]int64{},
		notify:    map[int32][]string{},
		maxShelve: int64(cfg.Console.MaxShelve),
	}
	if m.maxShelve <= 0 {
		m.maxShelve = int64(60 * time.Minute)
	}
	mp := cfg.Escalation.MinPriority
	if mp == "" {
		mp = "medium"
	}
	var err error
	if m.minPrio, err = ParsePriority(mp); err != nil {
		return nil, fmt.Errorf("escalation.min_priority: %w", err)
	}
	stages := append([]configs.Stage(nil), cfg.Escalation.Stages...)
	sort.SliceStable(stages, func(i, j int) bool { return stages[i].After < stages[j].After })
	if len(stages) > 0 {
		if stages[0].After > 0 {
			m.ladder = append(m.ladder, rung{})
		}
		for _, s := range stages {
			m.ladder = append(m.ladder, rung{after: int64(s.After), notify: s.Notify})
		}
	}
	n := 0
	for i := range cfg.Devices {
		n += len(cfg.Devices[i].Points)
	}
	m.points = make([]point, 0, n)
	m.alarms = make([]alarm, 0, n*4)
	t0 := start.UnixNano()
	for di := range cfg.Devices {
		d := &cfg.Devices[di]
		m.devs = append(m.devs, d.ID)
		for pi := range d.Points {
			pc := &d.Points[pi]
			p := point{
				id: pc.ID, cfg: pc, hi: nanOr(pc.Hi), hihi: nanOr(pc.HiHi), lo: nanOr(pc.Lo), lolo: nanOr(pc.LoLo),
				deadband: pc.Deadband, value: math.NaN(), lastGood: t0,
				onDelay: toMS(pc.OnDelay), offDelay: toMS(pc.OffDelay), faultDelay: toMS(pc.FaultDelay),
				stale: toMS(pc.Stale), first: int32(len(m.alarms)), dev: uint16(di), latch: pc.Latch,
				commAfter: uint16(min(max(d.CommAfter, 0), 1<<16-1)),
			}
			if p.commAfter == 0 {
				p.commAfter = 3
				if d.Driver == "mqtt" {
					p.commAfter = 1
				}
			}
			if p.stale == 0 {
				p.stale = toMS(configs.Duration(max(3*d.Interval.D(), 3*time.Second)))
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
				m.alarms = append(m.alarms, alarm{pt: int32(len(m.points)), kind: k, prio: pr, flags: fAcked})
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
		}
	}
	m.byID.build(len(m.points))
	for i := range m.points {
		if !m.byID.insert(m.points, int32(i)) {
			return nil, fmt.Errorf("point %s: duplicate point id", m.points[i].cfg.ID)
		}
	}
	if cap(m.alarms) > len(m.alarms) {
		m.alarms = slices.Clone(m.alarms)
	}
	m.nextScan = t0
	return m, nil
}

// Seq is the seq of the last event produced.
func (m *Machine) Seq() uint64 { return m.seq }

// Flood reports whether the site is in an alarm flood.
func (m *Machine) Flood() bool { return m.flooding }

// Take returns the events appended since the last Take. The slice is reused
// by the next call into the Machine: copy what you keep.
// TakeStale returns the bad/stale samples of the points Advance found
// stale, as a new slice the caller owns (outputs keep batches), or nil.
func (m *Machine) TakeStale() []drivers.Sample {
	if len(m.stale) == 0 {
		return nil
	}
	out := m.stale
	m.stale = nil
	return out
}

func (m *Machine) Take() []Event {
	out := m.out
	m.out = m.out[:0]
	return out
}

func (p *point) commIdx() int32  { return p.first + int32(p.n) - 2 }
func (p *point) staleIdx() int32 { return p.first + int32(p.n) - 1 }
func (p *point) faultIdx() int32 { return p.first + int32(p.n) - 3 }

// Sample evaluates one sample at engine time now. A sample of a point out
// of service, or of an unknown point, changes nothing.
func (m *Machine) Sample(now time.Time, s drivers.Sample) {
	pi, ok := m.byID.find(m.points, string(s.Point))
	if !ok {
		m.Unknown++
		return
	}
	p := &m.points[pi]
	if p.oos {
		return
	}
	n := now.UnixNano()
	t := n
	if !s.Time.IsZero() {
		if st := s.Time.UnixNano(); st < n {
			t = st
		}
	}
	p.quality = s.Quality
	switch {
	case s.Quality == drivers.Good:
		p.value = s.Value
		p.lastGood = n
		m.answered(p, t, now, false)
		if a := &m.alarms[p.staleIdx()]; a.flags&fCond != 0 {
			m.setCond(p.staleIdx(), false, t, 0, 0, now)
		}
		m.evalProcess(p, s.Value, t, now)
	case s.Quality == drivers.Uncertain || s.Cause == drivers.CauseRange:
		p.value = s.Value
		m.answered(p, t, now, s.Quality == drivers.Bad)
		if s.Quality == drivers.Uncertain && s.Cause == drivers.CauseRange {
			m.evalOverRange(p, s.Value, t, now)
		}
	case s.Cause == drivers.CauseComm || s.Cause == drivers.CauseDecode:
		if p.commCount < 1<<16-1 {
			p.commCount++
		}
		if p.commCount >= p.commAfter {
			m.setCond(p.commIdx(), true, t, 0, 0, now)
		}
	}
}

// answered handles a sample that proves the device answered: comm clears,
// fault follows the sample's range quality.
func (m *Machine) answered(p *point, t int64, now time.Time, fault bool) {
	p.commCount = 0
	if ci := p.commIdx(); m.alarms[ci].flags&fCond != 0 {
		m.setCond(ci, false, t, 0, 0, now)
	}
	if p.hasFault {
		fi := p.faultIdx()
		if a := &m.alarms[fi]; fault || a.flags&(fCond|fPendOn|fPendOff) != 0 {
			m.setCond(fi, fault, t, ms(p.faultDelay), 0, now)
		}
	}
}

func (m *Machine) evalProcess(p *point, v float64, t int64, now time.Time) {
	if p.nproc == 0 || v != v { // a NaN "good" value decides nothing
		return
	}
	var rate float64
	if p.win != nil {
		rate = p.win.add(t, v)
	}
	for i := p.first; i < p.first+int32(p.nproc); i++ {
		a := &m.alarms[i]
		on := a.flags&fCond != 0
		var cond bool
		switch a.kind {
		case kHiHi:
			cond = v >= p.hihi || (on && v >= p.hihi-p.deadband)
		case kHi:
			cond = v >= p.hi || (on && v >= p.hi-p.deadband)
		case kLo:
			cond = v <= p.lo || (on && v <= p.lo+p.deadband)
		case kLoLo:
			cond = v <= p.lolo || (on && v <= p.lolo+p.deadband)
		case kROC:
			r := math.Abs(rate)
			cond = r >= p.win.roc || (on && r >= rocClear*p.win.roc)
		case kOn:
			cond = (v != 0) == p.alarmOn
		}
		if cond != on || a.flags&(fPendOn|fPendOff) != 0 {
			m.setCond(i, cond, t, ms(p.onDelay), ms(p.offDelay), now)
		}
	}
}

// evalOverRange handles an uncertain sample just outside the range (the
// NAMUR NE 43 saturation band, 20.5–21 mA): the true value is at least the
// end of the span it passed, so it may RAISE the limit alarms on that side
// (an over-range gas detector is an alarm, DOMAIN §6), never clear one, and
// leaves the other side alone. Limits lie inside the range (config rule),
// so above the span every high limit holds. A deviation from SPEC §4's
// "not good never raises" (docs/DEVIATIONS.md): the literal reading would
// show a detector saturated by gas as a mere low-priority fault.
func (m *Machine) evalOverRange(p *point, v float64, t int64, now time.Time) {
	r := p.cfg.Range
	if len(r) != 2 || v != v {
		return
	}
	above, below := v > r[1], v < r[0]
	for i := p.first; i < p.first+int32(p.nproc); i++ {
		a := &m.alarms[i]
		var cond bool
		switch a.kind {
		case kHiHi:
			cond = above && v >= p.hihi
		case kHi:
			cond = above && v >= p.hi
		case kLo:
			cond = below && v <= p.lo
		case kLoLo:
			cond = below && v <= p.lolo
		}
		if cond && (a.flags&fCond == 0 || a.flags&fPendOff != 0) {
			m.setCond(i, true, t, ms(p.onDelay), ms(p.offDelay), now)
		}
	}
}

// setCond applies the delays to a change of the deadbanded condition of
// alarm ai observed at time t (DOMAIN §5: deadband, then on-delay, then
// off-delay; a delay restarts when the condition flips back).
func (m *Machine) setCond(ai int32, cond bool, t, onDelay, offDelay int64, now time.Time) {
	a := &m.alarms[ai]
	if a.flags&(fPendOn|fPendOff) != 0 && a.due <= t {
		m.fireDelay(ai, now)
	}
	if cond == (a.flags&fCond != 0) {
		return
	}
	if cond {
		a.flags |= fCond
	} else {
		a.flags &^= fCond
	}
	active := a.flags&fActive != 0
	switch {
	case cond && active:
		a.flags &^= fPendOff
	case cond && onDelay <= 0:
		m.activate(ai, t, now)
	case cond:
		a.flags |= fPendOn
		a.due = t + onDelay
		m.pushDelay(ai, t, now)
	case !active:
		a.flags &^= fPendOn
	case offDelay <= 0:
		m.clear(ai, t, now)
	default:
		a.flags |= fPendOff
		a.due = t + offDelay
		m.pushDelay(ai, t, now)
	}
}

// pushDelay arms the timer of alarm ai's pending delay. a.due is in the
// sample's time (events carry acquisition times, and a later sample at or
// after a.due confirms the delay); the timer runs on engine time, as late
// as the sample was: a device clock behind the gateway's must not make a
// delay elapse before it was observed (a one-sample spike would raise).
func (m *Machine) pushDelay(ai int32, t int64, now time.Time) {
	a := &m.alarms[ai]
	m.timers.push(timer{at: a.due + max(now.UnixNano()-t, 0), base: a.due, alarm: ai, what: tDelay})
}

func (m *Machine) fireDelay(ai int32, now time.Time) {
	a := &m.alarms[ai]
	switch {
	case a.flags&fPendOn != 0:
		a.flags &^= fPendOn
		m.activate(ai, a.due, now)
	case a.flags&fPendOff != 0:
		a.flags &^= fPendOff
		m.clear(ai, a.due, now)
	}
}

func (m *Machine) activate(ai int32, t int64, now time.Time) {
	a := &m.alarms[ai]
	a.flags |= fActive
	a.flags &^= fAcked | fLatched
	a.stage = 0
	a.activated = t
	a.gen++
	if a.flags&fShelved == 0 {
		// Flood and the escalation ladder run on the gateway's clock from
		// the moment the operators are told (a device clock may be off).
		m.countActivation(now.UnixNano())
		m.startEscalation(ai, now.UnixNano())
	}
	m.emit(ai, t, now, "", "")
}

func (m *Machine) clear(ai int32, t int64, now time.Time) {
	a := &m.alarms[ai]
	a.flags &^= fActive
	if m.points[a.pt].latch && a.kind < kFault {
		a.flags |= fLatched
	}
	m.emit(ai, t, now, "", "")
}

// startEscalation puts the stage-0 targets on the alarm and arms stage 1.
func (m *Machine) startEscalation(ai int32, base int64) {
	a := &m.alarms[ai]
	if a.prio < m.minPrio || len(m.ladder) == 0 {
		return
	}
	m.addNotify(ai, m.ladder[0].notify)
	if len(m.ladder) > 1 {
		m.timers.push(timer{at: base + m.ladder[1].after, base: base, alarm: ai, what: tEscalate, gen: a.gen, stage: 1})
	}
}

// addNotify adds targets to the alarm's list, copying: events already
// emitted keep the list they were given.
func (m *Machine) addNotify(ai int32, targets []string) {
	if len(targets) == 0 {
		return
	}
	old := m.notify[ai]
	l := append(make([]string, 0, len(old)+len(targets)), old...)
	for _, t := range targets {
		dup := false
		for _, o := range old {
			dup = dup || o == t
		}
		if !dup {
			l = append(l, t)
		}
	}
	m.notify[ai] = l
}

const floodWindow = int64(10 * time.Minute)

func (m *Machine) countActivation(t int64) {
	m.acts = append(m.acts, t)
	m.updateFlood(t)
}

// updateFlood applies DOMAIN §5: more than 10 activations in 10 minutes
// start a flood; it ends when fewer than 5 remain in the window.
func (m *Machine) updateFlood(now int64) {
	for m.actsHead < len(m.acts) && m.acts[m.actsHead] <= now-floodWindow {
		m.actsHead++
	}
	if m.actsHead > 64 && m.actsHead*2 > len(m.acts) {
		m.acts = append(m.acts[:0], m.acts[m.actsHead:]...)
		m.actsHead = 0
	}
	c := len(m.acts) - m.actsHead
	switch {
	case !m.flooding && c > 10:
		m.flooding = true
	case m.flooding && c < 5:
		m.flooding = false
	}
}

func (m *Machine) state(a *alarm) State {
	switch {
	case a.flags&fOOS != 0:
		return OOS
	case a.flags&fShelved != 0:
		return Shelved
	case a.flags&fActive != 0 && a.flags&fAcked != 0:
		return Acked
	case a.flags&fActive != 0:
		return Unack
	case a.flags&fAcked == 0:
		return RtnUnack
	case a.flags&fLatched != 0:
		return Latched
	}
	return Normal
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
		return p.cfg.Tier
	}
	return 0
}

// event builds the current view of alarm ai (seq not set).
func (m *Machine) event(ai int32, t int64, now time.Time) Event {
	a := &m.alarms[ai]
	p := &m.points[a.pt]
	ev := Event{
		ID: p.cfg.ID + ":" + kindNames[a.kind], Point: p.cfg.ID, Cond: kindNames[a.kind],
		Tier: tierOf(a, p), Priority: a.prio, State: m.state(a),
		Active: a.flags&fActive != 0, Acked: a.flags&fAcked != 0, Latched: a.flags&fLatched != 0,
		OOS: a.flags&fOOS != 0, Stage: int(a.stage), Value: p.value, Limit: m.limit(a, p),
		Unit: p.cfg.Unit, Quality: p.quality.String(), Time: time.Unix(0, t).UTC(), Emitted: now.UTC(),
		Site: m.site, Device: m.devs[p.dev], Name: p.cfg.Name, Flood: m.flooding,
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

// emit appends one event for alarm ai. Once the alarm is back to normal its
// escalation targets are forgotten (they received this last event).
func (m *Machine) emit(ai int32, t int64, now time.Time, by, comment string) {
	m.seq++
	ev := m.event(ai, t, now)
	ev.Seq, ev.By, ev.Comment = m.seq, by, comment
	m.out = append(m.out, ev)
	if ev.State == Normal || ev.State == OOS {
		delete(m.notify, ai)
	}
}

// Advance fires every timer due at or before now: on/off-delays,
// escalation stages, shelving expiry, stale points (scanned once a second)
// and the end of a flood.
func (m *Machine) Advance(now time.Time) {
	n := now.UnixNano()
	for len(m.timers) > 0 && m.timers[0].at <= n {
		tm := m.timers.pop()
		m.fire(tm, now)
	}
	if n >= m.nextScan {
		m.nextScan = n + int64(time.Second)
		for i := range m.points {
			p := &m.points[i]
			if p.oos || n-p.lastGood < ms(p.stale) {
				continue
			}
			if si := p.staleIdx(); m.alarms[si].flags&fCond == 0 {
				// SPEC §4: no good sample within `stale` makes the point
				// bad/stale; the stale event says so even for a point
				// never heard from (whose quality was the zero value).
				p.quality = drivers.Bad
				at := p.lastGood + ms(p.stale)
				m.setCond(si, true, at, 0, 0, now)
				// The point itself is bad/stale from then on: every
				// output (console, store, uplink) learns it from this
				// sample, as it learns any other quality.
				m.stale = append(m.stale, drivers.Sample{Point: drivers.PointID(p.id), Value: math.NaN(),
					Quality: drivers.Bad, Cause: drivers.CauseStale, Time: time.Unix(0, at)})
			}
		}
		m.updateFlood(n)
	}
}

// NextDue is when Advance next has something to do.
func (m *Machine) NextDue() time.Time {
	n := m.nextScan
	if len(m.timers) > 0 && m.timers[0].at < n {
		n = m.timers[0].at
	}
	return time.Unix(0, n)
}

func (m *Machine) fire(tm timer, now time.Time) {
	a := &m.alarms[tm.alarm]
	switch tm.what {
	case tDelay:
		if a.flags&(fPendOn|fPendOff) != 0 && a.due == tm.base {
			m.fireDelay(tm.alarm, now)
		}
	case tEscalate:
		if a.gen != tm.gen || a.flags&(fAcked|fShelved|fOOS) != 0 || int(a.stage) != int(tm.stage)-1 {
			return
		}
		a.stage = tm.stage
		m.addNotify(tm.alarm, m.ladder[tm.stage].notify)
		m.emit(tm.alarm, tm.at, now, "", "")
		if next := int(tm.stage) + 1; next < len(m.ladder) {
			m.timers.push(timer{at: tm.base + m.ladder[next].after, base: tm.base, alarm: tm.alarm,
				what: tEscalate, gen: a.gen, stage: uint8(next)})
		}
	case tShelve:
		if a.flags&fShelved != 0 && m.shelved[tm.alarm] == tm.at {
			m.unshelve(tm.alarm, tm.at, now, "", "shelf expired")
		}
	}
}

// Command applies an operator command at time now. It returns the event it
// caused (for oos/ios, which change every alarm of the point, the first of
// them), or an error wrapping ErrUnknown, ErrRefused or ErrInvalid.
func (m *Machine) Command(now time.Time, c Command) (Event, error) {
	n := now.UnixNano()
	if c.Op == OpOOS || c.Op == OpIOS {
		pi, ok := m.byID.find(m.points, c.Point)
		if !ok {
			return Event{}, fmt.Errorf("point %q: %w", c.Point, ErrUnknown)
		}
		p := &m.points[pi]
		if c.Op == OpOOS {
			if strings.TrimSpace(c.Comment) == "" {
				return Event{}, fmt.Errorf("oos %s: a reason is required: %w", c.Point, ErrInvalid)
			}
			if p.oos {
				return Event{}, fmt.Errorf("oos %s: already out of service: %w", c.Point, ErrRefused)
			}
		} else if !p.oos {
			return Event{}, fmt.Errorf("ios %s: not out of service: %w", c.Point, ErrRefused)
		}
		start := len(m.out)
		p.oos = c.Op == OpOOS
		p.commCount = 0
		p.lastGood = n
		if p.win != nil {
			*p.win = rocWindow{roc: p.win.roc}
		}
		for i := p.first; i < p.first+int32(p.n); i++ {
			a := &m.alarms[i]
			if p.oos {
				a.flags = fOOS | fAcked
				delete(m.shelved, i)
			} else {
				a.flags &^= fOOS
			}
			m.emit(i, n, now, c.By, c.Comment)
		}
		return m.out[start], nil
	}
	ai, err := m.find(c.Alarm)
	if err != nil {
		return Event{}, err
	}
	a := &m.alarms[ai]
	if a.flags&fOOS != 0 {
		return Event{}, fmt.Errorf("%s %s: point out of service: %w", c.Op, c.Alarm, ErrRefused)
	}
	switch c.Op {
	case OpAck:
		if a.flags&fAcked != 0 {
			return Event{}, fmt.Errorf("ack %s: nothing to acknowledge: %w", c.Alarm, ErrRefused)
		}
		a.flags |= fAcked
	case OpReset:
		if a.flags&(fCond|fActive|fPendOff) != 0 {
			return Event{}, fmt.Errorf("reset %s: the condition still holds: %w", c.Alarm, ErrRefused)
		}
		if a.flags&fLatched == 0 {
			return Event{}, fmt.Errorf("reset %s: not latched: %w", c.Alarm, ErrRefused)
		}
		if a.flags&fAcked == 0 {
			// SPEC §5: only `latched` (returned and acknowledged) resets;
			// rtn_unack goes to latched on ack first.
			return Event{}, fmt.Errorf("reset %s: acknowledge it first: %w", c.Alarm, ErrRefused)
		}
		a.flags &^= fLatched
		a.flags |= fAcked
	case OpShelve:
		if strings.TrimSpace(c.Comment) == "" {
			return Event{}, fmt.Errorf("shelve %s: a reason is required: %w", c.Alarm, ErrInvalid)
		}
		if c.For <= 0 || int64(c.For) > m.maxShelve {
			return Event{}, fmt.Errorf("shelve %s: duration %s outside (0, %s]: %w", c.Alarm, c.For, time.Duration(m.maxShelve), ErrInvalid)
		}
		if a.flags&fShelved != 0 && m.shelved[ai] == n+int64(c.For) {
			// Nothing would change: like every other no-op command it is
			// refused rather than journaled as an event that changes nothing.
			return Event{}, fmt.Errorf("shelve %s: already shelved until then: %w", c.Alarm, ErrRefused)
		}
		a.flags |= fShelved
		m.shelved[ai] = n + int64(c.For)
		m.timers.push(timer{at: n + int64(c.For), alarm: ai, what: tShelve})
	case OpUnshelve:
		if a.flags&fShelved == 0 {
			return Event{}, fmt.Errorf("unshelve %s: not shelved: %w", c.Alarm, ErrRefused)
		}
		m.unshelve(ai, n, now, c.By, c.Comment)
		return m.out[len(m.out)-1], nil
	default:
		return Event{}, fmt.Errorf("unknown operation %q: %w", c.Op, ErrInvalid)
	}
	m.emit(ai, n, now, c.By, c.Comment)
	return m.out[len(m.out)-1], nil
}

// unshelve lifts the shelf; a still-active alarm re-annunciates as unack
// and escalates again from t.
func (m *Machine) unshelve(ai int32, t int64, now time.Time, by, comment string) {
	a := &m.alarms[ai]
	a.flags &^= fShelved
	delete(m.shelved, ai)
	if a.flags&fActive != 0 {
		a.flags &^= fAcked
		a.stage = 0
		a.gen++
		m.startEscalation(ai, t)
	} else {
		a.flags |= fAcked
	}
	m.emit(ai, t, now, by, comment)
}

func (m *Machine) find(id string) (int32, error) {
	i := strings.LastIndexByte(id, ':')
	if i > 0 {
		if pi, ok := m.byID.find(m.points, id[:i]); ok {
			p := &m.points[pi]
			for ai := p.first; ai < p.first+int32(p.n); ai++ {
				if kindNames[m.alarms[ai].kind] == id[i+1:] {
					return ai, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("alarm %q: %w", id, ErrUnknown)
}

// Restore puts back the state an event recorded (journal replay at start).
// Events of alarms no longer configured are ignored. Pending delays are
// not journaled: they restart with the next samples.
func (m *Machine) Restore(ev Event, now time.Time) {
	m.seq = max(m.seq, ev.Seq)
	ai, err := m.find(ev.ID)
	if err != nil {
		return
	}
	a := &m.alarms[ai]
	p := &m.points[a.pt]
	a.flags = 0
	set := func(b bool, f uint8) {
		if b {
			a.flags |= f
		}
	}
	set(ev.Active, fActive|fCond)
	set(ev.Acked, fAcked)
	set(ev.Latched, fLatched)
	set(ev.OOS, fOOS)
	delete(m.shelved, ai)
	if ev.ShelvedUntil != nil {
		a.flags |= fShelved
		m.shelved[ai] = ev.ShelvedUntil.UnixNano()
		m.timers.push(timer{at: ev.ShelvedUntil.UnixNano(), alarm: ai, what: tShelve})
	}
	a.stage = uint8(ev.Stage)
	a.activated = 0
	if ev.Activated != nil {
		a.activated = ev.Activated.UnixNano()
	}
	if len(ev.Notify) > 0 && ev.State != Normal && ev.State != OOS { // as emit forgets them
		m.notify[ai] = ev.Notify
	} else {
		delete(m.notify, ai)
	}
	if !math.IsNaN(ev.Value) {
		p.value = ev.Value
	}
	_ = p.quality.UnmarshalText([]byte(ev.Quality))
	p.oos = ev.OOS
	if a.kind == kComm && ev.Active {
		p.commCount = p.commAfter
	}
	a.gen++
	if a.flags&(fAcked|fShelved|fOOS) == 0 && a.prio >= m.minPrio && int(a.stage)+1 < len(m.ladder) && a.activated != 0 {
		// The ladder runs from the (re-)annunciation (engine time): the
		// activation, or the end of a shelf. A journaled unack event is
		// that moment (emitted) or the escalation to its stage (time);
		// otherwise (rtn_unack, or a snapshot view without seq) the
		// activation is the best known.
		base := a.activated
		switch {
		case ev.State == Unack && ev.Seq > 0 && a.stage == 0:
			base = ev.Emitted.UnixNano() // (re-)annunciation, engine time
		case ev.State == Unack && ev.Seq > 0:
			base = ev.Time.UnixNano() - m.ladder[a.stage].after // the escalation to this stage
		}
		next := int(a.stage) + 1
		m.timers.push(timer{at: base + m.ladder[next].after, base: base, alarm: ai,
			what: tEscalate, gen: a.gen, stage: uint8(next)})
	}
}

// Current returns every alarm not normal, as events without seq.
func (m *Machine) Current(now time.Time) []Event {
	var out []Event
	for i := range m.alarms {
		if m.state(&m.alarms[i]) != Normal {
			out = append(out, m.event(int32(i), now.UnixNano(), now))
		}
	}
	return out
}

// rocClear is the fraction of `roc` below which a rate alarm clears: a fixed
// 10 % hysteresis so the rate alarm does not chatter at its set point.
const rocClear = 0.9

// rocWindow keeps the last rocN good samples of a point. The rate is the
// Theil–Sen estimate: the median of the slopes between every pair of
// samples, which one wild sample cannot move (it touches 4 of 10 slopes).
// Samples more than rocSpan older than the newest are ignored; fewer than
// rocN usable samples give rate 0.
type rocWindow struct {
	roc  float64 // alarm threshold, units per second
	t    [rocN]int64
	v    [rocN]float64
	next uint8
	n    uint8
}

const (
	rocN    = 5
	rocSpan = int64(30 * time.Second)
)

func (w *rocWindow) add(t int64, v float64) float64 {
	w.t[w.next], w.v[w.next] = t, v
	w.next = (w.next + 1) % rocN
	if w.n < rocN {
		w.n++
	}
	if w.n < rocN {
		return 0
	}
	var sl [rocN * (rocN - 1) / 2]float64
	k := 0
	for i := 0; i < rocN; i++ {
		if t-w.t[i] > rocSpan {
			return 0
		}
		for j := i + 1; j < rocN; j++ {
			dt := w.t[j] - w.t[i]
			if dt == 0 {
				continue
			}
			sl[k] = (w.v[j] - w.v[i]) / (float64(dt) / 1e9)
			k++
		}
	}
	if k == 0 {
		return 0
	}
	s := sl[:k]
	for i := 1; i < len(s); i++ { // insertion sort: at most 10 values
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if k%2 == 1 {
		return s[k/2]
	}
	return (s[k/2-1] + s[k/2]) / 2
}

// timers: a binary min-heap by due time. Entries are never removed early;
// each is checked against the alarm's state when it fires.
type timerWhat uint8

const (
	tDelay timerWhat = iota
	tEscalate
	tShelve
)

type timer struct {
	at, base int64
	alarm    int32
	gen      uint32
	what     timerWhat
	stage    uint8
}

type timerHeap []timer

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].at <= s[i].at {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].at < s[m].at {
			m = l
		}
		if r < len(s) && s[r].at < s[m].at {
			m = r
		}
		if m == i {
			break
		}
		s[m], s[i] = s[i], s[m]
		i = m
	}
	*h = s
	return top
}

// pointIndex finds a point by id: open addressing with linear probing over
// int32 slots (index+1; 0 is empty), at most 5/8 full. It costs about 7
// bytes per point where a Go map costs about 40; keys are the points' own
// id strings.
type pointIndex struct {
	seed  maphash.Seed
	slots []int32
	mask  uint64
}

func (x *pointIndex) build(n int) {
	size := 16
	for size*5/8 < n {
		size *= 2
	}
	x.seed = maphash.MakeSeed()
	x.slots = make([]int32, size)
	x.mask = uint64(size - 1)
}

// insert adds points[i]; false when its id is already there.
func (x *pointIndex) insert(points []point, i int32) bool {
	id := points[i].id
	for h := maphash.String(x.seed, id) & x.mask; ; h = (h + 1) & x.mask {
		v := x.slots[h]
		if v == 0 {
			x.slots[h] = i + 1
			return true
		}
		if points[v-1].id == id {
			return false
		}
	}
}

func (x *pointIndex) find(points []point, id string) (int32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	for h := maphash.String(x.seed, id) & x.mask; ; h = (h + 1) & x.mask {
		v := x.slots[h]
		if v == 0 {
			return 0, false
		}
		if points[v-1].id == id {
			return v - 1, true
		}
	}
}
