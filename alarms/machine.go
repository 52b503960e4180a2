package alarms

import (
	"fmt"
	"math"
	"strings"
	"time"

	"hazardgw/drivers"
)

// Machine is every alarm of one site as one state machine. It owns no
// goroutine, no lock, no clock and does no I/O: the Engine feeds it samples,
// commands and the passage of time (each call takes `now`), and collects the
// events each call appends (Take). Tests drive it with timestamps in data.
//
// By concern:
//
//	machine.go      inputs: samples through deadband and delays (DOMAIN §5),
//	                commands, timers; journal restore
//	transitions.go  the ISA-18.2 state table (SPEC §5); every state change goes
//	                through Machine.step
//	alarm.go        what alarms a point has, the per-point state and its shared
//	                config, the alarm rows (made on first change), the event view
//	escalation.go   the escalation ladder and notify targets
//	flood.go        the site-wide flood window
//	roc.go          the rate-of-change window (Theil–Sen)
//	timers.go       the timer heap; index.go the point index
type Machine struct {
	site      string
	points    []point
	confs     []pconf     // point.conf indexes it: what points of one shape share
	wins      []rocWindow // point.win-1 indexes it
	devs      []string
	devEnd    []int32  // by device: where its points end in points (Machine.device)
	ids       strtab   // every point's id (Machine.id)
	names     strtab   // every point's name (events only; Machine.name)
	units     []string // pconf.unit indexes it; [0] is ""
	slot      []int32  // by alarm number: its row in rows + 1; 0: pristine, no row (Machine.row)
	rows      [][]alarm
	nrows     int32
	byID      pointIndex
	shapes    drivers.ShapeCache          // Samples: point indexes per batch shape
	lookup    func(drivers.PointID) int32 // byID for shapes (-1: unknown), built once: no closure per batch
	seq       uint64
	minPrio   Priority
	ladder    []rung
	maxShelve int64
	maxOOS    int64 // console.max_oos, ns
	// chatterWindow is SPEC §5's 60 s (chatter.go); 0 turns chatter
	// handling off (only tests about something else do).
	chatterWindow int64

	timers   timerHeap // on the engine clock: escalation, shelving, max_oos
	inTimers timerHeap // on the input watermark: on/off-delays, held clearings (AdvanceTo)
	nextScan int64     // next stale and flood scan (input watermark, unix ns: AdvanceTo)

	shelved  map[int32]int64    // alarm -> shelved until (unix ns)
	chatter  map[int32]*chatter // alarm -> recent activations (chatter.go)
	oosSince map[int32]int64    // point -> out of service since (unix ns)
	notify   map[int32][]string // alarm -> accumulated escalation targets

	flood flood

	watch map[int32][]int32 // member alarm -> rule points (votes) it is a member of
	deps  map[int32][]int32 // point -> rule points to evaluate after its sample (point.hasDeps)
	dirty []dirty           // rule points to evaluate before the call returns (rules.go)

	out     []Event
	stale   []drivers.Sample // bad/stale samples of points gone stale, for TakeStale
	Unknown uint64           // samples of points not in the config
}

// Seq is the seq of the last event produced.
func (m *Machine) Seq() uint64 { return m.seq }

// Flood reports whether the site is in an alarm flood.
func (m *Machine) Flood() bool { return m.flood.on }

// Take returns the events appended since the last Take. The slice is reused
// by the next call into the Machine: copy what you keep.
func (m *Machine) Take() []Event {
	out := m.out
	m.out = m.out[:0]
	return out
}

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

// Samples evaluates a batch of samples at engine time now, in order, as
// Sample does each. A driver sends the same points in the same order at
// every poll: the batch's points are resolved once per batch shape
// (drivers.ShapeCache), not hashed per sample (the index lookup was 29 %
// of the engine's CPU at 250,000 points/s).
func (m *Machine) Samples(now time.Time, b []drivers.Sample) {
	if len(b) == 0 {
		return
	}
	idx := m.shapes.Indexes(b, m.lookup)
	for i := range b {
		if idx[i] < 0 {
			m.Unknown++
			continue
		}
		m.sample(now, idx[i], b[i])
	}
}

// Sample evaluates one sample at engine time now. A sample of a point out
// of service, or of an unknown point, changes nothing.
func (m *Machine) Sample(now time.Time, s drivers.Sample) {
	pi, ok := m.byID.find(&m.ids, string(s.Point))
	if !ok {
		m.Unknown++
		return
	}
	m.sample(now, pi, s)
}

