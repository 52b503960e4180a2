package mqtt

import (
	"math"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

func mkPoint(t *testing.T, topic, path, timePath string, rng []float64, scale *float64, offset float64) *point {
	t.Helper()
	p, err := compilePoint(&configs.Device{ID: "D"}, &configs.Point{ID: "P", Topic: topic, Path: path, TimePath: timePath,
		Range: rng, Scale: scale, Offset: offset})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecode(t *testing.T) {
	arrived := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	ts := time.Date(2026, 11, 28, 7, 59, 58, 250e6, time.UTC)
	two := 2.0
	cases := []struct {
		name     string
		topic    string
		path     string
		timePath string
		rng      []float64
		scale    *float64
		offset   float64
		payload  string
		value    float64
		quality  drivers.Quality
		cause    drivers.Cause
		reason   string
		time     time.Time
		skip     bool
	}{
		{name: "bare integer", payload: "42", value: 42},
		{name: "bare float spaces", payload: " 12.5\n", value: 12.5},
		{name: "bare negative exp", payload: "-1.5e2", value: -150},
		{name: "bare true", payload: "true", value: 1},
		{name: "bare false", payload: "false", value: 0},
		{name: "bare empty", payload: "", reason: reasonEmpty},
		{name: "bare text", payload: "hello", reason: reasonNotNumber},
		{name: "bare NaN", payload: "NaN", reason: reasonNotNumber},
		{name: "bare Inf", payload: "Inf", reason: reasonNotNumber},
		{name: "bare overflow", payload: "1e999", reason: reasonNotNumber},
		{name: "bare hex", payload: "0x10", reason: reasonNotNumber},
		{name: "bare object", payload: `{"level":1}`, reason: reasonNotNumber},
		{name: "bare quoted", payload: `"12"`, reason: reasonNotNumber},
		{name: "path number", path: "level", payload: `{"level": 55.5}`, value: 55.5},
		{name: "path nested", path: "a.b.c", payload: `{"a":{"b":{"c":7}}}`, value: 7},
		{name: "path array index", path: "v.1", payload: `{"v":[1,2,3]}`, value: 2},
		{name: "path bool", path: "alarm", payload: `{"alarm":true}`, value: 1},
		{name: "path missing", path: "level", payload: `{"temp":1}`, reason: reasonNoPath},
		{name: "path into number", path: "level.x", payload: `{"level":1}`, reason: reasonNoPath},
		{name: "path string value", path: "level", payload: `{"level":"55"}`, reason: reasonNotNumber},
		{name: "path null", path: "level", payload: `{"level":null}`, reason: reasonNotNumber},
		{name: "path object value", path: "level", payload: `{"level":{}}`, reason: reasonNotNumber},
		{name: "not json", path: "level", payload: `level=5`, reason: reasonNotJSON},
		{name: "truncated json", path: "level", payload: `{"level":5`, reason: reasonNotJSON},
		{name: "trailing garbage", path: "level", payload: `{"level":5} x`, reason: reasonNotJSON},
		{name: "json empty", path: "level", payload: "  ", reason: reasonEmpty},
		{name: "json array top", path: "level", payload: `[1]`, reason: reasonNoPath},
		{name: "json huge number", path: "level", payload: `{"level":1e400}`, reason: reasonNotNumber},
		{name: "binary", path: "level", payload: "\x00\xff\xfe", reason: reasonNotJSON},
		{name: "time rfc3339", path: "v", timePath: "ts", payload: `{"v":1,"ts":"2026-11-28T07:59:58.25Z"}`, value: 1, time: ts},
		{name: "time rfc3339 offset", path: "v", timePath: "ts", payload: `{"v":1,"ts":"2026-11-28T15:59:58.25+08:00"}`, value: 1, time: ts},
		{name: "time unix ms", path: "v", timePath: "ts", payload: `{"v":1,"ts":1795852798250}`, value: 1, time: ts},
		{name: "time missing", path: "v", timePath: "ts", payload: `{"v":1}`, reason: reasonNoTime},
		{name: "time bad string", path: "v", timePath: "ts", payload: `{"v":1,"ts":"yesterday"}`, reason: reasonBadTime},
		{name: "time negative", path: "v", timePath: "ts", payload: `{"v":1,"ts":-5}`, reason: reasonBadTime},
		{name: "time bool", path: "v", timePath: "ts", payload: `{"v":1,"ts":true}`, reason: reasonBadTime},
		{name: "time without path", timePath: "ts", payload: `{"ts":1}`, reason: reasonNotNumber},
		// SPEC §4 time window (issue 13 finding 6): the receive time instead.
		{name: "time year 9999", path: "v", timePath: "ts", payload: `{"v":1,"ts":"9999-12-31T23:59:59Z"}`, value: 1, quality: drivers.Uncertain, cause: drivers.CauseTime},
		{name: "time 2099", path: "v", timePath: "ts", payload: `{"v":1,"ts":"2099-01-01T00:00:00Z"}`, value: 1, quality: drivers.Uncertain, cause: drivers.CauseTime},
		{name: "time unix ms far ahead", path: "v", timePath: "ts", payload: `{"v":1,"ts":999999999999999}`, value: 1, quality: drivers.Uncertain, cause: drivers.CauseTime},
		{name: "time 11 s ahead", path: "v", timePath: "ts", payload: `{"v":1,"ts":"2026-11-28T08:00:11Z"}`, value: 1, quality: drivers.Uncertain, cause: drivers.CauseTime},
		{name: "time 10 s ahead", path: "v", timePath: "ts", payload: `{"v":1,"ts":"2026-11-28T08:00:10Z"}`, value: 1, time: arrived.Add(10 * time.Second)},
		{name: "time 1999", path: "v", timePath: "ts", payload: `{"v":1,"ts":"1999-12-31T23:59:59Z"}`, value: 1, quality: drivers.Uncertain, cause: drivers.CauseTime},
		{name: "time unix ms 1970", path: "v", timePath: "ts", payload: `{"v":1,"ts":1}`, value: 1, quality: drivers.Uncertain, cause: drivers.CauseTime},
		{name: "time ahead and bad range", path: "v", timePath: "ts", rng: []float64{0, 100}, payload: `{"v":-10,"ts":"2099-01-01T00:00:00Z"}`, value: -10, quality: drivers.Bad, cause: drivers.CauseRange},
		{name: "scale offset", path: "v", scale: &two, offset: -1, payload: `{"v":3}`, value: 5},
		{name: "range good", path: "v", rng: []float64{0, 100}, payload: `{"v":100}`, value: 100},
		{name: "range uncertain", path: "v", rng: []float64{0, 100}, payload: `{"v":102}`, value: 102, quality: drivers.Uncertain, cause: drivers.CauseRange},
		{name: "range bad", path: "v", rng: []float64{0, 100}, payload: `{"v":-10}`, value: -10, quality: drivers.Bad, cause: drivers.CauseRange},
		{name: "wildcard selects field", topic: "plant/+/data", path: "TK-1.level", payload: `{"TK-1":{"level":3}}`, value: 3},
		{name: "wildcard other field skipped", topic: "plant/+/data", path: "TK-1.level", payload: `{"TK-2":{"level":3}}`, skip: true},
		{name: "wildcard not json", topic: "plant/+/data", path: "TK-1.level", payload: `oops`, reason: reasonNotJSON},
		{name: "wildcard not number", topic: "plant/+/data", path: "TK-1.level", payload: `{"TK-1":{"level":"x"}}`, reason: reasonNotNumber},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := c.topic
			if topic == "" {
				topic = "t"
			}
			p := mkPoint(t, topic, c.path, c.timePath, c.rng, c.scale, c.offset)
			s, reason, skip := p.decode(&payload{raw: []byte(c.payload)}, arrived)
			if skip != c.skip {
				t.Fatalf("skip = %v, want %v", skip, c.skip)
			}
			if skip {
				return
			}
			if reason != c.reason {
				t.Fatalf("reason = %q, want %q", reason, c.reason)
			}
			if c.reason != "" {
				if s.Quality != drivers.Bad || s.Cause != drivers.CauseDecode {
					t.Fatalf("got %v/%v, want bad/decode", s.Quality, s.Cause)
				}
				return
			}
			if s.Value != c.value || s.Quality != c.quality || s.Cause != c.cause {
				t.Fatalf("got %v %v/%v, want %v %v/%v", s.Value, s.Quality, s.Cause, c.value, c.quality, c.cause)
			}
			want := c.time
			if want.IsZero() {
				want = arrived
			}
			if !s.Time.Equal(want) {
				t.Fatalf("time %v, want %v", s.Time, want)
			}
			if s.Point != "P" {
				t.Fatalf("point %q", s.Point)
			}
		})
	}
}

