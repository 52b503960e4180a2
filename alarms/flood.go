package alarms

import "time"

// flood counts activations site-wide (DOMAIN §5): more than floodStart
// activations within floodWindow start a flood; it ends when fewer than
// floodEnd remain in the sliding window. Shelved alarms are not counted
// (the caller does not count them). Times are engine time, unix ns.
type flood struct {
	acts []int64 // activation times; acts[head:] are inside the window
	head int
	on   bool
}

const (
	floodWindow = int64(10 * time.Minute)
	floodStart  = 10 // more than this many activations start a flood
	floodEnd    = 5  // fewer than this many end it
)

// count records an activation at t and updates the flood state.
func (f *flood) count(t int64) {
	f.acts = append(f.acts, t)
	f.update(t)
}

// update drops activations older than the window and starts or ends the
// flood. Called at each activation and at each one-second scan.
func (f *flood) update(now int64) {
	for f.head < len(f.acts) && f.acts[f.head] <= now-floodWindow {
		f.head++
	}
	if f.head > 64 && f.head*2 > len(f.acts) {
		f.acts = append(f.acts[:0], f.acts[f.head:]...)
		f.head = 0
	}
	c := len(f.acts) - f.head
	switch {
	case !f.on && c > floodStart:
		f.on = true
	case f.on && c < floodEnd:
		f.on = false
	}
}
