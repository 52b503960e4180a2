package alarms

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Journal is the durable, append-only record of every alarm event.
//
// Layout of its directory:
//
//	00000000000000000001.seg   segment files, named by their first seq
//	00000000000000004711.seg
//	snapshot.json              {"seq": N, "alarms": [events]}: every alarm
//	                           not normal as of seq N (written at rotation)
//
// A segment is a sequence of records:
//
//	len uint32 LE | crc uint32 LE (CRC-32C of seq and payload) | seq uint64 LE | payload (len bytes, JSON event)
//
// Seqs inside one segment are consecutive, so a record is found by seq
// through the segment's offset table. A record whose header or CRC does not
// check (a torn write at a power cut) ends the segment: the file is cut
// there when it is opened. A segment whose name disagrees with its first
// (checked) record is named after the record: the rename of an empty
// segment did not reach the disk. Directory entries (new segment, rename,
// snapshot, a newly made journal directory) are fsynced in their parent.
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
	// Sync latency observer (engine metrics); nil: none.
	observe func(time.Duration)
}

type segment struct {
	first uint64
	path  string // current name (os.File.Name keeps the name it was opened with)
	f     *os.File
	offs  []uint32 // offset of record first+i
	size  int64
}

func (s *segment) last() uint64 { return s.first + uint64(len(s.offs)) - 1 }

// JournalOptions bound the journal. The zero value is usable.
type JournalOptions struct {
	// MaxBytes bounds all segments together; the oldest segments are
	// removed beyond it (never the one being written, never one newer than
	// the last snapshot). Default 512 MiB.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment is started.
	// Default 16 MiB.
	SegmentBytes int64
	// NoSync skips fsync (benchmarks of the evaluation only; never in
	// production).
	NoSync bool
}

const (
	recHeader     = 16
	maxRecord     = 1 << 20
	snapshotFile  = "snapshot.json"
	segmentSuffix = ".seg"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// OpenJournal opens (creating it if needed) the journal in dir, checks
// every record, and cuts a torn tail.
func OpenJournal(dir string, opts JournalOptions) (*Journal, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 512 << 20
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 16 << 20
	}
	if err := makeDirDurable(dir); err != nil {
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
		s, err := openSegment(nf.path, nf.first)
		if err != nil {
			j.closeAll()
			return nil, err
		}
		if len(s.offs) == 0 && len(j.segs) > 0 {
			// An empty segment in the middle holds nothing; an empty
			// last one is reused below.
			s.f.Close()
			os.Remove(nf.path)
			continue
		}
		if n := len(j.segs); n > 0 && len(s.offs) > 0 && s.first <= j.segs[n-1].last() {
			j.closeAll()
			s.f.Close()
			return nil, fmt.Errorf("alarm journal %s: segment %s overlaps its predecessor", dir, nf.path)
		}
		j.segs = append(j.segs, s)
		j.total += s.size
	}
	if b, err := os.ReadFile(filepath.Join(dir, snapshotFile)); err == nil {
		var snap struct {
			Seq uint64 `json:"seq"`
		}
		if json.Unmarshal(b, &snap) == nil {
			j.snapSeq = snap.Seq
		}
	}
	if len(j.segs) == 0 {
		if err := j.newSegment(j.snapSeq + 1); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// openSegment reads a segment's headers, builds its offset table and cuts
// anything after the last whole record.
func openSegment(path string, first uint64) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("alarm journal: %w", err)
	}
	s := &segment{first: first, path: path, f: f}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 1<<16)
	var hdr [recHeader]byte
	payload := make([]byte, 0, 1024)
	var off int64
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		n := binary.LittleEndian.Uint32(hdr[0:])
		crc := binary.LittleEndian.Uint32(hdr[4:])
		seq := binary.LittleEndian.Uint64(hdr[8:])
		if n > maxRecord || seq < s.first || (seq != s.first+uint64(len(s.offs)) && len(s.offs) > 0) {
			break
		}
		payload = append(payload[:0], make([]byte, n)...)
		if _, err := io.ReadFull(r, payload); err != nil {
			break
		}
		if crc32.Update(crc32.Checksum(hdr[8:], crcTable), crcTable, payload) != crc {
			break
		}
		if len(s.offs) == 0 && seq > first {
			// The file holds whole records from a later seq than its
			// name: a rename of an empty segment (Append, always to a
			// later seq) that did not reach the disk. The checked record
			// is the truth.
			s.first = seq
		}
		s.offs = append(s.offs, uint32(off))
		off += recHeader + int64(n)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("alarm journal: %w", err)
	}
	if st.Size() != off {
		// Torn or corrupt tail: cut it, durably.
		if err := f.Truncate(off); err != nil {
			f.Close()
			return nil, fmt.Errorf("alarm journal: cut torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("alarm journal: %w", err)
		}
	}
	s.size = off
	if s.first != first {
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
	if err := syncDir(j.dir); err != nil && !j.opts.NoSync {
		f.Close()
		return err
	}
	j.mu.Lock()
	j.segs = append(j.segs, &segment{first: first, path: path, f: f})
	j.mu.Unlock()
	return nil
}

// syncDir fsyncs a directory (a variable so tests can see the calls).
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("alarm journal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("alarm journal: sync %s: %w", dir, err)
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
		rec := j.buf[start:]
		binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)-recHeader))
		binary.LittleEndian.PutUint64(rec[8:], evs[i].Seq)
		binary.LittleEndian.PutUint32(rec[4:], crc32.Update(crc32.Checksum(rec[8:16], crcTable), crcTable, rec[recHeader:]))
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

