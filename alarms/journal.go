package alarms

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"hazardgw/store/wal"
)

// Journal is the durable, append-only record of every alarm event.
//
// Layout of its directory:
//
//	00000000000000000001.seg   segment files, named by their first seq
//	00000000000000004711.seg
//	snapshot.json              {"seq": N, "alarms": [events]}: every alarm
//	                           not normal as of seq N (written at rotation),
//	                           one record of a wal segment (CRC-checked)
//	seq.mark                   the seq high-water mark (wal.Mark)
//
// A segment is a store/wal segment: a header (magic, format version; files
// written before it have none and are read as version 0) and records
//
//	len uint32 LE | crc uint32 LE (CRC-32C of seq and payload) | seq uint64 LE | payload (len bytes, JSON event)
//
// Seqs inside one segment are consecutive, so a record is found by seq
// through the segment's offset table. A record whose header or CRC does not
// check is damage when a valid record follows it: it is skipped (only the
// records in it are lost, their offsets are holes in the table), logged,
// counted and reported by Damage; with nothing valid after it, it is a torn
// write at a power cut and the file is cut there when it is opened. A
// segment whose name disagrees with its first (checked) record is named
// after the record: the rename of an empty segment did not reach the disk.
// Directory entries (new segment, rename, snapshot, a newly made journal
// directory) are fsynced in their parent.
//
// Seq is never reused: before Append writes a record whose seq is above the
// mark, the mark is moved SeqBlock seqs ahead and fsynced (in place, so a
// full disk does not stop it). After a crash the next seq follows the mark
// (Floor), whatever the segments lost; Close lowers the mark to the last
// seq handed to Append, so a clean restart leaves no gap.
//
// Append writes a batch with one write and one fsync (group commit).
// Events may be called from any goroutine; Append, WriteSnapshot and Close
// from one goroutine (the engine's).
type Journal struct {
	dir  string
	opts JournalOptions

	mu      sync.RWMutex
	segs    []*segment // oldest first; the last one is written
	total   int64      // bytes in all segments
	snapSeq uint64     // seq of the last snapshot written or read

	buf []byte

	consumed func() uint64 // seq every output has consumed (nil: all)
	newest   time.Time     // time of the newest event appended

	mark     *wal.Mark // nil when read-only
	floor    uint64    // no seq at or below it may be given to a new event
	reserved uint64    // mark value: seqs up to it may be handed out
	assigned uint64    // highest seq handed to Append
	damage   Damage

	// Sync latency observer (engine metrics); nil: none.
	observe func(time.Duration)
}

type segment struct {
	first  uint64
	path   string // current name (os.File.Name keeps the name it was opened with)
	f      *os.File
	offs   []uint32 // offset of record first+i; noRecord: lost to damage
	size   int64
	newest time.Time // time of its last event (zero: unknown)
}

// noRecord marks a seq of a segment whose record was lost to damage.
const noRecord = ^uint32(0)

// Damage is what the journal found damaged since it was opened. The zero
// value means none.
type Damage struct {
	Records  uint64   // seqs whose records were lost inside segments
	Bytes    int64    // damaged bytes skipped
	Snapshot bool     // snapshot.json unreadable: state replayed from the segments
	Mark     bool     // seq.mark unreadable: seq continues well past the journal's last
	Files    []string // segment files that could not be read at all (skipped)
	// Evicted counts events deleted by MaxBytes before Keep was over or
	// before an output had consumed them (not damage, but a loss too).
	Evicted uint64
	Notes   []string // one line per damage, for the log
}

// Any reports whether anything was damaged.
func (d Damage) Any() bool { return len(d.Notes) > 0 }

// String is a one-line summary.
func (d Damage) String() string {
	if !d.Any() {
		return ""
	}
	return fmt.Sprintf("journal damaged: %d record(s) lost, %d byte(s) skipped, snapshot damaged %v, seq mark damaged %v, %d unreadable file(s), %d event(s) evicted early by journal_max_bytes",
		d.Records, d.Bytes, d.Snapshot, d.Mark, len(d.Files), d.Evicted)
}

