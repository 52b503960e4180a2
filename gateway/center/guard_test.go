package center

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/console"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
)

// serving runs a center (no broker needed: it retries in the background)
// and returns the address its own server listens on, guard included.
func serving(t *testing.T, opts Options) (*Center, string) {
	t.Helper()
	cfg := centerConfig(t, []string{"tcp://127.0.0.1:1"}, t.TempDir(), "")
	opts.Registry = prometheus.NewRegistry()
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	runCenter(t, c)
	var addr string
	testenv.WaitFor(t, 20*time.Second, "center listening", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.addr != nil {
			addr = c.addr.String()
		}
		return addr != ""
	})
	return c, addr
}

// runCenter runs c until the test ends.
func runCenter(t *testing.T, c *Center) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("center Run: %v", err)
		}
	})
}

// rawGet sends one GET on c with host and token and reads the answer.
func rawGet(c net.Conn, path, host, token string) (*http.Response, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// TestHardening: the center's server has the site console's guard (SPEC
// §8): per-address connection cap, idle timeout, wrong tokens counted,
// logged and throttled (429, right token included, health still open),
// the Host check, and `after` beyond the newest seq answering [].
func TestHardening(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var logs testenv.Buffer
	c, addr := serving(t, Options{Now: clock, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Limits: console.Limits{MaxConnsPerAddr: 2, IdleTimeout: 200 * time.Millisecond}})
	from := func(ip byte) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 3, ip)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	// One keep-alive client from 127.0.3.9: the server, not the client,
	// closes its connections, so the per-address cap never sees a socket
	// the client let go of but the server has not yet released.
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 3, 9)}}).DialContext}}
	t.Cleanup(hc.CloseIdleConnections)
	get := func(path, host, token string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = host
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("per-address cap", func(t *testing.T) {
		for range 2 {
			if _, err := rawGet(from(1), "/api/health", "127.0.0.1", ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := rawGet(from(1), "/api/health", "127.0.0.1", ""); err == nil {
			t.Fatal("a 3rd connection from one address was served")
		}
		if _, err := rawGet(from(2), "/api/health", "127.0.0.1", ""); err != nil {
			t.Fatalf("another address: %v", err)
		}
	})
	t.Run("idle connection closed", func(t *testing.T) {
		conn := from(3)
		if _, err := rawGet(conn, "/api/health", "127.0.0.1", ""); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // the test's own bound
		_, err := io.Copy(io.Discard, conn)                    // returns at EOF: the server closed
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the server kept an idle connection open")
		}
	})
	t.Run("host check", func(t *testing.T) {
		if code := get("/api/sites", "evil.example", ""); code != http.StatusForbidden {
			t.Fatalf("foreign Host: HTTP %d, want 403", code)
		}
		if code := get("/api/sites", "localhost:8090", ""); code != http.StatusOK {
			t.Fatalf("localhost: HTTP %d, want 200", code)
		}
	})
	t.Run("after bounds", func(t *testing.T) {
		c.handle("hazard/S1/alarms", eventJSON(t, "S1", 1), nil)
		var evs []any
		tcGet(t, addr, "/api/sites/S1/events?after=18446744073709551615", &evs)
		if len(evs) != 0 {
			t.Fatalf("after beyond the newest: %d events, want []", len(evs))
		}
		tcGet(t, addr, "/api/sites/S1/events?after=0", &evs)
		if len(evs) != 1 {
			t.Fatalf("after 0: %d events, want 1", len(evs))
		}
	})
	t.Run("wrong tokens throttled", func(t *testing.T) {
		for i := range 10 {
			if code := get("/api/sites", "127.0.0.1", fmt.Sprintf("wrong-%d", i)); code != http.StatusUnauthorized {
				t.Fatalf("wrong token %d: HTTP %d, want 401", i+1, code)
			}
		}
		if code := get("/api/sites", "127.0.0.1", "wrong-11"); code != http.StatusTooManyRequests {
			t.Fatalf("11th wrong token: HTTP %d, want 429", code)
		}
		if code := get("/api/sites", "127.0.0.1", "commander-token-0123456789"); code != http.StatusTooManyRequests {
			t.Fatalf("right token while throttled: HTTP %d, want 429", code)
		}
		d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 3, 9)}}).DialContext}
		if _, resp, err := d.Dial("ws://"+addr+"/ws?token=commander-token-0123456789", nil); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("websocket while throttled: %v, want HTTP 429", err)
		}
		if code := get("/api/health", "127.0.0.1", ""); code != http.StatusOK {
			t.Fatalf("health while throttled: HTTP %d, want 200", code)
		}
		mu.Lock()
		now = now.Add(time.Minute + time.Second)
		mu.Unlock()
		if code := get("/api/sites", "127.0.0.1", "commander-token-0123456789"); code != http.StatusOK {
			t.Fatalf("a minute later: HTTP %d, want 200", code)
		}
		for _, want := range []string{"console: wrong token", "address throttled"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %q", want)
			}
		}
		if got := mqtttest.Gathered(t, c.reg, "hazardgw_console_bad_tokens_total", "on", "api"); got != 11 {
			t.Errorf("bad tokens counted %v, want 11", got)
		}
	})
}

// tcGet decodes a GET of the center at addr (from 127.0.0.1).
func tcGet(t *testing.T, addr, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// eventJSON is a site's alarm event seq as on the wire.
func eventJSON(t testing.TB, site string, seq uint64) []byte {
	t.Helper()
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second)
	b, err := json.Marshal(alarms.Event{Seq: seq, ID: fmt.Sprintf("P%d:hi", seq%7), Point: fmt.Sprintf("P%d", seq%7),
		Cond: "hi", Tier: 1, Priority: alarms.High, State: alarms.Unack, Active: true, Time: now, Emitted: now,
		Site: site, Device: "D1"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
