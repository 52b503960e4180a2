package testenv

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that a logger (or a child process's output) may
// write from several goroutines while the test reads it. The zero value is
// ready to use.
type Buffer struct {
	// Limit caps what is kept, in bytes (0: no cap). Writes past it are
	// dropped but reported as written, so a chatty writer never fails.
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p (within Limit).
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.b.Len() >= b.Limit {
		return len(p), nil
	}
	return b.b.Write(p)
}

// String is everything kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitFor polls cond every 10 ms until it holds, and fails the test (naming
// what) if it does not hold within d. It is a deadline on an event, not a
// sleep: it returns as soon as cond is true.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// FreeAddr is a loopback "host:port" nobody listened on a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePort is the port of a FreeAddr.
func FreePort(t testing.TB) int {
	t.Helper()
	_, port, err := net.SplitHostPort(FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
