package console

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRecordsByteFlip: one flipped byte anywhere in a record loses only
// that record (the others, before and after it, are read; later appends
// go on), is logged at ERROR and counted in Damage.
func TestRecordsByteFlip(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	rec := func(i int) Record {
		return Record{Time: t0.Add(time.Duration(i) * time.Minute), By: "zhang", Role: "operator", Kind: "dispose",
			Alarm: "NH3-101:hihi", Action: fmt.Sprintf("action %d", i), Result: "ok"}
	}
	const n, victim = 5, 2
	base := t.TempDir()
	r, err := OpenRecords(base, RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64 // start of each record in the segment
	for i := range n {
		offs = append(offs, r.size)
		if err := r.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	end := r.size
	r.Close()
	segs, _ := filepath.Glob(filepath.Join(base, "*.rec"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	clean, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := offs[victim], offs[victim+1]
	if victim+1 == n {
		hi = end
	}
	for at := lo; at < hi; at++ {
		dir := t.TempDir()
		b := bytes.Clone(clean)
		b[at] ^= 0x20
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(segs[0])), b, 0o644); err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		r, err := OpenRecords(dir, RecordsOptions{NoSync: true, Log: slog.New(slog.NewTextHandler(&logged, nil))})
		if err != nil {
			t.Fatalf("byte %d flipped: open: %v", at, err)
		}
		if err := r.Append(rec(n)); err != nil {
			t.Fatalf("byte %d flipped: append: %v", at, err)
		}
		got := r.Between(time.Time{}, time.Time{})
		var actions []string
		for _, g := range got {
			actions = append(actions, g.Action)
		}
		want := []string{"action 0", "action 1", "action 3", "action 4", "action 5"}
		if strings.Join(actions, ",") != strings.Join(want, ",") {
			t.Fatalf("byte %d flipped: records %q, want %q (only the damaged one lost)", at, actions, want)
		}
		if d := r.Damage(); d.Records != 1 || d.Bytes == 0 || !strings.Contains(logged.String(), "level=ERROR") {
			t.Fatalf("byte %d flipped: damage %+v, log %q: not counted or not logged", at, d, logged.String())
		}
		r.Close()
		// Reopened: the same records (the append went after the damage).
		r2, err := OpenRecords(dir, RecordsOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if again := r2.Between(time.Time{}, time.Time{}); len(again) != len(want) {
			t.Fatalf("byte %d flipped: reopened %d records, want %d", at, len(again), len(want))
		}
		r2.Close()
	}
}

// TestRecordsLegacySegment: a segment written before the wal header (the
// same records without it) is read, and appended to.
func TestRecordsLegacySegment(t *testing.T) {
	dir, seg, b := threeRecords(t)
	if err := os.WriteFile(seg, b[16:], 0o644); err != nil { // drop the header: the old format
		t.Fatal(err)
	}
	r2, err := OpenRecords(dir, RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if err := r2.Append(Record{Time: time.Unix(9, 0), Kind: "ack", Alarm: "A:hi", Action: "3"}); err != nil {
		t.Fatal(err)
	}
	if got := r2.Between(time.Time{}, time.Time{}); len(got) != 4 || got[3].Action != "3" || r2.Damage() != (RecordsDamage{}) {
		t.Fatalf("legacy segment: %+v, damage %+v", got, r2.Damage())
	}
}

// TestRecordsDamagedHeader: a segment header whose version byte flipped
// still has its records read, and counts as damage (the gateway raises it).
func TestRecordsDamagedHeader(t *testing.T) {
	dir, seg, b := threeRecords(t)
	b[9] ^= 0x01 // the format version
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	r2, err := OpenRecords(dir, RecordsOptions{NoSync: true, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if got := r2.Between(time.Time{}, time.Time{}); len(got) != 3 || r2.Damage() != (RecordsDamage{Headers: 1}) ||
		!strings.Contains(logged.String(), "level=ERROR") {
		t.Fatalf("damaged header: %d records, damage %+v, log %s", len(got), r2.Damage(), logged.String())
	}
}

// threeRecords writes a records log of three records in a new directory
// and returns the directory, its one segment and the segment's bytes.
func threeRecords(t *testing.T) (dir, seg string, b []byte) {
	t.Helper()
	dir = t.TempDir()
	r, err := OpenRecords(dir, RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := r.Append(Record{Time: time.Unix(int64(i), 0), Kind: "ack", Alarm: "A:hi", Action: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.rec"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	b, err = os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	return dir, segs[0], b
}
