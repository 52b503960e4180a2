package alarms

import (
	"fmt"
	"time"
)

// The ISA-18.2 state machine of one alarm (SPEC §5), as one table.
//
// An alarm's own state (alarm.st) is one of the five states of the
// annunciation sequence: normal, unack, acked, rtn_unack, latched. Shelving
// and out-of-service are suppressions laid over it (the flags fShelved and
// fOOS): while one is set the derived State shows shelved or oos, and the
// sequence underneath goes on (a shelved alarm still activates, clears and
// is acknowledged; each change is an event in state shelved).
//
//	         activation                ack
//	normal ────────────> unack ───────────────> acked
//	  ^  ^                 │  ^ re-activation     │ clear
//	  │  │          clear  v  │                   v
//	  │  └── ack ──── rtn_unack          normal, or latched (latch = true)
//	  │                   │ ack (latch)            │ reset (refused while
//	  └──── reset ─── latched <────────────────────┘  the condition holds)
//
// Every transition of every alarm goes through Machine.step, which looks up
// transitions[state][input][latch] and performs its actions. Guards on the
// command itself (a reason given, the point in service, a shelf to lift)
// are checked by Machine.Command before; guards on the alarm are rows here.

// input is what happens to one alarm.
type input uint8

const (
	inActivate input = iota // its condition holds, after deadband and delays
	inClear                 // its condition is gone, after the off-delay
	inAck                   // operator: acknowledge
	inReset                 // operator: reset (also refused while the condition holds)
	inShelve                // operator: shelve (refused when urgent or already shelved)
	inUnshelve              // operator: unshelve, or the shelf expired
	inOOS                   // operator: its point out of service
	inIOS                   // operator: its point back in service (or max_oos elapsed)
	inHold                  // its condition is gone, but it chatters: the clearing waits (chatter.go)
	nInputs
)

var inputNames = [nInputs]string{"activate", "clear", "ack", "reset", "shelve", "unshelve", "oos", "ios", "hold"}

func (in input) String() string { return inputNames[in] }

// latch selects the row for an alarm that latches (latch = true on its
// point, for process alarms; quality alarms never latch) or not. A
// rtn_unack alarm remembers whether it cleared latching (fLatch).
type latch uint8

const (
	noLatch latch = iota
	latching
	either // the row holds for both
)

// action is what a transition does besides changing the state. An
// allowed transition always emits exactly one event.
type action uint16

const (
	// doActivate: a new activation at t: stage 0, activated = t, a new
	// generation; unless shelved, counted for flood and the escalation
	// ladder starts (both on the engine clock).
	doActivate action = 1 << iota
	// doReannunciate: the alarm is shown again as new (end of a shelf
	// while active): stage 0, a new generation, escalation from t.
	doReannunciate
	doShelve   // set the shelf and its expiry timer
	doUnshelve // lift the shelf
	doOOS      // out of service: the delays and the shelf are dropped
	doIOS      // back in service, evaluated from the next sample
	// doHold: a chattering alarm's clearing is held (SPEC §5): no event;
	// it clears once its condition has stayed gone for chatterWindow.
	doHold

	refuse // the command is refused (ErrRefused) because of why
	never  // cannot happen: the caller's filtering does not produce it
)

// transition is one row of the table. An allowed transition emits one
// event, except doHold, which emits none.
type transition struct {
	from  State
	in    input
	latch latch
	to    State
	do    action
	why   string // refuse: the reason
}

