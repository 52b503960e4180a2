package console

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"

	"github.com/gorilla/websocket"
)

func TestHelloAndSnapshot(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	ev := e.eng.raise("NH3-101:hihi", alarms.High, 61.5)
	t0 := time.Date(2026, 11, 28, 8, 0, 1, 250e6, time.UTC)
	e.eng.samples([]drivers.Sample{sample("NH3-101", 61.5, t0),
		{Point: "TK-101.LT", Value: 120, Quality: drivers.Bad, Cause: drivers.CauseRange, Time: t0}})
	// A first client sees the alarm arrive live; once it has, the hub's
	// table holds it, and a sample batch flushed after it holds the samples.
	c1, _, _ := e.dial(tokOperator)
	c1.next("samples")

	c, hello, snap := e.dial(tokOperator)
	if hello.Site != "SQ-TEST" || hello.User != "zhang" || hello.Role != "operator" || hello.Seq != ev.Seq {
		t.Errorf("hello = %+v, want site SQ-TEST user zhang role operator seq %d", hello, ev.Seq)
	}
	if _, err := time.Parse(time.RFC3339, hello.ServerTime); err != nil {
		t.Errorf("server_time %q: %v", hello.ServerTime, err)
	}
	got := map[string]pointJSON{}
	for _, p := range snap.Points {
		got[p.Point] = p
	}
	if len(got) != 3 {
		t.Fatalf("snapshot has %d points, want every configured point (3): %s", len(got), snap.raw)
	}
	if p := got["NH3-101"]; p.Value == nil || *p.Value != 61.5 || p.Quality != "good" || p.Unit != "ppm" ||
		p.Device != "GC-ROOM1" || p.Time == nil || *p.Time != "2026-11-28T08:00:01.250Z" {
		t.Errorf("NH3-101 = %+v", p)
	}
	if p := got["TK-101.LT"]; p.Quality != "bad" || p.Cause != "range" {
		t.Errorf("TK-101.LT = %+v, want bad/range", p)
	}
	if p := got["FIRE-Z1"]; p.Value != nil || p.Quality != "bad" || p.Cause != "stale" || p.Time != nil {
		t.Errorf("never seen FIRE-Z1 = %+v, want null value, bad/stale", p)
	}
	if len(snap.Alarms) != 1 || snap.Alarms[0].ID != "NH3-101:hihi" || snap.Alarms[0].State != alarms.Unack {
		t.Errorf("snapshot alarms = %+v", snap.Alarms)
	}
	// Live: the next event follows the snapshot's seq.
	ev2 := e.eng.raise("FIRE-Z1:on", alarms.Urgent, 1)
	if f := c.next("alarm"); f.Alarm.Seq != ev2.Seq || f.Alarm.Seq != snap.Seq+1 {
		t.Errorf("live alarm seq %d, want %d = snapshot seq + 1", f.Alarm.Seq, ev2.Seq)
	}
}

