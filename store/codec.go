package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// Record payloads of the outbox. The outbox frames them as store/wal
// records (a segment header, then len, CRC-32C, seq and payload per
// record). The framing the previous version wrote, read once to convert an
// old outbox (migrate.go), is frame/unframe below (little endian):
//
//	+---------+---------+------------------+
//	| len u32 | crc u32 | payload (len B)  |
//	+---------+---------+------------------+
//
// crc is CRC-32C (Castagnoli) of the payload. payload[0] is the record type:
//
//	'D' dictionary: uvarint index, uvarint len + point, uvarint len + device
//	'S' sample block: uvarint count, varint base time (Unix ns), then per
//	    sample: uvarint dictionary index, zigzag varint time delta (ns, from
//	    the previous sample of the block, the first from base), one byte
//	    quality<<4|cause, 8 bytes float64 bits (NaN kept as is)
//	'E' alarm event: the SPEC §6 JSON of alarms.Event
//
// A dictionary index is valid from its 'D' record to the end of its segment;
// every segment starts a new dictionary, so a segment is self-contained.
const (
	recDict   = 'D'
	recSample = 'S'
	recEvent  = 'E'

	headerLen = 8
	// maxRecord bounds a record so a corrupt length cannot make us
	// allocate gigabytes.
	maxRecord = 16 << 20
	// maxBlock is the most samples one 'S' record carries.
	maxBlock = 4096
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("corrupt record")

// frame appends one framed record holding payload to dst.
func frame(dst, payload []byte) []byte {
	var h [headerLen]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagnoli))
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// unframe reads the record at the start of b. It returns the payload and the
// record's total length, or errCorrupt for a short, oversized or
// checksum-failing record (a torn tail).
func unframe(b []byte) (payload []byte, n int, err error) {
	if len(b) < headerLen {
		return nil, 0, errCorrupt
	}
	l := binary.LittleEndian.Uint32(b[0:])
	if l == 0 || l > maxRecord || int(l) > len(b)-headerLen {
		return nil, 0, errCorrupt
	}
	p := b[headerLen : headerLen+int(l)]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errCorrupt
	}
	return p, headerLen + int(l), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// readBytes reads what appendString wrote: the string's bytes (aliasing b)
