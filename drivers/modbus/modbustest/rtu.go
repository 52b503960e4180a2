package modbustest

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"hazardgw/drivers/modbus/pty"
	"hazardgw/drivers/modbus/rtuslave"
)

// RTUSlave answers Modbus RTU on one end of a socat pty pair; the driver
// opens the other end, Path. Any number of units share the line, as on an
// RS-485 bus; a request for a unit never created gets no answer.
type RTUSlave struct {
	units
	// Path is the pty the master (the driver under test) opens.
	Path string

	pair *pty.Pair
	f    *os.File
	done chan struct{}
	wg   sync.WaitGroup
}

// EnsureSocat installs socat with apt-get when it is missing and fails the
// test loudly if it cannot.
func EnsureSocat(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("socat"); err == nil {
		return
	}
	out, err := exec.Command("apt-get", "install", "-y", "socat").CombinedOutput()
	if err != nil {
		if out2, err2 := exec.Command("sh", "-c", "apt-get update && apt-get install -y socat").CombinedOutput(); err2 != nil {
			tb.Fatalf("modbustest: socat is missing and apt-get could not install it: %v\n%s\n%s", err2, out, out2)
		}
	}
	if _, err := exec.LookPath("socat"); err != nil {
		tb.Fatalf("modbustest: socat still missing after apt-get: %v", err)
	}
}

