package store

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms/alarmstest"
	"hazardgw/drivers"
	"hazardgw/store/influxtest"
	"hazardgw/store/wal"
)

// rec is one valid record of a segment file.
type rec struct {
	off, n int64
	kind   byte
	count  int // entries
}

// records lists the valid records of the largest segment of a queue
// directory, and that segment's path.
func records(t testing.TB, qdir string) (string, []rec) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(qdir, "*.seg"))
	var path string
	var size int64
	for _, p := range segs {
		if st, err := os.Stat(p); err == nil && st.Size() > size {
			path, size = p, st.Size()
		}
	}
	if path == "" {
		t.Fatalf("no segment in %s", qdir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rec
	wal.Scan(b, 0, func(off int64, _ uint64, p []byte) {
		if len(p) > 0 {
			out = append(out, rec{off: off, n: int64(wal.RecordHeader + len(p)), kind: p[0], count: entries(p)})
		}
	})
	return path, out
}

// flip flips one byte in the middle of the payload of r.
func flip(t *testing.T, path string, r rec) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[r.off+wal.RecordHeader+(r.n-wal.RecordHeader)/2] ^= 0x5a
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// middle returns the record of kind k nearest the middle of rs.
func middle(t *testing.T, rs []rec, k byte) rec {
	t.Helper()
	var of []rec
	for _, r := range rs {
		if r.kind == k {
			of = append(of, r)
		}
	}
	if len(of) < 3 {
		t.Fatalf("%d records of kind %c, want at least 3", len(of), k)
	}
	return of[len(of)/2]
}

// A flipped byte in the middle of a segment loses only that record, in
// either queue, whether the scan at open finds it or the reader does; the
// outbox counts it and goes on with the next record.
func TestOutboxDamageLosesOnlyThatRecord(t *testing.T) {
	for _, found := range []string{"open", "read"} {
		t.Run(found, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, OutboxOptions{})
			in := samples(0, 5000, 5)
			for i := 0; i < len(in); i += 100 {
				if _, err := o.AppendSamples(in[i:i+100], dev); err != nil {
					t.Fatal(err)
				}
			}
			for seq := uint64(1); seq <= 40; seq++ {
				if err := o.AppendEvent(event(seq)); err != nil {
					t.Fatal(err)
				}
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			var o2 *Outbox
			if found == "read" {
				o2 = open(t, dir, OutboxOptions{}) // whole at open: damaged while running
			}
			spath, srecs := records(t, filepath.Join(dir, "samples"))
			bad := middle(t, srecs, recSample)
			flip(t, spath, bad)
			epath, erecs := records(t, filepath.Join(dir, "events"))
			flip(t, epath, erecs[19]) // event 20
			if o2 == nil {
				o2 = open(t, dir, OutboxOptions{})
				if st := o2.Stats(); st.Damaged != [2]uint64{1, 1} || st.Samples != 4900 || st.Events != 39 {
					t.Fatalf("after open: %+v, want one record of each queue damaged", st)
				}
			}
			defer o2.Close()
			got, _ := drain(t, o2, Samples, true)
			_, evs := drain(t, o2, Events, true)
			if d := [2]uint64{o2.Damaged(Events), o2.Damaged(Samples)}; d != [2]uint64{1, 1} {
				t.Fatalf("damaged %v, want one record of each queue", d)
			}
			// Samples: all but the 100 of the damaged block, in order.
			var want []drivers.Sample
			skipFrom := -1
			for i := 0; i < len(in); i += 100 {
				if i/100 == countBefore(srecs, bad) {
					skipFrom = i
					continue
				}
				want = append(want, in[i:i+100]...)
			}
			if len(got) != len(want) || skipFrom < 0 {
				t.Fatalf("read %d samples, want %d (block at %d lost)", len(got), len(want), skipFrom)
			}
			for i, e := range got {
				if e.Point != want[i].Point || !e.Time.Equal(want[i].Time) || (e.Value != want[i].Value && !math.IsNaN(want[i].Value)) {
					t.Fatalf("sample %d = %+v, want %+v", i, e, want[i])
				}
			}
			var seqs []uint64
			for _, ev := range evs {
				seqs = append(seqs, ev.Seq)
			}
			if len(seqs) != 39 || slices.Contains(seqs, 20) || seqs[19] != 21 {
				t.Fatalf("events %v, want 1..40 without 20", seqs)
			}
			if st := o2.Stats(); st.Samples != 0 || st.Events != 0 {
				t.Fatalf("after the drain: %+v, want nothing waiting", st)
			}
			// Appends after the damage read back.
			if err := o2.AppendEvent(event(41)); err != nil {
				t.Fatal(err)
			}
			if _, evs := drain(t, o2, Events, true); len(evs) != 1 || evs[0].Seq != 41 {
				t.Fatalf("after damage, appended %v", evs)
			}
		})
	}
}

