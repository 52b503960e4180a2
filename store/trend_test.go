package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/store/influxtest"
)

// TestTrendsFromInflux reads trends back from a real influxd in both
// layouts: peaks kept (min and max per bucket), bad samples as gaps, other
// sites and points left out.
func TestTrendsFromInflux(t *testing.T) {
	srv := influxtest.Start(t)
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	var lines []string
	for i := range 60 { // one sample a second; a peak of 95 at 30 s
		v := 20.0
		if i == 30 {
			v = 95
		}
		ts := t0.Add(time.Duration(i) * time.Second).UnixNano()
		lines = append(lines,
			fmt.Sprintf(`sample,device=GC-1,point=NH3-101,site=S1 quality="good",value=%g %d`, v, ts),
			fmt.Sprintf(`sample,device=GC-1,point=NH3-101,site=OTHER quality="good",value=500 %d`, ts),
			fmt.Sprintf(`device_sample,device=GC-1,site=S1 NH3-101=%g,NH3-102=1 %d`, v+1, ts))
	}
	// Two minutes later a bad minute: quality only, no value.
	for i := range 60 {
		ts := t0.Add(2*time.Minute + time.Duration(i)*time.Second).UnixNano()
		lines = append(lines,
			fmt.Sprintf(`sample,device=GC-1,point=NH3-101,site=S1 quality="bad" %d`, ts),
			fmt.Sprintf(`device_sample,device=GC-1,site=S1 NH3-101.quality="bad/comm" %d`, ts))
	}
	srv.Write(t, strings.Join(lines, "\n"))
	cfg := &configs.Config{Site: configs.Site{ID: "S1"},
		Store:   configs.Store{InfluxDB: &configs.InfluxDB{URL: srv.URL, Bucket: srv.Bucket}},
		Devices: []configs.Device{{ID: "GC-1", Points: []configs.Point{{ID: "NH3-101"}, {ID: "NH3-102"}}}}}
	for _, tc := range []struct {
		layout string
		peak   float64
	}{{"point", 95}, {"device", 96}} {
		t.Run(tc.layout, func(t *testing.T) {
			cfg.Store.InfluxDB.Layout = tc.layout
			tr, err := NewTrends(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// 12 minutes: one-second buckets, so each sample is its own.
			got, err := tr.History(context.Background(), "NH3-101", t0.Add(-time.Minute), t0.Add(11*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			var good, bad int
			peak := 0.0
			for _, s := range got {
				if s.Quality == drivers.Bad {
					bad++
					continue
				}
				good++
				peak = max(peak, s.Value)
			}
			if good != 60 || bad != 60 || peak != tc.peak {
				t.Errorf("good %d bad %d peak %g, want 60, 60, %g", good, bad, peak, tc.peak)
			}
			// 24 hours: wide buckets, the peak is still there.
			got, err = tr.History(context.Background(), "NH3-101", t0.Add(-12*time.Hour), t0.Add(12*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			peak = 0
			for _, s := range got {
				if s.Quality != drivers.Bad {
					peak = max(peak, s.Value)
				}
			}
			if peak != tc.peak || len(got) > 2*maxTrendBuckets {
				t.Errorf("24 h: %d samples, peak %g, want the peak %g", len(got), peak, tc.peak)
			}
		})
	}
	cfg.Store.InfluxDB.Layout = "columns"
	if _, err := NewTrends(cfg); err == nil {
		t.Error("unknown layout accepted")
	}
	srv.Stop()
	cfg.Store.InfluxDB.Layout = "point"
	tr, _ := NewTrends(cfg)
	if _, err := tr.History(context.Background(), "NH3-101", t0, t0.Add(time.Hour)); err == nil {
		t.Error("no error with influxd stopped")
	}
}
