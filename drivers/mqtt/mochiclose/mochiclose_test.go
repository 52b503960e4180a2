package mochiclose

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// connect is an MQTT 3.1.1 CONNECT packet with client id "cN" and a clean
// session.
func connect(n int) []byte {
	id := []byte{'c', byte('A' + n/26), byte('a' + n%26)}
	return append([]byte{0x10, byte(12 + len(id)), 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, byte(len(id))}, id...)
}

// TestClose closes brokers while half of their clients hang up one after
// another (each hang-up makes the broker delete the client under the write
// lock: the situation in which mochi's own Close can deadlock, #488) and
// the other half stay. Close must return, disconnect the clients that
// stayed, and free the port. The deadlock itself needs a writer inside a
// window of a few instructions and is not provoked reliably here (mochi's
// Close passes this test too); Close avoids it by construction, taking the
// read lock once.
func TestClose(t *testing.T) {
	for round := range 20 {
		s := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
		if err := s.AddHook(new(allowAll), nil); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(); err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		for i := range 40 {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(connect(i))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil { // CONNACK
				t.Fatalf("round %d: client %d: no CONNACK: %v", round, i, err)
			}
			conns = append(conns, c)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range conns[:len(conns)/2] {
				c.Close()
				time.Sleep(50 * time.Microsecond)
			}
		}()
		done := make(chan error, 1)
		go func() { done <- Close(s) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Close: %v", round, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: Close deadlocked while clients left", round)
		}
		wg.Wait()
		for i, c := range conns[len(conns)/2:] {
			// The server closes the connection (a DISCONNECT packet may
			// come first): reading ends with EOF, not with the deadline.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("round %d: client %d still connected 5s after Close", round, i)
			}
			c.Close()
		}
		if l, err := net.Listen("tcp", addr); err != nil {
			t.Fatalf("round %d: port not free after Close: %v", round, err)
		} else {
			l.Close()
		}
	}
}

// allowAll admits every client (mochi's hooks/auth would pull yaml.v3 into
// go.mod).
type allowAll struct{ mochi.HookBase }

func (allowAll) ID() string { return "allow-all" }
func (allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (allowAll) OnACLCheck(*mochi.Client, string, bool) bool              { return true }
