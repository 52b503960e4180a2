package center

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"hazardgw/store/wal"
)

// Record kinds of the center journal.
const (
	kindEvent  = "event"  // a site's alarm event, as published (Raw)
	kindLost   = "lost"   // site seqs From..To will never come (the site's journal no longer holds them)
	kindNotice = "notice" // a notice the center published
	kindAck    = "ack"    // a site's acknowledgement of a notice
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
	Raw    json.RawMessage `json:"raw,omitempty"` // event, notice or ack as on the wire
	From   uint64          `json:"from,omitempty"`
	To     uint64          `json:"to,omitempty"`
}

// journal is the center's durable log: one file of store/wal records,
// written under Center.mu and fsync'd (group commit, by the syncer) before
// the broker's messages are acknowledged and their frames shown.
type journal struct {
	path string
	f    *os.File
	seq  uint64 // last center seq written
	buf  []byte
}

// journalFile is the journal's name in store.dir.
const journalFile = "center.log"

// openJournal opens (creating) the journal in dir and calls fn for every
// record, in order. A torn tail is cut; damage in the middle loses only
// the damaged records (they are counted in damaged).
func openJournal(dir string, fn func(seq uint64, r record)) (j *journal, damaged int, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	path := filepath.Join(dir, journalFile)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	j = &journal{path: path}
	sc := wal.Scan(data, 0, func(_ int64, seq uint64, payload []byte) {
		var r record
		if json.Unmarshal(payload, &r) != nil {
			damaged++
			return
		}
		j.seq = seq
		fn(seq, r)
	})
	damaged += len(sc.Damaged)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	end := sc.End
	if len(data) == 0 || sc.Version == 0 && end == 0 {
		// A new file: the header first.
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("center journal: %w", err)
		}
		if _, err := f.WriteAt(wal.AppendHeader(nil), 0); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("center journal: %w", err)
		}
		end = wal.HeaderSize
	} else if sc.Torn(int64(len(data))) {
		if err := f.Truncate(end); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("center journal: cut torn tail: %w", err)
		}
	}
	if _, err := f.Seek(end, 0); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	if err := wal.SyncDir(dir); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("center journal: %w", err)
	}
	j.f = f
	return j, damaged, nil
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
// before it was called).
func (j *journal) sync() error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("center journal: fsync: %w", err)
	}
	return nil
}

// write appends rs in one write, not yet durable (group commit: sync
// follows), and returns the center seq of the first.
func (j *journal) write(rs ...record) (uint64, error) {
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
	j.seq += uint64(len(rs))
	return first, nil
}

func (j *journal) close() error { return j.f.Close() }
