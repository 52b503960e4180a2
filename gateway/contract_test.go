package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"hazardgw/internal/testenv"
)

// The contract test runs the real binary with the built-in simulator and
// checks SPEC §6 (alarm event JSON), §7 (websocket) and §8 (HTTP API) from
// the outside: every object is decoded into map[string]any and its key set
// and value types are compared with the SPEC.

const (
	tokViewer   = "tok-viewer-5f1c0e"
	tokOperator = "tok-operator-9a2b41"
	tokCommand  = "tok-commander-77de3"
)

// contractConfig is simConfig's plant (NH3-101 constant 70 ppm: hihi and hi
// active) plus T-1, a temperature far outside its range (bad/range: the
// tier-0 quality alarm T-1:fault), P-1, a pressure swinging fast enough
// for its rate-of-change alarm (tier 0), and one user per role.
func contractConfig(t *testing.T, dir, console, modbusAddr string) string {
	return simConfig(t, dir, console, modbusAddr, 70, `
  [[device.point]]
  id = "T-1"
  unit = "C"
  register = "holding"
  address = 1
  type = "uint16"
  range = [0.0, 100.0]
    [device.point.sim]
    kind = "constant"
    value = 500.0

  [[device.point]]
  id = "P-1"
  unit = "kPa"
  register = "holding"
  address = 2
  type = "uint16"
  range = [0.0, 1000.0]
  roc = 10.0
    [device.point.sim]
    kind = "sine"
    value = 500.0
    amplitude = 400.0
    period = "2s"
`+consoleUsers("vic", "viewer", tokViewer, "olga", "operator", tokOperator, "chen", "commander", tokCommand))
}

var specTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// Keys of SPEC §6, and the additions the gateway documents.
var (
	eventKeys = []string{"seq", "id", "point", "cond", "tier", "priority", "state", "active", "acked",
		"latched", "shelved_until", "stage", "value", "limit", "unit", "quality", "time", "emitted",
		"activated", "by", "comment", "site", "device", "name"}
	eventExtra = []string{"oos", "flood", "notify"}
)

