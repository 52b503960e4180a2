package drivers

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// script is a Driver whose Connect fails failConnects times, then reads
// one batch, then reports the connection lost, then blocks.
type script struct {
	mu           sync.Mutex
	failConnects int
	connects     int
	reads        int
	closes       int
}

func (d *script) Connect(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.connects++
	if d.connects <= d.failConnects {
		return errors.New("refused")
	}
	return nil
}

func (d *script) Read(ctx context.Context) ([]Sample, error) {
	d.mu.Lock()
	d.reads++
	n := d.reads
	d.mu.Unlock()
	switch n {
	case 1:
		return []Sample{{Point: "P", Value: 1}}, nil
	case 2:
		return nil, ErrNotConnected
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (d *script) Close() error { d.mu.Lock(); d.closes++; d.mu.Unlock(); return nil }

// Failed reports the point bad/comm while the connection is down.
func (d *script) Failed(now time.Time, err error) []Sample {
	return []Sample{{Point: "P", Quality: Bad, Cause: CauseComm, Time: now}}
}

func TestRunnerReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &script{failConnects: 2}
		var mu sync.Mutex
		var got []Sample
		r := &Runner{ID: "D", Driver: d, Sink: func(b []Sample) { mu.Lock(); got = append(got, b...); mu.Unlock() }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(time.Minute) // virtual time: every backoff has run out
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		// Two refused connects, one that reads a batch and loses the
		// connection, one that stays up until the end.
		if d.connects != 4 || d.reads != 3 {
			t.Errorf("connects %d reads %d, want 4 and 3", d.connects, d.reads)
		}
		if d.closes != 2 {
			t.Errorf("closes %d, want 2 (after the lost connection, at the end)", d.closes)
		}
		mu.Lock()
		defer mu.Unlock()
		comm := 0
		for _, s := range got {
			if s.Cause == CauseComm {
				comm++
			}
		}
		if comm != 3 || len(got) != 4 {
			t.Errorf("sink got %+v: want 3 bad/comm samples (2 refused connects, 1 lost connection) and 1 good", got)
		}
	})
}

func TestBackoffCapped(t *testing.T) {
	var b Backoff
	for i := range 40 {
		if d := b.Next(); d <= 0 || d > 5*time.Second {
			t.Fatalf("wait %d = %v, want in (0, 5s]", i, d)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %v, want <= 100ms", d)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		v     float64
		q     Quality
		cause Cause
	}{
		{50, Good, CauseNone}, {0, Good, CauseNone}, {100, Good, CauseNone},
		{102.5, Uncertain, CauseRange}, {-2.5, Uncertain, CauseRange},
		{104, Uncertain, CauseRange}, {106.25, Uncertain, CauseRange}, // NE 43: 20.64 and 21.0 mA
		{106.3, Bad, CauseRange}, {110, Bad, CauseRange}, {-3, Bad, CauseRange},
	} {
		if q, cause := Classify(c.v, 0, 100); q != c.q || cause != c.cause {
			t.Errorf("Classify(%v) = %v/%v, want %v/%v", c.v, q, cause, c.q, c.cause)
		}
	}
	if q, _ := Classify(1e9, 5, 5); q != Good {
		t.Errorf("no range: %v, want good", q)
	}
}

// TestSampleJSON: the wire form of SPEC §7 (cause always) and SPEC §10
// (cause only when there is one); a value that is not finite is null.
func TestSampleJSON(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	cases := []struct {
		name        string
		s           Sample
		json, omits string
	}{
		{"good", Sample{Point: "NH3-101", Value: 12.5, Time: t0},
			`{"point":"NH3-101","value":12.5,"quality":"good","cause":"","time":"2026-11-28T00:00:00.000Z"}`,
			`{"point":"NH3-101","value":12.5,"quality":"good","time":"2026-11-28T00:00:00.000Z"}`},
		{"comm", Sample{Point: "P", Quality: Bad, Cause: CauseComm, Time: t0.Add(1500 * time.Microsecond)},
			`{"point":"P","value":0,"quality":"bad","cause":"comm","time":"2026-11-28T00:00:00.001Z"}`,
			`{"point":"P","value":0,"quality":"bad","cause":"comm","time":"2026-11-28T00:00:00.001Z"}`},
		{"NaN", Sample{Point: "P", Value: math.NaN(), Quality: Bad, Cause: CauseDecode, Time: t0},
			`{"point":"P","value":null,"quality":"bad","cause":"decode","time":"2026-11-28T00:00:00.000Z"}`,
			`{"point":"P","value":null,"quality":"bad","cause":"decode","time":"2026-11-28T00:00:00.000Z"}`},
		{"+Inf", Sample{Point: "P", Value: math.Inf(1), Quality: Uncertain, Cause: CauseRange, Time: t0},
			`{"point":"P","value":null,"quality":"uncertain","cause":"range","time":"2026-11-28T00:00:00.000Z"}`,
			`{"point":"P","value":null,"quality":"uncertain","cause":"range","time":"2026-11-28T00:00:00.000Z"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, x := range []struct {
				j    SampleJSON
				want string
			}{{c.s.JSON(), c.json}, {c.s.JSON().OmitNoCause(), c.omits}} {
				b, err := json.Marshal(x.j)
				if err != nil || string(b) != x.want {
					t.Errorf("got %s (%v), want %s", b, err, x.want)
				}
			}
		})
	}
}
