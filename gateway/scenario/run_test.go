package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/gateway/sim"
)

// fakeConsole is a tiny stand-in for the gateway: it polls the plant's
// NH3-101 every 10ms, raises hi (>= 30) and hihi (>= 60) like the engine
// would, and sends hello, snapshot and alarm frames over a websocket
// (SPEC §7). It checks the bearer token.
type fakeConsole struct {
	plant *sim.Plant
	token string
	snap  []alarms.Event // alarms in the snapshot

	mu   sync.Mutex
	comm []bool // CommLoss calls seen through the recording plant
}

func (f *fakeConsole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	c.WriteJSON(map[string]any{"type": "hello", "site": "SCN-TEST", "user": "", "role": "viewer", "seq": 0, "server_time": time.Now()})
	c.WriteJSON(map[string]any{"type": "snapshot", "points": []any{}, "alarms": f.snap})
	go func() { // read (and drop) client frames so a close is noticed
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	active := map[string]bool{}
	seq := uint64(0)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		now := time.Now()
		v, _ := f.plant.Value("NH3-101", now)
		for _, l := range []struct {
			cond  string
			limit float64
			tier  int
			prio  alarms.Priority
		}{{"hi", 30, 1, alarms.Medium}, {"hihi", 60, 2, alarms.High}} {
			on := v >= l.limit
			if on == active[l.cond] {
				continue
			}
			active[l.cond] = on
			seq++
			st := alarms.Unack
			if !on {
				st = alarms.RtnUnack
			}
			ev := alarms.Event{Seq: seq, ID: "NH3-101:" + l.cond, Point: "NH3-101", Cond: l.cond, Tier: l.tier,
				Priority: l.prio, State: st, Active: on, Value: v, Limit: l.limit, Time: now, Emitted: now}
			b, _ := json.Marshal(map[string]any{"type": "alarm", "alarm": ev})
			if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		}
	}
}

// recorder passes every call to the plant and records comm steps.
type recorder struct {
	*sim.Plant
	f *fakeConsole
}

func (r recorder) CommLoss(dev string, lost bool) error {
	r.f.mu.Lock()
	r.f.comm = append(r.f.comm, lost)
	r.f.mu.Unlock()
	return r.Plant.CommLoss(dev, lost)
}

func setup(t *testing.T, token string) (*fakeConsole, string) {
	t.Helper()
	cfg, err := configs.Load("testdata/fake.toml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeConsole{plant: p, token: token}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func TestRunPasses(t *testing.T) {
	f, url := setup(t, "s3cret")
	sc, err := Load("testdata/leak.toml")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, sc, Options{Against: url, Token: "s3cret", Plant: recorder{f.plant, f}, Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Passed != 3 || rep.Failed != 0 {
		t.Errorf("passed %d failed %d, want 3 and 0", rep.Passed, rep.Failed)
	}
	for _, r := range rep.Results {
		if !r.Expect.None && (r.Latency < 0 || r.Latency > time.Second) {
			t.Errorf("%s: latency %v outside [0, 1s]", r.Expect.String(), r.Latency)
		}
	}
	if !strings.Contains(out.String(), "PASS  NH3-101:hi unack tier 1 medium within 1s of 200ms: seq 1 at") {
		t.Errorf("report lacks the PASS line of NH3-101:hi:\n%s", out.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.comm) != 2 || !f.comm[0] || f.comm[1] {
		t.Errorf("comm steps reached the plant as %v, want [true false]", f.comm)
	}
}

func TestRunFailsOnWrongExpectation(t *testing.T) {
	f, url := setup(t, "")
	sc, err := Parse("wrong.toml", []byte(`
settle = "50ms"
within = "500ms"
[[step]]
at = "100ms"
point = "NH3-101"
set = 70.0
[[expect]]
at = "100ms"
alarm = "NH3-101:hihi"
tier = 1              # wrong: hihi is tier 2
[[expect]]
at = "100ms"
alarm = "NH3-101:hi"  # right
state = "unack"
[[expect]]
at = "0s"
alarm = "NH3-101:hi"
none = true           # wrong: hi comes within the window
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), sc, Options{Against: url, Plant: f.plant, Out: &out})
	t.Log("\n" + out.String())
	if err == nil {
		t.Fatal("Run passed a scenario with wrong expectations")
	}
	if rep.Passed != 1 || rep.Failed != 2 {
		t.Errorf("passed %d failed %d, want 1 and 2", rep.Passed, rep.Failed)
	}
	for _, want := range []string{
		"FAIL  NH3-101:hihi tier 1 within 500ms of 100ms: no matching event; seen: unack tier 2 stage 0 at",
		"FAIL  no event of NH3-101:hi within 500ms of 0s: seq",
		"PASS  NH3-101:hi unack within 500ms of 100ms",
		"3 expectations: 1 passed, 2 failed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestRunWarnsAboutStandingAlarm(t *testing.T) {
	f, url := setup(t, "")
	f.snap = []alarms.Event{{ID: "NH3-101:hi", State: alarms.Acked, Active: true, Tier: 1, Priority: alarms.Medium}}
	sc, err := Parse("standing.toml", []byte(`
settle = "10ms"
[[expect]]
alarm = "NH3-101:hi"
within = "100ms"
none = true
[[expect]]
alarm = "NH3-101:hi"
within = "100ms"
state = "normal"
`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), sc, Options{Against: url, Plant: f.plant})
	if err == nil {
		t.Error("Run passed although NH3-101:hi never returned to normal")
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "NH3-101:hi is already acked") {
		t.Errorf("warnings = %q", rep.Warnings)
	}
}

func TestRunConsoleErrors(t *testing.T) {
	f, url := setup(t, "s3cret")
	sc, err := Load("testdata/leak.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), sc, Options{Against: url, Token: "wrong", Plant: f.plant}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: err = %v, want a 401", err)
	}
	if _, err := Run(context.Background(), sc, Options{Against: "ws://127.0.0.1:1/ws", Plant: f.plant}); err == nil {
		t.Error("Run against a closed port succeeded")
	}
	if _, err := Run(context.Background(), sc, Options{Against: url, Token: "s3cret"}); err == nil {
		t.Error("Run without a plant succeeded")
	}
}