func (s *segment) last() uint64 { return s.first + uint64(len(s.offs)) - 1 }

// JournalOptions bound the journal. The zero value is usable.
type JournalOptions struct {
	// MaxBytes bounds all segments together (store.journal_max_bytes);
	// the oldest segments are removed beyond it (never the one being
	// written, never one newer than the last snapshot), even when Keep is
	// not over or an output has not consumed them: that is reported
	// (Damage.Evicted, an ERROR line, _GW.JOURNAL). Default 512 MiB.
	MaxBytes int64
	// Keep is how long events are kept at least (store.journal_keep): a
	// segment whose newest event is older than Keep (measured against the
	// newest event appended, not a clock), that the last snapshot covers
	// and that every output has consumed (SetConsumed) is removed. 0:
	// removed only by MaxBytes.
	Keep time.Duration
	// SegmentBytes is the size at which a new segment is started.
	// Default 16 MiB.
	SegmentBytes int64
	// NoSync skips fsync (benchmarks of the evaluation only; never in
	// production).
	NoSync bool
	// SeqBlock is how many seqs one move of the seq mark reserves
	// (default 1024): at most this many seqs are skipped after a crash.
	// 1 writes the mark at every Append (tests that want the exact seq
	// after a kill -9).
	SeqBlock uint64
	// ReadOnly opens without changing anything (gateway journal): no cut,
	// no rename, no mark, no new segment; Append fails.
	ReadOnly bool
	// Log receives an ERROR line for each damage found (nil: none).
	Log *slog.Logger
}

const (
	recHeader     = wal.RecordHeader
	snapshotFile  = "snapshot.json"
	markFile      = "seq.mark"
	segmentSuffix = ".seg"
)

// OpenJournal opens (creating it if needed) the journal in dir, checks
// every record, cuts a torn tail and skips damage (Damage reports it). It
// fails only when dir cannot be made or the seq mark cannot be created: a
// damaged or unreadable segment, snapshot or mark is skipped and reported,
// so the gateway still starts.
func OpenJournal(dir string, opts JournalOptions) (*Journal, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 512 << 20
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 16 << 20
	}
	if opts.SeqBlock == 0 {
		opts.SeqBlock = 1024
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.ReadOnly {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("alarm journal: %w", err)
		}
	} else if err := makeDirDurable(dir); err != nil {
		return nil, err
	}
	j := &Journal{dir: dir, opts: opts}
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		return nil, fmt.Errorf("alarm journal: %w", err)
	}
	type named struct {
		first uint64
		path  string
	}
	var files []named
	for _, n := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), segmentSuffix), 10, 64)
		if err != nil {
			continue
		}
		files = append(files, named{first, n})
	}
	sort.Slice(files, func(a, b int) bool { return files[a].first < files[b].first })
	for _, nf := range files {
		s, err := j.openSegment(nf.path, nf.first)
		if err != nil {
			j.damaged(func(d *Damage) { d.Files = append(d.Files, nf.path) }, "segment unreadable, skipped", "file", nf.path, "err", err)
			continue
		}
		if len(s.offs) == 0 && len(j.segs) > 0 {
			// An empty segment in the middle holds nothing; an empty
			// last one is reused below.
			s.f.Close()
			if !opts.ReadOnly {
				os.Remove(nf.path)
			}
			continue
		}
		if n := len(j.segs); n > 0 && len(s.offs) > 0 && s.first <= j.segs[n-1].last() {
			s.f.Close()
			j.damaged(func(d *Damage) { d.Files = append(d.Files, nf.path) }, "segment overlaps its predecessor, skipped", "file", nf.path)
			continue
		}
		j.segs = append(j.segs, s)
		j.total += s.size
		if s.newest.After(j.newest) {
			j.newest = s.newest
		}
	}
	if seq, _, err := readSnapshot(dir); err != nil {
		j.damaged(func(d *Damage) { d.Snapshot = true }, "snapshot unreadable: state replayed from the segments", "file", filepath.Join(dir, snapshotFile), "err", err)
	} else {
		j.snapSeq = seq
	}
	if err := j.openMark(); err != nil {
		j.closeAll()
		return nil, err
	}
	if len(j.segs) == 0 && !opts.ReadOnly {
		if err := j.newSegment(j.snapSeq + 1); err != nil {
			j.closeAll()
			return nil, err
		}
	}
	return j, nil
}

