//go:build linux

package serial_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"hazardgw/drivers/modbus/pty"
	"hazardgw/drivers/modbus/serial"
)

// TestOpenSetsTheLine opens the slave end of a kernel pty at each framing
// and reads the terminal settings back. A Linux pty keeps the speed and the
// raw mode but forces 8 data bits without parity, so the framing bits are
// not checked here (the driver's RTU tests run 8E1 end to end).
func TestOpenSetsTheLine(t *testing.T) {
	tests := []struct {
		name      string
		line      serial.Line
		wantSet   uint32 // Cflag bits that must be set
		wantClear uint32 // Cflag bits that must be clear
		wantSpeed uint32 // 0: not checked
	}{
		{"raw", serial.Raw, unix.CS8 | unix.CREAD | unix.CLOCAL, unix.PARENB | unix.CSTOPB | unix.CRTSCTS, 0},
		{"9600 8E1", serial.Line{Baud: 9600, DataBits: 8, Parity: "E", StopBits: 1}, unix.CREAD | unix.CLOCAL, unix.CRTSCTS, unix.B9600},
		{"19200 7O2", serial.Line{Baud: 19200, DataBits: 7, Parity: "O", StopBits: 2}, unix.CREAD | unix.CLOCAL, unix.CRTSCTS, unix.B19200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, slave, err := pty.OpenKernel()
			if err != nil {
				t.Fatal(err)
			}
			defer master.Close()
			f, err := serial.Open(slave, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if got := tio.Cflag & tt.wantSet; got != tt.wantSet {
				t.Errorf("Cflag %#o: want %#o set", tio.Cflag, tt.wantSet)
			}
			if got := tio.Cflag & tt.wantClear; got != 0 {
				t.Errorf("Cflag %#o: want %#o clear", tio.Cflag, tt.wantClear)
			}
			if tio.Lflag&(unix.ICANON|unix.ECHO) != 0 {
				t.Errorf("Lflag %#o: still canonical or echoing", tio.Lflag)
			}
			if tt.wantSpeed != 0 && tio.Cflag&unix.CBAUD != tt.wantSpeed {
				t.Errorf("speed bits %#o, want %#o", tio.Cflag&unix.CBAUD, tt.wantSpeed)
			}
		})
	}
}

func TestOpenRefusesUnknownBaud(t *testing.T) {
	if serial.Supported(12345) {
		t.Fatal("12345 baud supported")
	}
	if _, err := serial.Open("/nonexistent", serial.Line{Baud: 12345}); err == nil {
		t.Fatal("Open at 12345 baud: no error")
	}
}