// table is SPEC §5 and docs/ALARMS.md "States", row by row. TestTransitionTable
// checks that every (state, input, latch) has exactly one row and that the
// rows agree with the diagram in docs/ALARMS.md.
var table = []transition{
	{Normal, inActivate, either, Unack, doActivate, ""},
	{Normal, inClear, either, Normal, never, ""},
	{Normal, inAck, either, Normal, refuse, "nothing to acknowledge"},
	{Normal, inReset, either, Normal, refuse, "not latched"},
	{Normal, inShelve, either, Normal, doShelve, ""},
	{Normal, inUnshelve, either, Normal, doUnshelve, ""},
	{Normal, inOOS, either, Normal, doOOS, ""},
	{Normal, inIOS, either, Normal, doIOS, ""},
	{Normal, inHold, either, Normal, never, ""},

	{Unack, inActivate, either, Unack, never, ""},
	{Unack, inClear, either, RtnUnack, 0, ""}, // latching: remembered in fLatch
	{Unack, inAck, either, Acked, 0, ""},
	{Unack, inReset, either, Unack, refuse, "the condition still holds"},
	{Unack, inShelve, either, Unack, doShelve, ""},
	{Unack, inUnshelve, either, Unack, doUnshelve | doReannunciate, ""},
	{Unack, inOOS, either, Normal, doOOS, ""},
	{Unack, inIOS, either, Unack, never, ""}, // out of service is always normal underneath
	{Unack, inHold, either, Unack, doHold, ""},

	{Acked, inActivate, either, Acked, never, ""},
	{Acked, inClear, noLatch, Normal, 0, ""},
	{Acked, inClear, latching, Latched, 0, ""},
	{Acked, inAck, either, Acked, refuse, "nothing to acknowledge"},
	{Acked, inReset, either, Acked, refuse, "the condition still holds"},
	{Acked, inShelve, either, Acked, doShelve, ""},
	{Acked, inUnshelve, either, Unack, doUnshelve | doReannunciate, ""},
	{Acked, inOOS, either, Normal, doOOS, ""},
	{Acked, inIOS, either, Acked, never, ""},
	{Acked, inHold, either, Acked, doHold, ""},

	{RtnUnack, inActivate, either, Unack, doActivate, ""},
	{RtnUnack, inClear, either, RtnUnack, never, ""},
	{RtnUnack, inAck, noLatch, Normal, 0, ""},
	{RtnUnack, inAck, latching, Latched, 0, ""},
	{RtnUnack, inReset, noLatch, RtnUnack, refuse, "not latched"},
	{RtnUnack, inReset, latching, RtnUnack, refuse, "acknowledge it first"}, // rtn_unack -> latched -> normal
	{RtnUnack, inShelve, either, RtnUnack, doShelve, ""},
	{RtnUnack, inUnshelve, noLatch, Normal, doUnshelve, ""},
	{RtnUnack, inUnshelve, latching, Latched, doUnshelve, ""},
	{RtnUnack, inOOS, either, Normal, doOOS, ""},
	{RtnUnack, inIOS, either, RtnUnack, never, ""},
	{RtnUnack, inHold, either, RtnUnack, never, ""},

	{Latched, inActivate, either, Unack, doActivate, ""},
	{Latched, inClear, either, Latched, never, ""},
	{Latched, inAck, either, Latched, refuse, "nothing to acknowledge"},
	{Latched, inReset, either, Normal, 0, ""},
	{Latched, inShelve, either, Latched, doShelve, ""},
	{Latched, inUnshelve, either, Latched, doUnshelve, ""},
	{Latched, inOOS, either, Normal, doOOS, ""},
	{Latched, inIOS, either, Latched, never, ""},
	{Latched, inHold, either, Latched, never, ""},
}

// nCore is the number of states alarm.st takes: Normal .. Latched.
const nCore = int(Latched) + 1

// steps is table indexed for the hot path: steps[from][in][latch].
var steps = index(table)

func index(rows []transition) (s [nCore][nInputs][2]*transition) {
	for i := range rows {
		r := &rows[i]
		for l := noLatch; l <= latching; l++ {
			if r.latch == either || r.latch == l {
				s[r.from][r.in][l] = r
			}
		}
	}
	return s
}

// core reports whether s is a state of the annunciation sequence (one
// alarm.st takes), not a suppression.
func (s State) core() bool { return s <= Latched }

// active: the condition holds (after deadband and delays).
func (s State) active() bool { return s == Unack || s == Acked }

// unacked: there is something to acknowledge.
func (s State) unacked() bool { return s == Unack || s == RtnUnack }

