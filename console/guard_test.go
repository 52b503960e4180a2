package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus"
	"hazardgw/drivers/modbus/modbustest"
	"hazardgw/internal/testenv"

	"github.com/gorilla/websocket"
)

// floodEnv names the console address the flood helper dials.
const floodEnv = "HAZARDGW_TEST_FLOOD"

// TestMain runs the flood helper instead of the tests when the test binary
// is started as one (floodEnv set); otherwise the tests.
func TestMain(m *testing.M) {
	if spec := os.Getenv(floodEnv); spec != "" {
		floodHelper(spec)
	}
	os.Exit(m.Run())
}

// floodHelper is not a test: run by TestIdleFloodLeavesDescriptors in
// a child process, it opens N keep-alive connections to the console from
// 60 loopback addresses, sends one request on each and leaves them idle,
// prints "ready", and holds them until its stdin closes.
func floodHelper(spec string) {
	addr, ns, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(ns)
	var r syscall.Rlimit // the parent lowered its limit; the attacker has its own
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err == nil {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	var conns []net.Conn
	for i := range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%60))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		_, _ = io.WriteString(c, "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		conns = append(conns, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
	os.Exit(0)
}

// TestIdleFloodLeavesDescriptors is finding 3 of issue 13: thousands of
// idle keep-alive connections took every file descriptor and the Modbus
// devices went down. With the process limited to 512 files, a flood of
// 3000 connections from another process holds at most 512-128 console
// slots, and a Modbus slave that restarts meanwhile is reconnected and
// polled good again.
func TestIdleFloodLeavesDescriptors(t *testing.T) {
	const limit, reserve, flood = 512, 128, 3000
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur < flood+limit {
		t.Fatalf("RLIMIT_NOFILE %d is too low for the flood (%d needed): raise the hard limit (ulimit -Hn)", old.Cur, flood+limit)
	}
	low := old
	low.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })

	// The Modbus device that must stay up.
	slave := modbustest.StartTCP(t)
	slave.Unit(1).SetHolding(0, 42)
	unit, reg0 := 1, 0
	mcfg := &configs.Config{Site: configs.Site{ID: "SQ-TEST"}, Devices: []configs.Device{{
		ID: "GC-ROOM1", Driver: "modbus", Transport: "tcp", Address: slave.Addr(), Unit: &unit,
		Interval: configs.Duration(20 * time.Millisecond), Timeout: configs.Duration(300 * time.Millisecond), CommAfter: 3,
		Points: []configs.Point{{ID: "NH3-101", Register: "holding", Address: &reg0, Type: "uint16"}},
	}}}
	mcfg.SetDefaults()
	drv, err := modbus.New(mcfg, modbus.Options{MaxDemote: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lastGood time.Time
	ctx, cancel := context.WithCancel(context.Background())
	drvDone := make(chan error, 1)
	go func() {
		drvDone <- drv.Run(ctx, func(b []drivers.Sample) {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range b {
				if s.Quality == drivers.Good {
					lastGood = time.Now()
				}
			}
		})
	}()
	defer func() { cancel(); <-drvDone }()

	e := start(t, testConfig(false), Deps{}, Options{Limits: Limits{FDReserve: reserve}})
	if got, want := e.srv.guard.total, limit-reserve; got != want {
		t.Fatalf("connection cap %d, want %d (file limit %d - reserve %d)", got, want, limit, reserve)
	}

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), floodEnv+"="+strings.TrimPrefix(e.base, "http://")+","+strconv.Itoa(flood))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("flood helper: %q", line)
	}
	testenv.WaitFor(t, 60*time.Second, "the console to take in the whole flood (accept fails when descriptors run out)", func() bool {
		_, seen := e.srv.guard.counts()
		return seen >= flood
	})
	if open, _ := e.srv.guard.counts(); open > limit-reserve {
		t.Fatalf("%d console connections open, cap %d", open, limit-reserve)
	}

	// The journal can still open a file, the device can be reconnected.
	f, err := os.CreateTemp(t.TempDir(), "journal")
	if err != nil {
		t.Fatalf("journal file during the flood: %v", err)
	}
	f.Close()
	slave.Stop()
	if err := slave.Start(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	testenv.WaitFor(t, 30*time.Second, "a good Modbus sample after the slave restarted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return lastGood.After(restarted)
	})
	if open, _ := e.srv.guard.counts(); open > limit-reserve {
		t.Fatalf("%d console connections open, cap %d", open, limit-reserve)
	}
}

// TestPerAddressCap: one client address holds at most MaxConnsPerAddr
// connections; the next is closed at once, while another address is still
// served.
func TestPerAddressCap(t *testing.T) {
	e := start(t, testConfig(false), Deps{}, Options{Limits: Limits{MaxConnsPerAddr: 3}})
	addr := strings.TrimPrefix(e.base, "http://")
	from := func(ip byte) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, ip)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	health := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	for range 3 {
		if err := health(from(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := health(from(1)); err == nil {
		t.Fatal("a 4th connection from one address was served")
	}
	if err := health(from(2)); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestIdleAndSlowConnectionsClose: a keep-alive connection that sends no
// further request, and a POST whose body never comes, are closed by the
// server (SPEC §8), not kept for as long as the client likes.
func TestIdleAndSlowConnectionsClose(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{Limits: Limits{IdleTimeout: 100 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond}})
	addr := strings.TrimPrefix(e.base, "http://")
	for _, tc := range []struct{ name, req string }{
		{"idle keep-alive", "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"},
		{"slow body", "POST /api/alarms/NH3-101:hihi/ack HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
			"Authorization: Bearer " + tokOperator + "\r\nContent-Length: 100\r\n\r\n{"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // the test's own bound
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, c) // returns at EOF: the server closed
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the connection open")
			}
		})
	}
}

