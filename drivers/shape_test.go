package drivers

import (
	"slices"
	"testing"
)

// TestShapeCache: the same batch shape is looked up once; a batch with
// the same first point but other points, and a Reset, look up again.
func TestShapeCache(t *testing.T) {
	table := map[PointID]int32{"A": 0, "B": 1, "C": 2}
	calls := 0
	lookup := func(p PointID) int32 {
		calls++
		if i, ok := table[p]; ok {
			return i
		}
		return -1
	}
	batch := func(ids ...PointID) []Sample {
		b := make([]Sample, len(ids))
		for i, id := range ids {
			b[i].Point = id
		}
		return b
	}
	var c ShapeCache
	steps := []struct {
		name  string
		b     []Sample
		reset bool
		want  []int32
		calls int
	}{
		{"first", batch("A", "B"), false, []int32{0, 1}, 2},
		{"same shape again", batch("A", "B"), false, []int32{0, 1}, 2},
		{"same first point, other points", batch("A", "C", "X"), false, []int32{0, 2, -1}, 5},
		{"after a reset", batch("A", "C", "X"), true, []int32{0, 2, -1}, 8},
	}
	for _, s := range steps {
		if s.reset {
			c.Reset()
		}
		if got := c.Indexes(s.b, lookup); !slices.Equal(got, s.want) || calls != s.calls {
			t.Errorf("%s: indexes %v after %d lookups, want %v after %d", s.name, got, calls, s.want, s.calls)
		}
	}
}