// StartRTU creates a pty pair with socat, serves the slave end and stops
// both when the test ends.
func StartRTU(tb testing.TB) *RTUSlave {
	tb.Helper()
	EnsureSocat(tb)
	s, err := NewRTU(tb.TempDir())
	if err != nil {
		tb.Fatalf("modbustest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// NewRTU is StartRTU for programs: the pty links are made in dir; the
// caller calls Close.
func NewRTU(dir string) (*RTUSlave, error) {
	pair, err := pty.Start(filepath.Join(dir, "master"), filepath.Join(dir, "slave"))
	if err != nil {
		return nil, err
	}
	f, err := pty.OpenRaw(pair.B)
	if err != nil {
		pair.Close()
		return nil, err
	}
	s := &RTUSlave{Path: pair.A, pair: pair, f: f, done: make(chan struct{})}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Unit returns unit id, creating it (it answers from now on).
func (s *RTUSlave) Unit(id byte) *Unit { return s.unit(id) }

// Close stops serving and ends socat.
func (s *RTUSlave) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.f.SetReadDeadline(time.Now())
	s.wg.Wait()
	s.f.Close()
	if s.pair != nil {
		s.pair.Close()
	}
}

// StartRTUKernel is StartRTU on a kernel pty pair, with no socat between
// the driver and the slave: for measuring the driver's own time.
func StartRTUKernel(tb testing.TB) *RTUSlave {
	tb.Helper()
	f, path, err := pty.OpenKernel()
	if err != nil {
		tb.Fatalf("modbustest: %v", err)
	}
	s := &RTUSlave{Path: path, f: f, done: make(chan struct{})}
	s.wg.Add(1)
	go s.serve()
	tb.Cleanup(s.Close)
	return s
}

// serve answers on the pty until Close.
func (s *RTUSlave) serve() {
	defer s.wg.Done()
	serveRTU(&s.units, s.f, s.done)
}

// serveRTU answers the requests on rw addressed to a known unit until a
// read fails or done is closed.
func serveRTU(us *units, rw io.ReadWriter, done <-chan struct{}) {
	stop := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	rtuslave.Serve(rw, stop, func(frame []byte) { answer(us, rw, frame, done) })
}

func answer(us *units, w io.Writer, req []byte, done <-chan struct{}) {
	u := us.lookup(req[0])
	if u == nil {
		return
	}
	fc := req[1]
	write := fc == 5 || fc == 6 || fc == 15 || fc == 16
	b := u.begin(write)
	if b.mode == Silent {
		return
	}
	if b.delay > 0 {
		// Answer when the delay is up, not when a timer happens to fire:
		// sleep to a millisecond before it, then yield until it is due
		// (a timer overshoots by ~0.4 ms here, which a real device's
		// UART does not; the RTU benchmark emulates the wire with it).
		due := time.Now().Add(b.delay)
		if b.delay > time.Millisecond {
			t := time.NewTimer(b.delay - time.Millisecond)
			select {
			case <-t.C:
			case <-done:
				t.Stop()
				return
			}
		}
		for time.Now().Before(due) {
			runtime.Gosched()
		}
	}
	var pdu []byte
	if b.exception != 0 {
		pdu = []byte{fc | 0x80, b.exception}
	} else {
		pdu = u.execute(req[1:len(req)-2], b.mode == Short)
	}
	adu := rtuslave.ADU(req[0], pdu)
	switch b.mode {
	case Garbage:
		adu[len(adu)-1] ^= 0x5A
	case Truncated:
		adu = adu[:len(adu)/2]
	}
	w.Write(adu)
}

// readLimits is the most one read may ask for, by function code: 2000
// coils or discrete inputs, 125 registers (Modbus application protocol
// §6.1-6.4); more is exception 02.
var readLimits = map[byte]int{1: 2000, 2: 2000, 3: 125, 4: 125}

// execute runs a request PDU on the unit's tables and returns the reply PDU.
func (u *Unit) execute(pdu []byte, short bool) []byte {
	fc := pdu[0]
	addr := int(binary.BigEndian.Uint16(pdu[1:]))
	qty := int(binary.BigEndian.Uint16(pdu[3:]))
	u.mu.Lock()
	defer u.mu.Unlock()
	ex := func(code byte) []byte { return []byte{fc | 0x80, code} }
	if limit, ok := readLimits[fc]; ok && (qty < 1 || qty > limit || addr+qty > 65536) {
		return ex(2)
	}
	switch fc {
	case 1, 2:
		t := u.coils
		if fc == 2 {
			t = u.discrete
		}
		bits := t.get(addr, qty)
		out := make([]byte, (qty+7)/8)
		for i, v := range bits {
			if v {
				out[i/8] |= 1 << (i % 8)
			}
		}
		if short {
			out = out[:len(out)-1]
		}
		return append([]byte{fc, byte(len(out))}, out...)
	case 3, 4:
		t := u.holding
		if fc == 4 {
			t = u.input
		}
		if short {
			qty--
		}
		out := []byte{fc, byte(2 * qty)}
		for _, v := range t.get(addr, qty) {
			out = binary.BigEndian.AppendUint16(out, v)
		}
		return out
	case 5:
		u.coils.set(addr, []bool{qty == 0xFF00})
		return pdu[:5]
	case 6:
		u.holding.set(addr, []uint16{uint16(qty)})
		return pdu[:5]
	case 15:
		bits := make([]bool, qty)
		for i := range bits {
			bits[i] = pdu[6+i/8]>>(i%8)&1 == 1
		}
		u.coils.set(addr, bits)
		return pdu[:5]
	case 16:
		regs := make([]uint16, qty)
		for i := range regs {
			regs[i] = binary.BigEndian.Uint16(pdu[6+2*i:])
		}
		u.holding.set(addr, regs)
		return pdu[:5]
	}
	return ex(1)
}

// RTUOverTCP is a serial gateway on a loopback port: RTU frames over TCP,
// any number of units behind it.
type RTUOverTCP struct {
	units
	l    net.Listener
	done chan struct{}
	wg   sync.WaitGroup
}

// StartRTUOverTCP listens on a free loopback port until the test ends.
func StartRTUOverTCP(tb testing.TB) *RTUOverTCP {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("modbustest: %v", err)
	}
	s := &RTUOverTCP{l: l, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				go func() { <-s.done; c.Close() }()
				serveRTU(&s.units, c, s.done)
			}()
		}
	}()
	tb.Cleanup(func() {
		close(s.done)
		l.Close()
		s.wg.Wait()
	})
	return s
}

// Addr is the gateway's host:port.
func (s *RTUOverTCP) Addr() string { return s.l.Addr().String() }

// Unit returns unit id, creating it.
func (s *RTUOverTCP) Unit(id byte) *Unit { return s.unit(id) }
