package drivers

import (
	"slices"
	"sync"
	"unsafe"
)

// ShapeCache maps the samples of a batch to indexes (slots, table rows)
// without a string-keyed lookup per sample. A driver sends the same points
// in the same order at every poll, so a batch's indexes are cached by its
// first point and reused while its point ids match (string compares of the
// same backing arrays, which return at the pointer check). The zero value
// is ready; not safe for concurrent use (one owner goroutine).
//
// The point ids of a shape are kept once per process (see registry), not
// once per cache: every consumer of the engine's batches (alarms, store,
// console) keeps a cache, and at 100,000 points the ids take 1.6 MB where
// a cache's own indexes take 0.4. A hit takes no lock and allocates
// nothing; a miss takes the registry's lock once.
type ShapeCache struct {
	m map[PointID]shape
}

type shape struct {
	ids []PointID // shared with the other caches: read only
	idx []int32
}

// maxShapes bounds the cache and the registry (about one shape per device
// and request).
const maxShapes = 1 << 16

// Indexes returns lookup(p) for every sample of b, in order (b not empty).
// The slice is the cache's: read it, do not keep or modify it.
func (c *ShapeCache) Indexes(b []Sample, lookup func(PointID) int32) []int32 {
	if c.m == nil {
		c.m = map[PointID]shape{}
	}
	if sh, ok := c.m[b[0].Point]; ok && sameIDs(sh.ids, b) {
		return sh.idx
	}
	if len(c.m) >= maxShapes {
		clear(c.m)
	}
	sh := shape{ids: registry.intern(b), idx: make([]int32, len(b))}
	for j, s := range b {
		sh.idx[j] = lookup(s.Point)
	}
	c.m[b[0].Point] = sh
	return sh.idx
}

// Reset forgets every shape (the indexes behind lookup changed).
func (c *ShapeCache) Reset() { clear(c.m) }

func sameIDs(ids []PointID, b []Sample) bool {
	if len(ids) != len(b) {
		return false
	}
	for j := range b {
		if b[j].Point != ids[j] {
			return false
		}
	}
	return true
}

// sameStrings reports whether ids are b's point ids and share their
// bytes: a cache's hit then compares pointers only. Equal ids of other
// strings (a driver rebuilt by a reload) make a shape of their own.
func sameStrings(ids []PointID, b []Sample) bool {
	if len(ids) != len(b) {
		return false
	}
	for j := range b {
		if len(b[j].Point) != len(ids[j]) || unsafe.StringData(string(b[j].Point)) != unsafe.StringData(string(ids[j])) {
			return false
		}
	}
	return true
}

// registry keeps the point ids of every batch shape seen in the process
// once, for all ShapeCaches. By first point, the shapes seen (a driver's
// request usually has one; a reload may add a few: the last maxPerPoint
// are kept). A cache keeps the ids it was given after the registry
// dropped them.
var registry shapeRegistry

const maxPerPoint = 4

type shapeRegistry struct {
	mu sync.Mutex
	m  map[PointID][][]PointID
}

// intern returns b's point ids as kept by the registry, adding them when
// they are new.
func (r *shapeRegistry) intern(b []Sample) []PointID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[PointID][][]PointID{}
	}
	seen := r.m[b[0].Point]
	for _, ids := range seen {
		if sameStrings(ids, b) {
			return ids
		}
	}
	if len(r.m) >= maxShapes {
		clear(r.m)
		seen = nil
	}
	ids := make([]PointID, len(b))
	for j, s := range b {
		ids[j] = s.Point
	}
	if len(seen) >= maxPerPoint {
		seen = slices.Delete(seen, 0, 1)
	}
	r.m[b[0].Point] = append(seen, ids)
	return ids
}
