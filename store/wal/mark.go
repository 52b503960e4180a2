package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// Mark is a uint64 kept durably in a file of fixed size (two 32-byte
// slots). Store overwrites the older slot in place and fsyncs: no block is
// allocated after the file was made, so a full disk does not stop it. A
// torn write damages one slot; the other still holds the previous value.
//
//	slot: generation uint64 LE | value uint64 LE | CRC-32C of the 16 bytes | 12 bytes zero
type Mark struct {
	f     *os.File
	gen   uint64
	value uint64
	ok    bool
}

const (
	markSlot = 32
	markSize = 2 * markSlot
)

// ErrMarkDamaged is returned by OpenMark (with a usable Mark) when the file
// exists but neither slot checks.
var ErrMarkDamaged = errors.New("mark damaged")

// OpenMark opens the mark at path, creating it (full size, synced; the
// caller syncs the directory) when missing. Value reports whether a value
// was read. A file whose slots both fail their CRC opens with
// ErrMarkDamaged wrapped and a Mark that can be stored to.
func OpenMark(path string) (*Mark, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("mark: %w", err)
	}
	m := &Mark{f: f}
	b := make([]byte, markSize)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("mark %s: %w", path, err)
	}
	m.parse(b[:n])
	if n < markSize {
		// New (or short) file: give it its full size now, while the disk
		// may still have room, so Store never needs a new block.
		if _, err := f.WriteAt(make([]byte, markSize-n), int64(n)); err != nil {
			f.Close()
			return nil, fmt.Errorf("mark %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("mark %s: %w", path, err)
		}
	}
	if !m.ok && n > 0 {
		return m, fmt.Errorf("mark %s: %w", path, ErrMarkDamaged)
	}
	return m, nil
}

// ReadMark reads the mark at path without creating or changing it (ok
// false: missing; ErrMarkDamaged wrapped: present but unreadable).
func ReadMark(path string) (v uint64, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("mark: %w", err)
	}
	var m Mark
	m.parse(b)
	if !m.ok {
		return 0, false, fmt.Errorf("mark %s: %w", path, ErrMarkDamaged)
	}
	return m.value, true, nil
}

func (m *Mark) parse(b []byte) {
	for i := 0; i+markSlot <= len(b); i += markSlot {
		s := b[i : i+markSlot]
		if binary.LittleEndian.Uint32(s[16:]) != crc32.Checksum(s[:16], crcTable) {
			continue
		}
		if g := binary.LittleEndian.Uint64(s); !m.ok || g > m.gen {
			m.gen, m.value, m.ok = g, binary.LittleEndian.Uint64(s[8:]), true
		}
	}
}

// Value is the value last stored (ok false: none was ever stored, or the
// file was damaged).
func (m *Mark) Value() (v uint64, ok bool) { return m.value, m.ok }

// Store writes v durably (write in place, fsync) unless sync is false.
func (m *Mark) Store(v uint64, sync bool) error {
	var s [markSlot]byte
	g := m.gen + 1
	binary.LittleEndian.PutUint64(s[0:], g)
	binary.LittleEndian.PutUint64(s[8:], v)
	binary.LittleEndian.PutUint32(s[16:], crc32.Checksum(s[:16], crcTable))
	if _, err := m.f.WriteAt(s[:], int64(g%2)*markSlot); err != nil {
		return fmt.Errorf("mark %s: %w", m.f.Name(), err)
	}
	if sync {
		if err := m.f.Sync(); err != nil {
			return fmt.Errorf("mark %s: fsync: %w", m.f.Name(), err)
		}
	}
	m.gen, m.value, m.ok = g, v, true
	return nil
}

// Close closes the file.
func (m *Mark) Close() error { return m.f.Close() }