// checkKeys fails unless m has every key of want and no key outside want
// and extra.
func checkKeys(t *testing.T, what string, m map[string]any, want, extra []string) {
	t.Helper()
	var missing, unknown []string
	for _, k := range want {
		if _, ok := m[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range m {
		if !slices.Contains(want, k) && !slices.Contains(extra, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(missing) > 0 || len(unknown) > 0 {
		t.Errorf("%s: missing keys %v, unexpected keys %v in %v", what, missing, unknown, m)
	}
}

func isTime(v any) bool {
	s, ok := v.(string)
	return ok && specTime.MatchString(s)
}

func isNum(v any) bool  { _, ok := v.(float64); return ok }
func isStr(v any) bool  { _, ok := v.(string); return ok }
func isBool(v any) bool { _, ok := v.(bool); return ok }

// checkEvent checks one alarm event against SPEC §6 and returns it.
func checkEvent(t *testing.T, what string, m map[string]any) map[string]any {
	t.Helper()
	checkKeys(t, what, m, eventKeys, eventExtra)
	for _, k := range []string{"seq", "tier", "stage"} {
		if f, ok := m[k].(float64); !ok || f != float64(int64(f)) || f < 0 {
			t.Errorf("%s: %s = %v, want a non-negative integer", what, k, m[k])
		}
	}
	for _, k := range []string{"id", "point", "cond", "priority", "state", "unit", "quality", "by", "comment", "site", "device", "name"} {
		if !isStr(m[k]) {
			t.Errorf("%s: %s = %#v, want a string", what, k, m[k])
		}
	}
	for _, k := range []string{"active", "acked", "latched"} {
		if !isBool(m[k]) {
			t.Errorf("%s: %s = %#v, want a bool", what, k, m[k])
		}
	}
	for _, k := range []string{"value", "limit"} {
		if m[k] != nil && !isNum(m[k]) {
			t.Errorf("%s: %s = %#v, want a number or null", what, k, m[k])
		}
	}
	for _, k := range []string{"time", "emitted"} {
		if !isTime(m[k]) {
			t.Errorf("%s: %s = %#v, want RFC 3339 UTC with milliseconds", what, k, m[k])
		}
	}
	for _, k := range []string{"shelved_until", "activated"} {
		if m[k] != nil && !isTime(m[k]) {
			t.Errorf("%s: %s = %#v, want null or RFC 3339 UTC with milliseconds", what, k, m[k])
		}
	}
	cond, _ := m["cond"].(string)
	if !slices.Contains([]string{"hihi", "hi", "lo", "lolo", "roc", "on", "fault", "comm", "stale"}, cond) {
		t.Errorf("%s: cond %q", what, cond)
	}
	if m["id"] != fmt.Sprint(m["point"], ":", cond) {
		t.Errorf("%s: id %v is not point:cond", what, m["id"])
	}
	wantTier := map[string]float64{"hihi": 2, "lolo": 2, "hi": 1, "lo": 1, "roc": 0, "fault": 0, "comm": 0, "stale": 0}
	if w, ok := wantTier[cond]; ok && m["tier"] != w {
		t.Errorf("%s: tier %v, want %v for %s", what, m["tier"], w, cond)
	}
	if !slices.Contains([]string{"urgent", "high", "medium", "low"}, m["priority"].(string)) {
		t.Errorf("%s: priority %v", what, m["priority"])
	}
	if !slices.Contains([]string{"normal", "unack", "acked", "rtn_unack", "latched", "shelved", "oos"}, m["state"].(string)) {
		t.Errorf("%s: state %v", what, m["state"])
	}
	if m["site"] != "TEST-01" {
		t.Errorf("%s: site %v", what, m["site"])
	}
	if (m["state"] == "shelved") != (m["shelved_until"] != nil) {
		t.Errorf("%s: state %v with shelved_until %v", what, m["state"], m["shelved_until"])
	}
	if m["active"] == true && m["activated"] == nil {
		t.Errorf("%s: active without activated", what)
	}
	return m
}

var pointKeys = []string{"point", "value", "quality", "cause", "time", "unit", "device"}

func checkPoint(t *testing.T, what string, m map[string]any) {
	t.Helper()
	checkKeys(t, what, m, pointKeys, []string{"name", "area", "range"})
	if m["value"] != nil && !isNum(m["value"]) {
		t.Errorf("%s: value %#v", what, m["value"])
	}
	if m["time"] != nil && !isTime(m["time"]) {
		t.Errorf("%s: time %#v", what, m["time"])
	}
	q := m["quality"]
	if !slices.Contains([]any{"good", "uncertain", "bad"}, q) {
		t.Errorf("%s: quality %#v", what, q)
	}
	if (q == "good") != (m["cause"] == "") {
		t.Errorf("%s: quality %v with cause %#v", what, q, m["cause"])
	}
}

// call makes one request and returns the status and body.
func call(t *testing.T, method, url, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func decode[T any](t *testing.T, what string, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v in %s", what, err, b)
	}
	return v
}

// wsConn is a websocket client reading frames as maps.
type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

func dialWS(t *testing.T, url string, header http.Header) *wsConn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, code)
	}
	t.Cleanup(func() { c.Close() })
	return &wsConn{t, c}
}

// read returns the next frame, failing after 5 s.
func (w *wsConn) read() map[string]any {
	w.t.Helper()
	_ = w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := w.c.ReadMessage()
	if err != nil {
		w.t.Fatalf("websocket read: %v", err)
	}
	return decode[map[string]any](w.t, "frame", b)
}

// until reads frames until one of type typ arrives; the frames skipped on
// the way are returned too.
func (w *wsConn) until(typ string) (map[string]any, []map[string]any) {
	w.t.Helper()
	var skipped []map[string]any
	for range 500 {
		f := w.read()
		if f["type"] == typ {
			return f, skipped
		}
		skipped = append(skipped, f)
	}
	w.t.Fatalf("no %s frame in 500 frames", typ)
	return nil, nil
}

func (w *wsConn) send(v any) {
	w.t.Helper()
	if err := w.c.WriteJSON(v); err != nil {
		w.t.Fatalf("websocket write: %v", err)
	}
}

// command sends cmd with ref and returns its result and the alarm frames
// that came before it.
func (w *wsConn) command(ref string, cmd map[string]any) (map[string]any, []map[string]any) {
	w.t.Helper()
	cmd["ref"] = ref
	w.send(cmd)
	var alarms []map[string]any
	for range 500 {
		f := w.read()
		switch f["type"] {
		case "alarm":
			alarms = append(alarms, f)
		case "result":
			checkKeys(w.t, "result", f, []string{"type", "ref", "ok", "error"}, nil)
			if f["ref"] != ref {
				w.t.Fatalf("result ref %v, want %s (the next result must answer this command)", f["ref"], ref)
			}
			return f, alarms
		}
	}
	w.t.Fatalf("no result for %s", ref)
	return nil, nil
}

func TestContract(t *testing.T) {
	dir := t.TempDir()
	console := testenv.FreeAddr(t)
	cfg := contractConfig(t, dir, console, testenv.FreeAddr(t))
	base := "http://" + console
	ws := "ws://" + console + "/ws"
	p := startHealthy(t, dir, cfg, console)
	waitAlarm(t, p, base, "NH3-101:hihi", "unack", 15*time.Second)
	waitAlarm(t, p, base, "NH3-101:hi", "unack", 5*time.Second)
	waitAlarm(t, p, base, "T-1:fault", "unack", 5*time.Second)
	waitAny(t, p, base, "P-1:roc", 10*time.Second)

	t.Run("page", func(t *testing.T) {
		code, h, b := call(t, "GET", base+"/", "", "")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(string(b), "<html") {
			t.Fatalf("GET /: %d %s", code, h.Get("Content-Type"))
		}
	})

	t.Run("health", func(t *testing.T) {
		code, _, b := call(t, "GET", base+"/api/health", "", "")
		if code != 200 {
			t.Fatalf("health without token: %d", code)
		}
		for _, tok := range []string{tokViewer, tokOperator, tokCommand} {
			if strings.Contains(string(b), tok) {
				t.Fatalf("health reveals a token: %s", b)
			}
		}
		h := decode[map[string]any](t, "health", b)
		checkKeys(t, "health", h, []string{"status", "uptime_s", "devices", "store"}, []string{"flood"})
		if h["status"] != "ok" || !isNum(h["uptime_s"]) {
			t.Errorf("health status %v uptime_s %v", h["status"], h["uptime_s"])
		}
		devs, _ := h["devices"].([]any)
		found := false
		for _, x := range devs {
			d, _ := x.(map[string]any)
			checkKeys(t, "health device", d, []string{"id", "state", "last_ok", "errors"}, nil)
			if d["id"] != "GC-1" {
				continue // the gateway's own _GATEWAY device, if listed
			}
			found = true
			if d["state"] != "up" || !isTime(d["last_ok"]) || !isNum(d["errors"]) {
				t.Errorf("health device %v (last_ok must be RFC 3339 UTC with milliseconds)", d)
			}
		}
		if !found {
			t.Errorf("health devices %v lack GC-1", h["devices"])
		}
		st, _ := h["store"].(map[string]any)
		checkKeys(t, "health store", st, []string{"influxdb", "outbox_bytes", "outbox_samples"}, nil)
		if st["influxdb"] != "off" || !isNum(st["outbox_bytes"]) || !isNum(st["outbox_samples"]) {
			t.Errorf("health store %v", st)
		}
	})

	t.Run("auth", func(t *testing.T) {
		for _, path := range []string{"/api/points", "/api/alarms", "/api/events", "/metrics"} {
			if code, _, _ := call(t, "GET", base+path, "wrong-token", ""); code != 401 {
				t.Errorf("GET %s with a wrong token: %d, want 401", path, code)
			}
			if code, _, _ := call(t, "GET", base+path, "", ""); code != 200 {
				t.Errorf("GET %s without a token (viewer): %d, want 200", path, code)
			}
		}
		for _, url := range []string{ws + "?token=wrong-token", ws} {
			h := http.Header{}
			if url == ws {
				h.Set("Authorization", "Bearer wrong-token")
			}
			c, resp, err := websocket.DefaultDialer.Dial(url, h)
			if err == nil {
				c.Close()
				t.Fatalf("%s: upgraded with a wrong token", url)
			}
			if resp == nil || resp.StatusCode != 401 || resp.Header.Get("Upgrade") != "" {
				t.Errorf("%s with a wrong token: %v, want 401 without upgrade", url, resp)
			}
		}
	})

	t.Run("alarms and points", func(t *testing.T) {
		code, _, b := call(t, "GET", base+"/api/alarms", tokViewer, "")
		if code != 200 {
			t.Fatalf("alarms: %d", code)
		}
		evs := decode[[]map[string]any](t, "alarms", b)
		byID := map[string]map[string]any{}
		for _, ev := range evs {
			checkEvent(t, "alarm "+fmt.Sprint(ev["id"]), ev)
			if ev["state"] == "normal" {
				t.Errorf("/api/alarms lists a normal alarm: %v", ev)
			}
			byID[ev["id"].(string)] = ev
		}
		hihi, hi, fault := byID["NH3-101:hihi"], byID["NH3-101:hi"], byID["T-1:fault"]
		if hihi["tier"] != 2.0 || hihi["limit"] != 60.0 || hihi["priority"] != "high" || hihi["unit"] != "ppm" ||
			hihi["device"] != "GC-1" || hihi["name"] != "Compressor room NH3" || hihi["quality"] != "good" ||
			hihi["active"] != true || hihi["stage"] != 0.0 || hihi["shelved_until"] != nil {
			t.Errorf("NH3-101:hihi = %v", hihi)
		}
		if v, _ := hihi["value"].(float64); v < 69.9 || v > 70.1 {
			t.Errorf("NH3-101:hihi value %v, want 70", hihi["value"])
		}
		if hi["tier"] != 1.0 || hi["priority"] != "medium" || hi["limit"] != 30.0 {
			t.Errorf("NH3-101:hi = %v", hi)
		}
		if fault["tier"] != 0.0 || fault["priority"] != "low" || fault["quality"] != "bad" {
			t.Errorf("T-1:fault = %v", fault)
		}
		if roc := byID["P-1:roc"]; roc == nil || roc["tier"] != 0.0 || roc["priority"] != "medium" {
			t.Errorf("P-1:roc = %v, want tier 0 priority medium", roc)
		}

		code, _, b = call(t, "GET", base+"/api/points", "", "")
		if code != 200 {
			t.Fatalf("points: %d", code)
		}
		pts := decode[[]map[string]any](t, "points", b)
		got := map[string]map[string]any{}
		for _, pt := range pts {
			checkPoint(t, "point "+fmt.Sprint(pt["point"]), pt)
			got[pt["point"].(string)] = pt
		}
		if len(pointsOf(pts)) != 3 {
			t.Errorf("points: %v, want NH3-101, T-1 and P-1 (and the gateway's own)", pts)
		}
		if nh3 := got["NH3-101"]; nh3["quality"] != "good" || nh3["unit"] != "ppm" || nh3["device"] != "GC-1" {
			t.Errorf("NH3-101 = %v", nh3)
		}
		if t1 := got["T-1"]; t1["quality"] != "bad" || t1["cause"] != "range" {
			t.Errorf("T-1 = %v, want bad/range", t1)
		}
	})

	t.Run("http commands", func(t *testing.T) {
		id := "/api/alarms/NH3-101:hi/"
		errCases := []struct {
			name, path, token, body string
			code                    int
		}{
			{"viewer ack", id + "ack", tokViewer, `{}`, 403},
			{"no token ack", id + "ack", "", `{}`, 403},
			{"unknown alarm", "/api/alarms/NOPE:hi/ack", tokOperator, `{}`, 404},
			{"reset while active", "/api/alarms/NH3-101:hihi/reset", tokOperator, `{}`, 409},
			{"malformed body", id + "ack", tokOperator, `{"comment":`, 400},
			{"shelve beyond max_shelve", id + "shelve", tokOperator, `{"for":"61m","reason":"x"}`, 400},
			{"shelve without reason", id + "shelve", tokOperator, `{"for":"10m"}`, 400},
			{"shelve without for", id + "shelve", tokOperator, `{"reason":"x"}`, 400},
		}
		for _, tc := range errCases {
			code, _, b := call(t, "POST", base+tc.path, tc.token, tc.body)
			if code != tc.code {
				t.Errorf("%s: %d %s, want %d", tc.name, code, b, tc.code)
			}
			if code == 403 {
				if e := decode[map[string]any](t, tc.name, b); e["error"] != "forbidden" {
					t.Errorf("%s: body %s, want error forbidden", tc.name, b)
				}
			}
		}

		okCases := []struct {
			op, body, state, by, comment string
		}{
			{"ack", `{"comment":"on my way"}`, "acked", "olga", "on my way"},
			{"shelve", `{"for":"10m","reason":"detector swap"}`, "shelved", "olga", "detector swap"},
			{"unshelve", `{}`, "unack", "olga", ""}, // still active: re-annunciates
			{"ack", ``, "acked", "olga", ""},
		}
		var seqs []float64
		for _, tc := range okCases {
			before := time.Now().UTC().Truncate(time.Millisecond)
			code, h, b := call(t, "POST", base+id+tc.op, tokOperator, tc.body)
			if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Fatalf("%s: %d %s", tc.op, code, b)
			}
			ev := checkEvent(t, tc.op+" result", decode[map[string]any](t, tc.op, b))
			if ev["id"] != "NH3-101:hi" || ev["state"] != tc.state || ev["by"] != tc.by || ev["comment"] != tc.comment {
				t.Errorf("%s: event %v, want state %s by %s comment %q", tc.op, ev, tc.state, tc.by, tc.comment)
			}
			if tm, _ := time.Parse(time.RFC3339, ev["time"].(string)); tm.Before(before) {
				t.Errorf("%s: time %v is not the time of the action (>= %v)", tc.op, ev["time"], before)
			}
			if tc.op == "shelve" {
				until, _ := time.Parse(time.RFC3339, fmt.Sprint(ev["shelved_until"]))
				if d := until.Sub(before); d < 10*time.Minute-time.Second || d > 10*time.Minute+5*time.Second {
					t.Errorf("shelved_until %v, want about 10m after %v", ev["shelved_until"], before)
				}
			}
			seqs = append(seqs, ev["seq"].(float64))
		}

		// The journal holds them, oldest first, with consecutive seqs.
		after := int(seqs[0]) - 1
		code, _, b := call(t, "GET", fmt.Sprintf("%s/api/events?after=%d&limit=%d", base, after, len(seqs)), tokViewer, "")
		if code != 200 {
			t.Fatalf("events: %d %s", code, b)
		}
		evs := decode[[]map[string]any](t, "events", b)
		if len(evs) != len(seqs) {
			t.Fatalf("events after %d limit %d: %d events", after, len(seqs), len(evs))
		}
		for i, ev := range evs {
			checkEvent(t, "journal event", ev)
			if ev["seq"] != float64(after+1+i) {
				t.Errorf("events[%d].seq = %v, want %d (oldest first, consecutive)", i, ev["seq"], after+1+i)
			}
		}
		code, _, b = call(t, "GET", base+"/api/events?after=0&limit=1000", "", "")
		all := decode[[]map[string]any](t, "events", b)
		if code != 200 || len(all) < len(seqs) || all[0]["seq"] != 1.0 {
			t.Errorf("events from the start: %d, %d events", code, len(all))
		}
		for _, q := range []string{"after=x", "limit=-1", "limit=x"} {
			if code, _, _ := call(t, "GET", base+"/api/events?"+q, "", ""); code != 400 {
				t.Errorf("events?%s: %d, want 400", q, code)
			}
		}
	})

	t.Run("websocket viewer", func(t *testing.T) {
		c := dialWS(t, ws, nil)
		hello := c.read()
		checkKeys(t, "hello", hello, []string{"type", "site", "user", "role", "seq", "server_time"}, []string{"site_name", "max_shelve"})
		if hello["type"] != "hello" || hello["site"] != "TEST-01" || hello["user"] != "" || hello["role"] != "viewer" ||
			!isNum(hello["seq"]) || !isTime(hello["server_time"]) {
			t.Errorf("hello %v", hello)
		}
		snap := c.read()
		checkKeys(t, "snapshot", snap, []string{"type", "points", "alarms", "linkages"}, []string{"seq", "flood", "votes", "deviations"})
		if snap["type"] != "snapshot" {
			t.Fatalf("second frame %v, want snapshot", snap)
		}
		var pts []map[string]any
		for _, p := range snap["points"].([]any) {
			checkPoint(t, "snapshot point", p.(map[string]any))
			pts = append(pts, p.(map[string]any))
		}
		if len(pointsOf(pts)) != 3 {
			t.Errorf("snapshot points %v", snap["points"])
		}
		ids := map[string]bool{}
		for _, a := range snap["alarms"].([]any) {
			ev := checkEvent(t, "snapshot alarm", a.(map[string]any))
			ids[ev["id"].(string)] = true
			if ev["state"] == "normal" {
				t.Errorf("snapshot lists a normal alarm %v", ev)
			}
		}
		for _, id := range []string{"NH3-101:hihi", "NH3-101:hi", "T-1:fault"} {
			if !ids[id] {
				t.Errorf("snapshot lacks %s: %v", id, ids)
			}
		}

		// Samples arrive, batched, with SPEC §7's fields.
		f, _ := c.until("samples")
		checkKeys(t, "samples frame", f, []string{"type", "samples"}, nil)
		ss, _ := f["samples"].([]any)
		if len(ss) == 0 {
			t.Fatal("empty samples frame")
		}
		for _, s := range ss {
			m := s.(map[string]any)
			checkKeys(t, "sample", m, []string{"point", "value", "quality", "cause", "time"}, nil)
			if !isTime(m["time"]) {
				t.Errorf("sample time %v", m["time"])
			}
		}

		res, _ := c.command("v1", map[string]any{"type": "ack", "alarm": "NH3-101:hihi"})
		if res["ok"] != false || res["error"] != "forbidden" {
			t.Errorf("viewer ack: %v, want forbidden", res)
		}
		// Malformed frames keep the connection.
		for i, bad := range []string{`not json`, `{"ref":"m2"}`, `[1,2]`, `{"type":"explode","ref":"m4"}`} {
			if err := c.c.WriteMessage(websocket.TextMessage, []byte(bad)); err != nil {
				t.Fatal(err)
			}
			res, _ := c.until("result")
			checkKeys(t, "result", res, []string{"type", "ref", "ok", "error"}, nil)
			if res["ok"] != false || res["error"] == "" || res["error"] == nil {
				t.Errorf("malformed frame %d %q: %v, want ok false with a reason", i, bad, res)
			}
		}
		// Resume is a viewer's right, and the connection is still open.
		res, _ = c.command("r1", map[string]any{"type": "resume", "seq": hello["seq"]})
		if res["ok"] != true {
			t.Errorf("resume: %v", res)
		}
	})

	t.Run("websocket operator and commander", func(t *testing.T) {
		hdr := http.Header{"Authorization": {"Bearer " + tokOperator}}
		op := dialWS(t, ws, hdr)
		hello := op.read()
		if hello["user"] != "olga" || hello["role"] != "operator" {
			t.Fatalf("operator hello %v", hello)
		}
		op.until("snapshot")
		cmd := dialWS(t, ws+"?token="+tokCommand, nil)
		if h := cmd.read(); h["user"] != "chen" || h["role"] != "commander" {
			t.Fatalf("commander hello %v", h)
		}
		cmd.until("snapshot")

		var alarmSeqs []float64
		collect := func(frames []map[string]any) {
			for _, f := range frames {
				checkKeys(t, "alarm frame", f, []string{"type", "alarm"}, nil)
				ev := checkEvent(t, "alarm frame", f["alarm"].(map[string]any))
				alarmSeqs = append(alarmSeqs, ev["seq"].(float64))
			}
		}
		type step struct {
			cmd     map[string]any
			ok      bool
			errPart string
		}
		opSteps := []step{
			{map[string]any{"type": "ack", "alarm": "NH3-101:hihi", "comment": "seen"}, true, ""},
			{map[string]any{"type": "ack", "alarm": "NOPE:hi"}, false, "unknown"},
			{map[string]any{"type": "reset", "alarm": "NH3-101:hihi"}, false, "refused"},
			{map[string]any{"type": "shelve", "alarm": "T-1:fault", "for": "2h", "reason": "x"}, false, "max_shelve"},
			{map[string]any{"type": "shelve", "alarm": "T-1:fault", "for": "5m"}, false, "reason"},
			{map[string]any{"type": "shelve", "alarm": "T-1:fault", "for": "5m", "reason": "sensor swap"}, true, ""},
			{map[string]any{"type": "unshelve", "alarm": "T-1:fault"}, true, ""},
			{map[string]any{"type": "oos", "point": "T-1", "reason": "calibration"}, false, "forbidden"},
			{map[string]any{"type": "ios", "point": "T-1"}, false, "forbidden"},
		}
		for i, s := range opSteps {
			res, frames := op.command(fmt.Sprint("op", i), s.cmd)
			collect(frames)
			if res["ok"] != s.ok || (!s.ok && !strings.Contains(fmt.Sprint(res["error"]), s.errPart)) {
				t.Errorf("operator %v: %v, want ok %v error containing %q", s.cmd, res, s.ok, s.errPart)
			}
			if !s.ok && s.errPart == "forbidden" && res["error"] != "forbidden" {
				t.Errorf("operator %v: error %q, want exactly \"forbidden\"", s.cmd, res["error"])
			}
		}
		cmdSteps := []step{
			{map[string]any{"type": "oos", "point": "T-1"}, false, "reason"},
			{map[string]any{"type": "oos", "point": "T-1", "reason": "calibration"}, true, ""},
			{map[string]any{"type": "ios", "point": "T-1"}, true, ""},
		}
		for i, s := range cmdSteps {
			res, _ := cmd.command(fmt.Sprint("cmd", i), s.cmd)
			if res["ok"] != s.ok || (!s.ok && !strings.Contains(fmt.Sprint(res["error"]), s.errPart)) {
				t.Errorf("commander %v: %v, want ok %v error containing %q", s.cmd, res, s.ok, s.errPart)
			}
		}
		// The operator's connection sees every alarm event, in seq order,
		// with no gap: read until the commander's ios has arrived.
		deadline := time.Now().Add(5 * time.Second)
		for !sawIOS(op, collect) {
			if time.Now().After(deadline) {
				t.Fatalf("the operator never saw the commander's ios; alarm seqs %v", alarmSeqs)
			}
		}
		for i := 1; i < len(alarmSeqs); i++ {
			if alarmSeqs[i] != alarmSeqs[i-1]+1 {
				t.Fatalf("alarm frames out of order or with a gap: %v", alarmSeqs)
			}
		}
		if len(alarmSeqs) < 4 || alarmSeqs[0] != hello["seq"].(float64)+1 {
			t.Errorf("alarm seqs %v after hello seq %v", alarmSeqs, hello["seq"])
		}
	})

	t.Run("metrics", func(t *testing.T) {
		code, h, b := call(t, "GET", base+"/metrics", tokViewer, "")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Fatalf("metrics: %d %s", code, h.Get("Content-Type"))
		}
		for _, prefix := range []string{"hazardgw_modbus_", "hazardgw_alarm_", "hazardgw_store_", "hazardgw_console_"} {
			if !regexp.MustCompile(`(?m)^# TYPE ` + prefix).Match(b) {
				t.Errorf("/metrics has no %s* metric", prefix)
			}
		}
		// Every stage's queue, under one name (queues.go).
		for _, line := range []string{`hazardgw_queue_samples{stage="store"}`, `hazardgw_queue_samples{stage="console"}`,
			`hazardgw_queue_dropped_samples_total{stage="store"}`, `hazardgw_queue_events{stage="console"}`,
			"hazardgw_alarm_input_capacity 512", "hazardgw_alarm_sink_blocked_seconds_total"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line)).Match(b) {
				t.Errorf("/metrics has no line %s", line)
			}
		}
	})

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d", code)
	}
	out := p.output()
	for _, tok := range []string{tokViewer, tokOperator, tokCommand, "wrong-token"} {
		if strings.Contains(out, tok) {
			t.Errorf("a token appears in the log:\n%s", out)
		}
	}
}

// sawIOS reads one frame from c (alarm frames go to collect); true once an ios event (an
// alarm of T-1 leaving oos) has been seen.
func sawIOS(c *wsConn, collect func([]map[string]any)) bool {
	f := c.read()
	if f["type"] != "alarm" {
		return false
	}
	collect([]map[string]any{f})
	ev := f["alarm"].(map[string]any)
	return ev["point"] == "T-1" && ev["state"] != "oos" && ev["comment"] == "" && ev["by"] == "chen"
}

// pointsOf drops the gateway's self-monitoring points (device _GATEWAY,
// docs/ARCHITECTURE.md) from a point list.
func pointsOf(pts []map[string]any) []map[string]any {
	var out []map[string]any
	for _, p := range pts {
		if p["device"] != "_GATEWAY" {
			out = append(out, p)
		}
	}
	return out
}

// waitAny polls /api/alarms until the alarm id is listed (in any state).
func waitAny(t *testing.T, p *proc, base, id string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var list []alarmView
		getJSON(t, base+"/api/alarms", &list)
		for _, a := range list {
			if a.ID == id {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("gateway exited (code %d) while waiting for %s", p.code, id)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("alarm %s not raised within %v", id, within)
}