func TestAuthentication(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	cases := []struct {
		name     string
		header   string
		query    string
		wantCode int    // 0: upgrade
		wantRole string // after upgrade
		wantUser string
	}{
		{"no token is a viewer", "", "", 0, "viewer", ""},
		{"query token", "", tokCommander, 0, "commander", "li"},
		{"bearer header", "Bearer " + tokAdmin, "", 0, "admin", "root"},
		{"wrong query token", "", "nope", 401, "", ""},
		{"wrong bearer", "Bearer " + tokOperator + "x", "", 401, "", ""},
		{"prefix of a token", "", tokOperator[:5], 401, "", ""},
		{"not bearer", "Basic abc", "", 401, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			conn, resp, err := websocket.DefaultDialer.Dial(e.wsURL(tc.query), h)
			if tc.wantCode != 0 {
				if err == nil {
					conn.Close()
					t.Fatal("upgraded, want refusal")
				}
				if resp == nil || resp.StatusCode != tc.wantCode {
					t.Fatalf("resp %v, want HTTP %d", resp, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := &wsClient{t: t, conn: conn}
			if f := c.read(); f.Role != tc.wantRole || f.User != tc.wantUser {
				t.Errorf("hello role %q user %q, want %q %q", f.Role, f.User, tc.wantRole, tc.wantUser)
			}
		})
	}
	t.Run("no users configured: any token is a viewer", func(t *testing.T) {
		e := start(t, testConfig(false), Deps{}, Options{})
		_, hello, _ := e.dial("whatever")
		if hello.Role != "viewer" {
			t.Errorf("role %q, want viewer", hello.Role)
		}
	})
}

func TestOriginCheck(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{Origins: []string{"scada.plant.local"}})
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{e.base, true},
		{"http://scada.plant.local:8443", true},
		{"http://evil.example", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		conn, resp, err := websocket.DefaultDialer.Dial(e.wsURL(""), h)
		if tc.ok != (err == nil) {
			t.Errorf("origin %q: err %v, want ok=%v", tc.origin, err, tc.ok)
		}
		if err == nil {
			conn.Close()
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: resp %v, want 403", tc.origin, resp)
		}
	}
}

func TestSamplesFrames(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	c, _, _ := e.dial("")
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	var want []drivers.Sample
	for i := range 10 {
		b := []drivers.Sample{sample("NH3-101", float64(i), t0.Add(time.Duration(i)*time.Second)),
			{Point: "FIRE-Z1", Value: math.NaN(), Quality: drivers.Bad, Cause: drivers.CauseComm, Time: t0}}
		want = append(want, b...)
		e.eng.samples(b)
	}
	var got []drivers.SampleJSON
	for len(got) < len(want) {
		got = append(got, c.next("samples").Samples...)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d", len(got), len(want))
	}
	for i, s := range want {
		g := got[i]
		if g.Point != s.Point || g.Quality != s.Quality || g.Cause == nil || *g.Cause != s.Cause ||
			g.Time != alarms.FormatTime(s.Time) {
			t.Errorf("sample %d = %+v, want %+v", i, g, s)
		}
		if s.Good() && (g.Value == nil || *g.Value != s.Value) || !s.Good() && g.Value != nil {
			t.Errorf("sample %d value %v, want %v", i, g.Value, s.Value)
		}
	}
}

func TestAlarmFramesInSeqOrder(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	c, _, snap := e.dial("")
	ids := []string{"NH3-101:hi", "NH3-101:hihi", "FIRE-Z1:on", "TK-101.LT:hi"}
	for _, id := range ids {
		e.eng.raise(id, alarms.High, 1)
	}
	e.eng.clear("FIRE-Z1:on")
	for i := range len(ids) + 1 {
		f := c.next("alarm")
		if f.Alarm.Seq != snap.Seq+uint64(i)+1 {
			t.Fatalf("alarm %d seq %d, want %d", i, f.Alarm.Seq, snap.Seq+uint64(i)+1)
		}
		if i < len(ids) && f.Alarm.ID != ids[i] {
			t.Errorf("alarm %d id %s, want %s", i, f.Alarm.ID, ids[i])
		}
	}
}

// TestCommands runs every command of SPEC §7 against every role that
// matters, and the refusals.
func TestCommands(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	viewer, _, _ := e.dial(tokViewer)
	op, _, _ := e.dial(tokOperator)
	cmdr, _, _ := e.dial(tokCommander)
	admin, _, _ := e.dial(tokAdmin)
	e.eng.raise("NH3-101:hihi", alarms.High, 61.5)
	e.eng.raise("NH3-101:hi", alarms.Medium, 61.5)

	type M = map[string]any
	cases := []struct {
		name    string
		c       *wsClient
		cmd     M
		wantErr string // "" = ok
		wantOp  alarms.Op
	}{
		{"viewer ack forbidden", viewer, M{"type": "ack", "alarm": "NH3-101:hihi"}, "forbidden", ""},
		{"viewer shelve forbidden", viewer, M{"type": "shelve", "alarm": "NH3-101:hihi", "for": "1m", "reason": "x"}, "forbidden", ""},
		{"operator oos forbidden", op, M{"type": "oos", "point": "NH3-101", "reason": "calibration"}, "forbidden", ""},
		{"operator ios forbidden", op, M{"type": "ios", "point": "NH3-101"}, "forbidden", ""},
		{"operator ack", op, M{"type": "ack", "alarm": "NH3-101:hihi", "comment": "going to check"}, "", alarms.OpAck},
		{"ack twice refused", op, M{"type": "ack", "alarm": "NH3-101:hihi"}, "refused", ""},
		{"ack unknown alarm", op, M{"type": "ack", "alarm": "NH3-999:hi"}, "unknown alarm", ""},
		{"ack without alarm", op, M{"type": "ack"}, "missing alarm", ""},
		{"reset while active refused", op, M{"type": "reset", "alarm": "NH3-101:hihi"}, "refused", ""},
		{"shelve without reason", op, M{"type": "shelve", "alarm": "NH3-101:hi", "for": "10m"}, "reason required", ""},
		{"shelve beyond max_shelve", op, M{"type": "shelve", "alarm": "NH3-101:hi", "for": "2h", "reason": "x"}, "exceeds console.max_shelve", ""},
		{"shelve bad duration", op, M{"type": "shelve", "alarm": "NH3-101:hi", "for": "soon", "reason": "x"}, "positive duration", ""},
		{"operator shelve", op, M{"type": "shelve", "alarm": "NH3-101:hi", "for": "10m", "reason": "sensor swap"}, "", alarms.OpShelve},
		{"operator unshelve", op, M{"type": "unshelve", "alarm": "NH3-101:hi"}, "", alarms.OpUnshelve},
		{"commander oos without reason", cmdr, M{"type": "oos", "point": "NH3-101"}, "reason required", ""},
		{"commander oos unknown point", cmdr, M{"type": "oos", "point": "NOPE", "reason": "x"}, "unknown alarm or point", ""},
		{"commander oos", cmdr, M{"type": "oos", "point": "TK-101.LT", "reason": "calibration"}, "", alarms.OpOOS},
		{"admin ios", admin, M{"type": "ios", "point": "TK-101.LT"}, "", alarms.OpIOS},
		{"admin ack (admin >= operator)", admin, M{"type": "ack", "alarm": "NH3-101:hi"}, "", alarms.OpAck},
		{"unknown type", op, M{"type": "launch"}, "unknown command type", ""},
		{"missing type", op, M{"alarm": "x"}, "missing type", ""},
		{"resume without seq", viewer, M{"type": "resume"}, "missing seq", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := float64(100 + i)
			tc.cmd["ref"] = ref
			e.eng.mu.Lock()
			n := len(e.eng.cmds)
			e.eng.mu.Unlock()
			r := tc.c.do(tc.cmd)
			if string(r.Ref) != strings.TrimSpace(string(mustJSON(ref))) {
				t.Errorf("ref %s, want %v", r.Ref, ref)
			}
			if tc.wantErr == "" && (!r.OK || r.Error != "") {
				t.Errorf("result %s, want ok", r.raw)
			}
			if tc.wantErr != "" && (r.OK || !strings.Contains(r.Error, tc.wantErr)) {
				t.Errorf("result %s, want error containing %q", r.raw, tc.wantErr)
			}
			e.eng.mu.Lock()
			cmds := e.eng.cmds[n:]
			e.eng.mu.Unlock()
			if tc.wantOp != "" && (len(cmds) != 1 || cmds[0].Op != tc.wantOp) {
				t.Errorf("engine got %+v, want one %s", cmds, tc.wantOp)
			}
			if tc.wantErr == "forbidden" && len(cmds) != 0 {
				t.Errorf("a forbidden command reached the engine: %+v", cmds)
			}
		})
	}
	// The command carries the user and the comment.
	e.eng.mu.Lock()
	first := e.eng.cmds[0]
	e.eng.mu.Unlock()
	if first.By != "zhang" || first.Comment != "going to check" {
		t.Errorf("ack command = %+v, want by zhang with the comment", first)
	}
}

