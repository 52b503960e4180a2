//go:build !unix

package store

import (
	"errors"
	"os"
)

// mapAnon is not available here: the history falls back to the heap.
func mapAnon(int) ([]byte, error) { return nil, errors.New("no anonymous mmap on this platform") }

func unmapAnon([]byte) {}

// mapFile is not available here: the outbox reads with pread.
func mapFile(*os.File, int64, int) ([]byte, error) {
	return nil, errors.New("no file mmap on this platform")
}

func unmapFile([]byte) {}