// sample evaluates s, a sample of point pi.
func (m *Machine) sample(now time.Time, pi int32, s drivers.Sample) {
	p := &m.points[pi]
	c := m.conf(p)
	if c.rule != nil {
		m.Unknown++ // a vote, deviation or linkage: no driver feeds it
		return
	}
	if p.oos() {
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
	case s.Quality == drivers.Good || s.Quality == drivers.Uncertain:
		// SPEC §4: an uncertain sample (NE 43 saturation, a skewed clock)
		// is a measurement: it drives limit, roc and on alarms like a good
		// one, and keeps the point from going stale. A detector saturated
		// above its span is in alarm (DOMAIN §6), not merely faulty.
		p.value = s.Value
		p.lastGood = n
		m.answered(p, c, t, now, false)
		if si := m.staleIdx(p); m.flagsOf(si)&fCond != 0 {
			m.setCond(si, false, t, 0, 0, now)
		}
		m.evalProcess(p, c, s.Value, t, now)
	case s.Cause == drivers.CauseRange:
		// bad/range: a failed sensor. fault (after fault_delay); limit
		// alarms keep their state.
		p.value = s.Value
		m.answered(p, c, t, now, true)
	case s.Cause == drivers.CauseComm:
		// bad/decode is not comm (SPEC §4): a malformed message proves
		// nothing about the connection; only stale can follow it.
		if p.commCount < 1<<16-1 {
			p.commCount++
		}
		if p.commCount >= c.commAfter {
			m.setCond(m.commIdx(p), true, t, 0, 0, now)
		}
	}
	if p.hasDeps() || len(m.dirty) > 0 {
		for _, r := range m.deps[pi] {
			m.dirty = append(m.dirty, dirty{r, t})
		}
		m.settle(now)
	}
}

// answered handles a sample that proves the device answered: comm clears,
// fault follows the sample's range quality.
func (m *Machine) answered(p *point, c *pconf, t int64, now time.Time, fault bool) {
	p.commCount = 0
	if ci := m.commIdx(p); m.flagsOf(ci)&fCond != 0 {
		m.setCond(ci, false, t, 0, 0, now)
	}
	if c.hasFault {
		fi := m.faultIdx(p)
		if fault || m.flagsOf(fi)&(fCond|fPendOn|fPendOff) != 0 {
			m.setCond(fi, fault, t, ms(c.faultDelay), 0, now)
		}
	}
}

func (m *Machine) evalProcess(p *point, c *pconf, v float64, t int64, now time.Time) {
	if c.nproc == 0 || v != v { // a NaN "good" value decides nothing
		return
	}
	var rate float64
	if p.win != 0 {
		rate = m.wins[p.win-1].add(t, v)
	}
	for k := range c.nproc {
		i := p.first + int32(k)
		flags := m.flagsOf(i)
		on := flags&fCond != 0
		var cond bool
		switch c.kinds[k] {
		case kHiHi:
			cond = v >= c.hihi || (on && v >= c.hihi-c.deadband)
		case kHi:
			cond = v >= c.hi || (on && v >= c.hi-c.deadband)
		case kLo:
			cond = v <= c.lo || (on && v <= c.lo+c.deadband)
		case kLoLo:
			cond = v <= c.lolo || (on && v <= c.lolo+c.deadband)
		case kROC:
			r := math.Abs(rate)
			cond = r >= c.roc || (on && r >= rocClear*c.roc)
		case kOn:
			cond = (v != 0) == c.alarmOn
		}
		if cond != on || flags&(fPendOn|fPendOff) != 0 {
			m.setCond(i, cond, t, ms(c.onDelay), ms(c.offDelay), now)
		}
	}
}

