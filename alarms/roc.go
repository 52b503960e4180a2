package alarms

import "time"

// rocClear is the fraction of `roc` below which a rate alarm clears: a fixed
// 10 % hysteresis so the rate alarm does not chatter at its set point.
const rocClear = 0.9

// rocWindow keeps the last rocN good samples of a point. The rate is the
// Theil–Sen estimate: the median of the slopes between every pair of
// samples, which one wild sample cannot move (it touches 4 of 10 slopes).
// Samples more than rocSpan older than the newest are ignored; fewer than
// rocN usable samples give rate 0. The threshold is the point's config
// (pconf.roc); the zero window is empty.
type rocWindow struct {
	t    [rocN]int64
	v    [rocN]float64
	next uint8
	n    uint8
}

const (
	rocN    = 5
	rocSpan = int64(30 * time.Second)
)

// add records the good sample v at t (unix ns) and returns the rate in
// units per second (0: no decision yet).
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
