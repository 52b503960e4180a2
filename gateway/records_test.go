package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"hazardgw/console"
	"hazardgw/internal/testenv"
	"hazardgw/store/wal"
)

// TestDamagedRecordIsAnAlarm: a flipped byte in the middle of the operator
// records log loses only that record; the gateway logs it at ERROR, counts
// it, raises _GW.JOURNAL (as for a damaged alarm journal) and reports
// itself degraded.
func TestDamagedRecordIsAnAlarm(t *testing.T) {
	dir := t.TempDir()
	listen := testenv.FreeAddr(t)
	cfg := simConfig(t, dir, listen, testenv.FreeAddr(t), 1, "")
	rdir := filepath.Join(dir, "var", "records")
	r, err := console.OpenRecords(rdir, console.RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		if err := r.Append(console.Record{Time: t0.Add(time.Duration(i) * time.Minute), By: "op", Role: "operator",
			Kind: "ack", Alarm: "NH3-101:hihi", Comment: fmt.Sprint("record ", i), Seq: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	segs, _ := filepath.Glob(filepath.Join(rdir, "*.rec"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	wal.Scan(b, 0, func(off int64, seq uint64, _ []byte) {
		if seq == 3 {
			b[off+wal.RecordHeader+7] ^= 0xff
		}
	})
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}

	base := "http://" + listen
	p := startHealthy(t, dir, cfg, listen)
	waitAlarm(t, p, base, "_GW.JOURNAL:on", "unack", 20*time.Second)
	var h struct {
		Status string `json:"status"`
	}
	getJSON(t, base+"/api/health", &h)
	if h.Status != "degraded" {
		t.Errorf("health status %q with a damaged records log, want degraded", h.Status)
	}
	if !p.logged("operator records damaged", 5*time.Second) {
		t.Errorf("no ERROR line for the damaged record:\n%s", p.output())
	}
	if text := metricsText(t, base); !regexp.MustCompile(`(?m)^hazardgw_records_damaged_records_total 1$`).MatchString(text) {
		t.Errorf("/metrics does not count the damaged record")
	}
	var recs []console.Record
	getJSON(t, base+"/api/records", &recs)
	if len(recs) != 4 {
		t.Errorf("%d records served, want the 4 undamaged", len(recs))
	}
	p.stop(t, syscall.SIGTERM)
}
