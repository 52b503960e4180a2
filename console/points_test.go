package console

import (
	"context"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// TestPointTable: GET /api/points and /api/presentation are the bytes
// SPEC §7/§8 and the page want (never seen: null, bad, stale; time in UTC
// milliseconds; range, name and area from the config), and a reload keeps
// the latest sample of a point that stays (even under another device),
// starts a new one as never seen and forgets a removed one.
func TestPointTable(t *testing.T) {
	e := start(t, testConfig(false), Deps{}, Options{})
	h := e.srv.hub
	t0 := time.Date(2026, 11, 28, 16, 0, 1, 123456789, time.FixedZone("CST", 8*3600))
	e.srv.Samples([]drivers.Sample{
		sample("NH3-101", 12.5, t0),
		sample("NOT-CONFIGURED", 1, t0),
		{Point: "TK-101.LT", Value: 101, Quality: drivers.Bad, Cause: drivers.CauseRange, Time: t0.Add(time.Second)},
	})
	take := func() {
		t.Helper()
		if err := h.call(context.Background(), h.drainSamples); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path, want string) {
		t.Helper()
		resp, b := e.get(path, "")
		if resp.StatusCode != 200 || string(b) != want+"\n" {
			t.Errorf("GET %s: HTTP %d\n%s\nwant\n%s", path, resp.StatusCode, b, want)
		}
	}
	take()
	get("/api/points", `[{"point":"NH3-101","value":12.5,"quality":"good","cause":"","time":"2026-11-28T08:00:01.123Z","unit":"ppm","device":"GC-ROOM1","name":"Compressor room NH3","area":"Machine room","range":[0,1000]},`+
		`{"point":"FIRE-Z1","value":null,"quality":"bad","cause":"stale","time":null,"unit":"","device":"GC-ROOM1","name":"Fire zone 1","area":"Machine room"},`+
		`{"point":"TK-101.LT","value":101,"quality":"bad","cause":"range","time":"2026-11-28T08:00:02.123Z","unit":"%","device":"TANKS","name":"Tank 101 level","area":"Tank farm","range":[0,100]}]`)
	get("/api/presentation", `[{"point":"NH3-101","limits":[{"cond":"hihi","value":60},{"cond":"hi","value":30}]},{"point":"FIRE-Z1"},{"point":"TK-101.LT"}]`)

	cfg := testConfig(false)
	cfg.Devices = []configs.Device{{ID: "TANKS", Area: "Tank farm", Points: []configs.Point{
		{ID: "PT-201", Name: "Header pressure", Unit: "MPa"},
		{ID: "NH3-101", Name: "Compressor room NH3", Unit: "ppm"},
		cfg.Devices[1].Points[0],
	}}}
	if err := e.srv.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	get("/api/points", `[{"point":"PT-201","value":null,"quality":"bad","cause":"stale","time":null,"unit":"MPa","device":"TANKS","name":"Header pressure","area":"Tank farm"},`+
		`{"point":"NH3-101","value":12.5,"quality":"good","cause":"","time":"2026-11-28T08:00:01.123Z","unit":"ppm","device":"TANKS","name":"Compressor room NH3","area":"Tank farm"},`+
		`{"point":"TK-101.LT","value":101,"quality":"bad","cause":"range","time":"2026-11-28T08:00:02.123Z","unit":"%","device":"TANKS","name":"Tank 101 level","area":"Tank farm","range":[0,100]}]`)
	get("/api/presentation", `[{"point":"PT-201"},{"point":"NH3-101"},{"point":"TK-101.LT"}]`)

	// The hub's cached batch shapes were into the old rows.
	e.srv.Samples([]drivers.Sample{sample("NH3-101", 13, t0), sample("FIRE-Z1", 1, t0), sample("TK-101.LT", 50, t0)})
	take()
	get("/api/points", `[{"point":"PT-201","value":null,"quality":"bad","cause":"stale","time":null,"unit":"MPa","device":"TANKS","name":"Header pressure","area":"Tank farm"},`+
		`{"point":"NH3-101","value":13,"quality":"good","cause":"","time":"2026-11-28T08:00:01.123Z","unit":"ppm","device":"TANKS","name":"Compressor room NH3","area":"Tank farm"},`+
		`{"point":"TK-101.LT","value":50,"quality":"good","cause":"","time":"2026-11-28T08:00:01.123Z","unit":"%","device":"TANKS","name":"Tank 101 level","area":"Tank farm","range":[0,100]}]`)
}

// TestTableRow: every point is found at its row (config order), an
// unknown one is not; ids and names come back whole.
func TestTableRow(t *testing.T) {
	cfg := fieldConfig(30, 12)
	cfg.Devices[3].Points[4].Name = "名称 with a name"
	tb := newTable(cfg)
	row := 0
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			if got, ok := tb.row(p.ID); !ok || got != row || tb.id(row) != p.ID || tb.name(row) != p.Name {
				t.Fatalf("row(%q) = %d, %v (id %q, name %q), want %d (name %q)", p.ID, got, ok, tb.id(row), tb.name(row), row, p.Name)
			}
			row++
		}
	}
	for _, id := range []string{"", "dev0030-r0", "dev0000-r12", "dev0000-r", "zzz"} {
		if got, ok := tb.row(id); ok {
			t.Errorf("row(%q) = %d, want unknown", id, got)
		}
	}
	if len(tb.kinds) != 30 {
		t.Errorf("%d kinds for 30 devices of one unit and range, want 30", len(tb.kinds))
	}
	if tb.len() != 360 {
		t.Errorf("len %d, want 360", tb.len())
	}
}
