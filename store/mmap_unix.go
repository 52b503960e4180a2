//go:build unix

package store

import (
	"os"
	"syscall"
)

// mapAnon maps n bytes of anonymous memory outside the Go heap (the GC does
// not scan it; it is released with unmapAnon).
func mapAnon(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

func unmapAnon(m []byte) { _ = syscall.Munmap(m) }

// mapFile maps n bytes of f from off (a multiple of the page size)
// read-only; unmapFile releases them.
func mapFile(f *os.File, off int64, n int) ([]byte, error) {
	return syscall.Mmap(int(f.Fd()), off, n, syscall.PROT_READ, syscall.MAP_SHARED)
}

func unmapFile(m []byte) { _ = syscall.Munmap(m) }
