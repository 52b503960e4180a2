package console

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

// Record is one operator action or disposal record (处置记录) of
// GET /api/records (SPEC §8). Exactly one of Alarm, Point and Linkage is
// set. Seq is the alarm event the action produced (ack, shelve, …) or, for
// a disposal, the alarm's latest event when it was recorded (0 when the
// console had none).
type Record struct {
	Time    time.Time `json:"time"`
	By      string    `json:"by"`
	Role    string    `json:"role"`
	Kind    string    `json:"kind"` // ack reset shelve unshelve oos ios run release dispose
	Alarm   string    `json:"alarm,omitempty"`
	Point   string    `json:"point,omitempty"`
	Linkage string    `json:"linkage,omitempty"`
	Comment string    `json:"comment"`
	Action  string    `json:"action"`
	Result  string    `json:"result"`
	Seq     uint64    `json:"seq"`
}

// MarshalJSON writes Time in the SPEC's format (UTC, milliseconds).
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	return json.Marshal(struct {
		plain
		Time string `json:"time"`
	}{plain(r), r.Time.UTC().Format(timeFormat)})
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Records is the durable log of operator actions and disposal records,
// kept apart from the alarm journal because a record is not an alarm
// event (it takes no alarm seq; SPEC §5 wants alarm seqs consecutive). It
// uses the journal's layout and durability (alarms/journal.go):
//
//	00000000000000000001.rec   segment files, named by their first record number
//
// each a sequence of
//
//	len uint32 LE | crc uint32 LE (CRC-32C of n and payload) | n uint64 LE | payload (JSON Record)
//
// Append writes one record with one write and one fsync before it returns;
// a new segment's directory entry is fsynced. A record whose header or CRC
// does not check (a torn write at a power cut) ends its segment, and the
// file is cut there when it is opened: a crash loses at most the record
// being written, which was never acknowledged to the operator.
//
// Records are few (operator actions): every record is also kept in memory
// for queries. Segments older than Keep are deleted at rotation.
//
// Safe for concurrent use.
type Records struct {
	dir  string
	opts RecordsOptions

	mu   sync.Mutex
	all  []Record // oldest first
	segs []recSeg
	f    *os.File // the segment being written
	size int64
	next uint64 // number of the next record
}

type recSeg struct {
	first uint64
	path  string
	last  time.Time // time of its newest record
}

// RecordsOptions tune the records log; the zero value is production
// defaults.
type RecordsOptions struct {
	SegmentBytes int64         // rotate after this many bytes (default 4 MiB)
	Keep         time.Duration // delete whole segments older than this (default 400 days)
	NoSync       bool          // tests only: no fsync
}

const (
	recHeader    = 16
	recSuffix    = ".rec"
	maxRecordLen = 64 << 10
)

var recCRC = crc32.MakeTable(crc32.Castagnoli)

// OpenRecords opens (or makes) the records log in dir and reads it.
func OpenRecords(dir string, opts RecordsOptions) (*Records, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 4 << 20
	}
	if opts.Keep <= 0 {
		opts.Keep = 400 * 24 * time.Hour
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	r := &Records{dir: dir, opts: opts, next: 1}
	names, err := filepath.Glob(filepath.Join(dir, "*"+recSuffix))
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	sort.Strings(names)
	for i, p := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(p), recSuffix), 10, 64)
		if err != nil {
			continue // not ours
		}
		recs, size, err := readSegment(p, !opts.NoSync)
		if err != nil {
			return nil, err
		}
		seg := recSeg{first: first, path: p}
		if len(recs) > 0 {
			seg.last = recs[len(recs)-1].Time
		}
		r.segs = append(r.segs, seg)
		r.all = append(r.all, recs...)
		r.next = first + uint64(len(recs))
		if i == len(names)-1 {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, fmt.Errorf("records: %w", err)
			}
			r.f, r.size = f, size
		}
	}
	if r.f == nil {
		if err := r.newSegment(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// readSegment reads the checked records of one segment and cuts a torn
// tail (durably unless !sync).
func readSegment(path string, sync bool) ([]Record, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("records: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var (
		out []Record
		off int64
		hdr [recHeader]byte
	)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			break
		}
		n := binary.LittleEndian.Uint32(hdr[0:])
		if n > maxRecordLen {
			break
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			break
		}
		if crc32.Update(crc32.Checksum(hdr[8:], recCRC), recCRC, payload) != binary.LittleEndian.Uint32(hdr[4:]) {
			break
		}
		var rec Record
		if err := json.Unmarshal(payload, &rec); err != nil {
			break
		}
		out = append(out, rec)
		off += recHeader + int64(n)
	}
	if st, err := f.Stat(); err == nil && st.Size() != off {
		if err := f.Truncate(off); err != nil {
			return nil, 0, fmt.Errorf("records: cut torn tail of %s: %w", path, err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				return nil, 0, fmt.Errorf("records: %w", err)
			}
		}
	}
	return out, off, nil
}

