package console

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

func TestHTTPCommands(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	e.eng.raise("NH3-101:hihi", alarms.High, 61.5)
	e.eng.raise("NH3-101:hi", alarms.Medium, 61.5)
	cases := []struct {
		name, method, path, token, body string
		code                            int
		wantState                       string // of the returned event
		wantErr                         string
	}{
		{"viewer ack forbidden", "POST", "/api/alarms/NH3-101:hihi/ack", tokViewer, `{}`, 403, "", "forbidden"},
		{"no token ack forbidden", "POST", "/api/alarms/NH3-101:hihi/ack", "", `{}`, 403, "", "forbidden"},
		{"wrong token", "POST", "/api/alarms/NH3-101:hihi/ack", "bad", `{}`, 401, "", "unauthorized"},
		{"operator ack", "POST", "/api/alarms/NH3-101:hihi/ack", tokOperator, `{"comment":"on my way"}`, 200, "acked", ""},
		{"ack again refused", "POST", "/api/alarms/NH3-101:hihi/ack", tokOperator, `{}`, 409, "", "refused"},
		{"reset while active", "POST", "/api/alarms/NH3-101:hihi/reset", tokOperator, ``, 409, "", "refused"},
		{"unknown alarm", "POST", "/api/alarms/NOPE:hi/ack", tokOperator, `{}`, 404, "", "unknown"},
		{"unknown op", "POST", "/api/alarms/NH3-101:hi/explode", tokOperator, `{}`, 404, "", "unknown operation"},
		{"malformed body", "POST", "/api/alarms/NH3-101:hi/ack", tokOperator, `{"comment":`, 400, "", "malformed"},
		{"shelve without reason", "POST", "/api/alarms/NH3-101:hi/shelve", tokOperator, `{"for":"10m"}`, 400, "", "reason required"},
		{"shelve too long", "POST", "/api/alarms/NH3-101:hi/shelve", tokOperator, `{"for":"61m","reason":"x"}`, 400, "", "max_shelve"},
		{"shelve", "POST", "/api/alarms/NH3-101:hi/shelve", tokOperator, `{"for":"10m","reason":"detector swap"}`, 200, "shelved", ""},
		{"unshelve", "POST", "/api/alarms/NH3-101:hi/unshelve", tokOperator, `{}`, 200, "unack", ""},
		{"operator oos forbidden", "POST", "/api/points/TK-101.LT/oos", tokOperator, `{"reason":"cal"}`, 403, "", "forbidden"},
		{"commander oos", "POST", "/api/points/TK-101.LT/oos", tokCommander, `{"reason":"calibration"}`, 200, "oos", ""},
		{"commander ios", "POST", "/api/points/TK-101.LT/ios", tokCommander, `{}`, 200, "normal", ""},
		{"engine stopped", "POST", "/api/alarms/ENGINE:stopped/ack", tokOperator, `{}`, 503, "", "engine stopped"},
		{"ack after unshelve", "POST", "/api/alarms/NH3-101:hi/ack", tokOperator, `{}`, 200, "acked", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.req(tc.method, tc.path, tc.token, tc.body)
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, b, tc.code)
			}
			if tc.code == 200 {
				var ev alarms.Event
				if err := json.Unmarshal(b, &ev); err != nil {
					t.Fatal(err)
				}
				if ev.State.String() != tc.wantState || ev.Seq == 0 {
					t.Errorf("event %s, want state %s", b, tc.wantState)
				}
				return
			}
			var er struct{ Error string }
			if err := json.Unmarshal(b, &er); err != nil || !strings.Contains(er.Error, tc.wantErr) {
				t.Errorf("body %s, want error containing %q", b, tc.wantErr)
			}
		})
	}
}

