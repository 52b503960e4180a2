package scenario

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/gateway/sim"
)

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown key", "[[expect]]\nalarm = \"A:hi\"\nwithn = \"1s\"\n", "x.toml:3:1: unknown key expect.withn"},
		{"two actions", "[[step]]\npoint = \"A\"\nset = 1.0\nrelease = true\n[[expect]]\nalarm = \"A:hi\"\n", "step[0] (at 0s): give exactly one of set, play, release, comm"},
		{"comm without device", "[[step]]\ncomm = \"lost\"\n[[expect]]\nalarm = \"A:hi\"\n", "step[0]: comm needs device"},
		{"comm word", "[[step]]\ndevice = \"D\"\ncomm = \"down\"\n[[expect]]\nalarm = \"A:hi\"\n", `step[0].comm: "down" (want lost or restored)`},
		{"bad alarm id", "[[expect]]\nalarm = \"A-hi\"\n", `expect[0].alarm: "A-hi" is not POINT:COND`},
		{"bad cond", "[[expect]]\nalarm = \"A:high\"\n", `expect[0].alarm: "A:high" is not POINT:COND`},
		{"bad state", "[[expect]]\nalarm = \"A:hi\"\nstate = \"active\"\n", `expect[0].state: unknown state "active"`},
		{"no expectation", "[[step]]\npoint = \"A\"\nset = 1.0\n", "no [[expect]]: a scenario that expects nothing cannot fail"},
		{"bad duration", "settle = \"5 s\"\n[[expect]]\nalarm = \"A:hi\"\n", "x.toml:1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckAgainstConfig(t *testing.T) {
	cfg, err := configs.Load("testdata/fake.toml")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := Parse("x.toml", []byte("[[step]]\npoint = \"NH3-999\"\nset = 1.0\n[[step]]\ndevice = \"GC-9\"\ncomm = \"lost\"\n[[expect]]\nalarm = \"LT-1:hi\"\n[[expect]]\nalarm = \"NH3-101:lo\"\nnone = true\n[[expect]]\nalarm = \"NH3-101:on\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = sc.Check(cfg)
	for _, want := range []string{`step[0].point: "NH3-999"`, `step[1].device: "GC-9"`, `expect[0].alarm: "LT-1"`,
		"expect[1].alarm: NH3-101:lo can never be raised: the point has no lo limit",
		"expect[2].alarm: NH3-101:on can never be raised: the point has no alarm_on"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: err = %v, want %q", err, want)
		}
	}
}

// TestEvaluate judges recorded events against expectations: the pure core
// of the runner, as data.
func TestEvaluate(t *testing.T) {
	ev := func(seq uint64, id string, st alarms.State, tier int) alarms.Event {
		return alarms.Event{Seq: seq, ID: id, State: st, Tier: tier, Active: st == alarms.Unack, Priority: alarms.High}
	}
	at := func(s string) time.Duration { d, _ := time.ParseDuration(s); return d }
	events := []Received{
		{Elapsed: at("4s"), Event: ev(1, "P:hi", alarms.Unack, 1)},
		{Elapsed: at("10.3s"), Event: ev(2, "P:hihi", alarms.Unack, 2)},
		{Elapsed: at("30s"), Event: ev(3, "P:comm", alarms.Unack, 0)},
		{Elapsed: at("0s"), Coil: &CoilRead{"PLC", 10, false}},
		{Elapsed: at("10.5s"), Coil: &CoilRead{"PLC", 10, true}},
		{Elapsed: at("10.6s"), Link: &alarms.LinkView{ID: "FAN", State: alarms.LinkWritten}},
		{Elapsed: at("13s"), Link: &alarms.LinkView{ID: "FAN", State: alarms.LinkConfirmed}},
	}
	applied := map[time.Duration]time.Duration{at("10s"): at("10.1s")}
	one, two := 1, 2
	ten, on, off := 10, 1.0, 0.0
	tests := []struct {
		name    string
		e       Expect
		now     string
		pass    bool
		pending bool
		detail  string
		latency string
	}{
		{"met, latency from the applied step", Expect{At: configs.Duration(at("10s")), Alarm: "P:hihi", Tier: &two}, "11s", true, false, "seq 2 at 10.3s, latency 200ms", "200ms"},
		{"met, latency from At", Expect{At: configs.Duration(at("3s")), Alarm: "P:hi", State: "unack", Tier: &one}, "5s", true, false, "seq 1 at 4s, latency 1s", "1s"},
		{"wrong tier", Expect{At: configs.Duration(at("10s")), Alarm: "P:hihi", Tier: &one}, "20s", false, false, "no matching event; seen: unack tier 2 stage 0 at 10.3s", ""},
		{"too early", Expect{At: configs.Duration(at("5s")), Alarm: "P:hi"}, "20s", false, false, "no matching event; one came too early, at 4s", ""},
		{"too late", Expect{At: configs.Duration(at("20s")), Alarm: "P:comm", Within: configs.Duration(at("5s"))}, "40s", false, false, "one came too late, at 30s (latency 10s)", ""},
		{"still waiting", Expect{At: configs.Duration(at("20s")), Alarm: "P:stale", Within: configs.Duration(at("15s"))}, "25s", false, true, "pending", ""},
		{"none holds", Expect{At: configs.Duration(at("0s")), Alarm: "P:hihi", None: true}, "12s", true, false, "", ""},
		{"none still open", Expect{At: configs.Duration(at("0s")), Alarm: "P:hihi", None: true, Within: configs.Duration(at("5s"))}, "4s", false, true, "pending", ""},
		{"none broken", Expect{At: configs.Duration(at("0s")), Alarm: "P:hi", None: true}, "12s", false, false, "seq 1 arrived at 4s", ""},
		{"linkage state", Expect{At: configs.Duration(at("10s")), Linkage: "FAN", State: "confirmed"}, "14s", true, false, "linkage FAN confirmed at 13s, latency 2.9s", "2.9s"},
		{"linkage never failed", Expect{At: configs.Duration(at("10s")), Linkage: "FAN", State: "failed", None: true}, "16s", true, false, "", ""},
		{"linkage state not reached", Expect{At: configs.Duration(at("10s")), Linkage: "FAN", State: "released"}, "16s", false, false, "no matching event; seen: linkage FAN written at 10.6s", ""},
		{"coil set", Expect{At: configs.Duration(at("10s")), Device: "PLC", Coil: &ten, Value: &on}, "11s", true, false, "coil PLC:10 = 1 at 10.5s", "400ms"},
		{"coil not reset", Expect{At: configs.Duration(at("10s")), Device: "PLC", Coil: &ten, Value: &off}, "16s", false, false, "no matching event; one came too early, at 0s", ""},
		{"an alarm expectation ignores linkages", Expect{At: configs.Duration(at("10s")), Alarm: "FAN:linkage"}, "16s", false, false, "no matching event", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.e.Within == 0 {
				tt.e.Within = configs.Duration(5 * time.Second)
			}
			sc := &Scenario{Expect: []Expect{tt.e}}
			rs, pending := Evaluate(sc, events, applied, at(tt.now))
			r := rs[0]
			if r.Pass != tt.pass || (pending == 1) != tt.pending || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("pass %v pending %d detail %q; want pass %v pending %v detail %q", r.Pass, pending, r.Detail, tt.pass, tt.pending, tt.detail)
			}
			if tt.latency != "" && r.Latency != at(tt.latency) {
				t.Errorf("latency %v, want %s", r.Latency, tt.latency)
			}
		})
	}
}

// TestShippedScenarios loads every scenario of configs/scenarios with the
// config it names and checks they agree.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../../configs/scenarios/*.scenario.toml")
	if err != nil || len(files) < 5 {
		t.Fatalf("want at least 5 shipped scenarios, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := configs.Load(sc.Config)
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.Check(cfg); err != nil {
				t.Error(err)
			}
			if cfg.Simulator != nil && cfg.Simulator.Enabled {
				t.Errorf("%s enables the simulator: gateway run would serve the plant itself", sc.Config)
			}
			plant, err := sim.New(cfg, sim.Options{})
			if err != nil {
				t.Fatalf("plant: %v", err)
			}
			for i, s := range sc.Steps {
				if s.Play != nil {
					if err := plant.Play(s.Point, *s.Play); err != nil {
						t.Errorf("step[%d]: %v", i, err)
					}
				}
			}
		})
	}
}
