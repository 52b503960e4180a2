//go:build !linux

package modbus

import (
	"fmt"
	"os"
	"runtime"
)

// bauds lists the rates the config accepts (configs.Bauds); on this
// platform there is no serial support, so the values are unused.
var bauds = map[int]uint32{
	1200: 0, 2400: 0, 4800: 0, 9600: 0, 19200: 0, 38400: 0, 57600: 0, 115200: 0, 230400: 0,
}

// openSerial refuses: serial RTU is built for Linux only (the gateway's
// platform). check, probe over TCP and simulate work here; a serial line is
// reached through a serial device server with transport = "rtu-over-tcp".
func openSerial(path string, _, _ int, _ string, _ int) (*os.File, error) {
	return nil, fmt.Errorf("serial %s: RTU over a serial port is not supported on %s (use transport = \"rtu-over-tcp\" through a serial server)", path, runtime.GOOS)
}

// flushInput has nothing to flush without serial support.
func flushInput(conn) {}
