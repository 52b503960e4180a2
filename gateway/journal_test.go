package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/store/wal"
)

// gateway journal prints the events after -after as JSON lines, and with
// -verify exits 1 on a journal with a flipped byte (which loses only the
// damaged record).
func TestJournalCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := simConfig(t, dir, "127.0.0.1:1", "127.0.0.1:2", 0, "")
	jdir := filepath.Join(dir, "var", "journal")
	j, err := alarms.OpenJournal(jdir, alarms.JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for seq := uint64(1); seq <= 40; seq++ {
		if err := j.Append([]alarms.Event{{Seq: seq, ID: "NH3-101:hihi", Point: "NH3-101", Cond: "hihi",
			Tier: 2, Priority: alarms.High, State: alarms.Unack, Active: true, Time: t0, Emitted: t0}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, []alarms.Event, string) {
		var out, errb bytes.Buffer
		code := journalCmd(append([]string{"-config", cfg}, args...), &out, &errb)
		var evs []alarms.Event
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if line == "" {
				continue
			}
			var ev alarms.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			evs = append(evs, ev)
		}
		return code, evs, errb.String()
	}
	if code, evs, stderr := run("-verify"); code != 0 || len(evs) != 40 {
		t.Fatalf("sound journal: exit %d, %d events, %s", code, len(evs), stderr)
	}
	if code, evs, _ := run("-after", "30"); code != 0 || len(evs) != 10 || evs[0].Seq != 31 {
		t.Fatalf("-after 30: exit %d, %v", code, evs)
	}
	// Flip one byte inside record 20.
	segs, _ := filepath.Glob(filepath.Join(jdir, "*.seg"))
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	wal.Scan(b, 0, func(off int64, seq uint64, _ []byte) {
		if seq == 20 {
			b[off+wal.RecordHeader+5] ^= 0xff
		}
	})
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, evs, stderr := run("-verify")
	if code != 1 || len(evs) != 39 || !strings.Contains(stderr, "1 record(s) lost") {
		t.Fatalf("damaged journal: exit %d, %d events, stderr %s", code, len(evs), stderr)
	}
	if code, _, _ := run(); code != 0 {
		t.Fatalf("damaged journal without -verify: exit %d", code)
	}
	// Read-only: the damaged file is left as it is.
	after, _ := os.ReadFile(segs[0])
	if !bytes.Equal(after, b) {
		t.Fatal("gateway journal changed the segment")
	}
}
