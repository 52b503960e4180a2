package alarms

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hazardgw/drivers"
	"hazardgw/store/wal"
)

// flipByte flips one byte of path at off.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// recordOffset is the file offset of the record of seq in the (single)
// segment of dir.
func recordOffset(t *testing.T, dir string, seq uint64) (string, int64) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		off := int64(-1)
		wal.Scan(b, 0, func(o int64, s uint64, _ []byte) {
			if s == seq {
				off = o
			}
		})
		if off >= 0 {
			return p, off
		}
	}
	t.Fatalf("seq %d not found", seq)
	return "", 0
}

// Finding 1 of issue 13: one flipped byte in the middle of a segment cut
// it there (20 of 40 events gone), the next events reused their seqs, and
// nothing said so. Now the damaged record loses only itself, the damage is
// reported, and seqs continue after the highest ever reserved.
func TestJournalFlippedByteMidSegment(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	appendSeqs(t, j, 1, 40, 1)
	// kill -9: no Close. One byte of record 20's payload flips.
	path, off := recordOffset(t, dir, 20)
	flipByte(t, path, off+recHeader+10)

	j2, err := OpenJournal(dir, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	evs, err := j2.Events(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 39 {
		t.Fatalf("%d events after one flipped byte, want 39", len(evs))
	}
	for _, ev := range evs {
		if ev.Seq == 20 {
			t.Fatal("the damaged record was returned")
		}
	}
	if evs[len(evs)-1].Seq != 40 || j2.Last() != 40 {
		t.Fatalf("last seq %d (events end at %d), want 40", j2.Last(), evs[len(evs)-1].Seq)
	}
	d := j2.Damage()
	if d.Records != 1 || !d.Any() {
		t.Fatalf("damage %+v, want 1 record", d)
	}
	if j2.Floor() < 40 {
		t.Fatalf("floor %d: seqs up to 40 were shown", j2.Floor())
	}
	// Events across the hole in pages: nothing after it is skipped.
	evs, err = j2.Events(18, 2)
	if err != nil || len(evs) == 0 || evs[0].Seq != 19 {
		t.Fatalf("page after 18: %v %v", evs, err)
	}
	evs, err = j2.Events(19, 2)
	if err != nil || len(evs) != 2 || evs[0].Seq != 21 || evs[1].Seq != 22 {
		t.Fatalf("page after 19: %v %v", evs, err)
	}
	// The engine reports it (the _GW.JOURNAL alarm) and continues the seq.
	cfg := parseScenarioConfig(t, engineConfig)
	e, err := New(cfg, j2, Options{Now: func() time.Time { return scenarioStart }})
	if err != nil {
		t.Fatal(err)
	}
	if h := e.Health(); h.JournalDamage == "" || e.Seq() < 40 {
		t.Fatalf("health %+v, seq %d", h, e.Seq())
	}
	appendSeqs(t, j2, e.Seq()+1, e.Seq()+2, 2)
	// The file still has its damage: a third open finds it again, and
	// the new records after it.
	j2.Close()
	j3, err := OpenJournal(dir, JournalOptions{NoSync: true, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j3.Close()
	if j3.Damage().Records != 1 || j3.Last() != e.Seq()+2 {
		t.Fatalf("reopened: damage %+v last %d", j3.Damage(), j3.Last())
	}
}

// A flipped byte in a record's header (its length) is damage too: the
// reader resyncs on the next record.
func TestJournalFlippedHeader(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	appendSeqs(t, j, 1, 10, 3)
	path, off := recordOffset(t, dir, 4)
	flipByte(t, path, off+1) // length
	j2, err := OpenJournal(dir, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	evs, _ := j2.Events(0, 100)
	if len(evs) != 9 || j2.Last() != 10 || j2.Damage().Records != 1 {
		t.Fatalf("%d events, last %d, damage %+v", len(evs), j2.Last(), j2.Damage())
	}
}

// kill -9: seqs reserved by the mark are never given again, even those
// whose records never reached the disk; a clean Close leaves no gap.
func TestJournalSeqAfterCrash(t *testing.T) {
	dir := t.TempDir()
	opts := JournalOptions{NoSync: true, SeqBlock: 100}
	j, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendSeqs(t, j, 1, 10, 5)
	// Records 6..10 are lost (say the page cache was), as if not written.
	path, off := recordOffset(t, dir, 6)
	if err := os.Truncate(path, off); err != nil {
		t.Fatal(err)
	}
	j2, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if j2.Last() != 5 || j2.Floor() < 10 {
		t.Fatalf("after kill -9: last %d floor %d; 10 may have been shown", j2.Last(), j2.Floor())
	}
	next := j2.Floor() + 1
	appendSeqs(t, j2, next, next+2, 3)
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	j3, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer j3.Close()
	if j3.Floor() != next+2 {
		t.Fatalf("after a clean close floor %d, want %d (no gap)", j3.Floor(), next+2)
	}
	evs, _ := j3.Events(0, 100)
	if len(evs) != 8 || evs[5].Seq != next {
		t.Fatalf("events %d, [5] = %v", len(evs), evs)
	}
	j.closeAll() // killed: files closed, the mark left as it was
}

// A damaged seq mark: the seq continues two blocks past the journal, and
// the damage is reported.
func TestJournalDamagedMark(t *testing.T) {
	dir := t.TempDir()
	opts := JournalOptions{NoSync: true, SeqBlock: 10}
	j, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendSeqs(t, j, 1, 5, 5)
	for off := int64(0); off < 64; off += 7 {
		flipByte(t, filepath.Join(dir, markFile), off)
	}
	j2, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if !j2.Damage().Mark || j2.Floor() < 5+10 {
		t.Fatalf("damage %+v floor %d", j2.Damage(), j2.Floor())
	}
	j.closeAll() // killed: files closed, the mark left as it was
}

// Finding 8: a damaged snapshot.json refused the start. Now the state is
// replayed from the segments and the damage is reported.
func TestJournalDamagedSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := parseScenarioConfig(t, engineConfig)
	opts := JournalOptions{NoSync: true, SegmentBytes: 1, SeqBlock: 1}
	j, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, j, Options{Now: func() time.Time { return scenarioStart }})
	if err != nil {
		t.Fatal(err)
	}
	e.step([]item{{samples: []drivers.Sample{sample("NH3-101", 70, scenarioStart)}}}, nil)
	e.step([]item{{cmd: &request{c: Command{Op: OpShelve, Alarm: "NH3-101:hihi", For: time.Minute, Comment: "t"}, reply: make(chan reply, 1)}}}, nil)
	e.step([]item{{cmd: &request{c: Command{Op: OpUnshelve, Alarm: "NH3-101:hihi", Comment: "t"}, reply: make(chan reply, 1)}}}, nil)
	if j.snapSeq == 0 {
		t.Fatal("no snapshot written: the test proves nothing")
	}
	flipByte(t, filepath.Join(dir, snapshotFile), 3)
	j2, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	e2, err := New(cfg, j2, Options{Now: func() time.Time { return scenarioStart.Add(2 * time.Second) }})
	if err != nil {
		t.Fatalf("a damaged snapshot stops the start: %v", err)
	}
	if !j2.Damage().Snapshot || e2.Health().JournalDamage == "" {
		t.Fatalf("damage %#v", j2.Damage())
	}
	found := false
	for _, ev := range e2.Alarms() {
		found = found || (ev.ID == "NH3-101:hihi" && ev.State == Unack)
	}
	if !found {
		t.Fatalf("NH3-101:hihi not restored from the segments: %v", e2.Alarms())
	}
	j.closeAll() // killed: files closed, the mark left as it was
}

// An unreadable segment file is skipped (reported), not a refusal to start.
func TestJournalUnreadableSegment(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	appendSeqs(t, j, 1, 3, 3)
	j.Close()
	// A directory where a segment file should be: it cannot be read.
	if err := os.Mkdir(filepath.Join(dir, segmentName(100)), 0o755); err != nil {
		t.Fatal(err)
	}
	j2, err := OpenJournal(dir, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatalf("an unreadable segment stops the journal: %v", err)
	}
	defer j2.Close()
	if len(j2.Damage().Files) != 1 || j2.Last() != 3 {
		t.Fatalf("damage %+v last %d", j2.Damage(), j2.Last())
	}
}

// Finding 7 on a real full disk (tmpfs with size=): events whose records
// the disk refused were shown all the same; after a kill -9 and a restart
// with the disk still full, their seqs are not given again.
func TestJournalSeqFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to mount a small tmpfs (scripts/test runs as root, as CI does)")
	}
	dir := filepath.Join(t.TempDir(), "full")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	opts := JournalOptions{SeqBlock: 16}
	j, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	shown := uint64(0)
	var full error
	for seq := uint64(1); seq < 100000; seq++ {
		err := j.Append([]Event{testEvent(seq)})
		shown = seq // the engine shows events whether or not they were journaled
		if err != nil {
			full = err
			if seq > j.Last()+40 {
				break // well past the last record: the disk has been full a while
			}
		}
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("the disk never filled: %v", full)
	}
	// kill -9 (no Close), restart with the disk still full.
	j2, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatalf("restart on a full disk: %v", err)
	}
	defer j2.Close()
	if j2.Floor() < shown {
		t.Fatalf("seq after restart on a full disk continues after %d, but %d was shown", j2.Floor(), shown)
	}
	// Still full: the next reservation is still written (in place).
	err = j2.Append([]Event{testEvent(j2.Floor() + 1)})
	if err != nil && strings.Contains(err.Error(), "reserve") {
		t.Fatalf("seq mark not writable on a full disk: %v", err)
	}
	j.closeAll() // killed: files closed, the mark left as it was
}

