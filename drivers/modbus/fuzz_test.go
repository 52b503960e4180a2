package modbus

import (
	"bytes"
	"net"
	"os"
	"testing"
	"time"

	gmb "github.com/goburrow/modbus"
)

// byteConn replays fixed bytes as what the line delivers; once they are
// used up every read times out.
type byteConn struct{ r *bytes.Reader }

func (c *byteConn) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return c.r.Read(p[:min(len(p), 3)]) // arrive in pieces
}
func (c *byteConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *byteConn) Close() error                     { return nil }
func (c *byteConn) SetReadDeadline(time.Time) error  { return nil }
func (c *byteConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzRTUReply feeds arbitrary bytes to the RTU transport and goburrow's
// checks as the reply to a 10-register read: never a panic, and a reply
// accepted only with the right size.
func FuzzRTUReply(f *testing.F) {
	h := &gmb.RTUClientHandler{}
	h.SlaveId = 1
	good, _ := h.Encode(&gmb.ProtocolDataUnit{FunctionCode: 3, Data: append([]byte{20}, make([]byte, 20)...)})
	f.Add(good)
	f.Add([]byte{1, 0x83, 2, 0xC0, 0xF1})
	f.Add([]byte{1, 3, 255})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, reply []byte) {
		tr := &rtuTransport{open: func() (conn, error) { return &byteConn{bytes.NewReader(reply)}, nil }, timeout: time.Second}
		d := &device{id: "F", unit: 1, timeout: time.Second, fr: framer{unit: 1, rtu: true}}
		b := &bus{tr: tr}
		res, _, err := b.read(d, &request{kind: Holding, addr: 0, qty: 10})
		if err == nil && len(res) != 20 {
			t.Fatalf("accepted %d bytes", len(res))
		}
	})
}

// FuzzTCPReply does the same for Modbus TCP over a real loopback socket.
func FuzzTCPReply(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 23, 1, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 0, 0, 3, 1, 0x83, 2})
	f.Add([]byte{0, 1, 0, 0, 0, 0})
	replies := make(chan []byte)
	addr := serveLoopback(f, func(c net.Conn) {
		buf := make([]byte, 12)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			r, ok := <-replies
			if !ok {
				return
			}
			c.Write(r)
		}
	})
	tr := &tcpTransport{addr: addr, timeout: 50 * time.Millisecond}
	defer tr.Close()
	d := &device{id: "F", unit: 1, timeout: 50 * time.Millisecond, fr: framer{unit: 1}}
	b := &bus{tr: tr}
	f.Fuzz(func(t *testing.T, reply []byte) {
		r := append([]byte(nil), reply...)
		go func() { replies <- r }()
		res, _, err := b.read(d, &request{kind: Holding, addr: 0, qty: 10})
		if err == nil && len(res) != 20 {
			t.Fatalf("accepted %d bytes", len(res))
		}
		tr.reset()
	})
}

// serveLoopback listens on a loopback port until the test ends and runs
// serve in a goroutine for each connection, closing it after; it returns
// the address.
func serveLoopback(tb testing.TB, serve func(c net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return l.Addr().String()
}
