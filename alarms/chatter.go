package alarms

import "time"

// Chatter and out-of-service limits (SPEC §5). The decisions are rows of
// the transition table (transitions.go: inHold, and the guards of step);
// this file keeps the bookkeeping they read.
const (
	// chatterActs activations of one alarm within chatterWindow make it
	// chatter: its clearing is held until the condition has stayed gone
	// for chatterWindow.
	chatterActs   = 6 // "more than 5 times within 60 s"
	chatterWindow = int64(60 * time.Second)
)

// chatter is one alarm's recent activations, on the engine clock. Kept
// only for alarms that activated (Machine.chatter), so the hot alarm
// struct stays 32 bytes.
type chatter struct {
	acts [chatterActs]int64 // ring of activation times, unix ns
	next int                // ring index of the oldest
	// goneSince is when the held clearing's condition went (engine clock,
	// unix ns); 0 while no clearing is held.
	goneSince int64
}

// activated records an activation at now.
func (c *chatter) activated(now int64) {
	c.acts[c.next] = now
	c.next = (c.next + 1) % chatterActs
}

// chattering reports whether chatterActs activations fell within window
// before now.
func (c *chatter) chattering(now, window int64) bool {
	oldest := c.acts[c.next]
	return oldest != 0 && now-oldest < window
}

// chatterOf returns alarm ai's chatter record, creating it.
func (m *Machine) chatterOf(ai int32) *chatter {
	c := m.chatter[ai]
	if c == nil {
		c = &chatter{}
		m.chatter[ai] = c
	}
	return c
}

// holds reports whether clearing alarm ai at now must be held because the
// alarm chatters, or because a clearing is already held.
func (m *Machine) holds(ai int32, now int64) bool {
	c := m.chatter[ai]
	return c != nil && (c.goneSince != 0 || c.chattering(now, m.chatterWindow))
}

// fireChatter is the end of a held clearing's wait: when the condition
// has stayed gone for chatterWindow since goneSince, the alarm clears.
func (m *Machine) fireChatter(tm timer, now time.Time) {
	c := m.chatter[tm.alarm]
	a := m.row(tm.alarm)
	if c == nil || c.goneSince != tm.base || a.flags&(fCond|fPendOn) != 0 {
		return // the condition came back (or went again later): not this timer's
	}
	c.goneSince = 0
	c.acts = [chatterActs]int64{} // it starts afresh
	m.step(tm.alarm, inClear, tm.at, now, nil)
}

// fireOOS returns point pi to service when it has been out of service for
// console.max_oos (tm.base: the oos event's time).
func (m *Machine) fireOOS(tm timer, now time.Time) {
	p := &m.points[tm.alarm]
	if !p.oos() || m.oosSince[tm.alarm] != tm.base {
		return
	}
	m.returnToService(tm.alarm, tm.at, now)
}
