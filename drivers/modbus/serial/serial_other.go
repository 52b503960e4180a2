//go:build !linux

package serial

import (
	"fmt"
	"os"
	"runtime"
)

// Open refuses: serial lines are built for Linux only (the gateway's
// platform).
func Open(path string, _ Line) (*os.File, error) {
	return nil, fmt.Errorf("serial %s: not supported on %s", path, runtime.GOOS)
}

// Flush does nothing on this platform.
func Flush(*os.File) {}

// Supported reports whether baud is a speed the config accepts; on this
// platform Open fails whatever the speed.
func Supported(baud int) bool {
	switch baud {
	case 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400:
		return true
	}
	return false
}
