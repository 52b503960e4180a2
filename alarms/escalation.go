package alarms

import (
	"sort"
	"time"

	"hazardgw/configs"
)

// Escalation (docs/ALARMS.md "Escalation"): for an alarm of priority >=
// min_priority that is unacknowledged and not shelved, stage n fires
// `after` the (re-)annunciation, on the engine clock. Each stage is one
// event with stage = n; the alarm's notify list accumulates the targets of
// every stage so far until the event that returns it to normal.

// rung is one escalation stage: `after` activation, `notify` these targets.
type rung struct {
	after  int64
	notify []string
}

// buildLadder sorts the configured stages by `after`. Stage 0 is the
// activation: when no stage has after = 0 an empty one is put first.
func buildLadder(stages []configs.Stage) []rung {
	if len(stages) == 0 {
		return nil
	}
	stages = append([]configs.Stage(nil), stages...)
	sort.SliceStable(stages, func(i, j int) bool { return stages[i].After < stages[j].After })
	var l []rung
	if stages[0].After > 0 {
		l = append(l, rung{})
	}
	for _, s := range stages {
		l = append(l, rung{after: int64(s.After), notify: s.Notify})
	}
	return l
}

// escalates reports whether alarm a takes part in escalation at all.
func (m *Machine) escalates(a *alarm) bool { return a.prio >= m.minPrio && len(m.ladder) > 0 }

// startEscalation puts the stage-0 targets on the alarm and arms stage 1
// from base (engine time of the annunciation).
func (m *Machine) startEscalation(ai int32, base int64) {
	a := m.row(ai)
	if !m.escalates(a) {
		return
	}
	m.addNotify(ai, m.ladder[0].notify)
	m.armStage(ai, base, 1)
}

// armStage sets the timer of stage (if the ladder has it) for the alarm's
// current generation.
func (m *Machine) armStage(ai int32, base int64, stage int) {
	if stage >= len(m.ladder) {
		return
	}
	a := m.row(ai)
	m.timers.push(timer{at: base + m.ladder[stage].after, base: base, alarm: ai,
		what: tEscalate, gen: a.gen, stage: uint8(stage)})
}

// escalate fires the escalation timer tm: a timer of an older generation,
// of an alarm acknowledged, shelved or out of service since, or of a stage
// already passed does nothing.
func (m *Machine) escalate(tm timer, now time.Time) {
	a := m.row(tm.alarm)
	if a.gen != tm.gen || !a.st.unacked() || a.flags&(fShelved|fOOS) != 0 || int(a.stage) != int(tm.stage)-1 {
		return
	}
	a.stage = tm.stage
	m.addNotify(tm.alarm, m.ladder[tm.stage].notify)
	m.emit(tm.alarm, tm.at, now, "", "")
	m.armStage(tm.alarm, tm.base, int(tm.stage)+1)
}

// resumeEscalation re-arms the next stage of an alarm restored from the
// journal event ev. The ladder runs from the (re-)annunciation (engine
// time): the activation, or the end of a shelf. A journaled unack event is
// that moment (emitted) or the escalation to its stage (time); otherwise
// (rtn_unack, or a snapshot view without seq) the activation is the best
// known.
func (m *Machine) resumeEscalation(ai int32, ev Event) {
	a := m.row(ai)
	if !a.st.unacked() || a.flags&(fShelved|fOOS) != 0 || !m.escalates(a) ||
		int(a.stage)+1 >= len(m.ladder) || a.activated == 0 {
		return
	}
	base := a.activated
	switch {
	case ev.State == Unack && ev.Seq > 0 && a.stage == 0:
		base = ev.Emitted.UnixNano() // (re-)annunciation, engine time
	case ev.State == Unack && ev.Seq > 0:
		base = ev.Time.UnixNano() - m.ladder[a.stage].after // the escalation to this stage
	}
	m.armStage(ai, base, int(a.stage)+1)
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
