package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
	"hazardgw/store/wal"
)

// Kind selects one of the outbox's two queues.
type Kind int

const (
	Events  Kind = iota // alarm events: written first, never dropped
	Samples             // samples: the oldest go first when the outbox is full
)

func (k Kind) String() string { return [...]string{"events", "samples"}[k] }

// OutboxOptions bound an Outbox.
type OutboxOptions struct {
	// MaxBytes bounds the bytes on disk of both queues together. When an
	// append passes it, the oldest sample segments are deleted; alarm
	// events are never deleted before InfluxDB took them. 0: unbounded.
	MaxBytes int64
	// TailBytes is the memory (one buffer, allocated at open) that keeps
	// the last bytes written to the samples queue, so a reader that keeps
	// up takes them from there instead of reading back what was just
	// written: about two flush intervals of samples at the plant's rate is
	// enough. Default and upper bound tailMax.
	TailBytes int
	// SegmentBytes is the size at which a segment file is closed and a new
	// one begun (default min(64 MiB, MaxBytes/8), at least 4 KiB). It is
	// the granularity of dropping samples. Every segment repeats the
	// dictionary of the points it holds (about 25 bytes a point), so a
	// segment should hold many polls of every point.
	SegmentBytes int64
}

// Outbox is the durable queue between the store and InfluxDB: two queues
// (events, samples), each a directory of store/wal segment files (a
// header with magic and format version, then CRC-framed records whose wal
// seq numbers the queue's records; payloads in codec.go) and a read
// cursor. An entry leaves the outbox only through Ack, after InfluxDB
// answered 2xx for it.
//
// A record that does not check loses only itself: the reader skips to the
// next valid record (wal.Scan), and Damaged counts the records lost per
// queue (found at open or while reading). A torn tail of the last segment
// (a crash mid-append) is cut at open, as before.
//
// An outbox directory written by the previous version (segments without
// the wal header, 8-byte frames: codec.go frame) is converted once at open
// (migrate.go), keeping every entry and the read cursor. A queue that
// cannot be converted is moved aside (Aside: where, how many entries lost)
// and a new one begun: it never stops the gateway.
//
// All methods are safe for concurrent use; one mutex guards everything
// (appends are one write(2) per block, reads one pread per record).
type Outbox struct {
	mu       sync.Mutex
	syncMu   sync.Mutex // one Sync at a time (taken before mu)
	q        [2]*queue
	maxBytes int64
	full     bool   // only events left and still above MaxBytes
	dropped  uint64 // samples deleted unsent because the outbox was full
	closed   bool
	migrated int     // legacy segments converted at open
	aside    []Aside // legacy queues that could not be converted
}

// Aside is a queue of the previous format that could not be converted at
// open: moved to Dir, its Entries lost to InfluxDB.
type Aside struct {
	Dir     string
	Entries int
	Err     error
}

// Aside returns the queues moved aside at open (see OpenOutbox).
func (o *Outbox) Aside() []Aside { return o.aside }

// Stats is a copy of the outbox's counters.
type Stats struct {
	Bytes   int64     // on disk, both queues
	Samples int64     // not yet acknowledged
	Events  int64     // not yet acknowledged
	Oldest  time.Time // time of the oldest unacknowledged entry (zero: empty)
	Full    bool      // only alarm events are left and they exceed MaxBytes
	Dropped uint64    // samples deleted unsent to respect MaxBytes
	// Cut counts bytes cut off torn tails at open.
	Cut int64
	// Damaged counts records lost to damage (a record that does not
	// check, between valid ones), by Kind, since the outbox was opened.
	Damaged [2]uint64
	// Migrated counts segments of the previous format converted at open.
	Migrated int
}

// pos is a place in a queue: a segment, the byte offset of a record in it,
// and how many entries of that record are already consumed.
type pos struct {
	seg  uint64
	off  int64
	skip int
}

func (a pos) less(b pos) bool {
	if a.seg != b.seg {
		return a.seg < b.seg
	}
	if a.off != b.off {
		return a.off < b.off
	}
	return a.skip < b.skip
}

type segment struct {
	id     uint64
	start  int64 // offset of the first record: wal.HeaderSize (0: header damaged)
	size   int64 // bytes up to the end of the last valid record
	n      int   // entries
	nread  int   // entries handed out by Next
	nacked int   // entries acknowledged
	// damaged are the byte ranges between valid records that did not
	// check (found by the scan at open, or by the reader), with the
	// records each lost.
	damaged []damage
}

// damage is a damaged byte range of a segment and the records it held.
type damage struct {
	wal.Span
	lost uint64
}