// retain removes the oldest segments while the journal is over MaxBytes,
// keeping the segment being written and any segment the last snapshot does
// not cover (replay needs it).
func (j *Journal) retain() {
	for len(j.segs) > 1 && j.total > j.opts.MaxBytes {
		old := j.segs[0]
		if len(old.offs) > 0 && old.last() > j.snapSeq {
			return
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

// WriteSnapshot records the state of every alarm not normal as of seq,
// atomically (temporary file, fsync, rename, directory fsync).
func (j *Journal) WriteSnapshot(seq uint64, alarms []Event) error {
	b, err := json.Marshal(struct {
		Seq    uint64  `json:"seq"`
		Alarms []Event `json:"alarms"`
	}{seq, alarms})
	if err != nil {
		return fmt.Errorf("alarm journal: snapshot: %w", err)
	}
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
	if b, err := os.ReadFile(filepath.Join(j.dir, snapshotFile)); err == nil {
		var snap struct {
			Seq    uint64  `json:"seq"`
			Alarms []Event `json:"alarms"`
		}
		if err := json.Unmarshal(b, &snap); err != nil {
			return fmt.Errorf("alarm journal: snapshot: %w", err)
		}
		for _, ev := range snap.Alarms {
			fn(ev)
		}
		from = snap.Seq + 1
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("alarm journal: %w", err)
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
func (j *Journal) Events(after uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	j.mu.RLock()
	type span struct {
		s          *segment
		path       string
		start, end int64 // byte range of the records wanted
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
		to := min(len(s.offs), from+limit-n)
		end := s.size
		if to < len(s.offs) {
			end = int64(s.offs[to])
		}
		spans = append(spans, span{s, s.path, int64(s.offs[from]), end})
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
		for len(b) >= recHeader {
			n := binary.LittleEndian.Uint32(b)
			if int(n) > len(b)-recHeader {
				return out, fmt.Errorf("alarm journal: short record in %s", sp.path)
			}
			var ev Event
			if err := json.Unmarshal(b[recHeader:recHeader+n], &ev); err != nil {
				return out, fmt.Errorf("alarm journal: decode record in %s: %w", sp.path, err)
			}
			out = append(out, ev)
			b = b[recHeader+n:]
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
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var err error
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
}
