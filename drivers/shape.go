package drivers

// ShapeCache maps the samples of a batch to indexes (slots, table rows)
// without a string-keyed lookup per sample. A driver sends the same points
// in the same order at every poll, so a batch's indexes are cached by its
// first point and reused while its point ids match (string compares of the
// same backing arrays, which return at the pointer check). The zero value
// is ready; not safe for concurrent use (one owner goroutine).
type ShapeCache struct {
	m map[PointID]*shape
}

type shape struct {
	ids []PointID
	idx []int32
}

// maxShapes bounds the cache (about one shape per device and request).
const maxShapes = 1 << 16

// Indexes returns lookup(p) for every sample of b, in order (b not empty).
// The slice is the cache's: read it, do not keep or modify it.
func (c *ShapeCache) Indexes(b []Sample, lookup func(PointID) int32) []int32 {
	if c.m == nil {
		c.m = map[PointID]*shape{}
	}
	if sh := c.m[b[0].Point]; sh != nil && len(sh.ids) == len(b) {
		same := true
		for j := range b {
			if b[j].Point != sh.ids[j] {
				same = false
				break
			}
		}
		if same {
			return sh.idx
		}
	}
	if len(c.m) >= maxShapes {
		clear(c.m)
	}
	sh := &shape{ids: make([]PointID, len(b)), idx: make([]int32, len(b))}
	for j, s := range b {
		sh.ids[j], sh.idx[j] = s.Point, lookup(s.Point)
	}
	c.m[b[0].Point] = sh
	return sh.idx
}

// Reset forgets every shape (the indexes behind lookup changed).
func (c *ShapeCache) Reset() { clear(c.m) }
