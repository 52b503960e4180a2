package center

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazardgw/store/wal"
)

// Record kinds of the center journal.
const (
	kindEvent  = "event"  // a site's alarm event, as published (Raw)
	kindLost   = "lost"   // site seqs From..To will never come (the site's journal no longer holds them)
	kindNotice = "notice" // a notice the center published
	kindAck    = "ack"    // a site's acknowledgement of a notice
	kindSite   = "site"   // a site's state (siteState) at the head of a segment
)

// record is one entry of the center journal (a store/wal record's
// payload; the wal seq is the center seq). The de-duplication state of
// every site is rebuilt from these at start, so a redelivered event is
// never stored twice across a restart.
type record struct {
	Kind   string          `json:"kind"`
	Site   string          `json:"site"`
	Prefix string          `json:"prefix,omitempty"`
	Seq    uint64          `json:"seq,omitempty"` // the site's seq (event)
	Raw    json.RawMessage `json:"raw,omitempty"` // event, notice, ack as on the wire; site: siteState
	From   uint64          `json:"from,omitempty"`
	To     uint64          `json:"to,omitempty"`
}

// journal is the center's durable log: segments of store/wal records,
// written under Center.mu and fsync'd (group commit, by the syncer) before
// the broker's messages are acknowledged and their frames shown.
//
// Every segment but a legacy center.log starts with one kindSite record
// per site (heads, written at the roll): a segment is readable on its own,
// so retention may delete the oldest ones (store.journal_keep,
// store.journal_max_bytes) and the center still rebuilds every site's
// de-duplication state, alarm table and counters from what is left.
type journal struct {
	dir   string
	opts  journalOptions
	f     *os.File // the segment being written (segs' last)
	segs  []*segment
	total int64  // bytes of every segment
	seq   uint64 // last center seq written
	buf   []byte
	// heads returns the records that open a new segment (every site's
	// state); called under Center.mu by write when it rolls.
	heads     func() []record
	needHeads bool // the current segment still lacks its heads (a failed write)
	// evicted is called for a segment retention deletes before keep was
	// over or before consumed reached it (journal_max_bytes forced it).
	evicted func(s *segment, expired, consumed bool)
	// consumed reports whether every output took the segment's records
	// (the InfluxDB stores' marks); nil: yes.
	consumed func(*segment) bool
}

// journalOptions bound the journal (SPEC §3 store.journal_keep and
// store.journal_max_bytes, as at a site).
type journalOptions struct {
	SegmentBytes int64         // a segment is closed past this size
	MaxBytes     int64         // all segments together
	Keep         time.Duration // a segment whose last write is older is deleted (once consumed)
	Now          func() time.Time
}

// segment is one file of the journal and its seq index: the center seqs
// it holds and, per site, the lowest and highest site seq of its events.
type segment struct {
	path        string
	first, last uint64 // center seqs (last 0: empty)
	n           int    // records
	size        int64
	newest      time.Time // its last write (the file's mtime when opened)
	sites       map[string]seqRange
}

// seqRange is a site's lowest and highest event seq in a segment.
type seqRange struct{ Min, Max uint64 }

func (s *segment) note(seq uint64, r *record) {
	if s.first == 0 {
		s.first = seq
	}
	s.last = seq
	s.n++
	if r.Kind == kindEvent {
		x, ok := s.sites[r.Site]
		if !ok || r.Seq < x.Min {
			x.Min = r.Seq
		}
		x.Max = max(x.Max, r.Seq)
		s.sites[r.Site] = x
	}
}

// Journal file names in store.dir: center-FIRSTSEQ.log; center.log is
// the one file of a center from before segments (read first).
const (
	journalFile   = "center.log"
	segmentPrefix = "center-"
)

func segmentName(first uint64) string { return fmt.Sprintf("%s%020d.log", segmentPrefix, first) }

// listSegments returns the journal's files in order.
func listSegments(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if n == journalFile {
			out = append([]string{n}, out...)
			continue
		}
		if num, ok := strings.CutPrefix(n, segmentPrefix); ok {
			if num, ok := strings.CutSuffix(num, ".log"); ok {
				if _, err := strconv.ParseUint(num, 10, 64); err == nil {
					out = append(out, n) // zero-padded: name order is seq order
				}
			}
		}
	}
	if len(out) > 1 && out[0] != journalFile {
		slices.Sort(out)
	} else if len(out) > 1 {
		slices.Sort(out[1:])
	}
	return out, nil
}

