package alarmstest

import (
	"sync"

	"hazardgw/alarms"
)

// Log is an in-memory alarm journal: events in seq order, read as the
// engine's journal is (Events after a seq, Seq, First). The zero Log is
// empty and ready.
type Log struct {
	mu   sync.Mutex
	evs  []alarms.Event
	last uint64
	keep int
}

// Append journals ev and returns it as journaled. An ev without a seq gets
// the next one; a seq not after the last is a bug in the test (panic):
// seqs only grow, as the journal's do.
func (l *Log) Append(ev alarms.Event) alarms.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ev.Seq == 0 {
		ev.Seq = l.last + 1
	}
	if ev.Seq <= l.last {
		panic("alarmstest: Log.Append: seq does not grow")
	}
	l.last = ev.Seq
	l.evs = append(l.evs, ev)
	if l.keep > 0 && len(l.evs) > l.keep {
		l.evs = append(l.evs[:0:0], l.evs[len(l.evs)-l.keep:]...)
	}
	return ev
}

// Keep makes the log hold only the last n events from now on (0: all), as
// retention removes the oldest segments of the real journal.
func (l *Log) Keep(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keep = n
	if n > 0 && len(l.evs) > n {
		l.evs = append(l.evs[:0:0], l.evs[len(l.evs)-n:]...)
	}
}

// Events returns up to limit events with seq > after, oldest first.
func (l *Log) Events(after uint64, limit int) ([]alarms.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []alarms.Event
	for _, ev := range l.evs {
		if len(out) >= limit {
			break
		}
		if ev.Seq > after {
			out = append(out, ev)
		}
	}
	return out, nil
}

// Seq is the seq of the last event appended (0: none).
func (l *Log) Seq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// First is the oldest seq held (0: empty).
func (l *Log) First() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.evs) == 0 {
		return 0
	}
	return l.evs[0].Seq
}
