package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"
)

// The transports below implement goburrow's Transporter (Send) with what
// goburrow's own lacks (DOMAIN §7):
//
//   - every request has a deadline, and after a timeout, a broken frame or a
//     wrong transaction id the connection is closed (TCP) or the line is
//     drained (serial), so a late reply can never be taken for the answer to
//     the next request;
//   - RTU replies are read as they arrive, their length known from the
//     function code, instead of sleeping a fixed time per request; the
//     3.5-character silence is kept between frames.
//
// A transport is used by one bus goroutine only.

// errFraming marks a reply that arrived but is not a valid frame.
var errFraming = errors.New("malformed reply")

// transport is a goburrow Transporter the bus can steer.
type transport interface {
	// Send writes a request ADU and returns the reply ADU, a slice of the
	// transport's buffer: valid until the next Send (the bus reads it
	// before its next transaction, as goburrow's client does).
	Send(adu []byte) ([]byte, error)
	// setTimeout sets the deadline of the following requests.
	setTimeout(d time.Duration)
	// reset drops the connection state after an error the packager found
	// (a wrong transaction id, a bad CRC): the next Send starts clean.
	reset()
	Close() error
}

// conn is a byte stream with deadlines: a net.Conn or a serial *os.File.
type conn interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// tcpTransport speaks Modbus TCP (MBAP) on one connection.
type tcpTransport struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	buf     [260]byte
}

func (t *tcpTransport) setTimeout(d time.Duration) { t.timeout = d }

func (t *tcpTransport) reset() { _ = t.Close() }

func (t *tcpTransport) Close() error {
	if t.c == nil {
		return nil
	}
	err := t.c.Close()
	t.c = nil
	return err
}

func (t *tcpTransport) Send(req []byte) ([]byte, error) {
	if t.c == nil {
		c, err := net.DialTimeout("tcp", t.addr, max(t.timeout, time.Second))
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		t.c = c
	}
	deadline := time.Now().Add(t.timeout)
	_ = t.c.SetDeadline(deadline)
	if _, err := t.c.Write(req); err != nil {
		t.reset()
		return nil, err
	}
	if _, err := io.ReadFull(t.c, t.buf[:7]); err != nil {
		t.reset()
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(t.buf[4:]))
	if n < 2 || n > 254 {
		t.reset()
		return nil, fmt.Errorf("%w: MBAP length %d", errFraming, n)
	}
	if _, err := io.ReadFull(t.c, t.buf[7:6+n]); err != nil {
		t.reset()
		return nil, err
	}
	return t.buf[:6+n], nil
}

// rtuTransport speaks Modbus RTU on a serial line or on a TCP connection to
// a serial gateway (RTU over TCP).
type rtuTransport struct {
	open    func() (conn, error)
	serial  bool          // drain the line after an error instead of closing
	flush   func(conn)    // serial: discard unread input before a request
	silence time.Duration // 3.5 characters
	timeout time.Duration
	c       conn
	last    time.Time // end of the last frame seen on the line
	dirty   bool      // an error left bytes of unknown origin on the line
	buf     [256]byte
}

// charTime is the duration of one character of bits bits at baud.
func charTime(baud, bits int) time.Duration {
	return time.Duration(bits) * time.Second / time.Duration(baud)
}

// silenceFor is the 3.5-character inter-frame gap, fixed at 1.75 ms above
// 19200 baud (Modbus over serial line, 2.5.1.1).
func silenceFor(baud, bits int) time.Duration {
	if baud <= 0 || baud > 19200 {
		return 1750 * time.Microsecond
	}
	return charTime(baud, bits) * 7 / 2
}

func (t *rtuTransport) setTimeout(d time.Duration) { t.timeout = d }

func (t *rtuTransport) reset() {
	if t.serial {
		t.dirty = true
		return
	}
	_ = t.Close()
}

func (t *rtuTransport) Close() error {
	if t.c == nil {
		return nil
	}
	err := t.c.Close()
	t.c = nil
	return err
}

// drain discards whatever arrives until the line has been silent for a
// while: the rest of a garbage or late reply.
func (t *rtuTransport) drain() {
	quiet := max(4*t.silence, 5*time.Millisecond)
	for {
		_ = t.c.SetReadDeadline(time.Now().Add(quiet))
		if _, err := t.c.Read(t.buf[:]); err != nil {
			break
		}
	}
	t.last = time.Now()
	t.dirty = false
}

func (t *rtuTransport) Send(req []byte) ([]byte, error) {
	if t.c == nil {
		c, err := t.open()
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		t.c, t.last, t.dirty = c, time.Now(), false
	}
	if t.dirty {
		t.drain()
	}
	waitUntil(t.last.Add(t.silence))
	if t.flush != nil {
		t.flush(t.c)
	}
	deadline := time.Now().Add(t.timeout)
	_ = t.c.SetWriteDeadline(deadline)
	if _, err := t.c.Write(req); err != nil {
		t.fail(err)
		return nil, err
	}
	_ = t.c.SetReadDeadline(deadline)
	n, want := 0, 3
	for n < want {
		m, err := t.c.Read(t.buf[n:])
		n += m
		if err != nil {
			t.fail(err)
			if n > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("%w: %d of %d bytes before the timeout: %w", errFraming, n, want, err)
			}
			return nil, err
		}
		if n >= 3 && want == 3 {
			want = rtuLength(t.buf[:n])
			if want < 0 {
				t.fail(errFraming)
				return nil, fmt.Errorf("%w: function code %d", errFraming, t.buf[1])
			}
		}
	}
	t.last = time.Now()
	if n > want {
		// More bytes than the frame: noise or another reply behind it.
		t.dirty = true
		n = want
	}
	return t.buf[:n], nil
}

// fail records an error of the line: a timeout or a bad frame leaves the
// serial line to be drained; any other error (the port or the connection is
// gone) closes it, so the next request opens it again.
func (t *rtuTransport) fail(err error) {
	t.last = time.Now()
	if t.serial && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, errFraming)) {
		t.dirty = true
		return
	}
	_ = t.Close()
}

// rtuLength is the length of an RTU reply from its first three bytes
// (unit, function, byte count or first data byte), or -1.
func rtuLength(h []byte) int {
	fc := h[1]
	switch {
	case fc&0x80 != 0:
		return 5
	case fc >= 1 && fc <= 4:
		n := 5 + int(h[2])
		if n > 256 {
			return -1
		}
		return n
	case fc == 5 || fc == 6 || fc == 15 || fc == 16:
		return 8
	}
	return -1
}

// spinFor is how much of a wait is spent yielding instead of sleeping: a
// timer sleep overshoots by about 0.4 ms on a loaded Linux host, a quarter
// of the whole 1.75 ms silence. The spin only happens when requests follow
// each other back to back (a saturated bus); on a bus with idle time the
// silence has passed before the next request is due.
const spinFor = 600 * time.Microsecond

// waitUntil returns at t, not much later.
func waitUntil(t time.Time) {
	if d := time.Until(t); d > spinFor {
		time.Sleep(d - spinFor)
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}
