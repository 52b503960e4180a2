package store

import (
	"hazardgw/store/wal"

	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"hazardgw/drivers"
)

// The history file (store.dir/history.bin) is the History's block as it is
// in memory, so trends survive a restart without InfluxDB:
//
//	header   histHeader, little endian (68 bytes)
//	ids      per used slot, in slot order: uvarint length, the point id
//	meta     used × trendMeta   ┐
//	raw      used × Raw rawSample├ the arrays' bytes as in memory
//	buckets  used × Buckets bucket┘ (native layout; sizes in the header)
//
// Two CRCs (Castagnoli): HeaderCRC of the header's fields before it, CRC
// of everything after the header. Only the used slots are written, so the file is at most the block's
// size (plus the ids). A file of another format version or shape (points,
// raw, buckets, span, width, element sizes) is not loaded (errHistoryShape);
// a damaged one neither (errHistoryDamaged).

// histMagic opens a history file.
var histMagic = [8]byte{'h', 'g', 'w', 'h', 'i', 's', 't', '\n'}

// histVersion is the history file's format version.
const histVersion = 1

type histHeader struct {
	Magic                         [8]byte
	Version                       uint32
	MetaSize, RawSize, BucketSize uint32 // element sizes in memory
	Points, Raw, Buckets          uint32 // HistorySize
	Span, Width                   int64  // ns
	Used                          uint32 // slots written
	IDBytes                       uint32 // length of the ids section
	HeaderCRC                     uint32 // of the fields above
	CRC                           uint32 // of the ids and the arrays
}

// headerCRC is the CRC of hd's fields before HeaderCRC.
func headerCRC(hd histHeader) uint32 {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, &hd)
	return crc32.Checksum(b.Bytes()[:b.Len()-8], castagnoli)
}

var (
	// errHistoryShape: the file is sound but of another format or shape
	// (config changed): the history starts empty.
	errHistoryShape = errors.New("saved history has another shape")
	// errHistoryDamaged: the file is not a sound history file.
	errHistoryDamaged = errors.New("saved history is damaged")
)

// header is the file header of h's shape with used slots and idBytes of
// ids, CRCs 0.
func (h *History) header(used, idBytes int) histHeader {
	return histHeader{
		Magic: histMagic, Version: histVersion,
		MetaSize: uint32(unsafe.Sizeof(trendMeta{})), RawSize: uint32(rawBytes), BucketSize: uint32(bucketBytes),
		Points: uint32(h.size.Points), Raw: uint32(h.size.Raw), Buckets: uint32(h.size.Buckets),
		Span: int64(h.span), Width: h.width, Used: uint32(used), IDBytes: uint32(idBytes),
	}
}

// sections are the used part of the three arrays as bytes (no copy).
func (h *History) sections(used int) [3][]byte {
	return [3][]byte{asBytes(h.meta[:used]), asBytes(h.raw[:used*h.size.Raw]), asBytes(h.bucket[:used*h.size.Buckets])}
}

func asBytes[T trendMeta | rawSample | bucket](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

// Save writes the history to path atomically: to path.tmp, fsynced, then
// renamed over path (and the directory fsynced). It holds the read lock
// while writing, so Add waits; the store calls it from its pump goroutine,
// the only one that adds, so nothing is lost meanwhile (the queue holds
// new samples).
func (h *History) Save(path string) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var idb []byte
	for i := range h.used {
		p := h.ids.Name(int32(i))
		idb = binary.AppendUvarint(idb, uint64(len(p)))
		idb = append(idb, p...)
	}
	hd := h.header(h.used, len(idb))
	hd.HeaderCRC = headerCRC(hd)
	crc := crc32.Checksum(idb, castagnoli)
	secs := h.sections(h.used)
	for _, b := range secs {
		crc = crc32.Update(crc, castagnoli, b)
	}
	hd.CRC = crc
	var hb bytes.Buffer
	_ = binary.Write(&hb, binary.LittleEndian, &hd)

	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("history save: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("history save: %w", err)
	}
	werr := writeAll(f, hb.Bytes(), idb, secs[0], secs[1], secs[2])
	if werr == nil {
		werr = f.Sync()
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("history save %s: %w", path, werr)
	}
	_ = wal.SyncDir(filepath.Dir(path)) // the rename is durable at the next one at worst
	return nil
}