// Retention: segments past Keep go once every output consumed them;
// MaxBytes removes younger ones too, and says so (Damage.Evicted).
func TestJournalRetentionKeep(t *testing.T) {
	dir := t.TempDir()
	opts := JournalOptions{SegmentBytes: 2 << 10, MaxBytes: 1 << 30, Keep: time.Hour, NoSync: true}
	j, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	consumed := uint64(0)
	j.SetConsumed(func() uint64 { return consumed })
	appendSeqs(t, j, 1, 40, 4) // testEvent: one second apart
	if err := j.WriteSnapshot(40, nil); err != nil {
		t.Fatal(err)
	}
	// Two hours later: everything before is past Keep, but not consumed.
	late := testEvent(41)
	late.Time = late.Time.Add(2 * time.Hour)
	if err := j.Append([]Event{late}); err != nil {
		t.Fatal(err)
	}
	if j.First() != 1 {
		t.Fatalf("first %d: removed events no output had taken", j.First())
	}
	consumed = 41
	if err := j.WriteSnapshot(41, nil); err != nil {
		t.Fatal(err)
	}
	if j.First() == 1 || j.Damage().Any() {
		t.Fatalf("first %d, damage %+v: consumed events past Keep not removed, or reported", j.First(), j.Damage())
	}

	// A small MaxBytes forces young, unconsumed events out: reported.
	dir2 := t.TempDir()
	opts2 := JournalOptions{SegmentBytes: 2 << 10, MaxBytes: 6 << 10, Keep: 400 * 24 * time.Hour, NoSync: true}
	j2, err := OpenJournal(dir2, opts2)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	appendSeqs(t, j2, 1, 100, 4)
	if err := j2.WriteSnapshot(100, nil); err != nil {
		t.Fatal(err)
	}
	appendSeqs(t, j2, 101, 102, 2)
	if j2.First() == 1 || j2.Damage().Evicted == 0 {
		t.Fatalf("first %d, damage %+v: MaxBytes did not evict, or silently", j2.First(), j2.Damage())
	}
}