type queue struct {
	kind    Kind
	dir     string
	segs    []*segment                 // oldest first; the last one is being written
	w       *os.File                   // writer of the last segment
	wdict   map[drivers.PointID]uint32 // dictionary of the segment being written: points without a key
	wkey    []uint32                   // the same by the caller's key (AppendIndexed): index+1, 0 none
	wn      uint32                     // entries in the dictionary being written
	wbuf    []byte                     // framed records of one append
	pbuf    []byte                     // one payload
	added   []drivers.PointID          // put into wdict by one append
	segMax  int64
	dirty   bool // written since the last Sync
	ack     pos  // durable read cursor
	ackSync bool // ack changed since the cursor was last fsynced
	rd      pos  // read head (>= ack)
	rf      *os.File
	rfSeg   uint64
	rdict   readDict // dictionary of segment rd.seg up to rd.off
	// rmap maps bytes [rmapOff, rmapOff+len(rmap)) of segment rfSeg
	// read-only when that segment was sealed (no longer written) as the
	// reader opened it, rsize its file's size (0: not mapped, read with
	// pread): a reader behind the tail decodes records in place instead
	// of copying them out of the page cache. One window of readWindow
	// bytes (or one record, when larger) at a time.
	rmap    []byte
	rmapOff int64
	rsize   int64
	rbuf    []byte // a record read from disk (reused)
	cut     int64
	total   int64  // bytes of segs
	wseq    uint64 // wal seq of the next record written
	lost    uint64 // records lost to damage, counted as the reader meets them
	// tail mirrors the bytes of the segment being written from tailLo to
	// its end tailHi, at most len(tailBuf) of them, in a ring (offset x at
	// tailBuf[x%len(tailBuf)]): a reader that keeps up takes the records
	// just written from there instead of reading them back. One buffer,
	// allocated at open; nothing per record.
	tailBuf        []byte
	tailSeg        uint64
	tailLo, tailHi int64
	tailBytes      int // tailHi - tailLo
}

// tailMax bounds the memory of a queue's tail of recent records: about
// two flush intervals at 250,000 samples/s. When InfluxDB is down the
// reader falls behind and reads from disk anyway.
const tailMax = 4 << 20

// readWindow is how much of a sealed segment the reader maps at a time.
const readWindow = 8 << 20

// eventsTail is the events queue's tail (events are few and small).
const eventsTail = 64 << 10

// remember copies rec (framed records just written at off of the last
// segment) into the tail.
func (q *queue) remember(rec []byte, off int64) {
	c := int64(len(q.tailBuf))
	if c == 0 {
		return
	}
	if seg := q.last().id; seg != q.tailSeg || off != q.tailHi {
		q.tailSeg, q.tailLo, q.tailHi = seg, off, off
	}
	if n := int64(len(rec)); n > c { // only its last c bytes fit
		rec = rec[n-c:]
		q.tailLo, q.tailHi = off+n-c, off+n-c
	}
	for len(rec) > 0 {
		n := copy(q.tailBuf[q.tailHi%c:], rec)
		rec, q.tailHi = rec[n:], q.tailHi+int64(n)
	}
	q.tailLo = max(q.tailLo, q.tailHi-c)
	q.tailBytes = int(q.tailHi - q.tailLo)
}

// tailCopy copies the tail's bytes from offset off on into b.
func (q *queue) tailCopy(b []byte, off int64) {
	c := int64(len(q.tailBuf))
	for len(b) > 0 {
		n := copy(b, q.tailBuf[off%c:])
		b, off = b[n:], off+int64(n)
	}
}

// fromTail returns the payload and framed length of the record at p when
// the tail holds it whole; ok false when it does not (read it from disk).
// The payload aliases the tail (or q.rbuf when it wraps around): use it
// before the next append.
func (q *queue) fromTail(p pos) (payload []byte, n int, ok bool) {
	c := int64(len(q.tailBuf))
	if c == 0 || p.seg != q.tailSeg || p.off < q.tailLo || p.off+wal.RecordHeader > q.tailHi {
		return nil, 0, false
	}
	var h [4]byte
	q.tailCopy(h[:], p.off)
	l := int64(binary.LittleEndian.Uint32(h[:]))
	if p.off+wal.RecordHeader+l > q.tailHi {
		return nil, 0, false
	}
	if start := (p.off + wal.RecordHeader) % c; start+l <= c {
		return q.tailBuf[start : start+l], wal.RecordHeader + int(l), true
	}
	q.rbuf = slices.Grow(q.rbuf[:0], int(l))[:l]
	q.tailCopy(q.rbuf, p.off+wal.RecordHeader)
	return q.rbuf, wal.RecordHeader + int(l), true
}

// OpenOutbox opens (creating if needed) the outbox in dir. A torn record at
// the end of a segment (a crash mid-append) is cut off; entries before the
// durable cursor are not handed out again; everything after is.
func OpenOutbox(dir string, opts OutboxOptions) (*Outbox, error) {
	seg := opts.SegmentBytes
	if seg <= 0 {
		seg = 64 << 20
		if opts.MaxBytes > 0 && opts.MaxBytes/8 < seg {
			seg = opts.MaxBytes / 8
		}
	}
	seg = max(seg, 4<<10)
	o := &Outbox{maxBytes: opts.MaxBytes}
	for k := range o.q {
		qdir := filepath.Join(dir, Kind(k).String())
		n, err := migrate(qdir)
		if err != nil {
			// Not converted: moved aside, so the gateway runs on with a
			// new queue; what it held is counted as lost.
			a := Aside{Dir: qdir + ".unconverted", Entries: legacyEntries(qdir), Err: err}
			if rerr := os.Rename(qdir, a.Dir); rerr != nil {
				return nil, fmt.Errorf("outbox %s: %w (and moving it aside: %w)", dir, err, rerr)
			}
			o.aside = append(o.aside, a)
		}
		o.migrated += n
	}
	for k := range o.q {
		tail := eventsTail
		if Kind(k) == Samples {
			tail = tailMax
			if opts.TailBytes > 0 {
				tail = min(opts.TailBytes, tailMax)
			}
		}
		q, err := openQueue(filepath.Join(dir, Kind(k).String()), Kind(k), seg, tail)
		if err != nil {
			for _, q := range o.q[:k] {
				q.close()
			}
			return nil, fmt.Errorf("outbox %s: %w", dir, err)
		}
		o.q[k] = q
	}
	return o, nil
}