// countBefore is the number of sample blocks before r (each test append is
// one block).
func countBefore(rs []rec, r rec) int {
	n := 0
	for _, x := range rs {
		if x.kind == recSample && x.off < r.off {
			n++
		}
	}
	return n
}

// legacySegment frames records as the previous version wrote them.
func legacySegment(recs ...[]byte) []byte {
	var b []byte
	for _, p := range recs {
		b = frame(b, p)
	}
	return b
}

// An outbox directory of the previous format (no wal header, 8-byte
// frames) is converted once at open: every entry after the cursor comes
// out, none before it, and the outbox then works as usual.
func TestOutboxLegacyConverted(t *testing.T) {
	dir := t.TempDir()
	sdir, edir := filepath.Join(dir, "samples"), filepath.Join(dir, "events")
	for _, d := range []string{sdir, edir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	in := samples(0, 600, 3)
	var segA, segB [][]byte
	for i := 0; i < 3; i++ {
		segA = append(segA, encodeDict(nil, uint32(i), in[i].Point, dev(in[i].Point)))
	}
	for i := 0; i < 3; i++ {
		segB = append(segB, encodeDict(nil, uint32(i), in[i].Point, dev(in[i].Point)))
	}
	idx := func(b []drivers.Sample) []uint32 {
		out := make([]uint32, len(b))
		for i, s := range b {
			fmt.Sscanf(string(s.Point), "P%d", &out[i])
		}
		return out
	}
	for i := 0; i < 300; i += 100 {
		segA = append(segA, encodeBlock(nil, in[i:i+100], idx(in[i:i+100])))
	}
	for i := 300; i < 600; i += 100 {
		segB = append(segB, encodeBlock(nil, in[i:i+100], idx(in[i:i+100])))
	}
	a := legacySegment(segA...)
	os.WriteFile(filepath.Join(sdir, segName(1)), a, 0o644)
	os.WriteFile(filepath.Join(sdir, segName(2)), legacySegment(segB...), 0o644)
	// The cursor: in segment 1 after the dictionary and the first block,
	// 30 samples into the second.
	off := 0
	for i := 0; i < 4; i++ {
		_, n, _ := unframe(a[off:])
		off += n
	}
	if err := writeCursor(sdir, pos{seg: 1, off: int64(off), skip: 30}, true); err != nil {
		t.Fatal(err)
	}
	var evs [][]byte
	for seq := 1; seq <= 5; seq++ {
		ev := event(uint64(seq))
		b, _ := ev.MarshalJSON()
		evs = append(evs, append([]byte{recEvent}, b...))
	}
	os.WriteFile(filepath.Join(edir, segName(7)), legacySegment(evs...), 0o644)

	o := open(t, dir, OutboxOptions{})
	st := o.Stats()
	if st.Migrated != 3 || st.Samples != 600-130 || st.Events != 5 || st.Damaged != [2]uint64{} {
		t.Fatalf("after conversion: %+v, want 3 segments, 470 samples, 5 events, no damage", st)
	}
	got, _ := drain(t, o, Samples, true)
	if len(got) != 470 || !got[0].Time.Equal(in[130].Time) || got[469].Value != in[599].Value || got[0].Device != dev(in[130].Point) {
		t.Fatalf("read %d samples from %v, want 470 from sample 130", len(got), got[0].Time)
	}
	_, gotEv := drain(t, o, Events, true)
	if len(gotEv) != 5 || gotEv[4].Seq != 5 {
		t.Fatalf("events %+v", gotEv)
	}
	o.Close()
	for _, d := range []string{sdir + ".old", sdir + ".new", edir + ".old", edir + ".new"} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
	o = open(t, dir, OutboxOptions{})
	defer o.Close()
	if st := o.Stats(); st.Migrated != 0 || st.Samples != 0 || st.Events != 0 {
		t.Fatalf("reopened: %+v, want nothing converted again, nothing waiting", st)
	}
}

// TestOutboxDamagedEventsRetakenFromJournal: alarm events and samples wait
// in the outbox while InfluxDB is down; a byte flips in the middle of the
// events segment and of the samples segment. With InfluxDB up again, every
// alarm event is in InfluxDB exactly as in the journal (the damaged one
// taken again from it), the samples lose only the damaged record, and the
// damage is counted and raised.
func TestOutboxDamagedEventsRetakenFromJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	points := []string{"A1", "A2", "A3"}
	j := &alarmstest.Log{}
	a := run(t, config(dir, deadURL(t), "db/autogen", 1<<30, points...), Options{Journal: j})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const rounds = 2000
	events := 0
	for i := 0; i < rounds; i++ {
		a.Samples(round(points, base, i))
		if i%50 == 0 {
			events++
			ev := event(uint64(events))
			ev.Value = float64(i) + 0.25
			a.Event(j.Append(ev))
		}
		if i%100 == 99 {
			// Let the pump take what is queued: several sample records.
			waitFor(t, 10*time.Second, "the queue taken", func() bool { return a.Health().OutboxSamples == int64((i+1)*len(points)) })
		}
	}
	waitFor(t, 10*time.Second, "everything in the outbox", func() bool {
		h := a.Health()
		return h.OutboxSamples == rounds*int64(len(points)) && h.OutboxEvents == int64(events)
	})
	a.stop(t)

	spath, srecs := records(t, filepath.Join(dir, "outbox", "samples"))
	bad := middle(t, srecs, recSample)
	flip(t, spath, bad)
	epath, erecs := records(t, filepath.Join(dir, "outbox", "events"))
	flip(t, epath, erecs[len(erecs)/2])

	db := influxtest.Start(t)
	reg := prometheus.NewRegistry()
	b := run(t, config(dir, db.URL, db.Bucket, 1<<30, points...), Options{Journal: j, Registerer: reg})
	waitFor(t, 30*time.Second, "the outbox to drain", func() bool {
		h := b.Health()
		return h.OutboxSamples == 0 && h.OutboxEvents == 0 && h.InfluxDB == "up"
	})
	h := b.Health()
	if h.OutboxDamaged != 2 || h.Condition() == "" {
		t.Errorf("health %+v (condition %q), want 2 damaged records raised", h, h.Condition())
	}
	for _, k := range []Kind{Events, Samples} {
		if n := counter(b.met.damaged.WithLabelValues(k.String())); n != 1 {
			t.Errorf("damaged records counted for %s: %v, want 1", k, n)
		}
	}
	// Every event, exactly as journaled.
	q := db.Query(t, `SELECT "seq", "value", "state" FROM "alarm_event"`)
	if len(q) != 1 {
		t.Fatalf("alarm_event: %+v", q)
	}
	want, _ := j.Events(0, 1000)
	type row struct {
		t     int64
		seq   uint64
		value float64
		state string
	}
	var rows []row
	for _, v := range q[0].Values {
		ts, _ := v[0].(json.Number).Int64()
		seq, _ := v[1].(json.Number).Int64()
		val, _ := v[2].(json.Number).Float64()
		st, _ := v[3].(string)
		rows = append(rows, row{ts, uint64(seq), val, st})
	}
	sort.Slice(rows, func(i, k int) bool { return rows[i].seq < rows[k].seq })
	if len(rows) != len(want) {
		t.Fatalf("%d alarm events in InfluxDB, %d journaled", len(rows), len(want))
	}
	for i, ev := range want {
		r := rows[i]
		if r.seq != ev.Seq || r.value != ev.Value || r.state != ev.State.String() || r.t != ev.Time.UnixNano() {
			t.Errorf("event %d in InfluxDB %+v, journaled %+v", i, r, ev)
		}
	}
	// Samples: all but the damaged record's.
	for _, p := range points {
		n := db.Count(t, "sample", map[string]string{"point": p})
		if n >= rounds || n < rounds-bad.count {
			t.Errorf("point %s: %d samples in InfluxDB, want %d less those of the damaged record (%d samples)", p, n, rounds, bad.count)
		}
	}
	total := 0
	for _, p := range points {
		total += db.Count(t, "sample", map[string]string{"point": p})
	}
	if total != rounds*len(points)-bad.count {
		t.Errorf("%d samples in InfluxDB, want %d (all but the %d of the damaged record)", total, rounds*len(points)-bad.count, bad.count)
	}
}