func (r *Records) newSegment() error {
	p := filepath.Join(r.dir, fmt.Sprintf("%020d%s", r.next, recSuffix))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	if !r.opts.NoSync {
		if err := syncDir(r.dir); err != nil {
			f.Close()
			return err
		}
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.size = f, 0
	r.segs = append(r.segs, recSeg{first: r.next, path: p})
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("records: fsync %s: %w", dir, err)
	}
	return nil
}

// ErrRecordsClosed is returned by Append after Close.
var ErrRecordsClosed = errors.New("records: closed")

// Append writes rec durably (one write, one fsync) before it returns.
func (r *Records) Append(rec Record) error {
	p, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("records: encode: %w", err)
	}
	if len(p) > maxRecordLen {
		return fmt.Errorf("records: record of %d bytes exceeds %d", len(p), maxRecordLen)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return ErrRecordsClosed
	}
	if r.size >= r.opts.SegmentBytes {
		if err := r.newSegment(); err != nil {
			return err
		}
		r.retain(rec.Time)
	}
	b := make([]byte, recHeader, recHeader+len(p))
	b = append(b, p...)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(p)))
	binary.LittleEndian.PutUint64(b[8:], r.next)
	binary.LittleEndian.PutUint32(b[4:], crc32.Update(crc32.Checksum(b[8:16], recCRC), recCRC, p))
	if _, err := r.f.Write(b); err != nil {
		_ = r.f.Truncate(r.size) // so the next record lines up
		return fmt.Errorf("records: write: %w", err)
	}
	if !r.opts.NoSync {
		if err := r.f.Sync(); err != nil {
			return fmt.Errorf("records: fsync: %w", err)
		}
	}
	r.size += int64(len(b))
	r.next++
	r.all = append(r.all, rec)
	r.segs[len(r.segs)-1].last = rec.Time
	return nil
}

// retain deletes whole segments (never the one being written) whose newest
// record is older than Keep. Called with mu held.
func (r *Records) retain(now time.Time) {
	drop := 0
	for drop < len(r.segs)-1 && now.Sub(r.segs[drop].last) > r.opts.Keep {
		if err := os.Remove(r.segs[drop].path); err != nil {
			break
		}
		drop++
	}
	if drop == 0 {
		return
	}
	keepFrom := r.segs[drop].first
	first := r.segs[0].first
	r.segs = r.segs[drop:]
	r.all = r.all[keepFrom-first:]
}

// Between returns the records with from <= time < to, oldest first (a zero
// from or to is open).
func (r *Records) Between(from, to time.Time) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []Record{}
	for _, rec := range r.all {
		if (!from.IsZero() && rec.Time.Before(from)) || (!to.IsZero() && !rec.Time.Before(to)) {
			continue
		}
		out = append(out, rec)
	}
	return out
}

// Close closes the segment being written.
func (r *Records) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
