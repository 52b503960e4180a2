// Package waltest helps tests of the gateway's durable logs (store/wal
// and its users: the alarm journal, the outbox, the records log).
//
// Fuzz targets that open a log on disk run thousands of times a minute;
// each open fsyncs files and directories. FastDir puts those execs on
// tmpfs, where an fsync costs nothing, and Clear empties the directory
// between execs instead of making a new one each time. What a target
// checks does not change; only where the bytes live.
//
// Concurrency: a fuzz worker runs its execs one after the other, so one
// directory per target per worker process is enough.
package waltest

import (
	"os"
	"path/filepath"
	"testing"
)

// FastDir returns a new directory under /dev/shm when that is a directory
// (tmpfs), else under the test's temporary directory. It is removed when
// the test ends.
func FastDir(tb testing.TB) string {
	tb.Helper()
	parent := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		parent = "/dev/shm"
	}
	dir, err := os.MkdirTemp(parent, "hazardgw-test-")
	if err != nil {
		return tb.TempDir()
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Clear removes everything in dir, keeping dir.
func Clear(tb testing.TB, dir string) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			tb.Fatal(err)
		}
	}
}
