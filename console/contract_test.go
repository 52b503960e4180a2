package console

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// Conformance checks of SPEC §7 and §8 shapes found missing by the
// contract audit (gateway/contract_test.go checks the same against the
// real binary).

var specTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func keys(m map[string]any) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// TestHealthExactShape: /api/health is exactly SPEC §8's object, and
// last_ok is a SPEC time (RFC 3339, UTC, milliseconds), null when the
// device never answered.
func TestHealthExactShape(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	devs := []drivers.Health{
		{ID: "GC-ROOM1", State: "up", LastOK: time.Date(2026, 11, 28, 16, 0, 1, 250_123_456, cst), Errors: 2},
		{ID: "TANKS", State: "down", Errors: 7, Err: "dial tcp: refused"},
	}
	e := start(t, testConfig(true), Deps{Devices: func() []drivers.Health { return devs }}, Options{})
	resp, b := e.get("/api/health", "")
	var h map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(b, &h) != nil {
		t.Fatalf("HTTP %d %s", resp.StatusCode, b)
	}
	if got := keys(h); !slices.Equal(got, []string{"devices", "flood", "status", "store", "uptime_s"}) {
		t.Errorf("health keys %v, want exactly devices flood status store uptime_s", got)
	}
	if h["flood"] != false {
		t.Errorf("flood %v before any flood", h["flood"])
	}
	e.eng.mu.Lock()
	e.eng.flood = true
	e.eng.mu.Unlock()
	var h2 map[string]any
	if _, b := e.get("/api/health", ""); json.Unmarshal(b, &h2) != nil || h2["flood"] != true {
		t.Errorf("flood not shown in /api/health during a flood: %s", b)
	}
	ds, _ := h["devices"].([]any)
	if len(ds) != 2 {
		t.Fatalf("devices %v", h["devices"])
	}
	for _, d := range ds {
		if got := keys(d.(map[string]any)); !slices.Equal(got, []string{"errors", "id", "last_ok", "state"}) {
			t.Errorf("device keys %v", got)
		}
	}
	if lo := ds[0].(map[string]any)["last_ok"]; lo != "2026-11-28T08:00:01.250Z" {
		t.Errorf("last_ok %v, want 2026-11-28T08:00:01.250Z", lo)
	}
	if lo := ds[1].(map[string]any)["last_ok"]; lo != nil {
		t.Errorf("last_ok of a device never seen %v, want null", lo)
	}
	if got := keys(h["store"].(map[string]any)); !slices.Equal(got, []string{"influxdb", "outbox_bytes", "outbox_samples"}) {
		t.Errorf("store keys %v", got)
	}
}

// TestResultFrameFields: every result frame carries ref, ok and error
// (empty when ok), as SPEC §7 lists them.
func TestResultFrameFields(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	e.eng.raise("NH3-101:hihi", alarms.High, 61.5)
	c, _, _ := e.dial(tokOperator)
	for _, tc := range []struct {
		cmd map[string]any
		ok  bool
	}{
		{map[string]any{"type": "ack", "alarm": "NH3-101:hihi", "ref": "a"}, true},
		{map[string]any{"type": "ack", "alarm": "NH3-101:hihi", "ref": "b"}, false},
		{map[string]any{"type": "resume", "seq": 0, "ref": "c"}, true},
	} {
		f := c.do(tc.cmd)
		var m map[string]any
		if err := json.Unmarshal(f.raw, &m); err != nil {
			t.Fatal(err)
		}
		if got := keys(m); !slices.Equal(got, []string{"error", "ok", "ref", "type"}) {
			t.Errorf("%v: result keys %v, want error ok ref type", tc.cmd, got)
		}
		if m["ok"] != tc.ok || (tc.ok && m["error"] != "") || (!tc.ok && m["error"] == "") {
			t.Errorf("%v: result %s", tc.cmd, f.raw)
		}
	}
}