// and the rest of b.
func readBytes(b []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, errCorrupt
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

func encodeDict(dst []byte, idx uint32, point drivers.PointID, device string) []byte {
	dst = append(dst, recDict)
	dst = binary.AppendUvarint(dst, uint64(idx))
	dst = appendString(dst, string(point))
	return appendString(dst, device)
}

// decodeDict returns a 'D' payload's index, point id and device; the two
// slices alias p.
func decodeDict(p []byte) (idx uint32, point, device []byte, err error) {
	p = p[1:]
	i, k := binary.Uvarint(p)
	if k <= 0 || i > math.MaxUint32 {
		return 0, nil, nil, errCorrupt
	}
	pt, rest, err := readBytes(p[k:])
	if err != nil {
		return 0, nil, nil, err
	}
	dev, _, err := readBytes(rest)
	if err != nil {
		return 0, nil, nil, err
	}
	return uint32(i), pt, dev, nil
}

// readDict is the dictionary of the segment being read, packed: per index
// the place of its point id in names (the ids back to back) and its
// device, interned in devs. No pointer per entry: at 100,000 points it
// holds about 2 MB where a slice of string pairs held 5.5.
//
// The entries decodeBlock hands out are indexes into it, resolved through
// a dictView a batch keeps, so refs and names are only appended to (a
// view sees what was defined when it was taken), devs is never cut, and
// reset begins new refs and names (the old ones live on while a batch
// still holds a view of them).
type readDict struct {
	refs   []dictRef
	names  []byte
	devs   []devName
	devIdx map[string]uint32
	gen    uint64 // counts resets: a view of another gen is another dictionary
}

// dictRef is one dictionary entry: point id names[off:off+n&^escRef] (n 0:
// no entry, or one lost to damage) of device devs[dev]; n&escRef when the
// id needs escaping as a tag value or field key.
type dictRef struct {
	off, n, dev uint32
}

// escRef marks a dictRef whose point id holds a character line protocol
// escapes in tags and field keys.
const escRef uint32 = 1 << 31

// devName is an interned device and whether it needs escaping as a tag.
type devName struct {
	name string
	esc  bool
}

// needsEscape reports whether s holds a character line protocol escapes in
// a tag value or field key.
func needsEscape(s string) bool { return strings.ContainsAny(s, ", =\n") }

// maxDict bounds a dictionary index (a record that checks yet names an
// absurd index must not make the reader allocate without bound).
const maxDict = 1 << 20

// define sets entry idx. Entries are dense as written; one lost to damage
// leaves a hole (its samples do not decode) and the later ones keep their
// index.
func (d *readDict) define(idx uint32, point, device []byte) {
	if idx >= maxDict || len(point) == 0 || uint64(len(point)) >= uint64(escRef) {
		return
	}
	if int(idx) >= len(d.refs) {
		d.refs = append(d.refs, make([]dictRef, int(idx)+1-len(d.refs))...)
	}
	dev, ok := d.devIdx[string(device)]
	if !ok {
		if d.devIdx == nil {
			d.devIdx = map[string]uint32{}
		}
		dev = uint32(len(d.devs))
		name := string(device)
		d.devs = append(d.devs, devName{name: name, esc: needsEscape(name)})
		d.devIdx[name] = dev
	}
	n := uint32(len(point))
	if needsEscape(string(point)) {
		n |= escRef
	}
	d.refs[idx] = dictRef{off: uint32(len(d.names)), n: n, dev: dev}
	d.names = append(d.names, point...)
}

// has reports whether entry idx is defined.
func (d *readDict) has(idx uint64) bool { return idx < uint64(len(d.refs)) && d.refs[idx].n != 0 }

// view is what the dictionary holds now, for a batch to resolve its
// entries with.
func (d *readDict) view() dictView {
	return dictView{refs: d.refs, names: d.names, devs: d.devs, gen: d.gen}
}

// reset empties the dictionary for a new segment, keeping the room it
// took (a segment's dictionary is usually the previous one's points) in
// new arrays: views of the old one stay valid. The devices stay interned.
func (d *readDict) reset() {
	d.refs = make([]dictRef, 0, cap(d.refs))
	d.names = make([]byte, 0, cap(d.names))
	d.gen++
}

// dictView is a readDict as it was when a batch decoded entries with it.
type dictView struct {
	refs  []dictRef
	names []byte
	devs  []devName
	gen   uint64
}

// point returns entry ref's point id (no copy: it points into names) and
// whether it needs escaping.
func (v *dictView) point(ref uint32) (string, bool) {
	r := v.refs[ref]
	return unsafe.String(&v.names[r.off], int(r.n&^escRef)), r.n&escRef != 0
}

// appendPoint appends entry ref's point id as a tag value or field key.
func (v *dictView) appendPoint(b []byte, ref uint32) []byte {
	p, esc := v.point(ref)
	return appendEscaped(b, p, esc)
}

// device returns entry ref's device.
func (v *dictView) device(ref uint32) *devName { return &v.devs[v.refs[ref].dev] }

// encodeBlock appends an 'S' payload for samples whose dictionary indexes
// are idx[i].
func encodeBlock(dst []byte, batch []drivers.Sample, idx []uint32) []byte {
	dst = append(dst, recSample)
	dst = binary.AppendUvarint(dst, uint64(len(batch)))
	base := batch[0].Time.UnixNano()
	dst = binary.AppendVarint(dst, base)
	prev := base
	for i, s := range batch {
		t := s.Time.UnixNano()
		dst = binary.AppendUvarint(dst, uint64(idx[i]))
		dst = binary.AppendVarint(dst, t-prev)
		prev = t
		dst = append(dst, byte(s.Quality)<<4|byte(s.Cause)&0x0f)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.Value))
	}
	return dst
}

// entry is one sample Next hands out, pointer-free (24 bytes, nothing for
// the garbage collector to scan): its point is entry ref of the batch's
// dictionary dicts[dict] (Batch.Sample resolves it), its time Unix ns.
type entry struct {
	Value   float64
	Time    int64
	ref     uint32
	dict    uint16
	Quality drivers.Quality
	Cause   drivers.Cause
}

// blockCount returns the number of samples in an 'S' payload.
func blockCount(p []byte) (int, error) {
	n, k := binary.Uvarint(p[1:])
	if k <= 0 || n > maxBlock {
		return 0, errCorrupt
	}
	return int(n), nil
}