// openMark reads the seq mark and sets floor: the highest seq that may
// have been shown to anyone.
func (j *Journal) openMark() error {
	path := filepath.Join(j.dir, markFile)
	last := j.lastLocked()
	var (
		v   uint64
		ok  bool
		err error
	)
	if j.opts.ReadOnly {
		v, ok, err = wal.ReadMark(path)
	} else {
		_, statErr := os.Stat(path)
		j.mark, err = wal.OpenMark(path)
		if j.mark == nil {
			return fmt.Errorf("alarm journal: %w", err)
		}
		if errors.Is(statErr, os.ErrNotExist) {
			if err := syncDir(j.dir); err != nil && !j.opts.NoSync {
				return err
			}
		}
		v, ok = j.mark.Value()
	}
	j.floor = last
	switch {
	case err != nil:
		// Every shown seq was at most one block past a journaled one
		// when the mark was last written; two blocks past the last
		// record left is safe unless the journal lost whole blocks too.
		j.floor = last + 2*j.opts.SeqBlock
		j.damaged(func(d *Damage) { d.Mark = true }, "seq mark unreadable: seq continues two blocks past the journal", "err", err, "next", j.floor+1)
	case ok:
		j.floor = max(last, v)
	}
	j.reserved = j.floor
	return nil
}

// damaged records one damage: updates the report, logs an ERROR.
func (j *Journal) damaged(update func(*Damage), msg string, args ...any) {
	j.mu.Lock()
	update(&j.damage)
	j.damage.Notes = append(j.damage.Notes, fmt.Sprint(append([]any{msg}, args...)...))
	j.mu.Unlock()
	j.opts.Log.Error("alarm journal: "+msg, args...)
}

// Damage reports what was found damaged since the journal was opened.
func (j *Journal) Damage() Damage {
	j.mu.RLock()
	defer j.mu.RUnlock()
	d := j.damage
	d.Files = slices.Clone(d.Files)
	d.Notes = slices.Clone(d.Notes)
	return d
}

// Floor is the highest seq that may have been shown to anyone: the next
// event takes Floor()+1 or later, never less (after a crash it follows the
// seq mark, not the last record left).
func (j *Journal) Floor() uint64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return max(j.floor, j.lastLocked())
}