func segName(id uint64) string { return fmt.Sprintf("%020d.seg", id) }

func openQueue(dir string, kind Kind, segMax int64, tail int) (*queue, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	q := &queue{kind: kind, dir: dir, segMax: segMax, wseq: 1, tailBuf: make([]byte, tail)}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, de := range names {
		name := de.Name()
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil {
			continue
		}
		q.segs = append(q.segs, &segment{id: id})
	}
	sort.Slice(q.segs, func(i, j int) bool { return q.segs[i].id < q.segs[j].id })
	cur, curOK := readCursor(filepath.Join(dir, "cursor"))
	// Scan every segment: count entries, cut torn tails.
	for i, s := range q.segs {
		if err := q.scan(s, i == len(q.segs)-1); err != nil {
			return nil, err
		}
	}
	// Place the cursor.
	switch {
	case len(q.segs) == 0:
		q.ack = pos{}
	case !curOK || cur.seg < q.segs[0].id:
		q.ack = pos{seg: q.segs[0].id}
	default:
		q.ack = cur
		if s := q.seg(cur.seg); s == nil {
			// The cursor's segment is gone: everything before the next one
			// was acknowledged.
			q.ack = pos{seg: q.segs[len(q.segs)-1].id + 1}
			for _, s := range q.segs {
				if s.id > cur.seg {
					q.ack = pos{seg: s.id}
					break
				}
			}
		} else if cur.off > s.size {
			q.ack = pos{seg: s.id, off: s.size} // cursor beyond data lost at a power cut
		} else if d := s.damageAt(cur.off); d != nil {
			q.ack = pos{seg: s.id, off: d.Off} // inside a damaged range: the reader skips it
		}
	}
	// Segments wholly before the cursor are acknowledged: delete them.
	for len(q.segs) > 0 && q.segs[0].id < q.ack.seg {
		_ = os.Remove(filepath.Join(dir, segName(q.segs[0].id)))
		q.segs = q.segs[1:]
	}
	// Count what is already acknowledged in the cursor's segment.
	if s := q.seg(q.ack.seg); s != nil {
		n, err := q.countBefore(s, q.ack)
		if err != nil {
			return nil, err
		}
		s.nacked, s.nread = n, n
	}
	q.rd = q.ack
	// Always write into a fresh segment: no dictionary to rebuild.
	next := q.ack.seg
	if len(q.segs) > 0 {
		next = q.segs[len(q.segs)-1].id + 1
	}
	for _, s := range q.segs {
		q.total += s.size
	}
	if err := q.create(max(next, 1)); err != nil {
		return nil, err
	}
	if len(q.segs) == 1 && q.ack.seg < q.segs[0].id {
		q.ack = pos{seg: q.segs[0].id}
		q.rd = q.ack
	}
	return q, syncDir(dir)
}

func (q *queue) seg(id uint64) *segment {
	for _, s := range q.segs {
		if s.id == id {
			return s
		}
	}
	return nil
}

// scan validates the records of s (wal.Scan: a record that does not check
// is skipped, its range kept in s.damaged), counts its entries and, for
// the last segment, truncates a torn tail. In an earlier segment, bytes
// after the last valid record are damage, not a tail: that segment was
// closed whole.
func (q *queue) scan(s *segment, last bool) error {
	path := filepath.Join(q.dir, segName(s.id))
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// A gap between the end of one valid record and the start of the
	// next is a damaged range; the seqs it swallowed are the records lost
	// (at least one when nothing before it tells: the segment's first).
	prev, end := q.wseq-1, int64(0)
	if wal.HasHeader(b) {
		end = wal.HeaderSize
	}
	sc := wal.Scan(b, 0, func(off int64, seq uint64, p []byte) {
		if off > end {
			lost := uint64(1)
			if prev > 0 && seq > prev {
				lost = seq - prev - 1
			}
			s.damaged = append(s.damaged, damage{Span: wal.Span{Off: end, Len: off - end}, lost: lost})
			q.lost += lost
		}
		s.n += entries(p)
		prev, end = seq, off+wal.RecordHeader+int64(len(p))
		q.wseq = max(q.wseq, seq+1)
	})
	s.start, s.size = sc.Start, sc.End
	if sc.End < int64(len(b)) {
		if last {
			q.cut += int64(len(b)) - sc.End
			if err := os.Truncate(path, sc.End); err != nil {
				return err
			}
		} else {
			s.damaged = append(s.damaged, damage{Span: wal.Span{Off: sc.End, Len: int64(len(b)) - sc.End}, lost: 1})
			q.lost++
			s.size = int64(len(b))
		}
	}
	return nil
}

