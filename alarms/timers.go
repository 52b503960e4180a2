package alarms

// timers: a binary min-heap by due time (the Machine keeps two: one on
// the engine clock, one on the input watermark; AdvanceTo). Entries are never removed early;
// each is checked against the alarm's state when it fires (Machine.fire).
type timerWhat uint8

const (
	tDelay    timerWhat = iota // an on- or off-delay elapses (base: alarm.due it was armed for)
	tEscalate                  // escalation stage `stage` of generation `gen` (base: the annunciation)
	tShelve                    // the shelf set to expire at `at` expires
	tChatter                   // a held clearing's wait ends (base: Machine.chatter goneSince)
	tOOS                       // max_oos elapses for point `alarm` (base: Machine.oosSince)
)

type timer struct {
	at, base int64 // unix ns
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