// openSegment reads a segment, builds its offset table (holes for damaged
// records), and cuts anything after the last whole record.
func (j *Journal) openSegment(path string, first uint64) (*segment, error) {
	flag := os.O_RDWR | os.O_APPEND
	if j.opts.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("alarm journal: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("alarm journal: %w", err)
	}
	s := &segment{first: first, path: path, f: f}
	sc := wal.Scan(b, first, func(off int64, seq uint64, _ []byte) {
		if len(s.offs) == 0 {
			// A later seq than the name: a rename of an empty segment
			// (Append, always to a later seq) that did not reach the
			// disk. The checked record is the truth.
			s.first = seq
		}
		for s.first+uint64(len(s.offs)) < seq {
			s.offs = append(s.offs, noRecord)
		}
		s.offs = append(s.offs, uint32(off))
	})
	if sc.BadHeader {
		j.damaged(func(d *Damage) {}, "segment header damaged (records read all the same)", "file", path)
	}
	for _, sp := range sc.Damaged {
		j.damaged(func(d *Damage) { d.Bytes += sp.Len }, "damaged record(s) skipped", "file", path, "offset", sp.Off, "bytes", sp.Len)
	}
	if len(sc.Damaged) > 0 {
		lost := uint64(0)
		for _, o := range s.offs {
			if o == noRecord {
				lost++
			}
		}
		if lost == 0 {
			lost = uint64(len(sc.Damaged)) // records of seqs not known (before the first good one)
		}
		j.mu.Lock()
		j.damage.Records += lost
		j.mu.Unlock()
	}
	if sc.Torn(int64(len(b))) && !j.opts.ReadOnly {
		// Torn tail: cut it, durably.
		if err := f.Truncate(sc.End); err != nil {
			f.Close()
			return nil, fmt.Errorf("alarm journal: cut torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("alarm journal: %w", err)
		}
	}
	s.size = sc.End
	if n := len(s.offs); n > 0 {
		if _, p, ok := wal.Record(b[s.offs[n-1]:]); ok {
			var ev struct {
				Time time.Time `json:"time"`
			}
			if json.Unmarshal(p, &ev) == nil {
				s.newest = ev.Time
			}
		}
	}
	if sc.End == 0 && !j.opts.ReadOnly {
		// An empty file (or a header torn at creation): give it its
		// header again so it reads as the current version.
		if _, err := f.Write(wal.AppendHeader(nil)); err != nil {
			f.Close()
			return nil, fmt.Errorf("alarm journal: %w", err)
		}
		s.size = wal.HeaderSize
	}
	if s.first != first && !j.opts.ReadOnly {
		np := filepath.Join(filepath.Dir(path), segmentName(s.first))
		if err := os.Rename(path, np); err != nil {
			f.Close()
			return nil, fmt.Errorf("alarm journal: rename misnamed segment %s: %w", path, err)
		}
		s.path = np
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, err
		}
	}
	return s, nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

// makeDirDurable creates dir and any missing parent, and fsyncs the parent
// of each directory it created: without that a power cut can lose the new
// directory entry, and the segments in it with it.
func makeDirDurable(dir string) error {
	dir = filepath.Clean(dir)
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("alarm journal: %w", err)
	}
	for _, d := range created { // deepest first
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func (j *Journal) newSegment(first uint64) error {
	path := filepath.Join(j.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("alarm journal: %w", err)
	}
	hdr := wal.AppendHeader(nil)
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("alarm journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil && !j.opts.NoSync {
		f.Close()
		return err
	}
	j.mu.Lock()
	j.total += int64(len(hdr))
	j.segs = append(j.segs, &segment{first: first, path: path, f: f, size: int64(len(hdr))})
	j.mu.Unlock()
	return nil
}

// syncDir fsyncs a directory (a variable so tests can see the calls).
var syncDir = func(dir string) error {
	if err := wal.SyncDir(dir); err != nil {
		return fmt.Errorf("alarm journal: %w", err)
	}
	return nil
}

// Last is the seq of the newest record (or of the snapshot when newer).
func (j *Journal) Last() uint64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.lastLocked()
}

func (j *Journal) lastLocked() uint64 {
	for i := len(j.segs) - 1; i >= 0; i-- {
		if len(j.segs[i].offs) > 0 {
			return max(j.segs[i].last(), j.snapSeq)
		}
	}
	return j.snapSeq
}

// First is the seq of the oldest record held (Last()+1 when empty). A
// client that resumes from before First must take a fresh snapshot.
func (j *Journal) First() uint64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	for _, s := range j.segs {
		if len(s.offs) > 0 {
			return s.first
		}
	}
	return j.lastLocked() + 1
}