// damageAt returns the damaged range starting at off, or nil.
func (s *segment) damageAt(off int64) *damage {
	for i := range s.damaged {
		if s.damaged[i].Off == off {
			return &s.damaged[i]
		}
	}
	return nil
}

func entries(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	switch p[0] {
	case recSample:
		n, err := blockCount(p)
		if err != nil {
			return 0
		}
		return n
	case recEvent:
		return 1
	}
	return 0
}

// countBefore counts entries of s before p.
func (q *queue) countBefore(s *segment, p pos) (int, error) {
	b, err := os.ReadFile(filepath.Join(q.dir, segName(s.id)))
	if err != nil {
		return 0, err
	}
	n := 0
	wal.Scan(b[:min(p.off, s.size, int64(len(b)))], 0, func(_ int64, _ uint64, pl []byte) { n += entries(pl) })
	return n + p.skip, nil
}

func (q *queue) create(id uint64) error {
	f, err := os.OpenFile(filepath.Join(q.dir, segName(id)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(wal.AppendHeader(nil)); err != nil {
		f.Close()
		return err
	}
	if q.w != nil {
		_ = q.w.Sync()
		_ = q.w.Close()
	}
	q.w = f
	q.wdict = map[drivers.PointID]uint32{}
	clear(q.wkey)
	q.wn = 0
	q.segs = append(q.segs, &segment{id: id, start: wal.HeaderSize, size: wal.HeaderSize})
	q.total += wal.HeaderSize
	q.dirty = true
	return nil
}

func (q *queue) last() *segment { return q.segs[len(q.segs)-1] }

// frame appends payload to rec as the queue's next wal record.
func (q *queue) frame(rec, payload []byte) []byte {
	rec = wal.AppendRecord(rec, q.wseq, payload)
	q.wseq++
	return rec
}

// write appends framed records (rec) holding n entries to the last segment,
// rotating first when it is full.
func (q *queue) write(rec []byte, n int) error {
	s := q.last()
	off := s.size
	if _, err := q.w.Write(rec); err != nil {
		// Cut a partial write so the segment stays well-formed.
		_ = q.w.Truncate(s.size)
		_, _ = q.w.Seek(s.size, io.SeekStart)
		return err
	}
	s.size += int64(len(rec))
	q.total += int64(len(rec))
	s.n += n
	q.dirty = true
	q.remember(rec, off)
	return nil
}

func (q *queue) rotateIfFull() error {
	if q.last().size >= q.segMax {
		if err := syncDir(q.dir); err != nil {
			return err
		}
		return q.create(q.last().id + 1)
	}
	return nil
}

// bytes is the size on disk of the queue's segments (kept as a running
// total: makeRoom asks on every append).
func (q *queue) bytes() int64 { return q.total }

// removeFirst deletes the oldest segment file.
func (q *queue) removeFirst() *segment {
	s := q.segs[0]
	_ = os.Remove(filepath.Join(q.dir, segName(s.id)))
	q.segs = q.segs[1:]
	q.total -= s.size
	return s
}

func (q *queue) unacked() int64 {
	var n int64
	for _, s := range q.segs {
		n += int64(s.n - s.nacked)
	}
	return n
}

func (q *queue) close() {
	if q.w != nil {
		_ = q.w.Sync()
		_ = q.w.Close()
		q.w = nil
	}
	q.closeReader()
}

// closeReader closes the reader's file and mapping.
func (q *queue) closeReader() {
	if q.rmap != nil {
		unmapFile(q.rmap)
		q.rmap = nil
	}
	q.rsize = 0
	if q.rf != nil {
		_ = q.rf.Close()
		q.rf = nil
	}
}

// window returns bytes [off, off+n) of the mapped segment, mapping another
// window when they are not in this one. ok false when they are not in the
// file, or when mapping failed (then rsize is 0: read with pread).
func (q *queue) window(off, n int64) ([]byte, bool) {
	if off < 0 || off+n > q.rsize {
		return nil, false
	}
	if q.rmap == nil || off < q.rmapOff || off+n > q.rmapOff+int64(len(q.rmap)) {
		if q.rmap != nil {
			unmapFile(q.rmap)
			q.rmap = nil
		}
		start := off &^ (int64(os.Getpagesize()) - 1)
		end := min(max(start+readWindow, off+n), q.rsize)
		m, err := mapFile(q.rf, start, int(end-start))
		if err != nil {
			q.rsize = 0
			return nil, false
		}
		q.rmap, q.rmapOff = m, start
	}
	return q.rmap[off-q.rmapOff : off+n-q.rmapOff], true
}

// errUnmapped: the reader's segment could not be mapped (read it with
// pread).
var errUnmapped = errors.New("segment not mapped")

// mappedRecord is readRecord from the mapped segment: the record's
// payload (aliasing the mapping: use it before the next read) and framed
// length; errCorrupt when it does not check or is not in the file,
// errUnmapped when mapping failed.
func (q *queue) mappedRecord(off int64) ([]byte, int, error) {
	h, ok := q.window(off, wal.RecordHeader)
	if !ok {
		return nil, 0, q.unmappedOr(errCorrupt)
	}
	l := int64(binary.LittleEndian.Uint32(h))
	if l == 0 || l > wal.MaxRecord {
		return nil, 0, errCorrupt
	}
	b, ok := q.window(off, wal.RecordHeader+l)
	if !ok {
		return nil, 0, q.unmappedOr(errCorrupt)
	}
	if _, pl, ok := wal.Record(b); ok {
		return pl, len(b), nil
	}
	return nil, 0, errCorrupt
}

// unmappedOr returns errUnmapped when mapping failed, else err.
func (q *queue) unmappedOr(err error) error {
	if q.rsize == 0 {
		return errUnmapped
	}
	return err
}

// AppendSamples writes batch, resolving each point's device tag with
// device. It returns how many samples it could not keep because only alarm
// events are left and they fill the outbox.
func (o *Outbox) AppendSamples(batch []drivers.Sample, device func(drivers.PointID) string) (refused int, err error) {
	return o.AppendIndexed(batch, nil, device)
}

// AppendIndexed is AppendSamples for a caller that knows a small dense key
// for every sample's point (keys[i] for batch[i], -1 for none; nil for no
// keys at all): the segment dictionary is then found by the key, not by
// hashing the point id. A key must always name the same point.
func (o *Outbox) AppendIndexed(batch []drivers.Sample, keys []int32, device func(drivers.PointID) string) (refused int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return len(batch), errClosed
	}
	q := o.q[Samples]
	idx := make([]uint32, 0, min(len(batch), maxBlock))
	for len(batch) > 0 {
		if o.full {
			o.makeRoom()
			if o.full {
				return len(batch), nil
			}
		}
		if err := q.rotateIfFull(); err != nil {
			return len(batch), err
		}
		part := batch[:min(len(batch), maxBlock)]
		batch = batch[len(part):]
		var pkeys []int32
		if keys != nil {
			pkeys, keys = keys[:len(part)], keys[len(part):]
		}
		rec := q.wbuf[:0]
		seq0, wn0 := q.wseq, q.wn
		idx = idx[:0]
		added := q.added[:0]
		for j, s := range part {
			k := int32(-1)
			if pkeys != nil {
				k = pkeys[j]
			}
			var i uint32
			var ok bool
			if k >= 0 && int(k) < len(q.wkey) && q.wkey[k] != 0 {
				i, ok = q.wkey[k]-1, true
			} else {
				i, ok = q.wdict[s.Point]
			}
			if !ok {
				i = q.wn
				q.wn++
				if k < 0 { // a keyed point is found by its key: no map entry
					q.wdict[s.Point] = i
					added = append(added, s.Point)
				}
				q.pbuf = encodeDict(q.pbuf[:0], i, s.Point, device(s.Point))
				rec = q.frame(rec, q.pbuf)
			}
			if k >= 0 {
				if int(k) >= len(q.wkey) {
					q.wkey = append(q.wkey, make([]uint32, int(k)+1-len(q.wkey))...)
				}
				q.wkey[k] = i + 1
			}
			idx = append(idx, i)
		}
		q.pbuf = encodeBlock(q.pbuf[:0], part, idx)
		rec = q.frame(rec, q.pbuf)
		q.wbuf, q.added = rec, added
		if err := q.write(rec, len(part)); err != nil {
			q.wseq = seq0 // nothing of it was kept
			// The dictionary entries this record defined are lost with it;
			// they were the highest indexes, so the numbering stays dense.
			for _, p := range added {
				delete(q.wdict, p)
			}
			q.wn = wn0
			for _, k := range pkeys {
				if k >= 0 && q.wkey[k] > q.wn {
					q.wkey[k] = 0 // pointed at an entry lost with the record
				}
			}
			return len(part) + len(batch), err
		}
		o.makeRoom()
	}
	return 0, nil
}

var errClosed = errors.New("outbox closed")

// AppendEvent writes one alarm event. Events are never refused for space:
// the outbox grows beyond MaxBytes and reports Full instead.
func (o *Outbox) AppendEvent(ev alarms.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errClosed
	}
	q := o.q[Events]
	if err := q.rotateIfFull(); err != nil {
		return err
	}
	pl := append([]byte{recEvent}, b...)
	if err := q.write(q.frame(nil, pl), 1); err != nil {
		q.wseq--
		return err
	}
	o.makeRoom()
	return nil
}

