package store

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"hazardgw/drivers"
)

// A reader that keeps up takes the records just written from memory: the
// segment file is zeroed behind the outbox's back and the samples still
// come back right. Durability is unchanged: the same samples are on disk
// for a reopened outbox.
func TestOutboxSendsFromMemoryWhenCaughtUp(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, OutboxOptions{})
	in := samples(0, 3000, 7)
	keys := make([]int32, len(in))
	for i := range keys {
		keys[i] = int32(i % 7)
	}
	if n, err := o.AppendIndexed(in, keys, dev); err != nil || n != 0 {
		t.Fatalf("append: refused %d, %v", n, err)
	}
	if err := o.Sync(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "samples", "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	onDisk, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segs[0], make([]byte, len(onDisk)), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := drain(t, o, Samples, false)
	if len(got) != len(in) {
		t.Fatalf("read %d samples from memory, want %d", len(got), len(in))
	}
	for i, e := range got {
		if e.Point != in[i].Point || e.Value != in[i].Value || !e.Time.Equal(in[i].Time) || e.Device != dev(in[i].Point) {
			t.Fatalf("sample %d = %+v, want %+v", i, e, in[i])
		}
	}
	o.Close()
	// Put the bytes back: a reopened outbox reads the same from disk.
	if err := os.WriteFile(segs[0], onDisk, 0o644); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, OutboxOptions{})
	defer o.Close()
	got, _ = drain(t, o, Samples, true)
	if len(got) != len(in) {
		t.Fatalf("reopened: %d samples, want %d", len(got), len(in))
	}
}

// A reader that fell behind by more than the memory tail reads the rest
// from disk, in order, nothing missing, across segments whose
// dictionaries are found by key.
func TestOutboxLaggingReaderReadsDisk(t *testing.T) {
	o := open(t, t.TempDir(), OutboxOptions{SegmentBytes: 1 << 20})
	defer o.Close()
	const n = 1_200_000 // about 14 MiB of records: beyond tailMax
	keys := make([]int32, 4000)
	for i := 0; i < n; i += 4000 {
		for j := range keys {
			keys[j] = int32((i + j) % 101) // the point's key: samples() names it P(j%101)
		}
		if r, err := o.AppendIndexed(samples(i, 4000, 101), keys, dev); err != nil || r != 0 {
			t.Fatalf("append: refused %d, %v", r, err)
		}
	}
	if q := o.q[Samples]; q.tailBytes > tailMax {
		t.Fatalf("tail holds %d bytes, bound %d", q.tailBytes, tailMax)
	}
	got, _ := drain(t, o, Samples, true)
	if len(got) != n {
		t.Fatalf("read %d samples, want %d", len(got), n)
	}
	for i, e := range got {
		want := samples(i, 1, 101)[0]
		if e.Point != want.Point || e.Value != want.Value || e.Device != dev(want.Point) {
			t.Fatalf("sample %d = %+v, want %+v", i, e, want)
		}
	}
}

// The history is bounded as a whole: at field scale (100k and 250k points)
// its shape fits history_bytes, the memory is taken once, adding samples
// allocates nothing however long it runs, and a short peak survives the
// downsampling into min/max buckets.
func TestHistoryBounded(t *testing.T) {
	for _, tc := range []struct {
		points  int
		budget  int64
		minRaw  int
		minBkts int
	}{
		{100, 64 << 20, rawKeep, bucketsKeep},
		{100_000, 64 << 20, 8, 6},
		{250_000, 64 << 20, minRaw, minBuckets},
		{1_000_000, 64 << 20, minRaw, minBuckets},
	} {
		z := SizeHistory(tc.budget, tc.points)
		if z.Bytes() > tc.budget {
			t.Errorf("%d points: shape %+v takes %d bytes, budget %d", tc.points, z, z.Bytes(), tc.budget)
		}
		if z.Raw < tc.minRaw || z.Buckets < tc.minBkts {
			t.Errorf("%d points: shape %+v, want at least %d raw and %d buckets", tc.points, z, tc.minRaw, tc.minBkts)
		}
		if tc.points <= 250_000 && z.Points < tc.points {
			t.Errorf("%d points: only %d fit", tc.points, z.Points)
		}
	}

	z := SizeHistory(1<<20, 2000) // ~500 bytes a point
	h := NewHistorySized(time.Hour, z)
	batch := make([]drivers.Sample, 2000)
	for i := range batch {
		batch[i].Point = drivers.PointID("P" + strconv.Itoa(i))
	}
	slots := make([]int32, len(batch))
	for i, s := range batch {
		slots[i] = h.Slot(s.Point)
	}
	at := func(poll int) {
		for i := range batch {
			batch[i].Value, batch[i].Time = 10, t0.Add(time.Duration(poll)*time.Second)
		}
		if poll == 600 {
			batch[7].Value = 99 // one short peak, long ago by the end
		}
	}
	for poll := 0; poll < 3600; poll++ {
		at(poll)
		h.AddSlots(batch, slots)
	}
	if allocs := testing.AllocsPerRun(100, func() { h.AddSlots(batch, slots) }); allocs != 0 {
		t.Errorf("AddSlots allocates %v times per batch", allocs)
	}
	got := h.Since("P7", time.Time{})
	if len(got) > z.Raw+2*z.Buckets {
		t.Errorf("%d samples returned, shape %+v", len(got), z)
	}
	peak := false
	for _, s := range got {
		peak = peak || s.Value == 99 && s.Time.Equal(t0.Add(600*time.Second))
	}
	if !peak {
		t.Errorf("the peak was lost by downsampling: %v", got)
	}
	if h.Refused() != 0 {
		t.Errorf("%d samples refused", h.Refused())
	}
	// A point beyond the shape's points is refused, counted.
	for i := 0; h.Slot(drivers.PointID("X"+strconv.Itoa(i))) >= 0; i++ {
	}
	h.Add([]drivers.Sample{{Point: "NOT-IN-SHAPE", Time: t0}})
	if h.Refused() != 1 || h.Since("NOT-IN-SHAPE", time.Time{}) != nil {
		t.Errorf("a point without a slot: refused %d", h.Refused())
	}
}