// state is the alarm's derived State: a suppression shows over its own
// state.
func (a *alarm) state() State {
	switch {
	case a.flags&fOOS != 0:
		return OOS
	case a.flags&fShelved != 0:
		return Shelved
	}
	return a.st
}

// latched is the event's `latched`: latched, or rtn_unack waiting for an
// ack that will latch it.
func (a *alarm) latched() bool { return a.st == Latched || a.flags&fLatch != 0 }

// latches is the latch column for alarm ai: a rtn_unack alarm remembers
// how it cleared; otherwise the point's latch applies to process alarms.
func (m *Machine) latches(a *alarm) latch {
	if a.st == RtnUnack {
		if a.flags&fLatch != 0 {
			return latching
		}
		return noLatch
	}
	if m.conf(&m.points[a.pt]).latch && a.kind < kFault {
		return latching
	}
	return noLatch
}

// step applies input in to alarm ai at time t (the sample's acquisition
// time, or the command's or timer's time; now is the engine clock) and
// emits its event. c is the operator command (nil for the condition and
// timers); shelving reads its For, the event its By and Comment. It
// returns an error wrapping ErrRefused when the table refuses.
func (m *Machine) step(ai int32, in input, t int64, now time.Time, c *Command) error {
	a := m.row(ai)
	l := m.latches(a)
	switch {
	case in == inReset && (a.st.active() || a.flags&(fCond|fPendOff) != 0):
		// The condition holds even before the delays let it show.
		return fmt.Errorf("%s %s: the condition still holds: %w", c.Op, c.Alarm, ErrRefused)
	case in == inShelve && a.prio == Urgent:
		return fmt.Errorf("%s %s: an urgent alarm cannot be shelved: %w", c.Op, c.Alarm, ErrRefused)
	case in == inShelve && a.flags&fShelved != 0:
		return fmt.Errorf("%s %s: already shelved: %w", c.Op, c.Alarm, ErrRefused)
	case in == inClear && m.holds(ai, now.UnixNano()):
		in = inHold // chattering (SPEC §5)
	}
	tr := steps[a.st][in][l]
	switch {
	case tr.do&never != 0:
		return nil
	case tr.do&refuse != 0:
		return fmt.Errorf("%s %s: %s: %w", c.Op, c.Alarm, tr.why, ErrRefused)
	}
	if tr.do&doHold != 0 {
		c := m.chatterOf(ai)
		c.goneSince = now.UnixNano()
		m.inTimers.push(timer{at: c.goneSince + m.chatterWindow, base: c.goneSince, alarm: ai, what: tChatter})
		return nil
	}
	from := a.st
	a.st = tr.to
	switch {
	case tr.to != RtnUnack:
		a.flags &^= fLatch
	case from != RtnUnack && l == latching:
		a.flags |= fLatch
	}
	if tr.do&doShelve != 0 {
		until := t + int64(c.For)
		a.flags |= fShelved
		m.shelved[ai] = until
		m.timers.push(timer{at: until, alarm: ai, what: tShelve})
	}
	if tr.do&doUnshelve != 0 {
		a.flags &^= fShelved
		delete(m.shelved, ai)
	}
	if tr.do&doOOS != 0 {
		a.flags = fOOS
		delete(m.shelved, ai)
		delete(m.chatter, ai)
	}
	if tr.do&doIOS != 0 {
		a.flags &^= fOOS
	}
	if tr.do&(doActivate|doReannunciate) != 0 {
		a.stage = 0
		a.gen++
	}
	if tr.do&doActivate != 0 {
		a.activated = t
		m.chatterOf(ai).activated(now.UnixNano())
		if a.flags&fShelved == 0 {
			// Flood and the escalation ladder run on the gateway's clock
			// from the moment the operators are told (a device clock may
			// be off).
			m.flood.count(now.UnixNano())
			m.startEscalation(ai, now.UnixNano())
		}
	}
	if tr.do&doReannunciate != 0 {
		m.startEscalation(ai, t)
	}
	var by, comment string
	if c != nil {
		by, comment = c.By, c.Comment
	}
	m.emit(ai, t, now, by, comment)
	return nil
}
