//go:build linux

package modbus

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

var bauds = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600,
	19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600,
	115200: unix.B115200, 230400: unix.B230400,
}

// openSerial opens a serial line raw at the given settings. The file is
// non-blocking and registered with Go's poller, so read deadlines work.
func openSerial(path string, baud, dataBits int, parity string, stopBits int) (*os.File, error) {
	speed, ok := bauds[baud]
	if !ok {
		return nil, fmt.Errorf("baud %d not supported", baud)
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	var terr error
	err = rc.Control(func(fd uintptr) {
		var tio *unix.Termios
		tio, terr = unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if terr != nil {
			return
		}
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CSTOPB | unix.CBAUD | unix.CRTSCTS
		switch dataBits {
		case 7:
			tio.Cflag |= unix.CS7
		default:
			tio.Cflag |= unix.CS8
		}
		switch parity {
		case "E":
			tio.Cflag |= unix.PARENB
		case "O":
			tio.Cflag |= unix.PARENB | unix.PARODD
		}
		if stopBits == 2 {
			tio.Cflag |= unix.CSTOPB
		}
		tio.Cflag |= unix.CREAD | unix.CLOCAL | speed
		tio.Ispeed, tio.Ospeed = speed, speed
		tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
		if terr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio); terr != nil {
			return
		}
		terr = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIOFLUSH)
	})
	if err == nil {
		err = terr
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("configure %s: %w", path, err)
	}
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