func TestMalformedFrameKeepsConnection(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	c, _, _ := e.dial(tokOperator)
	for _, bad := range []string{`{"type":"ack","ref":"r1","alarm":`, `[1,2]`, `"hello"`, `{"type":"ack","ref":"r2","alarm":5}`} {
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		r := c.next("result")
		if r.OK || !strings.Contains(r.Error, "malformed") {
			t.Errorf("%s: result %s, want ok:false malformed", bad, r.raw)
		}
	}
	if err := c.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if r := c.next("result"); r.OK {
		t.Errorf("binary frame: %s, want ok:false", r.raw)
	}
	// The connection still works.
	e.eng.raise("NH3-101:hihi", alarms.High, 61.5)
	c.next("alarm")
	if r := c.do(map[string]any{"type": "ack", "ref": "ok1", "alarm": "NH3-101:hihi"}); !r.OK || string(r.Ref) != `"ok1"` {
		t.Errorf("ack after malformed frames: %s", r.raw)
	}
}

func TestMalformedRefIsEchoed(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	c, _, _ := e.dial(tokOperator)
	c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","ref":"r7","alarm":5}`))
	if r := c.next("result"); string(r.Ref) != `"r7"` || r.OK {
		t.Errorf("result %s, want ref r7 and ok:false", r.raw)
	}
}

