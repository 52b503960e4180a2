package wal

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// Format constants of a segment file.
const (
	// HeaderSize is the size of a segment header.
	HeaderSize = 16
	// RecordHeader is the size of a record's frame before its payload.
	RecordHeader = 16
	// MaxRecord bounds a record's payload; a longer length is damage.
	MaxRecord = 1 << 20
	// Version is the format version this package writes.
	Version = 1
)

var magic = [8]byte{'H', 'Z', 'G', 'W', 'L', 'O', 'G', 0}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// AppendHeader appends a segment header of the current Version to b.
func AppendHeader(b []byte) []byte {
	start := len(b)
	b = append(b, magic[:]...)
	b = binary.LittleEndian.AppendUint32(b, Version)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:start+12], crcTable))
}

// HasHeader reports whether b starts with a segment header's magic (the
// version and CRC aside: Scan checks those).
func HasHeader(b []byte) bool { return len(b) >= len(magic) && bytes.Equal(b[:len(magic)], magic[:]) }

// AppendRecord appends one framed record to b.
func AppendRecord(b []byte, seq uint64, payload []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, RecordHeader)...)
	b = append(b, payload...)
	FinishRecord(b[start:], seq)
	return b
}

// FinishRecord fills the frame of rec, a record whose payload was already
// written after RecordHeader reserved bytes.
func FinishRecord(rec []byte, seq uint64) {
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)-RecordHeader))
	binary.LittleEndian.PutUint64(rec[8:], seq)
	binary.LittleEndian.PutUint32(rec[4:], crc32.Update(crc32.Checksum(rec[8:16], crcTable), crcTable, rec[RecordHeader:]))
}

// Span is a byte range of a segment: [Off, Off+Len).
type Span struct {
	Off, Len int64
}

// Scanned is what Scan found in a segment.
type Scanned struct {
	// Version of the segment format: 0 for a file without header.
	Version int
	// Start is the offset of the first record (HeaderSize, or 0 for
	// version 0).
	Start int64
	// End is the offset after the last valid record: anything beyond it
	// is a torn tail to cut.
	End int64
	// Damaged are the byte ranges skipped between valid records (each
	// held at least one record that is lost).
	Damaged []Span
	// BadHeader reports a header whose magic matched but whose version or
	// CRC did not: the file was read as version 1 all the same.
	BadHeader bool
}

// Torn reports whether size bytes on disk go beyond the valid records.
func (s Scanned) Torn(size int64) bool { return size > s.End }

// Scan checks every record of the segment b (its whole content). fn is
// called for each valid record in order with its offset, seq and payload
// (a sub-slice of b). Seqs must increase strictly; minSeq is the lowest
// seq accepted (the segment's first, or 0 for any).
//
// A record that does not check is skipped: Scan looks for the next offset
// where a valid record with a later seq starts. Found: the bytes between
// are one Damaged span. Not found: the rest is a torn tail (End).
func Scan(b []byte, minSeq uint64, fn func(off int64, seq uint64, payload []byte)) Scanned {
	var s Scanned
	if HasHeader(b) {
		s.Version, s.Start = Version, HeaderSize
		if len(b) < HeaderSize {
			s.End = 0
			return s
		}
		if binary.LittleEndian.Uint32(b[8:]) != Version ||
			binary.LittleEndian.Uint32(b[12:]) != crc32.Checksum(b[:12], crcTable) {
			s.BadHeader = true
		}
	}
	off := s.Start
	s.End = off
	next := minSeq
	for off < int64(len(b)) {
		seq, n, ok := record(b[off:], next)
		if ok {
			if fn != nil {
				fn(off, seq, b[off+RecordHeader:off+RecordHeader+n])
			}
			off += RecordHeader + n
			s.End = off
			next = seq + 1
			continue
		}
		// Resync: the next offset where a record checks.
		found := int64(-1)
		for p := off + 1; p+RecordHeader <= int64(len(b)); p++ {
			if seq := binary.LittleEndian.Uint64(b[p+8:]); seq-next > resyncWindow {
				continue // cheap filter before the CRC: not a plausible seq
			}
			if _, _, ok := record(b[p:], next); ok {
				found = p
				break
			}
		}
		if found < 0 {
			break // torn tail: End stays after the last valid record
		}
		s.Damaged = append(s.Damaged, Span{off, found - off})
		off = found
	}
	return s
}

// resyncWindow bounds how far past the last good seq a record found by
// resync may be: random bytes rarely pass it, which keeps resync fast.
const resyncWindow = 1 << 32

// record decodes the record at the start of b if it is whole, its CRC
// checks and its seq is at least minSeq.
func record(b []byte, minSeq uint64) (seq uint64, n int64, ok bool) {
	if len(b) < RecordHeader {
		return 0, 0, false
	}
	n = int64(binary.LittleEndian.Uint32(b))
	seq = binary.LittleEndian.Uint64(b[8:])
	if n > MaxRecord || n > int64(len(b))-RecordHeader || seq < minSeq {
		return 0, 0, false
	}
	crc := binary.LittleEndian.Uint32(b[4:])
	if crc32.Update(crc32.Checksum(b[8:16], crcTable), crcTable, b[RecordHeader:RecordHeader+n]) != crc {
		return 0, 0, false
	}
	return seq, n, true
}

// Record decodes the one record at the start of b (as Scan checked it):
// its seq and payload, and whether it checks.
func Record(b []byte) (seq uint64, payload []byte, ok bool) {
	seq, n, ok := record(b, 0)
	if !ok {
		return 0, nil, false
	}
	return seq, b[RecordHeader : RecordHeader+n], true
}
