package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"hazardgw/store/wal"
)

// Record is one operator action or disposal record (处置记录) of
// GET /api/records (SPEC §8). Exactly one of Alarm, Point and Linkage is
// set. Seq is the alarm event the action produced (ack, shelve, …) or, for
// a disposal, the alarm's latest event when it was recorded (0 when the
// console had none).
//
// Notices (SPEC §13, notices.go) are recorded too, with Notice set:
// kind notice when one arrives (Time and By: when and by whom the district
// sent it, Role commander, Comment its text) and kind notice_ack when an
// operator acknowledges it (who, when, Comment the operator's comment).
type Record struct {
	Time    time.Time `json:"time"`
	By      string    `json:"by"`
	Role    string    `json:"role"`
	Kind    string    `json:"kind"` // ack reset shelve unshelve oos ios run release dispose notice notice_ack
	Alarm   string    `json:"alarm,omitempty"`
	Point   string    `json:"point,omitempty"`
	Linkage string    `json:"linkage,omitempty"`
	Notice  string    `json:"notice,omitempty"`
	Comment string    `json:"comment"`
	Action  string    `json:"action"`
	Result  string    `json:"result"`
	Seq     uint64    `json:"seq"`

	num uint64 // the record's number in the log (set by Records)
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
// is a store/wal log like the journal:
//
//	00000000000000000001.rec   segment files, named by their first record number
//
// each a wal segment header, then wal records (seq: the record number,
// payload: the JSON Record). Segments written before the header existed
// (the same records without it) are read as they are.
//
// Append writes one record with one write and one fsync before it returns;
// a new segment's directory entry is fsynced. When opened, every record is
// checked: a record whose frame or CRC does not check loses only itself
// (the reader resyncs to the next valid record; an ERROR line, Damage),
// and a torn tail (a record being written at a power cut, never
// acknowledged to the operator) is cut.
//
// Records are few (operator actions): every record is also kept in memory
// for queries. Segments older than Keep are deleted at rotation.
//
// Safe for concurrent use.
type Records struct {
	dir  string
	opts RecordsOptions

	mu     sync.Mutex
	all    []Record // oldest first
	segs   []recSeg
	f      *os.File // the segment being written
	size   int64
	next   uint64 // number of the next record
	damage RecordsDamage
}

type recSeg struct {
	first uint64
	path  string
	n     int       // records of it in all
	last  time.Time // time of its newest record
}

// RecordsOptions tune the records log; the zero value is production
// defaults.
type RecordsOptions struct {
	SegmentBytes int64         // rotate after this many bytes (default 4 MiB)
	Keep         time.Duration // delete whole segments older than this (default 400 days)
	NoSync       bool          // tests only: no fsync
	Log          *slog.Logger  // an ERROR line per damage found (default: discard)
}

// RecordsDamage is what OpenRecords found damaged (torn tails are not
// damage: they were never acknowledged). Non-zero: the gateway raises
// _GW.JOURNAL and degrades /api/health, as for the alarm journal.
type RecordsDamage struct {
	Records int   // records lost (gaps in the record numbers around damage)
	Bytes   int64 // bytes skipped
	Headers int   // segment headers damaged (their records read all the same)
}

const (
	recSuffix    = ".rec"
	maxRecordLen = 64 << 10
)

// OpenRecords opens (or makes) the records log in dir and reads it.
func OpenRecords(dir string, opts RecordsOptions) (*Records, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 4 << 20
	}
	if opts.Keep <= 0 {
		opts.Keep = 400 * 24 * time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
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
		recs, size, next, err := r.readSegment(p, first)
		if err != nil {
			return nil, err
		}
		seg := recSeg{first: first, path: p, n: len(recs)}
		if len(recs) > 0 {
			seg.last = recs[len(recs)-1].Time
		}
		r.segs = append(r.segs, seg)
		r.all = append(r.all, recs...)
		r.next = max(r.next, next)
		if i == len(names)-1 {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, fmt.Errorf("records: %w", err)
			}
			r.f, r.size = f, size
			if size == 0 {
				// Empty, or a header cut short: start it again.
				if err := r.writeHeader(); err != nil {
					f.Close()
					return nil, err
				}
			}
		}
	}
	if r.f == nil {
		if err := r.newSegment(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Damage reports what OpenRecords found damaged.
func (r *Records) Damage() RecordsDamage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.damage
}

// readSegment reads the valid records of one segment (skipping damage,
// reported), cuts a torn tail (durably unless NoSync), and returns the
// records, the size kept and the number after its last valid record.
func (r *Records) readSegment(path string, first uint64) ([]Record, int64, uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("records: %w", err)
	}
	var (
		out  []Record
		next = first
		lost int
	)
	sc := wal.Scan(b, first, func(off int64, seq uint64, payload []byte) {
		var rec Record
		if err := json.Unmarshal(payload, &rec); err != nil {
			// Checked by its CRC, yet not a record: written wrong, lost.
			r.opts.Log.Error("operator record unreadable", "file", path, "offset", off, "record", seq, "err", err)
			lost++
			next = seq + 1
			return
		}
		lost += int(seq - next)
		next = seq + 1
		rec.num = seq
		out = append(out, rec)
	})
	for _, d := range sc.Damaged {
		r.opts.Log.Error("operator records damaged: skipped to the next valid record", "file", path, "offset", d.Off, "bytes", d.Len)
		r.damage.Bytes += d.Len
	}
	if len(sc.Damaged) > 0 || lost > 0 {
		r.damage.Records += lost
	}
	if sc.BadHeader {
		r.opts.Log.Error("operator records: segment header damaged; records read all the same", "file", path)
		r.damage.Headers++
	}
	end := sc.End
	if sc.Version == wal.Version && end < wal.HeaderSize {
		end = 0 // a header cut short: rewritten by OpenRecords
	}
	if int64(len(b)) != end {
		r.opts.Log.Warn("operator records: torn tail cut (a record being written when the gateway stopped)", "file", path, "offset", end, "bytes", int64(len(b))-end)
		f, err := os.OpenFile(path, os.O_RDWR, 0o644)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("records: %w", err)
		}
		err = f.Truncate(end)
		if err == nil && !r.opts.NoSync {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("records: cut torn tail of %s: %w", path, err)
		}
	}
	return out, end, next, nil
}