func TestHTTPReads(t *testing.T) {
	e := start(t, testConfig(true), Deps{History: func(_ context.Context, p drivers.PointID, from, to time.Time) ([]drivers.Sample, error) {
		if p != "NH3-101" {
			return nil, errors.New("no such series")
		}
		return []drivers.Sample{sample("NH3-101", 1, from.Add(time.Second)), sample("NH3-101", 2, to)}, nil
	}}, Options{})
	var evs []alarms.Event
	for range 5 {
		evs = append(evs, e.eng.raise("NH3-101:hi", alarms.Medium, 31))
	}
	e.eng.raise("FIRE-Z1:on", alarms.Urgent, 1)
	c, _, _ := e.dial("")
	_ = c

	t.Run("points", func(t *testing.T) {
		resp, b := e.get("/api/points", tokViewer)
		var pts []pointJSON
		if resp.StatusCode != 200 || json.Unmarshal(b, &pts) != nil || len(pts) != 3 {
			t.Errorf("HTTP %d %s, want 3 points", resp.StatusCode, b)
		}
	})
	t.Run("alarms", func(t *testing.T) {
		resp, b := e.get("/api/alarms", "")
		var a []alarms.Event
		if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil || len(a) != 2 {
			t.Errorf("HTTP %d %s, want 2 alarms", resp.StatusCode, b)
		}
	})
	for _, tc := range []struct {
		query    string
		code     int
		wantSeqs []uint64
	}{
		{"", 200, []uint64{1, 2, 3, 4, 5, 6}},
		{"?after=2&limit=2", 200, []uint64{3, 4}},
		{"?after=6", 200, []uint64{}},
		{"?after=x", 400, nil},
		{"?limit=0", 400, nil},
	} {
		t.Run("events"+tc.query, func(t *testing.T) {
			resp, b := e.get("/api/events"+tc.query, tokViewer)
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, b, tc.code)
			}
			if tc.code != 200 {
				return
			}
			var got []alarms.Event
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, ev := range got {
				seqs = append(seqs, ev.Seq)
			}
			if len(seqs) != len(tc.wantSeqs) || len(seqs) > 0 && (seqs[0] != tc.wantSeqs[0] || seqs[len(seqs)-1] != tc.wantSeqs[len(tc.wantSeqs)-1]) {
				t.Errorf("seqs %v, want %v", seqs, tc.wantSeqs)
			}
		})
	}
	for _, tc := range []struct {
		query string
		code  int
		n     int
	}{
		{"?point=NH3-101&since=10m", 200, 2},
		{"?point=NOPE", 404, 0},
		{"?point=NH3-101&since=never", 400, 0},
		{"?point=TK-101.LT", 500, 0},
	} {
		t.Run("history"+tc.query, func(t *testing.T) {
			resp, b := e.get("/api/history"+tc.query, "")
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, b, tc.code)
			}
			var h historyJSON
			if tc.code == 200 && (json.Unmarshal(b, &h) != nil || len(h.Samples) != tc.n || h.Unit != "ppm") {
				t.Errorf("history %s", b)
			}
		})
	}
	t.Run("wrong token on every api route", func(t *testing.T) {
		for _, p := range []string{"/api/points", "/api/alarms", "/api/events", "/api/history?point=NH3-101", "/metrics"} {
			if resp, _ := e.get(p, "nope"); resp.StatusCode != 401 {
				t.Errorf("%s: HTTP %d, want 401", p, resp.StatusCode)
			}
		}
	})
	t.Run("metrics", func(t *testing.T) {
		resp, b := e.get("/metrics", tokAdmin)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "hazardgw_console_clients 1") {
			t.Errorf("HTTP %d, body lacks hazardgw_console_clients 1:\n%s", resp.StatusCode, b)
		}
	})
	t.Run("page", func(t *testing.T) {
		resp, b := e.get("/", "")
		if resp.StatusCode != 200 || !strings.Contains(string(b), "<html") {
			t.Errorf("HTTP %d %.200s", resp.StatusCode, b)
		}
	})
}

