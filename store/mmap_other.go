//go:build !unix

package store

import "errors"

// mapAnon is not available here: the history falls back to the heap.
func mapAnon(int) ([]byte, error) { return nil, errors.New("no anonymous mmap on this platform") }

func unmapAnon([]byte) {}