// makeRoom deletes the oldest sample segments while the outbox is above
// MaxBytes. Called with o.mu held.
func (o *Outbox) makeRoom() {
	if o.maxBytes <= 0 {
		return
	}
	q := o.q[Samples]
	for o.q[Events].bytes()+q.bytes() > o.maxBytes {
		if len(q.segs) == 1 {
			if q.last().size <= wal.HeaderSize {
				break
			}
			if err := q.create(q.last().id + 1); err != nil {
				break
			}
		}
		s := q.removeFirst()
		o.dropped += uint64(s.n - s.nread)
		next := pos{seg: q.segs[0].id}
		if q.ack.less(next) {
			q.ack = next
			q.ackSync = true
			_ = writeCursor(q.dir, q.ack, false)
		}
		if q.rd.less(next) {
			q.rd = next
		}
	}
	o.full = o.q[Events].bytes()+q.bytes() > o.maxBytes
}

// Batch is what Next hands out: entries of one queue, in order, and the
// position after them for Ack.
type Batch struct {
	Kind Kind
	// Samples are pointer-free: each names its point by an index into
	// dicts (Sample resolves it).
	Samples []entry
	Events  []alarms.Event
	// Skipped counts entries of valid records that did not decode (a
	// sample whose dictionary entry was lost to damage, an event that is
	// not JSON): not handed out, they leave the outbox with the batch.
	Skipped int
	end     pos
	counts  []segCount // entries per segment
	dicts   []dictView // the dictionaries of the segments Samples came from
}