// setCond applies the delays to a change of the deadbanded condition of
// alarm ai observed at time t (DOMAIN §5: deadband, then on-delay, then
// off-delay; a delay restarts when the condition flips back). What gets
// through is the input activate or clear of the state table.
func (m *Machine) setCond(ai int32, cond bool, t, onDelay, offDelay int64, now time.Time) {
	a := m.row(ai)
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
	active := a.st.active()
	switch {
	case cond && active:
		a.flags &^= fPendOff
	case cond && onDelay <= 0:
		m.step(ai, inActivate, t, now, nil)
	case cond:
		a.flags |= fPendOn
		a.due = t + onDelay
		m.pushDelay(ai, t, now)
	case !active:
		a.flags &^= fPendOn
	case offDelay <= 0:
		m.step(ai, inClear, t, now, nil)
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
	a := m.row(ai)
	m.inTimers.push(timer{at: a.due + max(now.UnixNano()-t, 0), base: a.due, alarm: ai, what: tDelay})
}

// fireDelay ends alarm ai's pending delay: the activation or the clearing
// happens at the time the delay elapsed.
func (m *Machine) fireDelay(ai int32, now time.Time) {
	a := m.row(ai)
	switch {
	case a.flags&fPendOn != 0:
		a.flags &^= fPendOn
		m.step(ai, inActivate, a.due, now, nil)
	case a.flags&fPendOff != 0:
		a.flags &^= fPendOff
		m.step(ai, inClear, a.due, now, nil)
	}
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
	for _, r := range m.watch[ai] {
		m.dirty = append(m.dirty, dirty{r, t})
	}
}

// Advance is AdvanceTo(now, now): every sample up to now has been given
// to Sample (tests and fakes that feed the machine directly).
func (m *Machine) Advance(now time.Time) { m.AdvanceTo(now, now) }

// AdvanceTo fires what is due and, once a second, judges stale points and
// the end of a flood. input (≤ now) is the watermark up to which every
// sample sent to the machine's owner has been given to Sample.
//
// What judges the input runs on input, not on now: stale (a point is
// stale when no good sample of it was evaluated within its `stale` before
// input), on- and off-delays and held clearings (a queued sample may end
// the condition before the delay elapsed). Judged at the wall clock while
// samples wait in the engine's input queue (or drivers wait in Sink),
// points whose fresh samples were already queued went stale, every group
// carried events and paid a journal fsync, the engine slowed, and more
// points went stale: the stale-flood loop of docs/PERFORMANCE.md. What
// the operators are told runs on now: escalation stages, shelving expiry,
// max_oos. Timers fire in time order across both.
func (m *Machine) AdvanceTo(now, input time.Time) {
	n := now.UnixNano()
	in := min(input.UnixNano(), n)
	for {
		c := len(m.timers) > 0 && m.timers[0].at <= n
		i := len(m.inTimers) > 0 && m.inTimers[0].at <= in
		if c && (!i || m.timers[0].at <= m.inTimers[0].at) {
			m.fire(m.timers.pop(), now)
		} else if i {
			m.fire(m.inTimers.pop(), now)
		} else {
			break
		}
	}
	if in >= m.nextScan {
		m.nextScan = in + int64(time.Second)
		for i := range m.points {
			p := &m.points[i]
			c := m.conf(p)
			if c.rule != nil || p.oos() || in-p.lastGood < ms(c.stale) {
				continue
			}
			if si := m.staleIdx(p); m.flagsOf(si)&fCond == 0 {
				m.goStale(int32(i), p.lastGood+ms(c.stale), now)
			}
		}
		m.flood.update(n)
	}
	m.settle(now)
}

// goStale raises the stale alarm of p at `at`. SPEC §4: no good sample
// within `stale` makes the point bad/stale; the stale event says so even
// for a point never heard from (whose quality was the zero value).
func (m *Machine) goStale(pi int32, at int64, now time.Time) {
	p := &m.points[pi]
	p.quality = drivers.Bad
	m.setCond(m.staleIdx(p), true, at, 0, 0, now)
	// The point itself is bad/stale from then on: every output (console,
	// store, uplink) learns it from this sample, as it learns any other
	// quality. Outputs keep samples: the id is a copy, not a piece of
	// Machine.ids.
	m.stale = append(m.stale, drivers.Sample{Point: drivers.PointID(strings.Clone(m.id(pi))), Value: math.NaN(),
		Quality: drivers.Bad, Cause: drivers.CauseStale, Time: time.Unix(0, at)})
	for _, r := range m.deps[pi] {
		m.dirty = append(m.dirty, dirty{r, at})
	}
}

// Force makes the condition of alarm id hold (or go) at now, past deadband
// and delays: the activation or clearing goes through the state table like
// any other, so latch, shelving and escalation behave as in production; an
// alarm already in that condition does not change. value, unless NaN, is
// the point's value from then on. It is for test fakes (alarmstest) that
// must raise one alarm of a point without its neighbours (a value above
// hihi also raises hi); the gateway never calls it. A forced clearing is
// never held for chatter (SPEC §5 filters the real input).
func (m *Machine) Force(now time.Time, id string, holds bool, value float64) error {
	ai, err := m.find(id)
	if err != nil {
		return err
	}
	a := m.row(ai)
	p := &m.points[a.pt]
	if p.oos() {
		return fmt.Errorf("%s: point out of service: %w", id, ErrRefused)
	}
	if !math.IsNaN(value) {
		p.value = value
	}
	n := now.UnixNano()
	a.flags &^= fPendOn | fPendOff
	switch {
	case holds && a.kind == kStale && a.flags&fCond == 0:
		m.goStale(a.pt, n, now)
	case holds:
		a.flags |= fCond
		if !a.st.active() {
			m.step(ai, inActivate, n, now, nil)
		}
	default:
		a.flags &^= fCond
		delete(m.chatter, ai) // the test decides: chatter filters real input only
		if a.st.active() {
			m.step(ai, inClear, n, now, nil)
		}
	}
	m.settle(now)
	return nil
}

// NextDue is when Advance next has something to do. The stale scan is
// due at an input time: with input behind now it is due earlier than
// needed, never later.
func (m *Machine) NextDue() time.Time {
	n := m.nextScan
	if len(m.timers) > 0 && m.timers[0].at < n {
		n = m.timers[0].at
	}
	if len(m.inTimers) > 0 && m.inTimers[0].at < n {
		n = m.inTimers[0].at
	}
	return time.Unix(0, n)
}

// expired is the command a shelf's expiry stands for.
var expired = Command{Op: OpUnshelve, Comment: "shelf expired"}

func (m *Machine) fire(tm timer, now time.Time) {
	if tm.what == tOOS { // tm.alarm is a point
		m.fireOOS(tm, now)
		return
	}
	a := m.row(tm.alarm)
	switch tm.what {
	case tDelay:
		if a.flags&(fPendOn|fPendOff) != 0 && a.due == tm.base {
			m.fireDelay(tm.alarm, now)
		}
	case tEscalate:
		m.escalate(tm, now)
	case tShelve:
		if a.flags&fShelved != 0 && m.shelved[tm.alarm] == tm.at {
			m.step(tm.alarm, inUnshelve, tm.at, now, &expired)
		}
	case tChatter:
		m.fireChatter(tm, now)
	}
}

// Command applies an operator command at time now. It returns the event it
// caused (for oos/ios, which change every alarm of the point, the first of
// them), or an error wrapping ErrUnknown, ErrRefused or ErrInvalid.
func (m *Machine) Command(now time.Time, c Command) (Event, error) {
	ev, err := m.command(now, c)
	m.settle(now)
	return ev, err
}

func (m *Machine) command(now time.Time, c Command) (Event, error) {
	n := now.UnixNano()
	start := len(m.out)
	if c.Op == OpOOS || c.Op == OpIOS {
		pi, ok := m.byID.find(&m.ids, c.Point)
		if !ok {
			return Event{}, fmt.Errorf("point %q: %w", c.Point, ErrUnknown)
		}
		p := &m.points[pi]
		if m.conf(p).rule != nil {
			return Event{}, fmt.Errorf("%s %s: a vote, deviation or linkage is not a point: %w", c.Op, c.Point, ErrUnknown)
		}
		in := inIOS
		if c.Op == OpOOS {
			if strings.TrimSpace(c.Comment) == "" {
				return Event{}, fmt.Errorf("oos %s: a reason is required: %w", c.Point, ErrInvalid)
			}
			if p.oos() {
				return Event{}, fmt.Errorf("oos %s: already out of service: %w", c.Point, ErrRefused)
			}
			in = inOOS
		} else if !p.oos() {
			return Event{}, fmt.Errorf("ios %s: not out of service: %w", c.Point, ErrRefused)
		}
		m.service(int32(pi), in, n, now, &c)
		if in == inOOS {
			// SPEC §5: back in service by itself after console.max_oos.
			m.oosSince[int32(pi)] = n
			m.timers.push(timer{at: n + m.maxOOS, base: n, alarm: int32(pi), what: tOOS})
		}
		return m.out[start], nil
	}
	ai, err := m.find(c.Alarm)
	if err != nil {
		return Event{}, err
	}
	flags := m.flagsOf(ai)
	if flags&fOOS != 0 {
		return Event{}, fmt.Errorf("%s %s: point out of service: %w", c.Op, c.Alarm, ErrRefused)
	}
	var in input
	switch c.Op {
	case OpRaise, OpClear:
		return m.linkageCond(now, c, c.Op == OpRaise)
	case OpAck:
		in = inAck
	case OpReset:
		in = inReset
	case OpShelve:
		if strings.TrimSpace(c.Comment) == "" {
			return Event{}, fmt.Errorf("shelve %s: a reason is required: %w", c.Alarm, ErrInvalid)
		}
		if c.For <= 0 || int64(c.For) > m.maxShelve {
			return Event{}, fmt.Errorf("shelve %s: duration %s outside (0, %s]: %w", c.Alarm, c.For, time.Duration(m.maxShelve), ErrInvalid)
		}
		in = inShelve
	case OpUnshelve:
		if flags&fShelved == 0 {
			return Event{}, fmt.Errorf("unshelve %s: not shelved: %w", c.Alarm, ErrRefused)
		}
		in = inUnshelve
	default:
		return Event{}, fmt.Errorf("unknown operation %q: %w", c.Op, ErrInvalid)
	}
	if err := m.step(ai, in, n, now, &c); err != nil {
		return Event{}, err
	}
	return m.out[start], nil
}

// service takes point pi out of service (inOOS) or back (inIOS) at t: every
// alarm of the point steps, never refused (out of service is normal
// underneath).
func (m *Machine) service(pi int32, in input, t int64, now time.Time, c *Command) {
	p := &m.points[pi]
	p.setOOS(in == inOOS)
	p.commCount = 0
	p.lastGood = now.UnixNano()
	if p.win != 0 {
		m.wins[p.win-1] = rocWindow{} // forget the samples
	}
	if !p.oos() {
		delete(m.oosSince, pi)
	}
	for i := p.first; i < p.first+int32(m.conf(p).n); i++ {
		m.step(i, in, t, now, c)
	}
}

// oosExpired is the command console.max_oos stands for.
var oosExpired = Command{Op: OpIOS, Comment: "out of service expired (console.max_oos)"}

// returnToService ends point pi's out of service when max_oos elapsed.
func (m *Machine) returnToService(pi int32, t int64, now time.Time) {
	c := oosExpired
	c.Point = strings.Clone(m.id(pi))
	m.service(pi, inIOS, t, now, &c)
}

func (m *Machine) find(id string) (int32, error) {
	i := strings.LastIndexByte(id, ':')
	if i > 0 {
		if pi, ok := m.byID.find(&m.ids, id[:i]); ok {
			p := &m.points[pi]
			c := m.conf(p)
			for k := range c.n {
				if kindNames[c.kinds[k]] == id[i+1:] {
					return p.first + int32(k), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("alarm %q: %w", id, ErrUnknown)
}

// Restore puts back the state an event recorded (journal replay at start).
// Events of alarms no longer configured are ignored. Pending delays are
// not journaled: they restart with the next samples.
//
// An activation (an event that makes the alarm active, timed at its
// activation) is also counted in the alarm's chatter history, at the time
// it was emitted (the engine clock chatter runs on), so a restart during
// chatter keeps the count of SPEC §5 (6 activations in 60 s). What the
// journal no longer holds (activations before the snapshot, other than
// an alarm's last event) is not counted.
func (m *Machine) Restore(ev Event, now time.Time) {
	m.seq = max(m.seq, ev.Seq)
	ai, err := m.find(ev.ID)
	if err != nil {
		return
	}
	a := m.row(ai)
	p := &m.points[a.pt]
	if ev.Active && !a.st.active() && ev.Activated != nil && ev.Activated.Equal(ev.Time) {
		at := ev.Emitted
		if at.IsZero() {
			at = ev.Time
		}
		m.chatterOf(ai).activated(at.UnixNano())
	}
	if ev.OOS {
		delete(m.chatter, ai) // as doOOS
	}
	// The state from the event's flags, as SPEC §5 derives it.
	a.flags = 0
	switch {
	case ev.Active && ev.Acked:
		a.st = Acked
	case ev.Active:
		a.st = Unack
	case !ev.Acked:
		a.st = RtnUnack
		if ev.Latched {
			a.flags |= fLatch
		}
	case ev.Latched:
		a.st = Latched
	default:
		a.st = Normal
	}
	if ev.Active {
		a.flags |= fCond
	}
	if ev.OOS {
		a.flags |= fOOS
	}
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
	p.setOOS(ev.OOS)
	if ev.OOS && m.oosSince[a.pt] != ev.Time.UnixNano() {
		m.oosSince[a.pt] = ev.Time.UnixNano()
		m.timers.push(timer{at: ev.Time.UnixNano() + m.maxOOS, base: ev.Time.UnixNano(), alarm: a.pt, what: tOOS})
	}
	if a.kind == kComm && ev.Active {
		p.commCount = m.conf(p).commAfter
	}
	a.gen++
	m.resumeEscalation(ai, ev)
}

// Current returns every alarm not normal, as events without seq.
func (m *Machine) Current(now time.Time) []Event {
	var out []Event
	for ai := range m.slot { // in alarm order; a pristine alarm is normal
		if a := m.peek(int32(ai)); a != nil && a.state() != Normal {
			out = append(out, m.event(int32(ai), now.UnixNano(), now))
		}
	}
	return out
}