// An outbox queue of the previous format that cannot be converted (here a
// segment that cannot be read: a directory where a file should be) does not
// stop the outbox: the queue is moved aside, its entries counted as lost,
// and a new queue works.
func TestOutboxLegacyUnconvertibleMovedAside(t *testing.T) {
	dir := t.TempDir()
	sdir := filepath.Join(dir, "samples")
	if err := os.MkdirAll(filepath.Join(sdir, segName(2)), 0o755); err != nil {
		t.Fatal(err)
	}
	in := samples(0, 100, 1)
	seg := legacySegment(encodeDict(nil, 0, in[0].Point, "D"), encodeBlock(nil, in, make([]uint32, len(in))))
	if err := os.WriteFile(filepath.Join(sdir, segName(1)), seg, 0o644); err != nil {
		t.Fatal(err)
	}
	o := open(t, dir, OutboxOptions{})
	defer o.Close()
	aside := o.Aside()
	if len(aside) != 1 || aside[0].Dir != sdir+".unconverted" || aside[0].Entries != 100 || aside[0].Err == nil {
		t.Fatalf("aside %+v, want the samples queue with its 100 entries", aside)
	}
	if _, err := os.Stat(filepath.Join(aside[0].Dir, segName(1))); err != nil {
		t.Fatalf("the old segment is not kept aside: %v", err)
	}
	if _, err := o.AppendSamples(samples(0, 10, 2), dev); err != nil {
		t.Fatal(err)
	}
	if got, _ := drain(t, o, Samples, true); len(got) != 10 {
		t.Fatalf("new queue: read %d samples, want 10", len(got))
	}
}
