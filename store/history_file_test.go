package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"hazardgw/drivers"
)

var histShape = HistorySize{Raw: 8, Buckets: 6, Points: 4}

// savedHistory fills a history (1 h span, 10-minute buckets) with 100
// samples, one a minute, of points A and B, A with a peak of 1000 at minute
// 70 (folded into a bucket by then), saves it under dir and returns it.
func savedHistory(t *testing.T, dir string) (*History, string) {
	t.Helper()
	h := NewHistorySized(time.Hour, histShape)
	for i := range 100 {
		at := t0.Add(time.Duration(i) * time.Minute)
		a := drivers.Sample{Point: "A", Value: float64(i % 7), Time: at}
		if i == 70 {
			a.Value = 1000
		}
		h.Add([]drivers.Sample{a, {Point: "B", Value: -float64(i), Quality: drivers.Uncertain, Time: at}})
	}
	path := filepath.Join(dir, "history.bin")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	return h, path
}

func hasPeak(s []drivers.Sample) bool {
	for _, x := range s {
		if x.Value == 1000 {
			return true
		}
	}
	return false
}

func TestHistoryFileRoundTrip(t *testing.T) {
	h, path := savedHistory(t, t.TempDir())
	want := map[drivers.PointID][]drivers.Sample{"A": h.Since("A", time.Time{}), "B": h.Since("B", time.Time{})}
	if !hasPeak(want["A"]) || len(want["A"]) <= histShape.Raw {
		t.Fatalf("setup: A's trend %v has no peak in its buckets", want["A"])
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > histShape.Bytes() {
		t.Fatalf("file %d bytes, larger than the block (%d)", st.Size(), histShape.Bytes())
	}

	got := NewHistorySized(time.Hour, histShape)
	n, err := got.Load(path)
	if err != nil || n != 2 {
		t.Fatalf("Load = %d, %v; want 2 points", n, err)
	}
	for p, w := range want {
		if g := got.Since(p, time.Time{}); !reflect.DeepEqual(g, w) {
			t.Errorf("%s after load:\n got %v\nwant %v", p, g, w)
		}
	}
	// It goes on from there: the next sample of A is appended, a new
	// point gets the next slot.
	next := drivers.Sample{Point: "A", Value: 5, Time: t0.Add(100 * time.Minute)}
	got.Add([]drivers.Sample{next})
	if a := got.Since("A", time.Time{}); !a[len(a)-1].Time.Equal(next.Time) {
		t.Errorf("A after an add ends at %v, want %v", a[len(a)-1].Time, next.Time)
	}
	if s := got.Slot("C"); s != 2 {
		t.Errorf("new point's slot %d, want 2", s)
	}
	// A loaded history is not loaded into again.
	if _, err := got.Load(path); err == nil {
		t.Error("Load into a history in use succeeded")
	}
}

func TestHistoryFileIgnored(t *testing.T) {
	dir := t.TempDir()
	_, path := savedHistory(t, dir)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x10; return b }
	}
	hsize := binary.Size(histHeader{})
	tests := []struct {
		name  string
		edit  func([]byte) []byte // of the saved file; nil: none
		shape HistorySize
		span  time.Duration
		want  error
	}{
		{"byte flipped in the shape", flip(20), histShape, time.Hour, errHistoryDamaged},
		{"byte flipped in the header CRC", flip(hsize - 6), histShape, time.Hour, errHistoryDamaged},
		{"byte flipped in the CRC", flip(hsize - 2), histShape, time.Hour, errHistoryDamaged},
		{"byte flipped in the ids", flip(hsize + 1), histShape, time.Hour, errHistoryDamaged},
		{"byte flipped in the buckets", flip(len(good) - 30), histShape, time.Hour, errHistoryDamaged},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, histShape, time.Hour, errHistoryDamaged},
		{"not a history file", func(b []byte) []byte { return []byte("hello") }, histShape, time.Hour, errHistoryDamaged},
		{"raw samples changed", nil, HistorySize{Raw: 9, Buckets: 6, Points: 4}, time.Hour, errHistoryShape},
		{"buckets changed", nil, HistorySize{Raw: 8, Buckets: 5, Points: 4}, time.Hour, errHistoryShape},
		{"points changed", nil, HistorySize{Raw: 8, Buckets: 6, Points: 5}, time.Hour, errHistoryShape},
		{"span changed", nil, histShape, 2 * time.Hour, errHistoryShape},
		{"format version changed", func(b []byte) []byte { b[8]++; return b }, histShape, time.Hour, errHistoryShape},
		{"missing", func([]byte) []byte { return nil }, histShape, time.Hour, fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := path
			if tc.edit != nil {
				p = filepath.Join(t.TempDir(), "history.bin")
				if b := tc.edit(append([]byte(nil), good...)); b != nil {
					if err := os.WriteFile(p, b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			h := NewHistorySized(tc.span, tc.shape)
			n, err := h.Load(p)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("Load = %d, %v; want 0, %v", n, err, tc.want)
			}
			// Ignored means empty, and usable from slot 0.
			if s := h.Since("A", time.Time{}); s != nil {
				t.Errorf("A after an ignored load: %v", s)
			}
			if s := h.Slot("B"); s != 0 {
				t.Errorf("first slot after an ignored load %d, want 0", s)
			}
		})
	}
}

// TestHistorySurvivesRestart: a store without InfluxDB saves its history at
// the end of Run, and the next one with the same config starts from it.
func TestHistorySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := config(dir, "", "", 0, "P00", "P01")
	r := run(t, cfg, Options{})
	r.Samples(samples(0, 10, 2))
	waitFor(t, 5*time.Second, "history", func() bool { return len(r.History("P01", time.Time{})) == 5 })
	want := r.History("P01", time.Time{})
	r.stop(t)

	r2 := run(t, config(dir, "", "", 0, "P00", "P01"), Options{})
	waitFor(t, 5*time.Second, "history loaded", func() bool { return len(r2.History("P01", time.Time{})) == 5 })
	if got := r2.History("P01", time.Time{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart:\n got %v\nwant %v", got, want)
	}
	r2.stop(t)

	// Another shape (one point more): starts empty, and says why.
	var logs bytes.Buffer
	r3 := run(t, config(dir, "", "", 0, "P00", "P01", "P02"), Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	r3.Samples(samples(10, 1, 2))
	waitFor(t, 5*time.Second, "new sample", func() bool { return len(r3.History("P00", time.Time{})) == 1 })
	r3.stop(t) // Run returned: logs is no longer written
	if !strings.Contains(logs.String(), "level=INFO msg=\"trend history starts empty\"") {
		t.Errorf("no INFO line on the changed shape in:\n%s", logs.String())
	}
}