// Sample returns entry e of the batch as a drivers.Sample and its device
// (the point id points into the batch's dictionary: no copy).
func (b *Batch) Sample(e entry) (drivers.Sample, string) {
	v := &b.dicts[e.dict]
	p, _ := v.point(e.ref)
	return drivers.Sample{Point: drivers.PointID(p), Value: e.Value, Quality: e.Quality, Cause: e.Cause,
		Time: time.Unix(0, e.Time)}, v.device(e.ref).name
}

// dict returns the number of q's reader dictionary among the batch's,
// adding it when the reader began another since; ok false when the batch
// holds as many as an entry can name.
func (b *Batch) dict(d *readDict) (uint16, bool) {
	if n := len(b.dicts); n > 0 && b.dicts[n-1].gen == d.gen {
		return uint16(n - 1), true
	}
	if len(b.dicts) > math.MaxUint16 {
		return 0, false
	}
	b.dicts = append(b.dicts, d.view())
	return uint16(len(b.dicts) - 1), true
}

// segCount is how many entries of a batch came from segment seg.
type segCount struct {
	seg uint64
	n   int
}

// Len is the number of entries the batch takes out of the outbox when
// acknowledged: those handed out and the Skipped ones.
func (b *Batch) Len() int { return len(b.Samples) + len(b.Events) + b.Skipped }

// Next returns up to max entries of queue k after the read head and moves
// the head past them. The entries stay in the outbox until Ack(b). An empty
// batch means nothing is waiting.
func (o *Outbox) Next(k Kind, max int) (*Batch, error) { return o.next(k, max, nil) }

// next is Next filling reuse (a batch of queue k acknowledged or given
// up, whose entries nobody reads any more) instead of a new one: the
// sender's batches need no allocation once the first is big enough.
func (o *Outbox) next(k Kind, max int, reuse *Batch) (*Batch, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.q[k]
	b := reuse
	if b == nil || b.Kind != k {
		b = &Batch{Kind: k}
	} else {
		clear(b.dicts) // let go of old dictionaries
		*b = Batch{Kind: k, Samples: b.Samples[:0], counts: b.counts[:0], dicts: b.dicts[:0]}
	}
	if want := min(max, q.unread()); k == Samples && cap(b.Samples) < want {
		b.Samples = make([]entry, 0, want)
	}
read:
	for b.Len() < max && !o.closed {
		s := q.seg(q.rd.seg)
		if s == nil {
			break
		}
		if q.rd.off < s.start {
			q.rd.off = s.start
		}
		if q.rd.off >= s.size {
			if s == q.last() {
				break
			}
			q.rd = pos{seg: q.segs[q.index(s)+1].id}
			continue
		}
		if d := s.damageAt(q.rd.off); d != nil {
			q.rd = pos{seg: s.id, off: d.Off + d.Len} // lost: counted when found
			continue
		}
		p, n, err := q.readAt(q.rd)
		if err != nil {
			// A record that checked at open (or was written since) does
			// not check now: skip to the next one that does.
			d := q.resync(s, q.rd.off)
			q.rd = pos{seg: s.id, off: d.Off + d.Len}
			continue
		}
		before := b.Len()
		lost := 0 // entries of a valid record that do not decode
		switch p[0] {
		case recDict:
			if idx, pt, dev, err := decodeDict(p); err == nil {
				q.rdict.define(idx, pt, dev)
			}
			q.rd = pos{seg: s.id, off: q.rd.off + int64(n)}
		case recSample:
			cnt, _ := blockCount(p)
			d, ok := b.dict(&q.rdict)
			if !ok {
				break read // the batch ends here; the next one goes on
			}
			b.Samples, err = decodeBlock(b.Samples, p, q.rd.skip, len(b.Samples)+max-before, &q.rdict, d)
			b.dicts[d] = q.rdict.view() // with the entries defined since it was added
			taken := b.Len() - before
			if err != nil || q.rd.skip+taken >= cnt {
				if err != nil {
					// Undecodable (its dictionary entry was lost to damage):
					// the rest of the block goes with the batch, unsent.
					if l := cnt - q.rd.skip - taken; l > 0 {
						lost = l
					}
				}
				q.rd = pos{seg: s.id, off: q.rd.off + int64(n)}
			} else {
				q.rd.skip += taken
			}
		case recEvent:
			var ev alarms.Event
			if json.Unmarshal(p[1:], &ev) == nil {
				b.Events = append(b.Events, ev)
			} else {
				lost = 1
			}
			q.rd = pos{seg: s.id, off: q.rd.off + int64(n)}
		default:
			q.rd = pos{seg: s.id, off: q.rd.off + int64(n)}
		}
		b.Skipped += lost
		if taken := b.Len() - before; taken > 0 {
			s.nread += taken
			if c := len(b.counts); c > 0 && b.counts[c-1].seg == s.id {
				b.counts[c-1].n += taken
			} else {
				b.counts = append(b.counts, segCount{s.id, taken})
			}
		}
	}
	b.end = q.rd
	return b, nil
}