// TestWrongTokensThrottled is finding 9 of issue 13: wrong tokens are
// counted and logged; an address with more than 10 a minute gets 429 for a
// minute, even with a right token; then it is served again.
func TestWrongTokensThrottled(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var logs testenv.Buffer
	e := start(t, testConfig(true), Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))}, Options{Now: clock})
	for i := range badTokenLimit {
		if resp, _ := e.get("/api/points", fmt.Sprintf("wrong-token-%d", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: HTTP %d, want 401", i+1, resp.StatusCode)
		}
	}
	if resp, _ := e.get("/api/points", "wrong-token-11"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("11th wrong token: HTTP %d, want 429", resp.StatusCode)
	}
	if resp, _ := e.get("/api/points", tokOperator); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right token while throttled: HTTP %d, want 429", resp.StatusCode)
	}
	d := websocket.Dialer{}
	if _, resp, err := d.Dial(e.wsURL(tokOperator), nil); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("websocket while throttled: %v, want HTTP 429", err)
	}
	if resp, _ := e.get("/api/health", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/health while throttled: HTTP %d, want 200 (open)", resp.StatusCode)
	}
	mu.Lock()
	now = now.Add(badTokenWindow + time.Second)
	mu.Unlock()
	if resp, _ := e.get("/api/points", tokOperator); resp.StatusCode != http.StatusOK {
		t.Fatalf("a minute later: HTTP %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{"console: wrong token", "address throttled"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if got := counterValue(t, e.reg, "hazardgw_console_bad_tokens_total", "api"); got != badTokenLimit+1 {
		t.Errorf("bad tokens counted %v, want %d", got, badTokenLimit+1)
	}
}

// TestTokenDigest: tokens are compared by equal-length digests, so a
// prefix, an extension or a same-length guess of a token all fail, and
// the comparison does not depend on the guess's length.
func TestTokenDigest(t *testing.T) {
	d := tokenDigest(tokOperator)
	if !sameToken(d, tokenDigest(tokOperator)) {
		t.Fatal("the token does not match itself")
	}
	for _, guess := range []string{"", tokOperator[:5], tokOperator + "x", strings.Repeat("x", len(tokOperator)), strings.Repeat("x", 1<<16)} {
		if sameToken(d, tokenDigest(guess)) {
			t.Errorf("guess %.20q matched", guess)
		}
	}
}

// TestHostCheck is finding 10 of issue 13 (DNS rebinding): a Host that is
// neither the listen address, loopback, an IP literal nor one of
// console.hosts gets 403 on /api and no websocket upgrade.
func TestHostCheck(t *testing.T) {
	cfg := testConfig(true)
	cfg.Console.Hosts = []string{"gw.plant.local"}
	e := start(t, cfg, Deps{}, Options{})
	for _, tc := range []struct {
		host string
		want int
	}{
		{"evil.example", http.StatusForbidden},
		{"evil.example:8080", http.StatusForbidden},
		{"gw.plant.local.evil.example", http.StatusForbidden},
		{"gw.plant.local", http.StatusOK},
		{"GW.Plant.Local:8080", http.StatusOK},
		{"localhost:8080", http.StatusOK},
		{"127.0.0.1:8080", http.StatusOK},
		{"10.0.0.5", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", e.base+"/api/points", nil)
		req.Host = tc.host
		req.Header.Set("Authorization", "Bearer "+tokViewer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Host %q: HTTP %d, want %d", tc.host, resp.StatusCode, tc.want)
		}
	}
	h := http.Header{"Host": {"evil.example"}}
	_, resp, err := websocket.DefaultDialer.Dial(e.wsURL(tokViewer), h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("websocket with Host evil.example: %v, want HTTP 403", err)
	}
}

// TestEventsAfterBeyondNewest is finding 11 of issue 13: after = 2^64-1
// wrapped to 0 in the journal and returned every event. Beyond the newest
// seq the answer is [] (SPEC §8); the real journal is behind the engine.
func TestEventsAfterBeyondNewest(t *testing.T) {
	e, eng := startReal(t, Options{})
	c, _, _ := e.dial(tokViewer)
	eng.Sink()([]drivers.Sample{{Point: "NH3-101", Value: 65, Time: time.Now()}})
	c.next("alarm")
	newest := eng.Seq()
	for _, after := range []uint64{newest, newest + 1, math.MaxUint64} {
		resp, body := e.get("/api/events?after="+strconv.FormatUint(after, 10), tokViewer)
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("after=%d: HTTP %d %s, want []", after, resp.StatusCode, body)
		}
	}
	if resp, body := e.get("/api/events?after=0", tokViewer); resp.StatusCode != http.StatusOK || string(body) == "[]\n" {
		t.Errorf("after=0: HTTP %d %s, want the events", resp.StatusCode, body)
	}
}
