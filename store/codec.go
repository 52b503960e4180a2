package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"strings"
	"time"
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
// The entries decodeBlock hands out point into names, so names is only
// appended to, and reset begins a new one (the old one lives on while a
// batch still points into it).
type readDict struct {
	refs   []dictRef
	names  []byte
	devs   []string
	devIdx map[string]uint32
}

// dictRef is one dictionary entry: point id names[off:off+n] (n 0: no
// entry, or one lost to damage) of device devs[dev].
type dictRef struct {
	off, n, dev uint32
}

// maxDict bounds a dictionary index (a record that checks yet names an
// absurd index must not make the reader allocate without bound).
const maxDict = 1 << 20

// define sets entry idx. Entries are dense as written; one lost to damage
// leaves a hole (its samples do not decode) and the later ones keep their
// index.
func (d *readDict) define(idx uint32, point, device []byte) {
	if idx >= maxDict || len(point) == 0 {
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
		d.devs = append(d.devs, string(device))
		d.devIdx[d.devs[dev]] = dev
	}
	d.refs[idx] = dictRef{off: uint32(len(d.names)), n: uint32(len(point)), dev: dev}
	d.names = append(d.names, point...)
}

// lookup returns entry idx; ok false when there is none.
func (d *readDict) lookup(idx uint64) (drivers.PointID, string, bool) {
	if idx >= uint64(len(d.refs)) || d.refs[idx].n == 0 {
		return "", "", false
	}
	r := d.refs[idx]
	return drivers.PointID(unsafe.String(&d.names[r.off], int(r.n))), d.devs[r.dev], true
}

// reset empties the dictionary for a new segment, keeping the room it
// took (a segment's dictionary is usually the previous one's points). The
// devices stay interned.
func (d *readDict) reset() {
	d.refs = d.refs[:0]
	d.names = make([]byte, 0, cap(d.names))
}

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

// entry is one decoded sample with its device.
type entry struct {
	drivers.Sample
	Device string
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
// dst, resolving indexes through dict.
func decodeBlock(dst []entry, p []byte, skip, max int, dict *readDict) ([]entry, error) {
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
		point, device, ok := dict.lookup(idx)
		if !ok {
			return dst, fmt.Errorf("%w: unknown point index %d", errCorrupt, idx)
		}
		dst = append(dst, entry{Sample: drivers.Sample{Point: point, Value: v, Quality: drivers.Quality(qc >> 4),
			Cause: drivers.Cause(qc & 0x0f), Time: time.Unix(0, t)}, Device: device})
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

// sampleLine writes `sample,device=D,point=P,site=S quality="good",value=1.5 TS`.
// A NaN or infinite value omits the value field and keeps quality.
func sampleLine(b []byte, site string, e entry) []byte {
	b = append(b, "sample"...)
	b = appendTag(b, "device", e.Device)
	b = appendTag(b, "point", string(e.Point))
	b = appendTag(b, "site", site)
	b = append(b, " quality="...)
	b = appendStr(b, e.Quality.String())
	if finite(e.Value) {
		b = append(b, ",value="...)
		b = strconv.AppendFloat(b, e.Value, 'g', -1, 64)
	}
	b = append(b, ' ')
	return strconv.AppendInt(b, e.Time.UnixNano(), 10)
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
		b = strconv.AppendFloat(b, ev.Value, 'g', -1, 64)
	}
	if finite(ev.Limit) {
		b = append(b, ",limit="...)
		b = strconv.AppendFloat(b, ev.Limit, 'g', -1, 64)
	}
	b = append(b, ",by="...)
	b = appendStr(b, ev.By)
	b = append(b, ",comment="...)
	b = appendStr(b, ev.Comment)
	b = append(b, ' ')
	return strconv.AppendInt(b, ev.Time.UnixNano(), 10)
}

var fieldKeyEscaper = strings.NewReplacer(",", `\,`, " ", `\ `, "=", `\=`, "\n", `\n`)

func appendFieldKey(b []byte, k string) []byte {
	if strings.ContainsAny(k, ", =\n") {
		return append(b, fieldKeyEscaper.Replace(k)...)
	}
	return append(b, k...)
}

// deviceRun returns how many entries from the start of es share the first
// one's device and time: one line of the device layout.
func deviceRun(es []entry) int {
	n := 1
	for n < len(es) && es[n].Device == es[0].Device && es[n].Time.Equal(es[0].Time) {
		n++
	}
	return n
}

// deviceLine writes the device layout's line for es, entries of one device
// and one poll (SPEC §9):
//
//	device_sample,device=D,site=S P1=1.5,P2=2,P3.quality="bad/comm" TS
//
// one float field per point named by its id, and a string field ID.quality
// ("quality" or "quality/cause") only for points that are not good. A
// point without a finite value and with good quality writes
// ID.quality="good", so a line always has a field.
func deviceLine(b []byte, site string, es []entry) []byte {
	b = append(b, "device_sample"...)
	b = appendTag(b, "device", es[0].Device)
	b = appendTag(b, "site", site)
	sep := byte(' ')
	for _, e := range es {
		fin := finite(e.Value)
		if fin {
			b = append(b, sep)
			sep = ','
			b = appendFieldKey(b, string(e.Point))
			b = append(b, '=')
			b = strconv.AppendFloat(b, e.Value, 'g', -1, 64)
		}
		if e.Quality != drivers.Good || !fin {
			b = append(b, sep)
			sep = ','
			b = appendFieldKey(b, string(e.Point))
			b = append(b, ".quality="...)
			q := e.Quality.String()
			if e.Cause != drivers.CauseNone {
				q += "/" + e.Cause.String()
			}
			b = appendStr(b, q)
		}
	}
	b = append(b, ' ')
	return strconv.AppendInt(b, es[0].Time.UnixNano(), 10)
}