// openJournal opens (creating) the journal in dir and calls fn for every
// record, in order. A torn tail is cut; damage in the middle loses only
// the damaged records (they are counted in damaged). Segments are read one
// at a time: memory holds one segment, not the journal.
func openJournal(dir string, opts journalOptions, fn func(seq uint64, r record)) (j *journal, damaged int, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	names, err := listSegments(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	j = &journal{dir: dir, opts: opts}
	for i, name := range names {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, 0, fmt.Errorf("center journal: %w", err)
		}
		seg := &segment{path: path, sites: map[string]seqRange{}, size: int64(len(data))}
		if st, err := os.Stat(path); err == nil {
			seg.newest = st.ModTime()
		}
		sc := wal.Scan(data, j.seq+1, func(_ int64, seq uint64, payload []byte) {
			var r record
			if json.Unmarshal(payload, &r) != nil {
				damaged++
				return
			}
			j.seq = seq
			seg.note(seq, &r)
			fn(seq, r)
		})
		damaged += len(sc.Damaged)
		if i == len(names)-1 && len(data) > 0 && sc.Torn(int64(len(data))) {
			if err := os.Truncate(path, sc.End); err != nil {
				return nil, 0, fmt.Errorf("center journal: cut torn tail: %w", err)
			}
			seg.size = sc.End
		}
		if seg.size < wal.HeaderSize && i == len(names)-1 {
			// An empty or headless last file: written anew below.
			if err := os.Remove(path); err != nil {
				return nil, 0, fmt.Errorf("center journal: %w", err)
			}
			continue
		}
		j.segs = append(j.segs, seg)
		j.total += seg.size
	}
	if len(j.segs) == 0 {
		if err := j.create(); err != nil {
			return nil, 0, err
		}
		return j, damaged, nil
	}
	cur := j.segs[len(j.segs)-1]
	f, err := os.OpenFile(cur.path, os.O_RDWR, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	if _, err := f.Seek(cur.size, 0); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	j.f = f
	return j, damaged, nil
}

// create starts the segment whose first record is j.seq+1, with its
// header, durable with its directory entry.
func (j *journal) create() error {
	path := filepath.Join(j.dir, segmentName(j.seq+1))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("center journal: %w", err)
	}
	if _, err := f.Write(wal.AppendHeader(nil)); err != nil {
		f.Close()
		return fmt.Errorf("center journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("center journal: %w", err)
	}
	if err := wal.SyncDir(j.dir); err != nil {
		f.Close()
		return fmt.Errorf("center journal: %w", err)
	}
	j.f = f
	j.segs = append(j.segs, &segment{path: path, size: wal.HeaderSize, newest: j.opts.Now(), sites: map[string]seqRange{}})
	j.total += wal.HeaderSize
	return nil
}

// append writes rs durably (one write, one fsync) and returns the center
// seq of the first. On error nothing is assumed written: the caller does
// not acknowledge the message, so the broker delivers it again.
func (j *journal) append(rs ...record) (uint64, error) {
	first, err := j.write(rs...)
	if err != nil {
		return 0, err
	}
	return first, j.sync()
}

// sync makes every record written so far durable. It may run while
// another goroutine writes (the file's fsync covers what was written
// before it was called; a roll fsyncs the segment it closes).
func (j *journal) sync() error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("center journal: fsync: %w", err)
	}
	return nil
}

// write appends rs in one write, not yet durable (group commit: sync
// follows), and returns the center seq of the first. Past SegmentBytes it
// first rolls to a new segment opened by the heads and applies retention.
func (j *journal) write(rs ...record) (uint64, error) {
	if cur := j.segs[len(j.segs)-1]; j.opts.SegmentBytes > 0 && cur.size >= j.opts.SegmentBytes && cur.n > 0 {
		if err := j.roll(); err != nil {
			return 0, err
		}
	}
	if j.needHeads {
		if err := j.putHeads(); err != nil {
			return 0, err
		}
	}
	return j.put(rs)
}

// putHeads writes the heads that open the current segment; a failure
// leaves them to the next write (a segment never holds records without
// its heads before them).
func (j *journal) putHeads() error {
	j.needHeads = true
	if j.heads != nil {
		if hs := j.heads(); len(hs) > 0 {
			if _, err := j.put(hs); err != nil {
				return err
			}
		}
	}
	j.needHeads = false
	return nil
}

func (j *journal) put(rs []record) (uint64, error) {
	j.buf = j.buf[:0]
	first := j.seq + 1
	for i, r := range rs {
		payload, err := json.Marshal(r)
		if err != nil {
			return 0, fmt.Errorf("center journal: %w", err)
		}
		j.buf = wal.AppendRecord(j.buf, first+uint64(i), payload)
	}
	if _, err := j.f.Write(j.buf); err != nil {
		return 0, fmt.Errorf("center journal: write: %w", err)
	}
	cur := j.segs[len(j.segs)-1]
	for i := range rs {
		cur.note(first+uint64(i), &rs[i])
	}
	cur.size += int64(len(j.buf))
	cur.newest = j.opts.Now()
	j.total += int64(len(j.buf))
	j.seq += uint64(len(rs))
	return first, nil
}

// roll closes the current segment durably, starts the next with every
// site's state, and deletes what retention allows.
func (j *journal) roll() error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("center journal: fsync: %w", err)
	}
	old := j.f
	if err := j.create(); err != nil {
		return err
	}
	old.Close()
	if err := j.putHeads(); err != nil {
		return err
	}
	j.retain()
	return nil
}

// retain deletes the oldest segments (never the one being written): those
// whose last write is older than Keep and that every output consumed, and
// beyond MaxBytes the oldest whatever their age (evicted reports those).
func (j *journal) retain() {
	now := j.opts.Now()
	for len(j.segs) > 1 {
		old := j.segs[0]
		over := j.opts.MaxBytes > 0 && j.total > j.opts.MaxBytes
		expired := j.opts.Keep > 0 && now.Sub(old.newest) > j.opts.Keep
		consumed := j.consumed == nil || j.consumed(old)
		if !over && !(expired && consumed) {
			return
		}
		if err := os.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return // kept: tried again at the next roll
		}
		if !(expired && consumed) && j.evicted != nil {
			j.evicted(old, expired, consumed)
		}
		j.segs = j.segs[1:]
		j.total -= old.size
	}
}

// readSegment calls fn for every valid record of the segment at path (a
// segment retention deleted meanwhile reads as empty). It may run outside
// Center.mu: segments are append-only, and a record being written is a
// torn tail that Scan leaves out.
func readSegment(path string, fn func(seq uint64, r *record) bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("center journal: %w", err)
	}
	stop := false
	wal.Scan(data, 0, func(_ int64, seq uint64, payload []byte) {
		if stop {
			return
		}
		var r record
		if json.Unmarshal(payload, &r) == nil && !fn(seq, &r) {
			stop = true
		}
	})
	return nil
}

func (j *journal) close() error { return j.f.Close() }