// Append writes evs (consecutive seqs following Last) with one write and
// one fsync. On return without error they survive a power cut. A segment
// past SegmentBytes is closed first and a new one started.
func (j *Journal) Append(evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	if j.opts.ReadOnly {
		return errors.New("alarm journal: opened read-only")
	}
	// Reserve the seqs before anything shows them: the mark is durable
	// before the records, so no crash, damage or full disk can make a
	// later run hand out these seqs again.
	var reserveErr error
	if top := evs[len(evs)-1].Seq; top > j.reserved {
		next := top + j.opts.SeqBlock - 1
		if err := j.mark.Store(next, !j.opts.NoSync); err != nil {
			reserveErr = fmt.Errorf("alarm journal: reserve seqs: %w", err)
		} else {
			j.reserved = next
		}
	}
	j.assigned = max(j.assigned, evs[len(evs)-1].Seq)
	if err := j.appendRecords(evs); err != nil {
		return err
	}
	return reserveErr
}

func (j *Journal) appendRecords(evs []Event) error {
	cur := j.segs[len(j.segs)-1]
	if cur.size >= j.opts.SegmentBytes {
		if err := j.newSegment(evs[0].Seq); err != nil {
			return err
		}
		cur = j.segs[len(j.segs)-1]
	}
	if len(cur.offs) == 0 && cur.first != evs[0].Seq {
		// The empty segment was named for another seq (fresh journal
		// after a snapshot): rename it to what it will hold.
		np := filepath.Join(j.dir, segmentName(evs[0].Seq))
		if err := os.Rename(cur.path, np); err != nil {
			return fmt.Errorf("alarm journal: %w", err)
		}
		// The new name must be durable before records that only it
		// explains (openSegment also recovers a lost rename).
		if !j.opts.NoSync {
			if err := syncDir(j.dir); err != nil {
				return err
			}
		}
		j.mu.Lock()
		cur.first, cur.path = evs[0].Seq, np
		j.mu.Unlock()
	} else if want := cur.first + uint64(len(cur.offs)); evs[0].Seq < want {
		return fmt.Errorf("alarm journal: append seq %d, want %d or later", evs[0].Seq, want)
	} else if evs[0].Seq > want {
		// A gap (events lost to an earlier write error): seqs inside a
		// segment are consecutive, so the batch starts a new one.
		if err := j.newSegment(evs[0].Seq); err != nil {
			return err
		}
		cur = j.segs[len(j.segs)-1]
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			return fmt.Errorf("alarm journal: batch seqs %d, %d not consecutive", evs[i-1].Seq, evs[i].Seq)
		}
	}
	j.buf = j.buf[:0]
	offs := make([]uint32, 0, len(evs))
	for i := range evs {
		start := len(j.buf)
		j.buf = append(j.buf, make([]byte, recHeader)...)
		var err error
		j.buf, err = appendJSON(j.buf, &evs[i])
		if err != nil {
			return fmt.Errorf("alarm journal: encode event %d: %w", evs[i].Seq, err)
		}
		wal.FinishRecord(j.buf[start:], evs[i].Seq)
		offs = append(offs, uint32(cur.size+int64(start)))
	}
	if _, err := cur.f.Write(j.buf); err != nil {
		// Cut what may have been half written so the next record lines up.
		_ = cur.f.Truncate(cur.size)
		return fmt.Errorf("alarm journal: write: %w", err)
	}
	if !j.opts.NoSync {
		t0 := time.Now()
		if err := cur.f.Sync(); err != nil {
			return fmt.Errorf("alarm journal: fsync: %w", err)
		}
		if j.observe != nil {
			j.observe(time.Since(t0))
		}
	}
	j.mu.Lock()
	cur.offs = append(cur.offs, offs...)
	cur.newest = evs[len(evs)-1].Time
	if cur.newest.After(j.newest) {
		j.newest = cur.newest
	}
	cur.size += int64(len(j.buf))
	j.total += int64(len(j.buf))
	j.mu.Unlock()
	j.retain()
	return nil
}

func appendJSON(b []byte, ev *Event) ([]byte, error) {
	p, err := json.Marshal(ev)
	if err != nil {
		return b, err
	}
	return append(b, p...), nil
}

