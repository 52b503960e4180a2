package store

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"hazardgw/drivers"
	"hazardgw/store/wal"
	"hazardgw/store/wal/waltest"
)

// FuzzRecord feeds arbitrary bytes (a damaged outbox) to the record
// decoders: they may refuse, never panic or allocate without bound.
func FuzzRecord(f *testing.F) {
	pl := encodeBlock(nil, []drivers.Sample{{Point: "A", Value: 1, Time: time.Unix(1, 0)}}, []uint32{0})
	f.Add(frame(nil, pl))
	f.Add(frame(nil, encodeDict(nil, 0, "A", "D")))
	f.Add(frame(nil, []byte(`E{"seq":1}`)))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 'S'})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := unframe(b)
		if err != nil {
			// Decode the raw bytes too, as if the CRC had matched.
			if len(b) == 0 {
				return
			}
			p = b
		}
		entries(p)
		switch p[0] {
		case recDict:
			decodeDict(p)
		case recSample:
			decodeBlock(nil, p, 0, maxBlock, dictOf("A", "D"))
		}
	})
}

// FuzzOutboxOpen: whatever a crash or a broken disk leaves in a segment of
// either queue (the wal format or the previous one), opening the outbox
// does not fail or panic; the reader hands out at most what Stats counted,
// in order, and after a drain nothing is left waiting (damaged or
// undecodable entries leave with their batch instead of staying unread);
// an entry appended after open reads back as written.
func FuzzOutboxOpen(f *testing.F) {
	seed := f.TempDir()
	o, err := OpenOutbox(seed, OutboxOptions{})
	if err != nil {
		f.Fatal(err)
	}
	o.AppendSamples(samples(0, 30, 3), dev)
	o.AppendSamples(samples(30, 30, 4), dev)
	o.AppendEvent(event(1))
	o.AppendEvent(event(2))
	o.Close()
	for _, k := range []Kind{Samples, Events} {
		path, recs := records(f, filepath.Join(seed, k.String()))
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, k == Events)
		f.Add(b[:len(b)-5], k == Events)
		mid := slices.Clone(b)
		mid[recs[len(recs)/2].off+wal.RecordHeader+2] ^= 0x20
		f.Add(mid, k == Events)
	}
	pl := encodeBlock(nil, samples(0, 3, 3), []uint32{0, 1, 2})
	f.Add(frame(frame(nil, encodeDict(nil, 0, "P00", "D")), pl), false) // the previous format
	f.Add([]byte{}, true)
	dir := waltest.FastDir(f)
	f.Fuzz(func(t *testing.T, data []byte, events bool) {
		defer waltest.Clear(t, dir) // after: what an exec leaves must not steer the next one's coverage
		k := Samples
		if events {
			k = Events
		}
		qdir := filepath.Join(dir, k.String())
		if err := os.MkdirAll(qdir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(qdir, segName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		o, err := OpenOutbox(dir, OutboxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		st := o.Stats()
		waiting := st.Samples
		if events {
			waiting = st.Events
		}
		es, evs := drain(t, o, k, true)
		if n := int64(len(es) + len(evs)); n > waiting {
			t.Fatalf("read %d entries, Stats counted %d", n, waiting)
		}
		if st := o.Stats(); st.Samples != 0 || st.Events != 0 || o.Unread(k) != 0 {
			t.Fatalf("after a drain: %+v, unread %d", st, o.Unread(k))
		}
		if events {
			if err := o.AppendEvent(event(77)); err != nil {
				t.Fatal(err)
			}
			if _, got := drain(t, o, k, true); len(got) != 1 || got[0].Seq != 77 {
				t.Fatalf("appended event 77, read %+v", got)
			}
			return
		}
		in := samples(500, 7, 3)
		if _, err := o.AppendSamples(in, dev); err != nil {
			t.Fatal(err)
		}
		got, _ := drain(t, o, k, true)
		if len(got) != len(in) {
			t.Fatalf("appended %d samples, read %d", len(in), len(got))
		}
		for i, e := range got {
			if e.Point != in[i].Point || e.Value != in[i].Value || !e.Time.Equal(in[i].Time) {
				t.Fatalf("sample %d = %+v, want %+v", i, e, in[i])
			}
		}
	})
}