// decodeBlock appends the samples of an 'S' payload from index skip on to
// dst, checking their indexes against dict, which is the batch's
// dictionary number d.
func decodeBlock(dst []entry, p []byte, skip, max int, dict *readDict, d uint16) ([]entry, error) {
	p = p[1:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > maxBlock {
		return dst, errCorrupt
	}
	p = p[k:]
	t, k := binary.Varint(p)
	if k <= 0 {
		return dst, errCorrupt
	}
	p = p[k:]
	for i := 0; i < int(n); i++ {
		idx, k := binary.Uvarint(p)
		if k <= 0 {
			return dst, errCorrupt
		}
		p = p[k:]
		dt, k := binary.Varint(p)
		if k <= 0 || len(p) < k+9 {
			return dst, errCorrupt
		}
		t += dt
		qc := p[k]
		v := math.Float64frombits(binary.LittleEndian.Uint64(p[k+1:]))
		p = p[k+9:]
		if i < skip {
			continue
		}
		if len(dst) >= max {
			break
		}
		if !dict.has(idx) {
			return dst, fmt.Errorf("%w: unknown point index %d", errCorrupt, idx)
		}
		dst = append(dst, entry{Value: v, Time: t, ref: uint32(idx), dict: d, Quality: drivers.Quality(qc >> 4), Cause: drivers.Cause(qc & 0x0f)})
	}
	return dst, nil
}

// Line protocol (SPEC §9). Tags are written in sorted key order, which is
// what InfluxDB stores anyway and saves it the sort.

var tagEscaper = strings.NewReplacer(",", `\,`, " ", `\ `, "=", `\=`, "\n", `\n`)
var strEscaper = strings.NewReplacer(`"`, `\"`, `\`, `\\`, "\n", `\n`)

func appendTag(b []byte, k, v string) []byte {
	b = append(b, ',')
	b = append(b, k...)
	b = append(b, '=')
	if v == "" {
		v = "none" // InfluxDB rejects an empty tag value
	}
	if strings.ContainsAny(v, ", =\n") {
		return append(b, tagEscaper.Replace(v)...)
	}
	return append(b, v...)
}

func appendStr(b []byte, s string) []byte {
	b = append(b, '"')
	if strings.ContainsAny(s, "\"\\\n") {
		b = append(b, strEscaper.Replace(s)...)
	} else {
		b = append(b, s...)
	}
	return append(b, '"')
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// appendEscaped appends a tag value or field key, escaped when esc.
func appendEscaped(b []byte, s string, esc bool) []byte {
	if esc {
		return append(b, tagEscaper.Replace(s)...)
	}
	return append(b, s...)
}

// appendFloat appends v as line protocol's float: what
// strconv.AppendFloat(v, 'g', -1) writes, byte for byte, with a shortcut for
// the whole numbers below a million most registers read (printed as digits
// by both).
func appendFloat(b []byte, v float64) []byte {
	if i := int64(v); float64(i) == v && i > -1e6 && i < 1e6 && (i != 0 || !math.Signbit(v)) {
		return strconv.AppendInt(b, i, 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendQuality appends quality's string field value (no character of
// any quality's name needs escaping).
func appendQuality(b []byte, q drivers.Quality) []byte {
	b = append(b, '"')
	b = append(b, q.String()...)
	return append(b, '"')
}

// lineSite is what the sample lines of one site share: its tag, escaped
// once, and the last timestamp formatted (the lines of a poll share one).
type lineSite struct {
	tag []byte // ",site=S"
	t   int64
	ts  []byte // " " and t in decimal; empty: none yet
}

func newLineSite(site string) *lineSite { return &lineSite{tag: appendTag(nil, "site", site)} }

// stamp appends the timestamp t, with the space before it.
func (l *lineSite) stamp(b []byte, t int64) []byte {
	if t != l.t || len(l.ts) == 0 {
		l.t, l.ts = t, strconv.AppendInt(append(l.ts[:0], ' '), t, 10)
	}
	return append(b, l.ts...)
}

// sampleLine writes `sample,device=D,point=P,site=S quality="good",value=1.5 TS`
// for entry e of batch bt. A NaN or infinite value omits the value field
// and keeps quality.
func sampleLine(b []byte, site *lineSite, bt *Batch, e entry) []byte {
	v := &bt.dicts[e.dict]
	dev := v.device(e.ref)
	b = append(b, "sample,device="...)
	if dev.name == "" {
		b = append(b, "none"...) // InfluxDB rejects an empty tag value
	} else {
		b = appendEscaped(b, dev.name, dev.esc)
	}
	b = append(b, ",point="...)
	b = v.appendPoint(b, e.ref)
	b = append(b, site.tag...)
	b = append(b, " quality="...)
	b = appendQuality(b, e.Quality)
	if finite(e.Value) {
		b = append(b, ",value="...)
		b = appendFloat(b, e.Value)
	}
	return site.stamp(b, e.Time)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// eventLine writes the `alarm_event` line of SPEC §9; value and limit are
// omitted when NaN or infinite.
func eventLine(b []byte, site string, ev alarms.Event) []byte {
	if ev.Site != "" {
		site = ev.Site
	}
	b = append(b, "alarm_event"...)
	b = appendTag(b, "cond", ev.Cond)
	b = appendTag(b, "point", ev.Point)
	b = appendTag(b, "priority", ev.Priority.String())
	b = appendTag(b, "site", site)
	b = append(b, " seq="...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, "i,state="...)
	b = appendStr(b, ev.State.String())
	b = append(b, ",tier="...)
	b = strconv.AppendInt(b, int64(ev.Tier), 10)
	b = append(b, "i,stage="...)
	b = strconv.AppendInt(b, int64(ev.Stage), 10)
	b = append(b, "i,active="...)
	b = appendBool(b, ev.Active)
	b = append(b, ",acked="...)
	b = appendBool(b, ev.Acked)
	if finite(ev.Value) {
		b = append(b, ",value="...)
		b = appendFloat(b, ev.Value)
	}
	if finite(ev.Limit) {
		b = append(b, ",limit="...)
		b = appendFloat(b, ev.Limit)
	}
	b = append(b, ",by="...)
	b = appendStr(b, ev.By)
	b = append(b, ",comment="...)
	b = appendStr(b, ev.Comment)
	b = append(b, ' ')
	return strconv.AppendInt(b, ev.Time.UnixNano(), 10)
}

// deviceRun returns how many entries from the start of es (entries of
// batch bt) share the first one's device and time: one line of the device
// layout. Devices are interned across segments, so equal devices have
// equal indexes.
func deviceRun(bt *Batch, es []entry) int {
	dev, t := bt.dicts[es[0].dict].refs[es[0].ref].dev, es[0].Time
	n := 1
	for n < len(es) && es[n].Time == t && bt.dicts[es[n].dict].refs[es[n].ref].dev == dev {
		n++
	}
	return n
}

// deviceLine writes the device layout's line for es, entries of batch bt of
// one device and one poll (SPEC §9):
//
//	device_sample,device=D,site=S P1=1.5,P2=2,P3.quality="bad/comm" TS
//
// one float field per point named by its id, and a string field ID.quality
// ("quality" or "quality/cause") only for points that are not good. A
// point without a finite value and with good quality writes
// ID.quality="good", so a line always has a field.
func deviceLine(b []byte, site *lineSite, bt *Batch, es []entry) []byte {
	dev := bt.dicts[es[0].dict].device(es[0].ref)
	b = append(b, "device_sample,device="...)
	if dev.name == "" {
		b = append(b, "none"...) // InfluxDB rejects an empty tag value
	} else {
		b = appendEscaped(b, dev.name, dev.esc)
	}
	b = append(b, site.tag...)
	sep := byte(' ')
	for i := range es {
		e := &es[i]
		v := &bt.dicts[e.dict]
		fin := finite(e.Value)
		if fin {
			b = append(b, sep)
			sep = ','
			b = v.appendPoint(b, e.ref)
			b = append(b, '=')
			b = appendFloat(b, e.Value)
		}
		if e.Quality != drivers.Good || !fin {
			b = append(b, sep)
			sep = ','
			b = v.appendPoint(b, e.ref)
			b = append(b, ".quality=\""...)
			b = append(b, e.Quality.String()...)
			if e.Cause != drivers.CauseNone {
				b = append(b, '/')
				b = append(b, e.Cause.String()...)
			}
			b = append(b, '"')
		}
	}
	return site.stamp(b, es[0].Time)
}
