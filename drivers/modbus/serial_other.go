//go:build !linux

package modbus

import (
	"fmt"
	"os"
	"runtime"
)

// openSerial refuses: serial RTU is built for Linux only (the gateway's
// platform). check, probe over TCP and simulate work here; a serial line is
// reached through a serial device server with transport = "rtu-over-tcp".
func openSerial(path string, _, _ int, _ string, _ int) (*os.File, error) {
	return nil, fmt.Errorf("serial %s: RTU over a serial port is not supported on %s (use transport = \"rtu-over-tcp\" through a serial server)", path, runtime.GOOS)
}

// flushInput has nothing to flush without serial support.
func flushInput(conn) {}
