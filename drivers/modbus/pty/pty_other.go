//go:build !linux

package pty

import (
	"errors"
	"os"
)

var errPlatform = errors.New("pty: pseudo-terminal pairs are built for Linux only")

// Pair is a linked pty pair (Linux only).
type Pair struct {
	A, B string
}

// Start fails on this platform.
func Start(a, b string) (*Pair, error) { return nil, errPlatform }

// Close does nothing on this platform.
func (p *Pair) Close() {}

// OpenRaw fails on this platform.
func OpenRaw(path string) (*os.File, error) { return nil, errPlatform }

// OpenKernel fails on this platform.
func OpenKernel() (master *os.File, slavePath string, err error) { return nil, "", errPlatform }
