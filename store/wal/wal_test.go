package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func segment(first, n uint64) ([]byte, []int64) {
	b := AppendHeader(nil)
	var offs []int64
	for s := first; s < first+n; s++ {
		offs = append(offs, int64(len(b)))
		b = AppendRecord(b, s, fmt.Appendf(nil, `{"seq":%d,"text":"record number %d"}`, s, s))
	}
	return b, offs
}

func seqs(b []byte, min uint64) ([]uint64, Scanned) {
	var got []uint64
	sc := Scan(b, min, func(_ int64, s uint64, _ []byte) { got = append(got, s) })
	return got, sc
}

// A flipped byte anywhere in a record loses that record only: every
// position of a middle record is tried.
func TestScanFlipLosesOnlyThatRecord(t *testing.T) {
	b, offs := segment(100, 9)
	mid, end := offs[4], offs[5]
	for p := mid; p < end; p++ {
		c := slices.Clone(b)
		c[p] ^= 0x41
		got, sc := seqs(c, 100)
		want := []uint64{100, 101, 102, 103, 105, 106, 107, 108}
		if !slices.Equal(got, want) {
			t.Fatalf("byte %d flipped: seqs %v, want %v", p-mid, got, want)
		}
		if len(sc.Damaged) != 1 || sc.Damaged[0].Off != mid || sc.End != int64(len(c)) {
			t.Fatalf("byte %d flipped: %+v", p-mid, sc)
		}
	}
}

// A torn last record is a tail to cut, not damage; a file without a header
// is version 0.
func TestScanTornAndLegacy(t *testing.T) {
	b, offs := segment(1, 3)
	got, sc := seqs(b[:len(b)-5], 1)
	if !slices.Equal(got, []uint64{1, 2}) || len(sc.Damaged) != 0 || sc.End != offs[2] || !sc.Torn(int64(len(b)-5)) {
		t.Fatalf("torn: %v %+v", got, sc)
	}
	legacy := b[HeaderSize:]
	got, sc = seqs(legacy, 1)
	if !slices.Equal(got, []uint64{1, 2, 3}) || sc.Version != 0 || sc.Start != 0 {
		t.Fatalf("legacy: %v %+v", got, sc)
	}
	c := slices.Clone(b)
	c[9] ^= 1 // version
	if _, sc := seqs(c, 1); !sc.BadHeader || sc.Version != Version {
		t.Fatalf("bad header: %+v", sc)
	}
}

// The mark survives a damaged slot (the other holds the previous value)
// and reports a file where both are damaged.
func TestMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq.mark")
	m, err := OpenMark(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Value(); ok {
		t.Fatal("a new mark has a value")
	}
	for _, v := range []uint64{10, 2000, 1500} {
		if err := m.Store(v, true); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	if v, ok, err := ReadMark(path); err != nil || !ok || v != 1500 {
		t.Fatalf("read %d %v %v, want 1500", v, ok, err)
	}
	b, _ := os.ReadFile(path)
	st, _ := os.Stat(path)
	if st.Size() != markSize {
		t.Fatalf("mark file %d bytes, want %d (fixed size: written in place)", st.Size(), markSize)
	}
	// Damage the newest slot (generation 3: slot 1): the previous value.
	b[markSlot+3] ^= 0xff
	os.WriteFile(path, b, 0o644)
	if v, ok, _ := ReadMark(path); !ok || v != 2000 {
		t.Fatalf("after a damaged slot: %d %v, want 2000", v, ok)
	}
	b[3] ^= 0xff
	os.WriteFile(path, b, 0o644)
	m2, err := OpenMark(path)
	if err == nil {
		t.Fatal("both slots damaged, no error")
	}
	if err := m2.Store(7, true); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	if v, ok, err := ReadMark(path); err != nil || !ok || v != 7 {
		t.Fatalf("after store on a damaged mark: %d %v %v", v, ok, err)
	}
}

// FuzzScan: whatever the bytes, Scan does not panic; what it hands out
// checks, is in order and inside the file; damage and records do not
// overlap.
func FuzzScan(f *testing.F) {
	b, _ := segment(1, 5)
	f.Add(b, uint64(1))
	f.Add(b[HeaderSize:], uint64(0))
	f.Add(b[:len(b)-3], uint64(2))
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, min uint64) {
		last := int64(-1)
		var prev uint64
		n := 0
		sc := Scan(data, min, func(off int64, seq uint64, p []byte) {
			if off <= last || (n > 0 && seq <= prev) || seq < min {
				t.Fatalf("record at %d seq %d after %d/%d", off, seq, last, prev)
			}
			if s, q, ok := Record(data[off:]); !ok || s != seq || len(q) != len(p) {
				t.Fatalf("record at %d does not check again", off)
			}
			last, prev = off, seq
			n++
		})
		if sc.End > int64(len(data)) || sc.End < sc.Start && len(data) >= HeaderSize {
			t.Fatalf("end %d of %d", sc.End, len(data))
		}
		for _, d := range sc.Damaged {
			if d.Len <= 0 || d.Off+d.Len > sc.End {
				t.Fatalf("damage %+v beyond end %d", d, sc.End)
			}
		}
	})
}
