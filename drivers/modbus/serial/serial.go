//go:build linux

package serial

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

// Open opens path raw at l: no echo, no line editing, no flow control, no
// byte translation, reads return as soon as one byte is there. The file is
// non-blocking and registered with Go's poller, so read deadlines (and
// Close) end a pending Read. Errors name the path.
func Open(path string, l Line) (*os.File, error) {
	speed, ok := bauds[l.Baud]
	if !ok && l.Baud != 0 {
		return nil, fmt.Errorf("baud %d not supported", l.Baud)
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
		l.set(tio, speed)
		terr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio)
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

// set makes tio raw at l; speed is l.Baud's constant (unused when 0).
func (l Line) set(tio *unix.Termios, speed uint32) {
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CSTOPB | unix.CRTSCTS
	switch l.DataBits {
	case 7:
		tio.Cflag |= unix.CS7
	default:
		tio.Cflag |= unix.CS8
	}
	switch l.Parity {
	case "E":
		tio.Cflag |= unix.PARENB
	case "O":
		tio.Cflag |= unix.PARENB | unix.PARODD
	}
	if l.StopBits == 2 {
		tio.Cflag |= unix.CSTOPB
	}
	tio.Cflag |= unix.CREAD | unix.CLOCAL
	if l.Baud != 0 {
		tio.Cflag &^= unix.CBAUD
		tio.Cflag |= speed
		tio.Ispeed, tio.Ospeed = speed, speed
	}
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
}

// Flush discards what was received and not read, and what was written and
// not sent (TCIOFLUSH). A file that is not a terminal is left alone.
func Flush(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIOFLUSH) })
	}
}

// Supported reports whether baud is a speed Open can set.
func Supported(baud int) bool {
	_, ok := bauds[baud]
	return ok
}