func writeAll(w io.Writer, parts ...[]byte) error {
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// Load reads a history saved by Save into h, which must be empty (no slot
// used yet), and returns the number of points loaded. A missing file is an
// error satisfying errors.Is(err, fs.ErrNotExist); a file of another shape
// or format errHistoryShape; a damaged one errHistoryDamaged. On any error
// h stays empty.
func (h *History) Load(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("history load: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("history load: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.used != 0 {
		return 0, errors.New("history load: history already in use")
	}
	n, err := h.load(f, st.Size())
	if err != nil {
		return 0, fmt.Errorf("history load %s: %w", path, err)
	}
	return n, nil
}

// load reads the file (size bytes) from r into h; on error h is left
// empty (only the part read into is cleared, so the untouched pages of the
// block stay untouched).
func (h *History) load(r io.Reader, size int64) (_ int, err error) {
	var hd histHeader
	hsize := int64(binary.Size(hd))
	if size < hsize {
		return 0, fmt.Errorf("%w: %d bytes, shorter than the header", errHistoryDamaged, size)
	}
	if err := binary.Read(r, binary.LittleEndian, &hd); err != nil {
		return 0, fmt.Errorf("%w: %w", errHistoryDamaged, err)
	}
	if hd.Magic != histMagic {
		return 0, fmt.Errorf("%w: not a history file", errHistoryDamaged)
	}
	if hd.Version != histVersion {
		return 0, fmt.Errorf("%w: format version %d, this gateway writes %d", errHistoryShape, hd.Version, histVersion)
	}
	if headerCRC(hd) != hd.HeaderCRC {
		return 0, fmt.Errorf("%w: header CRC mismatch", errHistoryDamaged)
	}
	want := h.header(int(hd.Used), int(hd.IDBytes))
	want.HeaderCRC, want.CRC = hd.HeaderCRC, hd.CRC
	if hd != want {
		return 0, fmt.Errorf("%w: saved %d points × %d raw + %d buckets over %v, now %d × %d + %d over %v",
			errHistoryShape, hd.Points, hd.Raw, hd.Buckets, time.Duration(hd.Span), h.size.Points, h.size.Raw, h.size.Buckets, h.span)
	}
	used := int(hd.Used)
	if used > h.size.Points {
		return 0, fmt.Errorf("%w: %d slots used of %d", errHistoryDamaged, used, h.size.Points)
	}
	secs := h.sections(used)
	defer func() {
		if err != nil {
			for _, b := range secs {
				clear(b)
			}
			h.ids.Reset()
		}
	}()
	if body := int64(hd.IDBytes) + int64(len(secs[0])+len(secs[1])+len(secs[2])); size != hsize+body {
		return 0, fmt.Errorf("%w: %d bytes, the header says %d", errHistoryDamaged, size, hsize+body)
	}
	idb := make([]byte, hd.IDBytes)
	if _, err := io.ReadFull(r, idb); err != nil {
		return 0, fmt.Errorf("%w: %w", errHistoryDamaged, err)
	}
	for _, b := range secs {
		if _, err := io.ReadFull(r, b); err != nil {
			return 0, fmt.Errorf("%w: %w", errHistoryDamaged, err)
		}
	}
	crc := crc32.Checksum(idb, castagnoli)
	for _, b := range secs {
		crc = crc32.Update(crc, castagnoli, b)
	}
	if crc != hd.CRC {
		return 0, fmt.Errorf("%w: CRC mismatch", errHistoryDamaged)
	}
	// Sound bytes; still check what indexes the arrays, so no file can
	// make Add or Since read out of bounds.
	R, B := int32(h.size.Raw), int32(h.size.Buckets)
	for i, m := range h.meta[:used] {
		if m.rawN < 0 || m.rawN > R || m.rawHead < 0 || (m.rawHead >= R && R > 0) ||
			m.bN < 0 || m.bN > B || m.bHead < 0 || (m.bHead >= B && B > 0) {
			return 0, fmt.Errorf("%w: slot %d out of range", errHistoryDamaged, i)
		}
	}
	for i := range used {
		l, k := binary.Uvarint(idb)
		if k <= 0 || uint64(len(idb)-k) < l {
			return 0, fmt.Errorf("%w: id of slot %d", errHistoryDamaged, i)
		}
		p := drivers.PointID(idb[k : k+int(l)])
		idb = idb[k+int(l):]
		if h.ids.Find(p) >= 0 {
			return 0, fmt.Errorf("%w: point %s twice", errHistoryDamaged, p)
		}
		h.ids.Add(p)
	}
	if len(idb) != 0 {
		return 0, fmt.Errorf("%w: %d bytes after the ids", errHistoryDamaged, len(idb))
	}
	h.used = used
	return used, nil
}

// historySaveEvery is how often the store saves the history without
// InfluxDB (besides at the end of Run): what a crash can lose.
const historySaveEvery = 5 * time.Minute

// HistoryFile is where the trend history is saved under store.dir.
func (s *Store) HistoryFile() string { return filepath.Join(s.dir, "history.bin") }

// loadHistory loads the saved history (Run only, before the first pump).
// Not loading is never fatal: a missing file is normal, another shape is
// logged at INFO, a damaged file at WARN; the history then starts empty.
func (s *Store) loadHistory() {
	n, err := s.hist.Load(s.HistoryFile())
	switch {
	case err == nil:
		s.log.Info("trend history loaded", "points", n, "file", s.HistoryFile())
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, errHistoryShape):
		s.log.Info("trend history starts empty", "reason", err)
	default:
		s.log.Warn("trend history file ignored", "err", err)
	}
}

// saveHistory saves the history (pump goroutine only: nothing adds
// meanwhile). A failure is logged; the previous file stays.
func (s *Store) saveHistory() {
	if err := s.hist.Save(s.HistoryFile()); err != nil {
		s.log.Warn("trend history not saved", "err", err)
	}
}