// SetConsumed gives the journal the seq up to which every output (the
// store's outbox mark, the uplink and notify cursors) has taken the
// events: retention by Keep never removes a later one. Call before the
// engine runs.
func (j *Journal) SetConsumed(fn func() uint64) { j.consumed = fn }

// retain removes the oldest segments: those past Keep that the snapshot
// covers and every output consumed, and beyond MaxBytes the oldest the
// snapshot covers whatever their age (reported as eviction). The segment
// being written and any the last snapshot does not cover (replay needs
// them) stay.
func (j *Journal) retain() {
	for len(j.segs) > 1 {
		old := j.segs[0]
		if len(old.offs) > 0 && old.last() > j.snapSeq {
			return
		}
		over := j.total > j.opts.MaxBytes
		// expired: Keep is over for every event of the segment (always,
		// when no Keep is set).
		expired := j.opts.Keep == 0 || (!old.newest.IsZero() && j.newest.Sub(old.newest) > j.opts.Keep)
		consumed := len(old.offs) == 0 || j.consumed == nil || old.last() <= j.consumed()
		if !over && !(j.opts.Keep > 0 && expired && consumed) {
			return
		}
		if len(old.offs) > 0 && !(expired && consumed) {
			n := uint64(len(old.offs))
			j.damaged(func(d *Damage) { d.Evicted += n }, "journal_max_bytes reached: events deleted before journal_keep or before every output took them",
				"first", old.first, "last", old.last(), "newest", old.newest, "expired", expired, "consumed", consumed)
		}
		j.mu.Lock()
		j.segs = j.segs[1:]
		j.total -= old.size
		j.mu.Unlock()
		old.f.Close()
		os.Remove(old.path)
	}
}

// NeedSnapshot reports whether a segment was started since the last
// snapshot, so the engine should write one (keeping replay short and old
// segments removable).
func (j *Journal) NeedSnapshot() bool {
	cur := j.segs[len(j.segs)-1]
	return cur.first > j.snapSeq+1 && len(cur.offs) > 0
}

type snapshot struct {
	Seq    uint64  `json:"seq"`
	Alarms []Event `json:"alarms"`
}

// readSnapshot reads snapshot.json of dir: a wal segment of one record
// (seq, JSON {"seq", "alarms"}); a file of plain JSON from before the
// framing is read as such. Missing: seq 0, no error.
func readSnapshot(dir string) (uint64, []Event, error) {
	b, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	var snap snapshot
	if len(b) > 0 && b[0] == '{' {
		err := json.Unmarshal(b, &snap)
		return snap.Seq, snap.Alarms, err
	}
	var payload []byte
	var seq uint64
	sc := wal.Scan(b, 0, func(_ int64, s uint64, p []byte) { seq, payload = s, p })
	if payload == nil || sc.Version != wal.Version || len(sc.Damaged) > 0 || sc.Torn(int64(len(b))) {
		return 0, nil, errors.New("snapshot record damaged")
	}
	if err := json.Unmarshal(payload, &snap); err != nil || snap.Seq != seq {
		return 0, nil, fmt.Errorf("snapshot record: %v", err)
	}
	return snap.Seq, snap.Alarms, nil
}

// WriteSnapshot records the state of every alarm not normal as of seq,
// atomically (temporary file, fsync, rename, directory fsync).
func (j *Journal) WriteSnapshot(seq uint64, alarms []Event) error {
	p, err := json.Marshal(snapshot{seq, alarms})
	if err != nil {
		return fmt.Errorf("alarm journal: snapshot: %w", err)
	}
	b := wal.AppendRecord(wal.AppendHeader(nil), seq, p)
	tmp := filepath.Join(j.dir, snapshotFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("alarm journal: snapshot: %w", err)
	}
	_, err = f.Write(b)
	if err == nil && !j.opts.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(j.dir, snapshotFile))
	}
	if err == nil && !j.opts.NoSync {
		err = syncDir(j.dir)
	}
	if err != nil {
		return fmt.Errorf("alarm journal: snapshot: %w", err)
	}
	j.snapSeq = seq
	j.retain()
	return nil
}

