package drivers

import (
	"fmt"
	"runtime"
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

// TestShapeCacheSharesIDs: two caches given the same batch shape keep one
// copy of its point ids (the registry's), each with its own indexes, and
// a hit allocates nothing.
func TestShapeCacheSharesIDs(t *testing.T) {
	b := make([]Sample, 3)
	for i, id := range []PointID{"SHARE-A", "SHARE-B", "SHARE-C"} {
		b[i].Point = id
	}
	var c1, c2 ShapeCache
	got1 := c1.Indexes(b, func(PointID) int32 { return 1 })
	got2 := c2.Indexes(b, func(PointID) int32 { return 2 })
	if !slices.Equal(got1, []int32{1, 1, 1}) || !slices.Equal(got2, []int32{2, 2, 2}) {
		t.Fatalf("indexes %v and %v", got1, got2)
	}
	if &c1.m["SHARE-A"].ids[0] != &c2.m["SHARE-A"].ids[0] {
		t.Error("each cache keeps its own copy of the point ids")
	}
	if n := testing.AllocsPerRun(100, func() { c1.Indexes(b, nil) }); n != 0 {
		t.Errorf("a hit allocates %v times", n)
	}
}

// fieldBatches is the field-scale shape of issue #11: 1000 devices of 100
// points, dev0001-r0 .. dev1000-r99, one batch per device.
func fieldBatches() [][]Sample {
	out := make([][]Sample, 1000)
	for d := range out {
		out[d] = make([]Sample, 100)
		for r := range out[d] {
			out[d][r].Point = PointID(fmt.Sprintf("dev%04d-r%d", d+1, r))
		}
	}
	return out
}

// BenchmarkShapeCacheRetained: the heap three caches (alarms, store,
// console) keep at 100,000 points, the batches (the drivers') not
// counted.
func BenchmarkShapeCacheRetained(b *testing.B) {
	batches := fieldBatches()
	lookup := func(PointID) int32 { return 0 }
	var keep [3]*ShapeCache
	for b.Loop() {
		keep = [3]*ShapeCache{}
		registry.mu.Lock()
		registry.m = nil
		registry.mu.Unlock()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range keep {
			keep[i] = &ShapeCache{}
			for _, bt := range batches {
				keep[i].Indexes(bt, lookup)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB")
	}
	runtime.KeepAlive(keep)
}

// BenchmarkShapeCacheHit: one poll of 100,000 points through a warm cache.
func BenchmarkShapeCacheHit(b *testing.B) {
	batches := fieldBatches()
	lookup := func(PointID) int32 { return 0 }
	var c ShapeCache
	for _, bt := range batches {
		c.Indexes(bt, lookup)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, bt := range batches {
			c.Indexes(bt, lookup)
		}
	}
}
