package store

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/store/influxtest"
)

func TestDeviceLine(t *testing.T) {
	ts := time.Date(2026, 11, 28, 8, 0, 1, 250_000_000, time.UTC)
	e := func(p string, v float64, q drivers.Quality, c drivers.Cause, dev string) decoded {
		return decoded{drivers.Sample{Point: drivers.PointID(p), Value: v, Quality: q, Cause: c, Time: ts}, dev}
	}
	for _, tc := range []struct {
		name string
		es   []decoded
		want string
	}{
		{"all good", []decoded{e("NH3-101", 61.5, drivers.Good, 0, "GC-ROOM1"), e("NH3-102", 2, drivers.Good, 0, "GC-ROOM1")},
			`device_sample,device=GC-ROOM1,site=SQ-COLD-01 NH3-101=61.5,NH3-102=2 1795852801250000000`},
		{"quality only for points not good", []decoded{e("A", 1, drivers.Good, 0, "D"), e("B", math.NaN(), drivers.Bad, drivers.CauseComm, "D"),
			e("C", 104, drivers.Uncertain, drivers.CauseRange, "D"), e("E", 5, drivers.Uncertain, 0, "D")},
			`device_sample,device=D,site=SQ-COLD-01 A=1,B.quality="bad/comm",C=104,C.quality="uncertain/range",E=5,E.quality="uncertain" 1795852801250000000`},
		{"good without a finite value keeps a field", []decoded{e("A", math.Inf(1), drivers.Good, 0, "D")},
			`device_sample,device=D,site=SQ-COLD-01 A.quality="good" 1795852801250000000`},
		{"escaped keys", []decoded{e("a b,c=d", 1, drivers.Good, 0, "d,1")},
			`device_sample,device=d\,1,site=SQ-COLD-01 a\ b\,c\=d=1 1795852801250000000`},
	} {
		b := batchOf(tc.es...)
		if got := string(deviceLine(nil, newLineSite("SQ-COLD-01"), b, b.Samples)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	// deviceRun splits on a new device or a new poll time.
	es := []decoded{e("A", 1, 0, 0, "D1"), e("B", 1, 0, 0, "D1"), e("C", 1, 0, 0, "D2"), e("D", 1, 0, 0, "D2")}
	es[3].Time = ts.Add(time.Second)
	var runs []int
	b := batchOf(es...)
	for rest := b.Samples; len(rest) > 0; {
		n := deviceRun(b, rest)
		runs = append(runs, n)
		rest = rest[n:]
	}
	if len(runs) != 3 || runs[0] != 2 || runs[1] != 1 || runs[2] != 1 {
		t.Errorf("deviceRun split %v, want [2 1 1]", runs)
	}
}

// TestDeviceLayout writes polls of two devices with layout = "device" to a
// real InfluxDB: one line per device and poll, every point's value, and a
// quality field only where the point was not good.
func TestDeviceLayout(t *testing.T) {
	t.Parallel()
	db := influxtest.Start(t)
	c := config(t.TempDir(), db.URL, db.Bucket, 1<<30, "P1", "P2")
	c.Store.InfluxDB.Layout = configs.LayoutDevice
	c.Devices = append(c.Devices, configs.Device{ID: "DEV2", Points: []configs.Point{{ID: "Q1"}}})
	s := run(t, c, Options{})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const polls = 50
	for i := range polls {
		ts := base.Add(time.Duration(i) * time.Second)
		p2 := drivers.Sample{Point: "P2", Value: float64(i), Time: ts}
		if i%10 == 0 {
			p2 = drivers.Sample{Point: "P2", Value: math.NaN(), Quality: drivers.Bad, Cause: drivers.CauseComm, Time: ts}
		}
		s.Samples([]drivers.Sample{{Point: "P1", Value: float64(i) + 0.5, Time: ts}, p2})
		s.Samples([]drivers.Sample{{Point: "Q1", Value: -float64(i), Time: ts}})
	}
	waitFor(t, 20*time.Second, "every poll written", func() bool {
		return s.Health().WrittenLines >= 2*polls && s.Health().OutboxSamples == 0
	})
	if n := s.Health().WrittenLines; n != 2*polls {
		t.Errorf("%d lines written, want %d (one per device and poll)", n, 2*polls)
	}
	rows := db.Query(t, `SELECT * FROM device_sample WHERE device = 'DEV1'`)
	if len(rows) != 1 || len(rows[0].Values) != polls {
		t.Fatalf("DEV1: %+v, want %d rows", rows, polls)
	}
	col := map[string]int{}
	for i, c := range rows[0].Columns {
		col[c] = i
	}
	for i, row := range rows[0].Values {
		get := func(c string) any {
			if j, ok := col[c]; ok {
				return row[j]
			}
			return nil
		}
		num := func(c string) (float64, bool) {
			n, ok := get(c).(json.Number)
			if !ok {
				return 0, false
			}
			f, err := n.Float64()
			return f, err == nil
		}
		if v, ok := num("P1"); !ok || v != float64(i)+0.5 {
			t.Errorf("poll %d: P1 = %v, want %v", i, get("P1"), float64(i)+0.5)
		}
		if get("P1.quality") != nil {
			t.Errorf("poll %d: P1.quality = %v for a good point", i, get("P1.quality"))
		}
		if i%10 == 0 {
			if get("P2") != nil || get("P2.quality") != "bad/comm" {
				t.Errorf("poll %d: P2 = %v, P2.quality = %v, want no value and bad/comm", i, get("P2"), get("P2.quality"))
			}
		} else if v, ok := num("P2"); !ok || v != float64(i) || get("P2.quality") != nil {
			t.Errorf("poll %d: P2 = %v, P2.quality = %v, want %d and no quality", i, get("P2"), get("P2.quality"), i)
		}
		if get("site") != site {
			t.Errorf("poll %d: site = %v", i, get("site"))
		}
	}
	if n := db.Count(t, "device_sample", map[string]string{"device": "DEV2", "site": site}); n != polls {
		t.Errorf("DEV2: %d values, want %d", n, polls)
	}
	if n := db.Count(t, "sample", nil); n != 0 {
		t.Errorf("%d lines in measurement sample with the device layout", n)
	}
}
