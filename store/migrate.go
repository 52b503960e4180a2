package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"hazardgw/store/wal"
)

// migrate converts a queue directory written by the previous version (its
// segments have no wal header and frame records with 8 bytes: codec.go
// frame) into the wal format, once, keeping every record and the read
// cursor. It returns how many segments it converted (0: nothing to do).
//
// The conversion is built beside the queue and swapped in by renames, so a
// crash at any step leaves either the old queue (converted again at the
// next open) or the new one:
//
//  1. dir.new   ← every segment converted, the cursor mapped to its new offset (fsynced)
//  2. dir       → dir.old
//  3. dir.new   → dir
//  4. dir.old   removed
func migrate(dir string) (int, error) {
	old, tmp := dir+".old", dir+".new"
	switch {
	case exists(old) && !exists(dir):
		if err := os.Rename(old, dir); err != nil { // crashed between 2 and 3
			return 0, err
		}
	case exists(old):
		if err := os.RemoveAll(old); err != nil { // crashed before 4
			return 0, err
		}
	}
	if err := os.RemoveAll(tmp); err != nil { // crashed during 1
		return 0, err
	}
	ids, err := segIDs(dir)
	if err != nil || !legacy(dir, ids) {
		return 0, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return 0, err
	}
	cur, curOK := readCursor(filepath.Join(dir, "cursor"))
	ncur := pos{seg: cur.seg, skip: cur.skip}
	seq := uint64(1)
	for _, id := range ids {
		b, err := os.ReadFile(filepath.Join(dir, segName(id)))
		if err != nil {
			return 0, err
		}
		out := wal.AppendHeader(make([]byte, 0, len(b)+len(b)/8+wal.HeaderSize))
		off := 0
		for off < len(b) {
			if id == cur.seg && int64(off) == cur.off {
				ncur.off = int64(len(out))
			}
			p, n, err := unframe(b[off:])
			if err != nil {
				break // a torn tail: the previous version cut it too
			}
			out = wal.AppendRecord(out, seq, p)
			seq++
			off += n
		}
		if id == cur.seg && cur.off >= int64(off) {
			ncur.off = int64(len(out))
		}
		if err := writeSynced(filepath.Join(tmp, segName(id)), out); err != nil {
			return 0, err
		}
	}
	if curOK {
		if err := writeCursor(tmp, ncur, true); err != nil {
			return 0, err
		}
	}
	if err := wal.SyncDir(tmp); err != nil {
		return 0, err
	}
	if err := os.Rename(dir, old); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return 0, err
	}
	if err := wal.SyncDir(filepath.Dir(dir)); err != nil {
		return 0, err
	}
	return len(ids), os.RemoveAll(old)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// segIDs lists the segment ids in dir, oldest first (none: dir missing).
func segIDs(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, de := range des {
		if id, err := strconv.ParseUint(strings.TrimSuffix(de.Name(), ".seg"), 10, 64); err == nil && strings.HasSuffix(de.Name(), ".seg") {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// legacy reports whether a segment of dir is in the previous format: not
// empty, no wal header, and a whole old record at its start.
func legacy(dir string, ids []uint64) bool {
	for _, id := range ids {
		f, err := os.Open(filepath.Join(dir, segName(id)))
		if err != nil {
			continue
		}
		b := make([]byte, 64<<10)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		b = b[:n]
		if n == 0 || wal.HasHeader(b) {
			continue
		}
		if _, _, err := unframe(b); err == nil {
			return true
		}
		if st, err := os.Stat(filepath.Join(dir, segName(id))); err == nil && st.Size() > int64(n) {
			// A first record longer than what was read: read it whole.
			full, err := os.ReadFile(filepath.Join(dir, segName(id)))
			if _, _, uerr := unframe(full); err == nil && uerr == nil {
				return true
			}
		}
	}
	return false
}

// legacyEntries counts the entries of a queue of the previous format
// (best effort: what can be read).
func legacyEntries(dir string) int {
	ids, _ := segIDs(dir)
	n := 0
	for _, id := range ids {
		b, err := os.ReadFile(filepath.Join(dir, segName(id)))
		if err != nil {
			continue
		}
		for off := 0; off < len(b); {
			p, k, err := unframe(b[off:])
			if err != nil {
				break
			}
			n += entries(p)
			off += k
		}
	}
	return n
}

// writeSynced writes b to path and fsyncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
