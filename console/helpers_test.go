package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	tokViewer    = "tok-viewer-123"
	tokOperator  = "tok-operator-456"
	tokCommander = "tok-commander-789"
	tokAdmin     = "tok-admin-000"
)

func f64(v float64) *float64 { return &v }

// testConfig is a small site: two devices, three points, four users.
func testConfig(users bool) *configs.Config {
	c := &configs.Config{
		Site:    configs.Site{ID: "SQ-TEST", Name: "Test cold store"},
		Console: configs.Console{Listen: "127.0.0.1:0", MaxShelve: configs.Duration(time.Hour)},
		Devices: []configs.Device{
			{ID: "GC-ROOM1", Area: "Machine room", Points: []configs.Point{
				{ID: "NH3-101", Name: "Compressor room NH3", Unit: "ppm", Range: []float64{0, 1000}, Hi: f64(30), HiHi: f64(60)},
				{ID: "FIRE-Z1", Name: "Fire zone 1"},
			}},
			{ID: "TANKS", Area: "Tank farm", Points: []configs.Point{
				{ID: "TK-101.LT", Name: "Tank 101 level", Unit: "%", Range: []float64{0, 100}},
			}},
		},
	}
	if users {
		c.Console.Users = []configs.User{
			{Name: "wang", Role: "viewer", Token: tokViewer},
			{Name: "zhang", Role: "operator", Token: tokOperator},
			{Name: "li", Role: "commander", Token: tokCommander},
			{Name: "root", Role: "admin", Token: tokAdmin},
		}
	}
	return c
}

type env struct {
	t    testing.TB
	srv  *Server
	eng  *fakeEngine
	base string // http://127.0.0.1:port
	reg  *prometheus.Registry
	stop func() // cancels Serve and waits for it
}

// serve runs srv on a loopback port at base; stop cancels Serve and waits
// for it (the first time it is called).
func serve(t testing.TB, srv *Server) (base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return 10s after cancel")
		}
	}
	return "http://" + ln.Addr().String(), stop
}

// start serves a console fed by a fake engine on a loopback port; it stops
// at the end of the test.
func start(t testing.TB, cfg *configs.Config, deps Deps, opts Options) *env {
	t.Helper()
	eng := newFakeEngine("NH3-101", "FIRE-Z1", "TK-101.LT")
	if deps.Engine == nil {
		deps.Engine = eng
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	srv, err := New(cfg, deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	eng.out = srv
	base, stop := serve(t, srv)
	e := &env{t: t, srv: srv, eng: eng, base: base, reg: deps.Registry, stop: stop}
	t.Cleanup(e.stop)
	// Wait until the hub runs (the API answers 503 before).
	deadline := time.Now().Add(5 * time.Second)
	for !srv.hub.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("hub did not start")
		}
		time.Sleep(time.Millisecond) // polling a flag the hub sets at start
	}
	return e
}

func (e *env) wsURL(token string) string {
	u, _ := url.Parse(e.base)
	u.Scheme, u.Path = "ws", "/ws"
	if token != "" {
		u.RawQuery = "token=" + token // tests' tokens need no escaping
	}
	return u.String()
}

// frame is any server frame.
type frame struct {
	Type       string               `json:"type"`
	Site       string               `json:"site"`
	User       string               `json:"user"`
	Role       string               `json:"role"`
	Seq        uint64               `json:"seq"`
	ServerTime string               `json:"server_time"`
	Points     []pointJSON          `json:"points"`
	Alarms     []alarms.Event       `json:"alarms"`
	Samples    []drivers.SampleJSON `json:"samples"`
	Alarm      alarms.Event         `json:"alarm"`
	Ref        json.RawMessage      `json:"ref"`
	OK         bool                 `json:"ok"`
	Error      string               `json:"error"`
	raw        []byte
}

type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
}

// dial connects with a ?token (or none) and reads hello and snapshot.
func (e *env) dial(token string) (*wsClient, frame, frame) {
	e.t.Helper()
	return e.dialWith(websocket.DefaultDialer, token)
}

func (e *env) dialWith(d *websocket.Dialer, token string) (*wsClient, frame, frame) {
	e.t.Helper()
	conn, resp, err := d.Dial(e.wsURL(token), nil)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		e.t.Fatalf("dial: %v (HTTP %d)", err, code)
	}
	c := &wsClient{t: e.t, conn: conn}
	e.t.Cleanup(func() { conn.Close() })
	hello := c.read()
	if hello.Type != "hello" {
		e.t.Fatalf("first frame %q, want hello", hello.Type)
	}
	snap := c.read()
	if snap.Type != "snapshot" {
		e.t.Fatalf("second frame %q, want snapshot", snap.Type)
	}
	return c, hello, snap
}

func (c *wsClient) read() frame {
	c.t.Helper()
	f, err := c.tryRead(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *wsClient) tryRead(d time.Duration) (frame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.conn.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, err
	}
	f.raw = b
	return f, nil
}

// next reads until a frame of type typ, skipping samples frames (and, for
// typ "samples", everything else).
func (c *wsClient) next(typ string) frame {
	c.t.Helper()
	for {
		f := c.read()
		if f.Type == typ {
			return f
		}
		if f.Type != "samples" && typ != "samples" {
			c.t.Fatalf("got %s frame while waiting for %s: %s", f.Type, typ, f.raw)
		}
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// do sends a command and returns its result.
func (c *wsClient) do(cmd map[string]any) frame {
	c.t.Helper()
	c.send(cmd)
	for {
		f := c.read()
		if f.Type == "result" {
			return f
		}
	}
}

func isClose(err error, code int) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code == code
}

func sample(p string, v float64, t time.Time) drivers.Sample {
	return drivers.Sample{Point: drivers.PointID(p), Value: v, Time: t}
}

func (e *env) get(path, token string) (*http.Response, []byte) {
	return e.req("GET", path, token, "")
}

func (e *env) req(method, path, token, body string) (*http.Response, []byte) {
	e.t.Helper()
	r, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}