func TestFrameTooLargeDisconnects(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{MaxFrame: 1024})
	c, _, _ := e.dial(tokOperator)
	c.send(map[string]any{"type": "ack", "ref": 1, "alarm": "x", "comment": strings.Repeat("a", 2048)})
	for {
		_, err := c.tryRead(5 * time.Second)
		if err != nil {
			if !isClose(err, websocket.CloseMessageTooBig) {
				t.Errorf("err %v, want close 1009 (message too big)", err)
			}
			return
		}
	}
}

func TestCommandRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	e := start(t, testConfig(true), Deps{}, Options{Now: func() time.Time { return now }, CommandRate: 1, CommandBurst: 3})
	c, _, _ := e.dial(tokOperator)
	var errs []string
	for i := range 5 {
		r := c.do(map[string]any{"type": "ack", "ref": i, "alarm": "NOPE:hi"})
		errs = append(errs, r.Error)
	}
	for i, want := range []string{"unknown", "unknown", "unknown", "rate limited", "rate limited"} {
		if !strings.Contains(errs[i], want) {
			t.Errorf("command %d: error %q, want %q", i, errs[i], want)
		}
	}
}

func TestResume(t *testing.T) {
	cases := []struct {
		name      string
		opts      Options
		keep      int // journal length (0: everything)
		missed    int
		snapshot  bool // expect a fresh snapshot instead of a replay
		fromAhead bool
	}{
		{"from the ring", Options{}, 0, 7, false, false},
		{"from the journal", Options{Ring: 2}, 0, 7, false, false},
		{"journal no longer reaches back", Options{Ring: 2}, 3, 7, true, false},
		{"more than the queue holds", Options{AlarmQueue: 8}, 0, 7, true, false},
		{"nothing missed", Options{}, 0, 0, false, false},
		{"client ahead of the server", Options{}, 0, 0, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, testConfig(true), Deps{}, tc.opts)
			e.eng.keep = tc.keep
			e.eng.raise("NH3-101:hi", alarms.Medium, 31)
			c1, _, snap := e.dial("")
			last := snap.Seq
			c1.conn.Close()
			var missed []alarms.Event
			for i := range tc.missed {
				if i%2 == 0 {
					missed = append(missed, e.eng.raise("TK-101.LT:hi", alarms.Medium, float64(i)))
				} else {
					missed = append(missed, e.eng.clear("TK-101.LT:hi"))
				}
			}
			c2, _, _ := e.dial("")
			from := last
			if tc.fromAhead {
				from = last + 100
			}
			c2.send(map[string]any{"type": "resume", "ref": "r", "seq": from})
			if tc.snapshot {
				if f := c2.next("snapshot"); f.Seq != e.eng.Seq() {
					t.Errorf("snapshot seq %d, want %d", f.Seq, e.eng.Seq())
				}
			} else {
				for _, want := range missed {
					if f := c2.next("alarm"); f.Alarm.Seq != want.Seq || f.Alarm.ID != want.ID || f.Alarm.State != want.State {
						t.Fatalf("replayed %d %s %s, want %d %s %s", f.Alarm.Seq, f.Alarm.ID, f.Alarm.State, want.Seq, want.ID, want.State)
					}
				}
			}
			if r := c2.next("result"); !r.OK || string(r.Ref) != `"r"` {
				t.Errorf("resume result %s", r.raw)
			}
			// Live after the seam: the very next seq, once.
			live := e.eng.raise("FIRE-Z1:on", alarms.Urgent, 1)
			if f := c2.next("alarm"); f.Alarm.Seq != live.Seq {
				t.Errorf("after resume got seq %d, want %d (no gap, no duplicate)", f.Alarm.Seq, live.Seq)
			}
		})
	}
}