// resync records a damaged range of s found by the reader at off (a
// record that does not check): up to the next valid record, or the end of
// the segment. It returns the range, counted in q.lost (one record: what
// it held is not known).
func (q *queue) resync(s *segment, off int64) *damage {
	d := damage{Span: wal.Span{Off: off, Len: s.size - off}, lost: 1}
	buf := make([]byte, s.size-off)
	if f, err := os.Open(filepath.Join(q.dir, segName(s.id))); err == nil {
		n, _ := f.ReadAt(buf, off)
		f.Close()
		// The scan starts at a record that does not check: it reports the
		// bytes up to the next valid record as its first damaged range.
		if sc := wal.Scan(buf[:n], 0, nil); len(sc.Damaged) > 0 && sc.Damaged[0].Off == 0 {
			d.Len = sc.Damaged[0].Len
		}
	}
	s.damaged = append(s.damaged, d)
	q.lost += d.lost
	return &s.damaged[len(s.damaged)-1]
}

func (q *queue) index(s *segment) int {
	for i, x := range q.segs {
		if x == s {
			return i
		}
	}
	return -1
}

// readAt reads the record at p, opening p's segment (and loading its
// dictionary up to p) when the head moved to a new one.
func (q *queue) readAt(p pos) ([]byte, int, error) {
	if q.rf == nil || q.rfSeg != p.seg {
		q.closeReader()
		f, err := os.Open(filepath.Join(q.dir, segName(p.seg)))
		if err != nil {
			return nil, 0, err
		}
		q.rf, q.rfSeg = f, p.seg
		q.rdict.reset()
		if s := q.seg(p.seg); s != nil && s != q.last() {
			if fi, err := f.Stat(); err == nil {
				q.rsize = fi.Size() // sealed: map it
			}
		}
		// Load the dictionary defined before p (valid records only).
		if p.off > 0 {
			buf, ok := q.window(0, min(p.off, q.rsize))
			if !ok {
				buf = make([]byte, p.off)
				n, _ := f.ReadAt(buf, 0)
				buf = buf[:n]
			}
			wal.Scan(buf, 0, func(_ int64, _ uint64, pl []byte) {
				if len(pl) > 0 && pl[0] == recDict {
					if idx, pt, dev, err := decodeDict(pl); err == nil {
						q.rdict.define(idx, pt, dev)
					}
				}
			})
		}
	}
	if pl, n, ok := q.fromTail(p); ok {
		return pl, n, nil
	}
	if q.rsize > 0 {
		if pl, n, err := q.mappedRecord(p.off); err != errUnmapped {
			return pl, n, err
		}
	}
	pl, n, buf, err := readRecord(q.rf, p.off, q.rbuf)
	q.rbuf = buf
	return pl, n, err
}

// readRecord reads the wal record at off of f into buf (grown as needed,
// returned for reuse): its payload (in buf) and framed length, or
// errCorrupt when it does not check.
func readRecord(f *os.File, off int64, buf []byte) ([]byte, int, []byte, error) {
	var h [wal.RecordHeader]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, 0, buf, err
	}
	l := binary.LittleEndian.Uint32(h[:])
	if l == 0 || l > wal.MaxRecord {
		return nil, 0, buf, errCorrupt
	}
	n := wal.RecordHeader + int(l)
	buf = slices.Grow(buf[:0], n)[:n]
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, 0, buf, err
	}
	_, pl, ok := wal.Record(buf)
	if !ok {
		return nil, 0, buf, errCorrupt
	}
	return pl, n, buf, nil
}

// Ack records that InfluxDB took every entry of b: the durable cursor moves
// past them and wholly consumed segments are deleted. Batches must be
// acknowledged in the order Next gave them.
func (o *Outbox) Ack(b *Batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errClosed
	}
	q := o.q[b.Kind]
	for _, c := range b.counts {
		if s := q.seg(c.seg); s != nil {
			s.nacked += c.n
		}
	}
	if q.ack.less(b.end) {
		q.ack = b.end
		q.ackSync = true
	}
	for len(q.segs) > 1 && q.segs[0].id < q.ack.seg {
		q.removeFirst()
	}
	if o.full {
		o.makeRoom()
	}
	return writeCursor(q.dir, q.ack, false)
}

// Rewind moves the read head of queue k back to the durable cursor, so
// entries handed out but not acknowledged are handed out again.
func (o *Outbox) Rewind(k Kind) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.q[k]
	q.rd = q.ack
	q.closeReader()
	for _, s := range q.segs {
		s.nread = s.nacked
	}
}

