package store

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
	"hazardgw/store/wal"
)

var t0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

func dev(p drivers.PointID) string { return "DEV-" + string(p) }

// samples makes n samples of points P0..P(k-1), one per ms.
func samples(from, n, k int) []drivers.Sample {
	out := make([]drivers.Sample, n)
	for i := range out {
		j := from + i
		out[i] = drivers.Sample{Point: drivers.PointID("P" + itoa(j%k)), Value: float64(j) / 4,
			Time: t0.Add(time.Duration(j) * time.Millisecond)}
	}
	return out
}

func itoa(i int) string { return string(rune('0'+i/10%10)) + string(rune('0'+i%10)) }

func event(seq uint64) alarms.Event {
	return alarms.Event{Seq: seq, ID: "P01:hihi", Point: "P01", Cond: "hihi", Tier: 2, Priority: alarms.High,
		State: alarms.Unack, Active: true, Value: 61.5, Limit: 60, Time: t0.Add(time.Duration(seq) * time.Second)}
}

func open(t *testing.T, dir string, opts OutboxOptions) *Outbox {
	t.Helper()
	o, err := OpenOutbox(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// decoded is a sample the outbox handed out, with its device.
type decoded struct {
	drivers.Sample
	Device string
}

// decodeAll resolves the samples of b.
func decodeAll(b *Batch) []decoded {
	out := make([]decoded, len(b.Samples))
	for i, e := range b.Samples {
		out[i].Sample, out[i].Device = b.Sample(e)
	}
	return out
}

// batchOf is a batch of the samples ds as Next hands them out: their
// points and devices in one dictionary.
func batchOf(ds ...decoded) *Batch {
	var d readDict
	b := &Batch{Kind: Samples}
	for _, x := range ds {
		i := uint32(len(d.refs))
		d.define(i, []byte(x.Point), []byte(x.Device))
		b.Samples = append(b.Samples, entry{Value: x.Value, Time: x.Time.UnixNano(), ref: i, Quality: x.Quality, Cause: x.Cause})
	}
	b.dicts = []dictView{d.view()}
	return b
}

// drain reads everything of queue k, acknowledging when ack is set.
func drain(t *testing.T, o *Outbox, k Kind, ack bool) (es []decoded, evs []alarms.Event) {
	t.Helper()
	for {
		b, err := o.Next(k, 777)
		if err != nil {
			t.Fatal(err)
		}
		if b.Len() == 0 {
			return es, evs
		}
		es, evs = append(es, decodeAll(b)...), append(evs, b.Events...)
		if ack {
			if err := o.Ack(b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestOutboxRoundTrip(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, OutboxOptions{SegmentBytes: 8 << 10}) // several segments
	in := samples(0, 5000, 13)
	in[7].Value = math.NaN()
	in[8].Quality, in[8].Cause = drivers.Bad, drivers.CauseComm
	for i := 0; i < len(in); i += 250 {
		if n, err := o.AppendSamples(in[i:i+250], dev); err != nil || n != 0 {
			t.Fatalf("append: refused %d, %v", n, err)
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := o.AppendEvent(event(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if st := o.Stats(); st.Samples != 5000 || st.Events != 3 || !st.Oldest.Equal(t0) {
		t.Fatalf("stats %+v", st)
	}
	// Half read and acknowledged, the rest read but not acknowledged.
	b, _ := o.Next(Samples, 2500)
	if err := o.Ack(b); err != nil {
		t.Fatal(err)
	}
	drain(t, o, Samples, false)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = open(t, dir, OutboxOptions{SegmentBytes: 8 << 10})
	defer o.Close()
	got, _ := drain(t, o, Samples, true)
	if len(got) != 2500 {
		t.Fatalf("after reopen got %d samples, want the 2500 unacknowledged", len(got))
	}
	for i, e := range got {
		want := in[2500+i]
		if e.Point != want.Point || e.Device != dev(want.Point) || !e.Time.Equal(want.Time) || e.Quality != want.Quality ||
			e.Cause != want.Cause || (e.Value != want.Value && !math.IsNaN(want.Value)) {
			t.Fatalf("sample %d = %+v, want %+v", i, e, want)
		}
	}
	_, evs := drain(t, o, Events, true)
	if len(evs) != 3 || evs[2].Seq != 3 || evs[0].Value != 61.5 {
		t.Fatalf("events %+v", evs)
	}
	if st := o.Stats(); st.Samples != 0 || st.Events != 0 {
		t.Fatalf("after ack: %+v", st)
	}
	if seg := countSegs(t, filepath.Join(dir, "samples")); seg > 2 {
		t.Fatalf("%d sample segments left after everything was acknowledged", seg)
	}
}

func countSegs(t *testing.T, dir string) int {
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestOutboxTornTail cuts the last segment at every kind of place inside
// its last record: the outbox reopens, loses at most that record, and
// accepts new appends.
func TestOutboxTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  int64 // bytes removed from the end
	}{
		{"header only half", -4},
		{"payload half", 0},
		{"one byte", 1},
		{"garbage appended", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, OutboxOptions{})
			for i := 0; i < 10; i++ {
				if _, err := o.AppendSamples(samples(i*100, 100, 5), dev); err != nil {
					t.Fatal(err)
				}
			}
			st := o.Stats()
			// Abandon o (no Close), as a crash would.
			segs, _ := filepath.Glob(filepath.Join(dir, "samples", "*.seg"))
			last := segs[len(segs)-1]
			fi, _ := os.Stat(last)
			size := fi.Size()
			switch {
			case tc.cut == -1:
				f, _ := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
				f.Write([]byte{0xff, 0xff, 0, 0, 1, 2, 3})
				f.Close()
			case tc.cut == -4:
				// Leave only 4 bytes of the last record's header.
				b, _ := os.ReadFile(last)
				var start int64
				wal.Scan(b, 0, func(off int64, _ uint64, _ []byte) { start = off })
				if err := os.Truncate(last, start+4); err != nil {
					t.Fatal(err)
				}
			case tc.cut == 0:
				if err := os.Truncate(last, size-40); err != nil {
					t.Fatal(err)
				}
			default:
				if err := os.Truncate(last, size-tc.cut); err != nil {
					t.Fatal(err)
				}
			}
			o2 := open(t, dir, OutboxOptions{})
			defer o2.Close()
			st2 := o2.Stats()
			lost := st.Samples - st2.Samples
			if tc.cut == -1 && (lost != 0 || st2.Cut != 7) {
				t.Fatalf("garbage tail: lost %d, cut %d", lost, st2.Cut)
			}
			if tc.cut != -1 && (lost < 1 || lost > 100 || st2.Cut == 0) {
				t.Fatalf("lost %d samples (want 1..100, one record), cut %d bytes", lost, st2.Cut)
			}
			if _, err := o2.AppendSamples(samples(5000, 10, 5), dev); err != nil {
				t.Fatal(err)
			}
			got, _ := drain(t, o2, Samples, true)
			if int64(len(got)) != st2.Samples+10 {
				t.Fatalf("read %d, want %d", len(got), st2.Samples+10)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Time.Before(got[i-1].Time) {
					t.Fatalf("out of order at %d", i)
				}
			}
		})
	}
}

// TestOutboxDiskBound fills a small outbox: the oldest samples go, no alarm
// event does, and when only events are left it says it is full and refuses
// samples.
func TestOutboxDiskBound(t *testing.T) {
	dir := t.TempDir()
	const max = 64 << 10
	o := open(t, dir, OutboxOptions{MaxBytes: max, SegmentBytes: 8 << 10})
	defer o.Close()
	var seq uint64
	for i := 0; i < 400; i++ {
		if _, err := o.AppendSamples(samples(i*50, 50, 7), dev); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			seq++
			if err := o.AppendEvent(event(seq)); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := o.Stats()
	if st.Dropped == 0 || st.Bytes > max+8<<10 || st.Full {
		t.Fatalf("stats %+v: want drops, bytes <= max + one segment, not full", st)
	}
	if st.Samples+int64(st.Dropped) != 400*50 {
		t.Fatalf("samples %d + dropped %d != %d", st.Samples, st.Dropped, 400*50)
	}
	got, _ := drain(t, o, Samples, false)
	if len(got) == 0 || !got[len(got)-1].Time.Equal(t0.Add((400*50-1)*time.Millisecond)) {
		t.Fatalf("the newest samples must survive")
	}
	// Only events now: they exceed the bound and are all kept.
	for st.Samples > 0 || !st.Full {
		seq++
		if err := o.AppendEvent(event(seq)); err != nil {
			t.Fatal(err)
		}
		st = o.Stats()
		if seq > 10000 {
			t.Fatalf("never full: %+v", st)
		}
	}
	if n, err := o.AppendSamples(samples(0, 10, 3), dev); n != 10 || err != nil {
		t.Fatalf("full outbox took samples: refused %d, %v", n, err)
	}
	_, evs := drain(t, o, Events, true)
	if uint64(len(evs)) != seq {
		t.Fatalf("%d events kept, want %d", len(evs), seq)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if st := o.Stats(); st.Full {
		t.Fatalf("still full after the events left: %+v", st)
	}
}

// TestOutboxAbandoned reopens a directory whose outbox was never closed
// (kill -9): every appended entry not acknowledged comes back.
func TestOutboxAbandoned(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, OutboxOptions{SegmentBytes: 16 << 10})
	for i := 0; i < 40; i++ {
		o.AppendSamples(samples(i*100, 100, 9), dev)
	}
	o.AppendEvent(event(1))
	b, _ := o.Next(Samples, 1234)
	o.Ack(b)
	o.Next(Samples, 1000) // handed out, never acknowledged
	// no Close, no Sync
	o2 := open(t, dir, OutboxOptions{SegmentBytes: 16 << 10})
	defer o2.Close()
	got, _ := drain(t, o2, Samples, true)
	if len(got) != 4000-1234 || !got[0].Time.Equal(t0.Add(1234*time.Millisecond)) {
		t.Fatalf("got %d samples from %v, want %d from the 1234th", len(got), got[0].Time, 4000-1234)
	}
	if _, evs := drain(t, o2, Events, true); len(evs) != 1 {
		t.Fatalf("events %d", len(evs))
	}
}

// TestOutboxMappedRead: a reader behind the tail reads sealed segments
// through a window of the file mapped at a time. Every sample comes back
// in order across windows and segments, and a record damaged after open
// (a sector gone bad) loses only itself, found by the reader.
func TestOutboxMappedRead(t *testing.T) {
	dir := t.TempDir()
	opts := OutboxOptions{SegmentBytes: readWindow + 1<<20} // a window boundary inside the first segment
	o := open(t, dir, opts)
	in := samples(0, 900_000, 97) // about 13 bytes a sample: two segments
	for i := 0; i < len(in); i += maxBlock {
		if n, err := o.AppendSamples(in[i:min(i+maxBlock, len(in))], dev); err != nil || n != 0 {
			t.Fatalf("append: refused %d, %v", n, err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, opts) // the tail is empty: everything comes from disk
	defer o.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "samples", "*.seg"))
	if len(segs) < 3 { // two written, one begun at reopen
		t.Fatalf("%d segments, want the samples in two sealed ones", len(segs))
	}
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, readWindow+1<<19); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, _ := drain(t, o, Samples, true)
	lost := len(in) - len(got)
	if lost <= 0 || lost > maxBlock || o.Damaged(Samples) != 1 {
		t.Fatalf("read %d of %d samples, %d records damaged: want one block lost", len(got), len(in), o.Damaged(Samples))
	}
	j := 0
	for i, e := range got {
		want := in[j]
		if !e.Time.Equal(want.Time) {
			j += lost // the damaged block
			want = in[j]
		}
		if e.Point != want.Point || e.Device != dev(want.Point) || e.Value != want.Value || !e.Time.Equal(want.Time) {
			t.Fatalf("sample %d: got %+v, want %+v", i, e, want)
		}
		j++
	}
}
