package alarms

import "hash/maphash"

// pointIndex finds a point by id: open addressing with linear probing over
// int32 slots (index+1; 0 is empty), at most 5/8 full. It costs about 7
// bytes per point where a Go map costs about 40; keys are the points' ids
// in Machine.ids.
type pointIndex struct {
	seed  maphash.Seed
	slots []int32
	mask  uint64
}

func (x *pointIndex) build(n int) {
	size := 16
	for size*5/8 < n {
		size *= 2
	}
	x.seed = maphash.MakeSeed()
	x.slots = make([]int32, size)
	x.mask = uint64(size - 1)
}

// insert adds point i; false when its id is already there.
func (x *pointIndex) insert(ids *strtab, i int32) bool {
	id := ids.at(i)
	for h := maphash.String(x.seed, id) & x.mask; ; h = (h + 1) & x.mask {
		v := x.slots[h]
		if v == 0 {
			x.slots[h] = i + 1
			return true
		}
		if ids.at(v-1) == id {
			return false
		}
	}
}

func (x *pointIndex) find(ids *strtab, id string) (int32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	for h := maphash.String(x.seed, id) & x.mask; ; h = (h + 1) & x.mask {
		v := x.slots[h]
		if v == 0 {
			return 0, false
		}
		if ids.at(v-1) == id {
			return v - 1, true
		}
	}
}
