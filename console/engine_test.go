package console

import (
	"context"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// TestRealEngine runs the console against the real alarms.Engine with a
// journal in a temp dir: a sample above hihi reaches a client as alarm
// frames, an operator acknowledges over the websocket, the HTTP API maps
// the engine's refusals to SPEC §8's codes, and resume reads the real
// journal.
func TestRealEngine(t *testing.T) {
	e, eng := startReal(t, Options{Ring: 1})

	c, _, snap := e.dial(tokOperator)
	eng.Sink()([]drivers.Sample{{Point: "NH3-101", Value: 65, Time: time.Now()}})
	got := map[string]alarms.Event{}
	for got["NH3-101:hi"].Seq == 0 || got["NH3-101:hihi"].Seq == 0 {
		a := c.next("alarm").Alarm
		got[a.ID] = a
	}
	hihi, ok := got["NH3-101:hihi"]
	if !ok || hihi.State != alarms.Unack || hihi.Seq <= snap.Seq {
		t.Fatalf("alarms %+v, want NH3-101:hihi unack", got)
	}
	// The acked event and the result may come in either order.
	c.send(map[string]any{"type": "ack", "ref": 1, "alarm": "NH3-101:hihi", "comment": "real"})
	var acked, result bool
	for !acked || !result {
		f := c.read()
		switch {
		case f.Type == "result":
			if !f.OK {
				t.Fatalf("ack: %s", f.raw)
			}
			result = true
		case f.Type == "alarm" && f.Alarm.ID == "NH3-101:hihi": // other alarms (stale points) may come in between
			if a := f.Alarm; a.State != alarms.Acked || a.By != "zhang" || a.Comment != "real" {
				t.Errorf("after ack: %+v", a)
			}
			acked = true
		}
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/alarms/NH3-101:hihi/reset", 409},
		{"/api/alarms/NH3-101:nope/ack", 404},
	} {
		if resp, b := e.req("POST", tc.path, tokOperator, `{}`); resp.StatusCode != tc.code {
			t.Errorf("%s: HTTP %d %s, want %d", tc.path, resp.StatusCode, b, tc.code)
		}
	}
	// A second client resumes from the first snapshot: the journal
	// (the ring holds one event) replays every event since, in order.
	c2, _, snap2 := e.dial("")
	c2.send(map[string]any{"type": "resume", "ref": "r", "seq": snap.Seq})
	for q := snap.Seq + 1; q <= snap2.Seq; q++ {
		if a := c2.next("alarm").Alarm; a.Seq != q {
			t.Fatalf("replayed seq %d, want %d", a.Seq, q)
		}
	}
	if r := c2.next("result"); !r.OK {
		t.Errorf("resume: %s", r.raw)
	}
}

// startReal serves a console fed by the real alarms.Engine, with its
// journal in a temp dir; both stop at the end of the test.
func startReal(t *testing.T, opts Options) (*env, *alarms.Engine) {
	t.Helper()
	cfg := testConfig(true)
	cfg.SetDefaults()
	j, err := alarms.OpenJournal(t.TempDir(), alarms.JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	eng, err := alarms.New(cfg, j, alarms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, cfg, Deps{Engine: eng}, opts)
	eng.Subscribe(e.srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		eng.CloseInput()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("engine did not stop")
		}
		cancel()
	})
	return e, eng
}
