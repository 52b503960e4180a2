package wal

import (
	"fmt"
	"os"
)

// SyncDir fsyncs a directory, so that a file just created or renamed in it
// survives a power cut. The one directory fsync of the gateway's durable
// files (journal, outbox, records, cursors, trend history).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