// TestMetricNames: the console's metrics carry the gateway's prefix like
// every other package's (hazardgw_modbus_*, hazardgw_alarm_*, ...).
func TestMetricNames(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	c, _, _ := e.dial(tokOperator)
	c.do(map[string]any{"type": "ack", "alarm": "NOPE:hi", "ref": 1})
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) == 0 {
		t.Fatal("no console metrics")
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "hazardgw_console_") {
			t.Errorf("metric %s lacks the hazardgw_console_ prefix", mf.GetName())
		}
	}
}

// TestStalePointIsNotGood: a point whose stale alarm is active shows
// bad/stale in /api/points and in a snapshot, not its last good value as
// if it were current (SPEC §4); a newer sample shows again.
func TestStalePointIsNotGood(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	t0 := e.eng.now
	e.eng.samples([]drivers.Sample{sample("NH3-101", 12, t0)})
	point := func() pointJSON {
		_, b := e.get("/api/points", "")
		var pts []pointJSON
		if err := json.Unmarshal(b, &pts); err != nil {
			t.Fatal(err)
		}
		for _, p := range pts {
			if p.Point == "NH3-101" {
				return p
			}
		}
		t.Fatal("no NH3-101")
		return pointJSON{}
	}
	waitFor := func(what string, ok func(p pointJSON) bool) pointJSON {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			p := point()
			if ok(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: NH3-101 = %+v", what, p)
			}
			time.Sleep(10 * time.Millisecond) // polling the API for the hub's state
		}
	}
	waitFor("good sample", func(p pointJSON) bool { return p.Quality == "good" })
	e.eng.raise("NH3-101:stale", alarms.Low, 12)
	p := waitFor("stale alarm", func(p pointJSON) bool { return p.Quality != "good" })
	if p.Quality != "bad" || p.Cause != "stale" {
		t.Errorf("stale point %+v, want bad/stale", p)
	}
	_, _, snap := e.dial("")
	for _, sp := range snap.Points {
		if sp.Point == "NH3-101" && (sp.Quality != "bad" || sp.Cause != "stale") {
			t.Errorf("snapshot shows stale NH3-101 as %+v", sp)
		}
	}
	e.eng.samples([]drivers.Sample{sample("NH3-101", 13, e.eng.now.Add(time.Minute))})
	waitFor("fresh sample after stale", func(p pointJSON) bool { return p.Quality == "good" && *p.Value == 13 })
}

// TestBearerSchemeCaseInsensitive: "bearer TOKEN" is the same credential as
// "Bearer TOKEN" (the auth scheme is case-insensitive); another scheme is a
// wrong credential (401).
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	for _, tc := range []struct {
		header string
		code   int
	}{
		{"Bearer " + tokOperator, 200},
		{"bearer " + tokOperator, 200},
		{"BEARER  " + tokOperator, 200},
		{"Basic " + tokOperator, 401},
		{tokOperator, 401},
	} {
		r, err := http.NewRequest("GET", e.base+"/api/alarms", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", tc.header)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("Authorization %q: HTTP %d, want %d", tc.header, resp.StatusCode, tc.code)
		}
	}
}

// slowStart is an engine whose Alarms blocks until release is closed, as
// the real engine's may while it loads its journal.
type slowStart struct {
	*fakeEngine
	called  chan struct{}
	release chan struct{}
}

func (s *slowStart) Alarms() []alarms.Event {
	close(s.called)
	<-s.release
	return s.fakeEngine.Alarms()
}

// TestNo503WhileStarting: a request that reaches the console while it is
// starting waits for it instead of getting 503 (the gateway's tests saw
// /api/points answer 503 just after /api/health answered 200).
func TestNo503WhileStarting(t *testing.T) {
	eng := &slowStart{fakeEngine: newFakeEngine("NH3-101"), called: make(chan struct{}), release: make(chan struct{})}
	srv, err := New(testConfig(true), Deps{Engine: eng}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base, stop := serve(t, srv)
	defer stop()
	<-eng.called // the hub is loading the alarm table
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/api/points")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	select {
	case code := <-got:
		close(eng.release)
		t.Fatalf("HTTP %d while the console was starting, want the request to wait", code)
	case <-time.After(300 * time.Millisecond): // the request is waiting, as it should
	}
	close(eng.release)
	if code := <-got; code != 200 {
		t.Fatalf("HTTP %d once started, want 200", code)
	}
}
