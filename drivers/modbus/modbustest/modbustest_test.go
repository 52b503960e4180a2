package modbustest

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"hazardgw/drivers/modbus/rtuslave"
)

// rtuRead sends a read of holding registers to unit over an RTU stream and
// returns the raw reply.
func rtuRead(t *testing.T, c net.Conn, unit byte, addr, qty uint16, want int) []byte {
	t.Helper()
	req := []byte{unit, 3, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty)}
	req = binary.LittleEndian.AppendUint16(req, rtuslave.CRC(req))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, want)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

func TestRTUOverTCPModes(t *testing.T) {
	gw := StartRTUOverTCP(t)
	u := gw.Unit(1)
	u.SetHolding(0, 0x1234)
	c, err := net.Dial("tcp", gw.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := rtuRead(t, c, 1, 0, 1, 7)
	if got[2] != 2 || got[3] != 0x12 || got[4] != 0x34 || rtuslave.CRC(got[:5]) != binary.LittleEndian.Uint16(got[5:]) {
		t.Fatalf("reply % x", got)
	}
	u.SetExceptionFor(6, 1)
	if got := rtuRead(t, c, 1, 0, 1, 5); got[1] != 0x83 || got[2] != 6 {
		t.Fatalf("exception reply % x", got)
	}
	if got := rtuRead(t, c, 1, 0, 1, 7); got[1] != 3 {
		t.Fatalf("after the exception: % x", got)
	}
	u.SetMode(Garbage)
	if got := rtuRead(t, c, 1, 0, 1, 7); rtuslave.CRC(got[:5]) == binary.LittleEndian.Uint16(got[5:]) {
		t.Fatalf("garbage reply has a good CRC: % x", got)
	}
	u.SetMode(Short)
	if got := rtuRead(t, c, 1, 0, 2, 7); got[2] != 2 {
		t.Fatalf("short reply % x", got)
	}
	if u.Reads() != 5 {
		t.Errorf("reads %d", u.Reads())
	}
}

func TestTCPStopStartSamePort(t *testing.T) {
	s := StartTCP(t)
	addr := s.Addr()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("stopped server still accepts")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("restarted server on %s: %v", addr, err)
	}
	c.Close()
	if s.Addr() != addr {
		t.Errorf("address moved: %s -> %s", addr, s.Addr())
	}
}