func TestMatchTopic(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/x/c", true},
		{"a/+/c", "a/x/d", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"+/+", "a/b", true},
		{"+", "a/b", false},
		{"a/+", "a/", true},
		{"plant/tank/+", "plant/tank/TK-101", true},
	}
	for _, c := range cases {
		if got := matchTopic(c.filter, c.topic); got != c.want {
			t.Errorf("matchTopic(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	cases := []struct{ name, topic, path string }{
		{"no topic", "", "v"},
		{"wildcard without path", "a/+", ""},
		{"hash not last", "a/#/b", "v"},
		{"plus inside level", "a/b+/c", "v"},
	}
	for _, c := range cases {
		if _, err := compilePoint(&configs.Device{ID: "D"}, &configs.Point{ID: "P", Topic: c.topic, Path: c.path}); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// FuzzDecode: no payload may panic, and every result is either a finite
// value or bad/decode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"42", "true", `{"a":{"b":1},"ts":"2026-11-28T07:59:58Z"}`, `{"a":{"b":"x"}}`, "\x00", `[[[[`, `{"a":{"b":1e999}}`, `{"ts":1795852798250,"a":{"b":2}}`} {
		f.Add([]byte(s))
	}
	pts := []*point{
		{id: "bare", scale: 1},
		{id: "path", path: []string{"a", "b"}, scale: 1, lo: 0, hi: 10},
		{id: "time", path: []string{"a", "b"}, timePath: []string{"ts"}, scale: 1},
		{id: "wild", wildcard: true, path: []string{"a", "b"}, scale: 1},
	}
	now := time.Unix(1e9, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		pl := &payload{raw: b}
		for _, p := range pts {
			s, reason, skip := p.decode(pl, now)
			if skip {
				continue
			}
			if reason != "" && (s.Quality != drivers.Bad || s.Cause != drivers.CauseDecode) {
				t.Fatalf("%s: reason %q with %v/%v", p.id, reason, s.Quality, s.Cause)
			}
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				t.Fatalf("%s: value %v", p.id, s.Value)
			}
		}
	})
}

func TestEnqueueNeverBlocks(t *testing.T) {
	m, _ := newMetrics(nil)
	c := &Conn{name: "b"}
	s := newSubscriber(c, 4, time.Now, m, discardLog())
	for i := 0; i < 100; i++ {
		s.enqueue("t", []byte{byte(i)})
	}
	if s.q.Len() != 4 {
		t.Fatalf("queue holds %d, want 4", s.q.Len())
	}
	// Drop-oldest: the newest four remain, in order.
	for i, m := range s.q.Take() {
		if m.payload[0] != byte(96+i) {
			t.Fatalf("queued %d, want %d", m.payload[0], 96+i)
		}
	}
	if got := testCounter(t, m.dropped.WithLabelValues("b")); got != 96 {
		t.Fatalf("dropped = %v, want 96", got)
	}
}

func TestLogLimiter(t *testing.T) {
	l := logLimiter{every: 10 * time.Second}
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{5 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{19 * time.Second, false, 0},
		{30 * time.Second, true, 1},
	}
	for _, s := range steps {
		n, ok := l.allow(t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Errorf("at %v: allow = %d, %v; want %d, %v", s.at, n, ok, s.suppressed, s.ok)
		}
	}
}
