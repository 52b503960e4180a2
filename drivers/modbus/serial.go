//go:build linux

package modbus

import (
	"os"

	"golang.org/x/sys/unix"

	"hazardgw/drivers/modbus/serial"
)

// openSerial opens a serial line raw at the given settings, with nothing
// left over from before in either direction. The file is non-blocking and
// registered with Go's poller, so read deadlines work.
func openSerial(path string, baud, dataBits int, parity string, stopBits int) (*os.File, error) {
	f, err := serial.Open(path, serial.Line{Baud: baud, DataBits: dataBits, Parity: parity, StopBits: stopBits})
	if err != nil {
		return nil, err
	}
	serial.Flush(f)
	return f, nil
}

// flushInput discards bytes received but not read (TCIFLUSH).
func flushInput(c conn) {
	f, ok := c.(*os.File)
	if !ok {
		return
	}
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH) })
	}
}