// TestResumeSeamUnderLoad resumes while events keep coming: the client must
// see every seq exactly once, the replay in order and the live stream in
// order; with ?resume= everything is in order.
func TestResumeSeamUnderLoad(t *testing.T) {
	for _, viaURL := range []bool{false, true} {
		t.Run(map[bool]string{false: "command", true: "url"}[viaURL], func(t *testing.T) {
			e := start(t, testConfig(true), Deps{}, Options{Ring: 4})
			for range 10 {
				e.eng.raise("NH3-101:hi", alarms.Medium, 31)
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < 1000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					e.eng.raise("TK-101.LT:hi", alarms.Medium, float64(i))
					time.Sleep(200 * time.Microsecond) // pace the plant, not a wait
				}
			}()
			t.Cleanup(func() { close(stop); <-done })
			tok := ""
			if viaURL {
				tok = "&resume=3"
			}
			c, _, snap := e.dial(tok)
			if !viaURL {
				c.send(map[string]any{"type": "resume", "ref": 1, "seq": 3})
			}
			seen := map[uint64]int{}
			var lastReplay, lastLive uint64 = 3, snap.Seq
			for len(seen) < 100 {
				f := c.read()
				if f.Type == "snapshot" {
					t.Fatal("snapshot, want replay (the journal holds everything)")
				}
				if f.Type != "alarm" {
					continue
				}
				q := f.Alarm.Seq
				seen[q]++
				if seen[q] > 1 {
					t.Fatalf("seq %d twice", q)
				}
				if q <= snap.Seq {
					if q != lastReplay+1 {
						t.Fatalf("replayed seq %d after %d", q, lastReplay)
					}
					lastReplay = q
				} else {
					if q != lastLive+1 {
						t.Fatalf("live seq %d after %d", q, lastLive)
					}
					if viaURL && lastReplay != snap.Seq {
						t.Fatalf("live seq %d before the replay ended (at %d)", q, lastReplay)
					}
					lastLive = q
				}
			}
			if lastReplay != snap.Seq {
				t.Errorf("replay ended at %d, want %d", lastReplay, snap.Seq)
			}
		})
	}
}