// Sync makes every append and the cursors durable (fsync). The fsyncs run
// outside the outbox's lock: under a busy disk one can take seconds, and
// appends and the sender's reads go on meanwhile (what they write after
// the snapshot is covered by the next Sync). One Sync at a time.
func (o *Outbox) Sync() error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	type cursor struct {
		dir string
		at  pos
	}
	var files []*os.File
	var curs []cursor
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	for _, q := range o.q {
		if q.dirty {
			files = append(files, q.w)
			q.dirty = false
		}
		if q.ackSync {
			curs = append(curs, cursor{q.dir, q.ack})
			q.ackSync = false
		}
	}
	o.mu.Unlock()
	var errs []error
	for _, f := range files {
		// A segment rotated meanwhile was synced before it was closed.
		if err := syncFile(f); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, c := range curs {
		// Its own temporary name: Ack may write the cursor (not durably)
		// at the same time. Whichever rename comes last stays, and either
		// position is one the sender had acknowledged.
		if err := writeCursorAs(c.dir, "cursor.sync.tmp", c.at, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncFile is fsync of a segment by Sync (a test makes it hang).
var syncFile = (*os.File).Sync

// Close syncs and closes the files. Further calls fail with errClosed.
func (o *Outbox) Close() error {
	err := o.Sync()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	for _, q := range o.q {
		q.close()
	}
	return err
}

// Stats returns the outbox's counters; it reads one record per queue to
// find the oldest entry's time.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := Stats{Full: o.full, Dropped: o.dropped, Migrated: o.migrated}
	for k, q := range o.q {
		st.Bytes += q.bytes()
		st.Cut += q.cut
		st.Damaged[k] = q.lost
		if q.kind == Samples {
			st.Samples = q.unacked()
		} else {
			st.Events = q.unacked()
		}
		if t := q.oldest(); !t.IsZero() && (st.Oldest.IsZero() || t.Before(st.Oldest)) {
			st.Oldest = t
		}
	}
	return st
}

// oldest decodes the first unacknowledged entry's time.
func (q *queue) oldest() time.Time {
	if q.closed() || q.unacked() == 0 {
		return time.Time{}
	}
	p := q.ack
	for i := 0; i < 1<<16; i++ {
		s := q.seg(p.seg)
		if s == nil {
			return time.Time{}
		}
		p.off = max(p.off, s.start)
		if p.off >= s.size {
			if s == q.last() {
				return time.Time{}
			}
			p = pos{seg: q.segs[q.index(s)+1].id}
			continue
		}
		if d := s.damageAt(p.off); d != nil {
			p.off += d.Len
			continue
		}
		f, err := os.Open(filepath.Join(q.dir, segName(p.seg)))
		if err != nil {
			return time.Time{}
		}
		pl, n, _, err := readRecord(f, p.off, nil)
		f.Close()
		if err != nil {
			return time.Time{}
		}
		switch pl[0] {
		case recEvent:
			var ev alarms.Event
			if json.Unmarshal(pl[1:], &ev) == nil {
				return ev.Time
			}
		case recSample:
			// Base time of the block is close enough (same batch).
			rest := pl[1:]
			if _, k := binary.Uvarint(rest); k > 0 {
				if t, k2 := binary.Varint(rest[k:]); k2 > 0 {
					return time.Unix(0, t)
				}
			}
		}
		p.off += int64(n)
	}
	return time.Time{}
}

func (q *queue) closed() bool { return q.w == nil }

// cursor file: seg u64, off u64, skip u32, crc32c u32 of the first 20 bytes.
func writeCursor(dir string, p pos, durable bool) error {
	return writeCursorAs(dir, "cursor.tmp", p, durable)
}

// writeCursorAs writes the cursor through the temporary file tmpName.
func writeCursorAs(dir, tmpName string, p pos, durable bool) error {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], p.seg)
	binary.LittleEndian.PutUint64(b[8:], uint64(p.off))
	binary.LittleEndian.PutUint32(b[16:], uint32(p.skip))
	binary.LittleEndian.PutUint32(b[20:], crc32.Checksum(b[:20], castagnoli))
	tmp := filepath.Join(dir, tmpName)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b[:])
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "cursor")); err != nil {
		return err
	}
	if durable {
		return syncDir(dir)
	}
	return nil
}

func readCursor(path string) (pos, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) != 24 || crc32.Checksum(b[:20], castagnoli) != binary.LittleEndian.Uint32(b[20:]) {
		return pos{}, false
	}
	return pos{seg: binary.LittleEndian.Uint64(b[0:]), off: int64(binary.LittleEndian.Uint64(b[8:])),
		skip: int(binary.LittleEndian.Uint32(b[16:]))}, true
}

func syncDir(dir string) error { return wal.SyncDir(dir) }

// Damaged returns how many records of queue k were lost to damage since
// the outbox was opened (found by the scan at open or by Next).
func (o *Outbox) Damaged(k Kind) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.q[k].lost
}

// Unread returns how many entries of queue k Next has not handed out yet.
func (o *Outbox) Unread(k Kind) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.q[k].unread()
}

func (q *queue) unread() int {
	n := 0
	for _, s := range q.segs {
		n += s.n - s.nread
	}
	return n
}
