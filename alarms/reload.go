package alarms

import (
	"cmp"
	"slices"
	"time"

	"hazardgw/configs"
)

// RemovedByReload is the comment of the last event of an alarm a reload
// removed (SPEC §12).
const RemovedByReload = "removed by reload"

// Reload returns a machine built for cfg that continues m (SPEC §12):
//
//   - an alarm whose point and condition still exist keeps its state
//     (restored from current, the last journaled event of every alarm not
//     normal, as a restart would), its deadbanded condition and its running
//     on- or off-delay; its limits, delays and priority are cfg's from the
//     next sample on;
//   - a point that still exists keeps its last value, quality, last good
//     sample time and comm count; a new point starts as never seen;
//   - the same alarm keeps its chatter history and a held clearing;
//   - an alarm of current that cfg no longer has ends with one last event
//     (state normal, comment RemovedByReload), taken with Take from the
//     returned machine;
//   - seq continues.
//
// m is not modified; on error the caller keeps using it.
func (m *Machine) Reload(cfg *configs.Config, current map[string]Event, now time.Time) (*Machine, error) {
	nm, err := NewMachine(cfg, now)
	if err != nil {
		return nil, err
	}
	nm.seq = m.seq
	nm.flood = m.flood
	nm.Unknown = m.Unknown
	var removed []Event
	for id, ev := range current {
		if _, err := nm.find(id); err != nil {
			removed = append(removed, ev)
			continue
		}
		nm.Restore(ev, now)
	}
	nm.seq = max(nm.seq, m.seq)
	// A point that still exists keeps what the samples taught it; the same
	// alarm (point and condition) keeps its deadbanded condition and a
	// running delay. Its state came from current above.
	const carried = fCond | fPendOn | fPendOff
	n := now.UnixNano()
	for i := range nm.points {
		np := &nm.points[i]
		oi, ok := m.byID.find(&m.ids, nm.id(int32(i)))
		if !ok {
			continue
		}
		op := &m.points[oi]
		np.value, np.quality, np.lastGood, np.commCount = op.value, op.quality, op.lastGood, op.commCount
		np.setOOS(op.oos())
		nc, oc := nm.conf(np), m.conf(op)
		for k := range nc.n {
			ai := np.first + int32(k)
			for ko := range oc.n {
				if oc.kinds[ko] != nc.kinds[k] {
					continue
				}
				oj := op.first + int32(ko)
				oa := m.peek(oj)
				if oa == nil && nm.peek(ai) == nil && m.chatter[oj] == nil {
					continue // pristine in both: nothing to carry
				}
				if oa == nil {
					oa = &alarm{} // pristine: no flag, no delay, never activated
				}
				na := nm.row(ai)
				na.flags = na.flags&^carried | oa.flags&carried
				na.due, na.activated = oa.due, oa.activated
				if na.flags&(fPendOn|fPendOff) != 0 {
					nm.inTimers.push(timer{at: max(oa.due, n), base: oa.due, alarm: ai, what: tDelay})
				}
				delete(nm.chatter, ai) // Restore's count from current: the old machine knows them all
				if c := m.chatter[oj]; c != nil {
					cc := *c
					nm.chatter[ai] = &cc
					if cc.goneSince != 0 {
						nm.inTimers.push(timer{at: cc.goneSince + nm.chatterWindow, base: cc.goneSince, alarm: ai, what: tChatter})
					}
				}
			}
		}
	}
	slices.SortFunc(removed, func(a, b Event) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, ev := range removed {
		nm.seq++
		ev.Seq, ev.State, ev.Active, ev.Acked, ev.Latched = nm.seq, Normal, false, true, false
		ev.ShelvedUntil, ev.OOS, ev.Stage, ev.Notify = nil, false, 0, nil
		ev.Time, ev.Emitted, ev.By, ev.Comment = now.UTC(), now.UTC(), "", RemovedByReload
		nm.out = append(nm.out, ev)
	}
	return nm, nil
}