func TestSlowClient(t *testing.T) {
	t.Run("loses samples, never alarms", func(t *testing.T) {
		e := start(t, testConfig(true), Deps{}, Options{SampleQueue: 2, AlarmQueue: 64})
		slow, _, snap := e.dial("")
		fast, _, _ := e.dial("")
		// The slow client reads nothing while the plant sends far more
		// samples than its socket buffers hold and some alarms.
		t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
		batch := make([]drivers.Sample, 500)
		var raised []alarms.Event
		fastAlarms := make(chan uint64, 1000)
		go func() { // the fast client reads everything
			defer close(fastAlarms)
			_ = fast.conn.SetReadDeadline(time.Time{})
			for {
				_, b, err := fast.conn.ReadMessage()
				if err != nil {
					return
				}
				if bytes.HasPrefix(b, []byte(`{"type":"alarm"`)) {
					var f frame
					if err := json.Unmarshal(b, &f); err != nil {
						t.Error(err)
						return
					}
					fastAlarms <- f.Alarm.Seq
				}
			}
		}()
		dropped := func() float64 { return counterValue(t, e.reg, "hazardgw_console_samples_dropped_total", "client") }
		t0w := time.Now()
		n := 0
		for i := 0; i%10 != 0 || dropped() == 0; i++ {
			n = i
			if i > 100000 {
				t.Fatal("no samples frame dropped for a client that does not read")
			}
			for k := range batch {
				batch[k] = sample("NH3-101", float64(i), t0)
			}
			e.eng.samples(append([]drivers.Sample(nil), batch...))
			if i%5 == 0 && len(raised) < 30 {
				raised = append(raised, e.eng.raise("TK-101.LT:hi", alarms.Medium, float64(i)))
				raised = append(raised, e.eng.clear("TK-101.LT:hi"))
			}
		}
		t.Logf("first drop after %d batches, %s", n, time.Since(t0w))
		raised = append(raised, e.eng.raise("FIRE-Z1:on", alarms.Urgent, 1))
		// Now the slow client reads (with a normal buffer): every alarm,
		// in order.
		_ = slow.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		slowAlarm := func() alarms.Event {
			for {
				_, b, err := slow.conn.ReadMessage()
				if err != nil {
					t.Fatalf("slow client: %v", err)
				}
				if bytes.HasPrefix(b, []byte(`{"type":"alarm"`)) {
					var f frame
					if err := json.Unmarshal(b, &f); err != nil {
						t.Fatal(err)
					}
					return f.Alarm
				}
			}
		}
		next := snap.Seq + 1
		for _, want := range raised {
			a := slowAlarm()
			if a.Seq != next || a.Seq != want.Seq {
				t.Fatalf("slow client got seq %d, want %d", a.Seq, want.Seq)
			}
			next++
		}
		t.Logf("slow client read all, %s", time.Since(t0w))
		for _, want := range raised {
			if got := <-fastAlarms; got != want.Seq {
				t.Fatalf("fast client got seq %d, want %d", got, want.Seq)
			}
		}
	})
	t.Run("alarm queue overflow disconnects", func(t *testing.T) {
		e := start(t, testConfig(true), Deps{}, Options{AlarmQueue: 4, WriteWait: 5 * time.Second})
		slow, _, _ := e.dial("")
		// Fill the socket so the writer is stuck, then overflow the queue.
		big := make([]drivers.Sample, 5000)
		for i := range big {
			big[i] = sample("NH3-101", 1, time.Now())
		}
		for i := 0; counterValue(t, e.reg, "hazardgw_console_rejects_total", "slow") == 0; i++ {
			if i > 10000 {
				t.Fatal("client never disconnected")
			}
			e.eng.samples(big)
			e.eng.raise("TK-101.LT:hi", alarms.Medium, 1)
		}
		for {
			_, err := slow.tryRead(5 * time.Second)
			if err != nil {
				break // closed: the client must reconnect and resume
			}
		}
	})
}

// TestStalledClientWriteTimeout: a client that stops reading while samples
// flow is cut off after WriteWait without progress, and counted.
func TestStalledClientWriteTimeout(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{WriteWait: 200 * time.Millisecond})
	e.dial("") // never read
	big := make([]drivers.Sample, 5000)
	for i := range big {
		big[i] = sample("NH3-101", 1, time.Now())
	}
	deadline := time.Now().Add(30 * time.Second)
	for counterValue(t, e.reg, "hazardgw_console_rejects_total", "write_timeout") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that stopped reading was never cut off")
		}
		e.eng.samples(big)
		time.Sleep(20 * time.Millisecond) // pace the flood; the wait is the counter above
	}
	if n := counterValue(t, e.reg, "hazardgw_console_rejects_total", "slow"); n != 0 {
		t.Errorf("counted %v alarm-queue overflows, want the write timeout only", n)
	}
}

func TestShutdownSendsCloseFrame(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	c, _, _ := e.dial("")
	e.stop()
	for {
		_, err := c.tryRead(5 * time.Second)
		if err != nil {
			if !isClose(err, websocket.CloseGoingAway) {
				t.Errorf("err %v, want close 1001 going away", err)
			}
			return
		}
	}
}