func TestHealth(t *testing.T) {
	up := drivers.Health{ID: "GC-ROOM1", State: "up", LastOK: time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)}
	down := drivers.Health{ID: "TANKS", State: "down", Errors: 3, Err: "dial tcp: secret-host refused"}
	start0 := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	now := start0.Add(90 * time.Second)
	for _, tc := range []struct {
		name    string
		devices []drivers.Health
		store   *StoreHealth
		want    string
	}{
		{"all up, no influx", []drivers.Health{up}, nil, "ok"},
		{"a device down", []drivers.Health{up, down}, nil, "degraded"},
		{"influx down", []drivers.Health{up}, &StoreHealth{InfluxDB: "down", OutboxBytes: 10}, "degraded"},
		{"store down", []drivers.Health{up}, &StoreHealth{InfluxDB: "off", Down: true}, "degraded"},
		{"influx up", []drivers.Health{up}, &StoreHealth{InfluxDB: "up"}, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deps := Deps{Devices: func() []drivers.Health { return tc.devices }}
			if tc.store != nil {
				st := *tc.store
				deps.Store = func() StoreHealth { return st }
			}
			e := start(t, testConfig(true), deps, Options{Started: start0, Now: func() time.Time { return now }})
			resp, b := e.get("/api/health", "") // open without a token
			var h struct {
				Status  string
				UptimeS int64 `json:"uptime_s"`
				Devices []map[string]any
				Store   map[string]any
			}
			if resp.StatusCode != 200 || json.Unmarshal(b, &h) != nil {
				t.Fatalf("HTTP %d %s", resp.StatusCode, b)
			}
			if h.Status != tc.want || h.UptimeS != 90 || len(h.Devices) != len(tc.devices) {
				t.Errorf("health %s, want status %s uptime 90", b, tc.want)
			}
			if strings.Contains(string(b), "secret-host") || strings.Contains(string(b), tokOperator) {
				t.Errorf("health reveals an error text or a token: %s", b)
			}
			if _, ok := h.Store["influxdb"]; !ok {
				t.Errorf("store lacks influxdb: %s", b)
			}
		})
	}
}

func TestRunPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(true)
	cfg.Console.Listen = ln.Addr().String()
	s, err := New(cfg, Deps{Engine: newFakeEngine()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background()) // returns at once
	if err == nil || !strings.Contains(err.Error(), "console: listen "+cfg.Console.Listen) ||
		!strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run = %v, want a listen error naming the address", err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Deps, *Options)
		user string
		want string
	}{
		{"no engine", func(d *Deps, _ *Options) { d.Engine = nil }, "", "no engine"},
		{"bad role", nil, "boss", "unknown role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(true)
			if tc.user != "" {
				cfg.Console.Users[0].Role = tc.user
			}
			d, o := Deps{Engine: newFakeEngine(), Registry: prometheus.NewRegistry()}, Options{}
			if tc.mod != nil {
				tc.mod(&d, &o)
			}
			if _, err := New(cfg, d, o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestHTTPBeforeServe(t *testing.T) {
	s, err := New(testConfig(true), Deps{Engine: newFakeEngine()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler()}
	_ = srv
	req, _ := http.NewRequest("GET", "/api/points", nil)
	rw := &recorder{h: http.Header{}}
	s.Handler().ServeHTTP(rw, req)
	if rw.code != http.StatusServiceUnavailable {
		t.Errorf("HTTP %d, want 503 while the console is not running", rw.code)
	}
}

type recorder struct {
	h    http.Header
	code int
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(c int)           { r.code = c }

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(true)
	cfg.Console.Cert, cfg.Console.Key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cfg.Console.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(cfg.Console.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	e := start(t, cfg, Deps{}, Options{})
	pool := x509.NewCertPool()
	pool.AddCert(must(x509.ParseCertificate(der)))
	tc := &tls.Config{RootCAs: pool}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := cl.Get(strings.Replace(e.base, "http://", "https://", 1) + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("HTTP %d over TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	d := websocket.Dialer{TLSClientConfig: tc}
	conn, _, err := d.Dial(strings.Replace(e.wsURL(""), "ws://", "wss://", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if f := (&wsClient{t: t, conn: conn}).read(); f.Type != "hello" {
		t.Errorf("first frame over wss: %s", f.raw)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
