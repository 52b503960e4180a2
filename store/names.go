package store

import (
	"hash/maphash"
	"unsafe"

	"hazardgw/drivers"
)

// names numbers point ids densely (0, 1, 2, ... in the order added) in
// pointer-free arrays: the ids' bytes back to back in one arena, the end of
// each, and an open-addressing hash table of indexes. At 100,000 points it
// takes about 1.9 MB where a map[drivers.PointID]int32 and its strings
// take about 6, and the garbage collector has nothing in it to mark.
//
// The arena is only appended to: an id handed out by Name stays valid (it
// points into the arena) after later Adds. Not safe for concurrent use.
type names struct {
	seed  maphash.Seed
	arena []byte
	ends  []uint32 // ends[i]: end of id i in arena
	table []int32  // index+1, 0 empty; len a power of two
}

// newNames makes room for capacity ids of arenaBytes bytes in all (both
// only hints).
func newNames(capacity, arenaBytes int) *names {
	n := &names{seed: maphash.MakeSeed(), ends: make([]uint32, 0, capacity), arena: make([]byte, 0, arenaBytes)}
	n.grow(capacity)
	return n
}

// Len is the number of ids.
func (n *names) Len() int { return len(n.ends) }

// Name returns id i (no copy: it points into the arena).
func (n *names) Name(i int32) drivers.PointID {
	start := uint32(0)
	if i > 0 {
		start = n.ends[i-1]
	}
	if start == n.ends[i] {
		return ""
	}
	return drivers.PointID(unsafe.String(&n.arena[start], int(n.ends[i]-start)))
}

// Find returns p's index, -1 when p was never added.
func (n *names) Find(p drivers.PointID) int32 {
	i, _ := n.find(p)
	return i
}

// find returns p's index, or -1 and the free table slot where it goes.
func (n *names) find(p drivers.PointID) (int32, int) {
	mask := len(n.table) - 1
	h := int(maphash.String(n.seed, string(p))) & mask
	for {
		v := n.table[h]
		if v == 0 {
			return -1, h
		}
		if n.Name(v-1) == p {
			return v - 1, h
		}
		h = (h + 1) & mask
	}
}

// Add returns p's index, adding p when it is new.
func (n *names) Add(p drivers.PointID) int32 {
	i, h := n.find(p)
	if i >= 0 {
		return i
	}
	i = int32(len(n.ends))
	n.arena = append(n.arena, p...)
	n.ends = append(n.ends, uint32(len(n.arena)))
	n.table[h] = i + 1
	if len(n.ends)*5 > len(n.table)*4 { // load above 0.8
		n.grow(2 * len(n.ends))
	}
	return i
}

// grow makes the table hold capacity ids at a load of 0.8 at most.
func (n *names) grow(capacity int) {
	size := 8
	for size*4 < capacity*5 {
		size *= 2
	}
	if size <= len(n.table) {
		return
	}
	n.table = make([]int32, size)
	mask := size - 1
	for i := range n.ends {
		h := int(maphash.String(n.seed, string(n.Name(int32(i))))) & mask
		for n.table[h] != 0 {
			h = (h + 1) & mask
		}
		n.table[h] = int32(i) + 1
	}
}

// Reset forgets every id (the arena's ids already handed out stay valid:
// a new arena is begun).
func (n *names) Reset() {
	n.arena, n.ends = nil, n.ends[:0]
	clear(n.table)
}
