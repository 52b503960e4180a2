package modbustest

import (
	"sync"
	"time"
)

// Mode is how a unit answers.
type Mode int

const (
	Normal    Mode = iota
	Silent         // never answers (a dead slave)
	Garbage        // RTU: answers with a wrong CRC
	Short          // RTU: a well-formed reply with one register (or byte) fewer than asked
	Truncated      // RTU: half a reply, then nothing
)

// Unit is one simulated slave: its four tables and how it answers. Every
// method is safe for concurrent use.
type Unit struct {
	mu        sync.Mutex
	holding   table[uint16] // grown on demand: unset addresses read 0
	input     table[uint16]
	coils     table[bool]
	discrete  table[bool]
	delay     time.Duration
	mode      Mode
	exception byte
	reads     int
	writes    int
	exN       int           // > 0: the exception is answered this many more times, then cleared
	changed   chan struct{} // closed and replaced on every setting change
}

func newUnit() *Unit { return &Unit{changed: make(chan struct{})} }

func (u *Unit) notify() {
	close(u.changed)
	u.changed = make(chan struct{})
}

// SetHolding sets holding registers from addr on.
func (u *Unit) SetHolding(addr int, v ...uint16) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.holding.set(addr, v)
}

// SetInput sets input registers from addr on.
func (u *Unit) SetInput(addr int, v ...uint16) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.input.set(addr, v)
}

// SetCoil sets coils from addr on.
func (u *Unit) SetCoil(addr int, v ...bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.coils.set(addr, v)
}

// SetDiscrete sets discrete inputs from addr on.
func (u *Unit) SetDiscrete(addr int, v ...bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.discrete.set(addr, v)
}

// Holding returns n holding registers from addr.
func (u *Unit) Holding(addr, n int) []uint16 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.holding.get(addr, n)
}

// Coil returns one coil.
func (u *Unit) Coil(addr int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.coils.get(addr, 1)[0]
}

// SetDelay makes the unit wait d before each answer.
func (u *Unit) SetDelay(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.delay = d
	u.notify()
}

// SetMode sets how the unit answers.
func (u *Unit) SetMode(m Mode) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.mode = m
	u.notify()
}

// SetException makes the unit answer every request with exception code
// (0: answer normally).
func (u *Unit) SetException(code byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.exception, u.exN = code, 0
	u.notify()
}

// SetExceptionFor answers the next n requests with exception code, then
// answers normally again.
func (u *Unit) SetExceptionFor(code byte, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.exception, u.exN = code, n
	u.notify()
}

// Reads is the number of read requests the unit has received.
func (u *Unit) Reads() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reads
}

// Writes is the number of write requests the unit has received.
func (u *Unit) Writes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.writes
}

// behaviour is a snapshot of the answer settings for one request.
type behaviour struct {
	delay     time.Duration
	mode      Mode
	exception byte
	changed   <-chan struct{}
}

func (u *Unit) begin(write bool) behaviour {
	u.mu.Lock()
	defer u.mu.Unlock()
	if write {
		u.writes++
	} else {
		u.reads++
	}
	b := behaviour{u.delay, u.mode, u.exception, u.changed}
	if u.exN > 0 {
		if u.exN--; u.exN == 0 {
			u.exception = 0
		}
	}
	return b
}

// units is a set of units created on first use.
type units struct {
	mu sync.Mutex
	m  map[byte]*Unit
}

func (s *units) unit(id byte) *Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[byte]*Unit{}
	}
	u := s.m[id]
	if u == nil {
		u = newUnit()
		s.m[id] = u
	}
	return u
}

func (s *units) lookup(id byte) *Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// table is a sparse-at-the-end register or bit table.
type table[T any] []T

func (t *table[T]) set(addr int, v []T) {
	if n := addr + len(v); n > len(*t) {
		*t = append(*t, make([]T, n-len(*t))...)
	}
	copy((*t)[addr:], v)
}

func (t table[T]) get(addr, n int) []T {
	out := make([]T, n)
	if addr < len(t) {
		copy(out, t[addr:min(addr+n, len(t))])
	}
	return out
}

func (m Mode) String() string {
	switch m {
	case Normal:
		return "normal"
	case Silent:
		return "silent"
	case Garbage:
		return "garbage"
	case Short:
		return "short"
	case Truncated:
		return "truncated"
	}
	return "mode?"
}
