package console

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazardgw/alarms"
)

func q(t time.Time) string { return url.QueryEscape(alarms.FormatTime(t)) }

// TestEventsFilters: /api/events filtered by time, point, priority and
// state, as JSON and CSV (SPEC §8).
func TestEventsFilters(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	t0 := e.eng.fake.Now()
	e.eng.raise("NH3-101:hihi", alarms.High, 65)   // seq 1 at t0+1s
	e.eng.raise("TK-101.LT:comm", alarms.Low, 0)   // 2 at t0+2s
	e.eng.clear("NH3-101:hihi")                    // 3 rtn_unack at t0+3s
	e.eng.raise("FIRE-Z1:on", alarms.Urgent, 1)    // 4 at t0+4s
	e.eng.raise("NH3-101:hihi", alarms.High, 70.5) // 5 unack again at t0+5s
	ids := func(b []byte) string {
		t.Helper()
		var evs []alarms.Event
		if err := json.Unmarshal(b, &evs); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var s []string
		for _, ev := range evs {
			s = append(s, ev.ID+"/"+ev.State.String())
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct{ name, query, want string }{
		{"point", "point=NH3-101", "NH3-101:hihi/unack NH3-101:hihi/rtn_unack NH3-101:hihi/unack"},
		{"priority list", "priority=urgent,low", "TK-101.LT:comm/unack FIRE-Z1:on/unack"},
		{"state", "state=rtn_unack", "NH3-101:hihi/rtn_unack"},
		{"time window, to exclusive", "from=" + q(t0.Add(2*time.Second)) + "&to=" + q(t0.Add(4*time.Second)),
			"TK-101.LT:comm/unack NH3-101:hihi/rtn_unack"},
		{"filter and limit", "point=NH3-101&limit=1", "NH3-101:hihi/unack"},
		{"filter after a seq", "point=NH3-101&after=1", "NH3-101:hihi/rtn_unack NH3-101:hihi/unack"},
		{"nothing", "point=NH3-101&state=acked", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.get("/api/events?"+tc.query, tokViewer)
			if resp.StatusCode != 200 {
				t.Fatalf("HTTP %d %s", resp.StatusCode, b)
			}
			if got := ids(b); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"from=yesterday", "priority=huge", "state=angry", "format=xml"} {
		if resp, b := e.get("/api/events?"+bad, tokViewer); resp.StatusCode != 400 {
			t.Errorf("%s: HTTP %d %s, want 400", bad, resp.StatusCode, b)
		}
	}
	resp, b := e.get("/api/events?format=csv&point=NH3-101", tokViewer)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("csv: HTTP %d %s", resp.StatusCode, ct)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0][:3], ",") != "seq,time,id" {
		t.Fatalf("csv rows %q", rows)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	if r := rows[3]; r[col["seq"]] != "5" || r[col["state"]] != "unack" || r[col["value"]] != "70.5" || r[col["priority"]] != "high" {
		t.Errorf("last csv row %q", r)
	}
}

// TestDisposeAndRecords: operator actions and disposal records go to the
// records log, are served as JSON and CSV, and survive a reopen.
func TestDisposeAndRecords(t *testing.T) {
	dir := t.TempDir()
	recs, err := OpenRecords(dir, RecordsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, testConfig(true), Deps{Records: recs}, Options{})
	e.eng.raise("NH3-101:hihi", alarms.High, 65)
	if resp, b := e.req("POST", "/api/alarms/NH3-101:hihi/ack", tokOperator, `{"comment":"seen"}`); resp.StatusCode != 200 {
		t.Fatalf("ack: HTTP %d %s", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		name, path, token, body string
		code                    int
	}{
		{"viewer may not", "/api/alarms/NH3-101:hihi/dispose", tokViewer, `{"action":"x"}`, 403},
		{"action required", "/api/alarms/NH3-101:hihi/dispose", tokOperator, `{"result":"x"}`, 400},
		{"malformed", "/api/alarms/NH3-101:hihi/dispose", tokOperator, `{`, 400},
		{"unknown alarm", "/api/alarms/NOPE:hi/dispose", tokOperator, `{"action":"x"}`, 404},
		{"recorded", "/api/alarms/NH3-101:hihi/dispose", tokOperator,
			`{"action":"开启排风机, 关闭供液阀","result":"浓度回落至 12 ppm"}`, 200},
		{"an alarm gone normal may still be disposed", "/api/alarms/TK-101.LT:hi/dispose", tokCommander,
			`{"action":"checked gauge","result":"ok"}`, 200},
	} {
		resp, b := e.req("POST", tc.path, tc.token, tc.body)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: HTTP %d %s, want %d", tc.name, resp.StatusCode, b, tc.code)
		}
	}
	check := func(body []byte) {
		t.Helper()
		var got []Record
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if len(got) != 3 {
			t.Fatalf("records %+v, want ack and two disposals", got)
		}
		if r := got[0]; r.Kind != "ack" || r.By != "zhang" || r.Role != "operator" || r.Alarm != "NH3-101:hihi" || r.Comment != "seen" || r.Seq != 2 {
			t.Errorf("ack record %+v", r)
		}
		if r := got[1]; r.Kind != "dispose" || r.Action != "开启排风机, 关闭供液阀" || r.Result != "浓度回落至 12 ppm" || r.Seq != 2 {
			t.Errorf("disposal record %+v", r)
		}
		if r := got[2]; r.By != "li" || r.Role != "commander" || r.Alarm != "TK-101.LT:hi" || r.Seq != 0 {
			t.Errorf("second disposal %+v", r)
		}
	}
	_, b := e.get("/api/records", tokViewer)
	check(b)
	_, b = e.get("/api/records?kind=dispose&format=csv", tokViewer)
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "time" || rows[1][8] != "开启排风机, 关闭供液阀" {
		t.Errorf("csv %q %v", rows, err)
	}
	_, b = e.get("/api/records?from="+q(time.Now().Add(time.Hour)), tokViewer)
	if string(b) != "[]\n" {
		t.Errorf("records from the future: %s", b)
	}
	// Reopen: the same records; a torn record at the tail is cut.
	e.stop()
	recs.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.rec"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{40, 0, 0, 0, 1, 2, 3}) // a record cut by a power failure
	f.Close()
	recs2, err := OpenRecords(dir, RecordsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer recs2.Close()
	if err := recs2.Append(Record{Time: time.Now(), By: "zhang", Kind: "dispose", Alarm: "NH3-101:hihi", Action: "after restart"}); err != nil {
		t.Fatal(err)
	}
	got := recs2.Between(time.Time{}, time.Time{})
	if len(got) != 4 || got[3].Action != "after restart" {
		t.Fatalf("after reopen: %+v", got)
	}
	b, _ = json.Marshal(got[:3])
	check(b)
}

// TestRecordsRotation: segments rotate at SegmentBytes and whole segments
// older than Keep go.
func TestRecordsRotation(t *testing.T) {
	dir := t.TempDir()
	r, err := OpenRecords(dir, RecordsOptions{SegmentBytes: 300, Keep: time.Hour, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	for i := range 10 {
		if err := r.Append(Record{Time: t0.Add(time.Duration(i) * time.Minute), Kind: "dispose", Action: strings.Repeat("x", 100)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Append(Record{Time: t0.Add(3 * time.Hour), Kind: "dispose", Action: "late"}); err != nil {
		t.Fatal(err)
	}
	got := r.Between(time.Time{}, time.Time{})
	if len(got) == 11 || got[len(got)-1].Action != "late" {
		t.Fatalf("%d records kept, want old segments gone and the last kept", len(got))
	}
	r.Close()
	r2, err := OpenRecords(dir, RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if again := r2.Between(time.Time{}, time.Time{}); len(again) != len(got) {
		t.Errorf("reopened %d records, want %d", len(again), len(got))
	}
}

// TestReport: activations, priorities, the 10-minute series, floods, top
// alarms, chattering, time to acknowledge, shelving.
func TestReport(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	t0 := e.eng.fake.Now()
	e.eng.raise("NH3-101:hihi", alarms.High, 65) // t0+1s: activation
	ack := func(id string) {
		t.Helper()
		if resp, b := e.req("POST", "/api/alarms/"+id+"/ack", tokOperator, `{}`); resp.StatusCode != 200 {
			t.Fatalf("ack %s: %d %s", id, resp.StatusCode, b)
		}
	}
	ack("NH3-101:hihi") // t0+2s: 1 s to acknowledge
	e.eng.clear("NH3-101:hihi")
	// TK-101.LT:comm chatters: three activations within a minute.
	for range 3 {
		e.eng.raise("TK-101.LT:comm", alarms.Low, 0)
		e.eng.clear("TK-101.LT:comm")
	}
	ack("TK-101.LT:comm") // rtn_unack, acknowledged 1 s after its last activation
	e.eng.raise("FIRE-Z1:on", alarms.Urgent, 1)
	// A flood: more than 10 activations in one 10-minute bucket.
	for range 11 {
		e.eng.raise("NH3-101:hi", alarms.Medium, 40)
		e.eng.clear("NH3-101:hi")
	}
	if resp, b := e.req("POST", "/api/alarms/TK-101.LT:comm/shelve", tokOperator, `{}`); resp.StatusCode != 400 {
		t.Fatalf("shelve without reason: %d %s", resp.StatusCode, b)
	}
	e.eng.raise("TK-101.LT:comm", alarms.Low, 0)
	if resp, b := e.req("POST", "/api/alarms/TK-101.LT:comm/shelve", tokOperator, `{"for":"10m","reason":"known"}`); resp.StatusCode != 200 {
		t.Fatalf("shelve: %d %s", resp.StatusCode, b)
	}
	e.eng.escalate("FIRE-Z1:on", "operator", "platform") // a minute passes, FIRE-Z1:on unacknowledged
	end := e.eng.fake.Now()
	from := t0.Truncate(10 * time.Minute)
	resp, b := e.get("/api/report?from="+q(from)+"&to="+q(from.Add(time.Hour)), tokViewer)
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d %s", resp.StatusCode, b)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Activations != 1+4+1+11 {
		t.Errorf("activations %d, want 17", rep.Activations)
	}
	if p := rep.ByPriority; p["high"] != 1 || p["low"] != 4 || p["urgent"] != 1 || p["medium"] != 11 {
		t.Errorf("by priority %v", p)
	}
	if len(rep.Per10Min) != 6 {
		t.Errorf("per 10 min %v, want 6 buckets for an hour", rep.Per10Min)
	}
	sum := 0
	for _, n := range rep.Per10Min {
		sum += n
	}
	if sum != rep.Activations || rep.PeakPer10Min < floodOver+1 || len(rep.Floods) == 0 {
		t.Errorf("series %v peak %d floods %v", rep.Per10Min, rep.PeakPer10Min, rep.Floods)
	}
	if len(rep.Top) == 0 || rep.Top[0].ID != "NH3-101:hi" || rep.Top[0].Count != 11 || rep.Top[1].ID != "TK-101.LT:comm" {
		t.Errorf("top %+v", rep.Top)
	}
	chat := map[string]bool{}
	for _, c := range rep.Chattering {
		chat[c.ID] = true
	}
	if !chat["TK-101.LT:comm"] || !chat["NH3-101:hi"] || chat["FIRE-Z1:on"] {
		t.Errorf("chattering %+v", rep.Chattering)
	}
	if rep.Ack.Count != 2 || rep.Ack.MedianS != 1.5 || rep.Ack.P90S != 2 {
		// NH3-101:hihi 1 s; TK-101.LT:comm 2 s (cleared, then acknowledged)
		t.Errorf("ack %+v", rep.Ack)
	}
	if rep.Ack.Unacked != 3 {
		t.Errorf("unacked %d, want 3 (FIRE-Z1:on, NH3-101:hi, TK-101.LT:comm again)", rep.Ack.Unacked)
	}
	if len(rep.Shelved) != 1 || rep.Shelved[0].ID != "TK-101.LT:comm" || rep.ShelvedS <= 0 {
		t.Errorf("shelved %+v (until %s)", rep.Shelved, end)
	}
	if resp, _ := e.get("/api/report?from="+q(from)+"&to="+q(from.Add(-time.Hour)), tokViewer); resp.StatusCode != 400 {
		t.Errorf("reversed period: HTTP %d, want 400", resp.StatusCode)
	}
}

// TestPresentation: the config's presentation keys reach the page through
// /api/presentation, not through the points of /api/points.
func TestPresentation(t *testing.T) {
	cfg := testConfig(true)
	two := 2
	fz := &cfg.Devices[0].Points[1]
	fz.States, fz.Fire, fz.Plan = []string{"normal", "FIRE"}, true, []float64{0.25, 0.5}
	cfg.Devices[0].Points[0].Decimals = &two
	e := start(t, cfg, Deps{}, Options{})
	_, b := e.get("/api/presentation", tokViewer)
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil || len(got) != 3 {
		t.Fatalf("%s: %v", b, err)
	}
	nh3, fire := got[0], got[1]
	if nh3["decimals"] != 2.0 || fmt.Sprint(nh3["limits"]) != "[map[cond:hihi value:60] map[cond:hi value:30]]" {
		t.Errorf("NH3-101 %v", nh3)
	}
	if fmt.Sprint(fire["states"]) != "[normal FIRE]" || fire["fire"] != true || fmt.Sprint(fire["plan"]) != "[0.25 0.5]" {
		t.Errorf("FIRE-Z1 %v", fire)
	}
	_, b = e.get("/api/points", tokViewer)
	if strings.Contains(string(b), "states") || strings.Contains(string(b), "decimals") {
		t.Errorf("/api/points carries presentation: %s", b)
	}
	if resp, _ := e.get("/plan", tokViewer); resp.StatusCode != 404 {
		t.Errorf("/plan without console.plan: HTTP %d, want 404", resp.StatusCode)
	}
}