// writeHeader starts the (empty) segment being written with a wal header.
func (r *Records) writeHeader() error {
	if _, err := r.f.Write(wal.AppendHeader(nil)); err != nil {
		_ = r.f.Truncate(0)
		return fmt.Errorf("records: segment header: %w", err)
	}
	r.size = wal.HeaderSize
	return nil
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
	return r.writeHeader() // synced with the first record
}

func syncDir(dir string) error {
	if err := wal.SyncDir(dir); err != nil {
		return fmt.Errorf("records: %w", err)
	}
	return nil
}

// ErrRecordsClosed is returned by Append after Close.
var ErrRecordsClosed = errors.New("records: closed")

// Append writes rec durably (one write, one fsync) before it returns.
func (r *Records) Append(rec Record) error {
	_, err := r.appendNum(rec)
	return err
}

// appendNum is Append returning the record's number (increasing, kept
// across restarts).
func (r *Records) appendNum(rec Record) (uint64, error) {
	p, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("records: encode: %w", err)
	}
	if len(p) > maxRecordLen {
		return 0, fmt.Errorf("records: record of %d bytes exceeds %d", len(p), maxRecordLen)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, ErrRecordsClosed
	}
	if r.size >= r.opts.SegmentBytes {
		if err := r.newSegment(); err != nil {
			return 0, err
		}
		r.retain(rec.Time)
	}
	b := wal.AppendRecord(make([]byte, 0, wal.RecordHeader+len(p)), r.next, p)
	if _, err := r.f.Write(b); err != nil {
		_ = r.f.Truncate(r.size) // so the next record lines up
		return 0, fmt.Errorf("records: write: %w", err)
	}
	if !r.opts.NoSync {
		if err := r.f.Sync(); err != nil {
			return 0, fmt.Errorf("records: fsync: %w", err)
		}
	}
	r.size += int64(len(b))
	rec.num = r.next
	r.next++
	r.all = append(r.all, rec)
	r.segs[len(r.segs)-1].last = rec.Time
	r.segs[len(r.segs)-1].n++
	return rec.num, nil
}

// retain deletes whole segments (never the one being written) whose newest
// record is older than Keep. Called with mu held.
func (r *Records) retain(now time.Time) {
	drop, n := 0, 0
	for drop < len(r.segs)-1 && now.Sub(r.segs[drop].last) > r.opts.Keep {
		if err := os.Remove(r.segs[drop].path); err != nil {
			break
		}
		n += r.segs[drop].n
		drop++
	}
	r.segs = r.segs[drop:]
	r.all = r.all[n:]
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
