package store

import (
	"math"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

func TestLineProtocol(t *testing.T) {
	ts := time.Date(2026, 11, 28, 8, 0, 1, 250_000_000, time.UTC)
	for _, tc := range []struct {
		name string
		line string
		want string
	}{
		{"good sample", string(sampleLine(nil, "SQ-COLD-01", entry{drivers.Sample{Point: "NH3-101", Value: 61.5, Time: ts}, "GC-ROOM1"})),
			`sample,device=GC-ROOM1,point=NH3-101,site=SQ-COLD-01 quality="good",value=61.5 1795852801250000000`},
		{"NaN value keeps quality", string(sampleLine(nil, "S", entry{drivers.Sample{Point: "P", Value: math.NaN(), Quality: drivers.Bad, Cause: drivers.CauseComm, Time: ts}, "D"})),
			`sample,device=D,point=P,site=S quality="bad" 1795852801250000000`},
		{"escaped tags", string(sampleLine(nil, "my site", entry{drivers.Sample{Point: "A", Value: 1e6, Quality: drivers.Uncertain, Time: ts}, "d,1=x"})),
			`sample,device=d\,1\=x,point=A,site=my\ site quality="uncertain",value=1e+06 1795852801250000000`},
		{"alarm event", string(eventLine(nil, "SQ-COLD-01", alarms.Event{Seq: 1042, Point: "NH3-101", Cond: "hihi", Tier: 2,
			Priority: alarms.High, State: alarms.Unack, Active: true, Value: 61.5, Limit: 60, Time: ts, By: "", Comment: ""})),
			`alarm_event,cond=hihi,point=NH3-101,priority=high,site=SQ-COLD-01 seq=1042i,state="unack",tier=2i,stage=0i,active=true,acked=false,value=61.5,limit=60,by="",comment="" 1795852801250000000`},
		{"ack with comment, no value", string(eventLine(nil, "S", alarms.Event{Seq: 7, Point: "FIRE-Z1", Cond: "on", Tier: 2,
			Priority: alarms.Urgent, State: alarms.Acked, Active: true, Acked: true, Stage: 1, Value: math.NaN(), Limit: math.NaN(),
			Time: ts, By: "zhang", Comment: `said "ok" \ done`})),
			`alarm_event,cond=on,point=FIRE-Z1,priority=urgent,site=S seq=7i,state="acked",tier=2i,stage=1i,active=true,acked=true,by="zhang",comment="said \"ok\" \\ done" 1795852801250000000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.line != tc.want {
				t.Errorf("\n got %s\nwant %s", tc.line, tc.want)
			}
		})
	}
}

func TestBlockCodec(t *testing.T) {
	in := []drivers.Sample{
		{Point: "A", Value: math.NaN(), Quality: drivers.Bad, Cause: drivers.CauseStale, Time: t0},
		{Point: "B", Value: -1.25, Quality: drivers.Uncertain, Cause: drivers.CauseRange, Time: t0.Add(-time.Hour)},
		{Point: "A", Value: math.Inf(1), Time: t0.Add(time.Nanosecond)},
	}
	pl := encodeBlock(nil, in, []uint32{0, 1, 0})
	dict := dictOf("A", "DA", "B", "DB")
	rec := frame(nil, pl)
	p, n, err := unframe(rec)
	if err != nil || n != len(rec) {
		t.Fatal(err)
	}
	got, err := decodeBlock(nil, p, 1, 10, dict)
	if err != nil || len(got) != 2 {
		t.Fatalf("decode: %v %d", err, len(got))
	}
	if got[0].Point != "B" || got[0].Device != "DB" || got[0].Value != -1.25 || !got[0].Time.Equal(in[1].Time) || got[0].Cause != drivers.CauseRange {
		t.Fatalf("got %+v", got[0])
	}
	if !math.IsInf(got[1].Value, 1) || !got[1].Time.Equal(in[2].Time) {
		t.Fatalf("got %+v", got[1])
	}
	all, _ := decodeBlock(nil, p, 0, 10, dict)
	if !math.IsNaN(all[0].Value) || all[0].Cause != drivers.CauseStale {
		t.Fatalf("NaN lost: %+v", all[0])
	}
	rec[len(rec)-1] ^= 1
	if _, _, err := unframe(rec); err == nil {
		t.Fatal("a flipped bit passed the CRC")
	}
}

func TestHistory(t *testing.T) {
	h := NewHistory(24 * time.Hour)
	// 24 h at one sample per 10 s with one spike; far more than rawKeep.
	var batch []drivers.Sample
	for i := 0; i < 8640; i++ {
		v := 10.0
		if i == 1000 {
			v = 99 // a short peak long ago must stay visible
		}
		batch = append(batch, drivers.Sample{Point: "NH3", Value: v, Time: t0.Add(time.Duration(i) * 10 * time.Second)})
	}
	h.Add(batch)
	got := h.Since("NH3", time.Time{})
	if len(got) > rawKeep+2*bucketsKeep || len(got) < rawKeep {
		t.Fatalf("%d samples returned", len(got))
	}
	peak := false
	for i, s := range got {
		if i > 0 && s.Time.Before(got[i-1].Time) {
			t.Fatalf("not in time order at %d", i)
		}
		if s.Value == 99 && s.Time.Equal(t0.Add(10000*time.Second)) {
			peak = true
		}
	}
	if !peak {
		t.Fatal("the peak was lost by downsampling")
	}
	last := got[len(got)-1]
	if !last.Time.Equal(t0.Add(8639 * 10 * time.Second)) {
		t.Fatalf("last %v", last.Time)
	}
	recent := h.Since("NH3", last.Time.Add(-time.Minute))
	if len(recent) != 7 {
		t.Fatalf("last minute: %d samples, want 7 raw ones", len(recent))
	}
	if h.Since("nope", time.Time{}) != nil {
		t.Fatal("unknown point has history")
	}
}

// dictOf is a reader's dictionary of point, device pairs, indexes 0, 1, ...
func dictOf(pairs ...string) *readDict {
	var d readDict
	for i := 0; i+1 < len(pairs); i += 2 {
		d.define(uint32(i/2), []byte(pairs[i]), []byte(pairs[i+1]))
	}
	return &d
}