// Replay calls fn with the snapshot's alarms, then with every journaled
// event after the snapshot, oldest first.
func (j *Journal) Replay(fn func(Event)) error {
	from := uint64(1)
	if seq, alarms, err := readSnapshot(j.dir); err != nil {
		// Damaged (reported by OpenJournal, or now): replay every
		// segment left instead; the state is as complete as they are.
		if !j.Damage().Snapshot {
			j.damaged(func(d *Damage) { d.Snapshot = true }, "snapshot unreadable: state replayed from the segments", "err", err)
		}
	} else if seq > 0 {
		for _, ev := range alarms {
			fn(ev)
		}
		from = seq + 1
	}
	for {
		evs, err := j.Events(from-1, 4096)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, ev := range evs {
			fn(ev)
		}
		from = evs[len(evs)-1].Seq + 1
	}
}

// Events returns up to limit events with seq > after, oldest first. When
// after is older than the oldest record held, it starts at the oldest.
// Seqs lost to damage are skipped (they were reported when found).
func (j *Journal) Events(after uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	j.mu.RLock()
	type span struct {
		s          *segment
		path       string
		start, end int64 // byte range of the records wanted
		offs       []uint32
	}
	var spans []span
	want := after + 1
	n := 0
	for _, s := range j.segs {
		if len(s.offs) == 0 || s.last() < want {
			continue
		}
		from := 0
		if want > s.first {
			from = int(want - s.first)
		}
		for from < len(s.offs) && s.offs[from] == noRecord {
			from++
		}
		to := min(len(s.offs), from+limit-n)
		end := s.size
		for k := to; k < len(s.offs); k++ {
			if s.offs[k] != noRecord {
				end = int64(s.offs[k])
				break
			}
		}
		spans = append(spans, span{s, s.path, int64(s.offs[from]), end, s.offs[from:to]})
		n += to - from
		want = s.last() + 1
		if n >= limit {
			break
		}
	}
	j.mu.RUnlock()
	out := make([]Event, 0, n)
	for _, sp := range spans {
		b := make([]byte, sp.end-sp.start)
		if _, err := sp.s.f.ReadAt(b, sp.start); err != nil {
			if errors.Is(err, os.ErrClosed) {
				continue // segment removed by retention meanwhile
			}
			return out, fmt.Errorf("alarm journal: read: %w", err)
		}
		for _, off := range sp.offs {
			if off == noRecord {
				continue
			}
			seq, payload, ok := wal.Record(b[int64(off)-sp.start:])
			var ev Event
			if ok {
				ok = json.Unmarshal(payload, &ev) == nil && ev.Seq == seq
			}
			if !ok {
				// Checked at open: the disk changed it since. Lose this
				// record only.
				j.damaged(func(d *Damage) { d.Records++ }, "damaged record skipped on read", "file", sp.path, "offset", off)
				continue
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// Bytes is the size of all segments.
func (j *Journal) Bytes() int64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.total
}

// Close closes the segment files. Everything appended is already durable.
// The seq mark is lowered to the last seq handed to Append (nothing after
// it was shown), so a clean restart continues without a gap.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var err error
	if j.mark != nil {
		if top := max(j.assigned, j.floor, j.lastLocked()); top < j.reserved {
			err = j.mark.Store(top, !j.opts.NoSync)
		}
		if e := j.mark.Close(); e != nil && err == nil {
			err = e
		}
		j.mark = nil
	}
	for _, s := range j.segs {
		if e := s.f.Close(); e != nil && err == nil {
			err = e
		}
	}
	j.segs = nil
	return err
}

func (j *Journal) closeAll() {
	for _, s := range j.segs {
		s.f.Close()
	}
	j.segs = nil
	if j.mark != nil {
		j.mark.Close()
		j.mark = nil
	}
}
