package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// point is one configured MQTT point, compiled for decoding.
type point struct {
	id       drivers.PointID
	device   string
	topic    string   // filter, possibly with + or #
	wildcard bool     // topic has + or #
	path     []string // nil: bare number or true/false payload
	timePath []string // nil: arrival time
	scale    float64
	offset   float64
	lo, hi   float64 // range; lo == hi: none
}

func compilePoint(d *configs.Device, p *configs.Point) (*point, error) {
	if p.Topic == "" {
		return nil, fmt.Errorf("mqtt device %s point %s: no topic", d.ID, p.ID)
	}
	if err := validFilter(p.Topic); err != nil {
		return nil, fmt.Errorf("mqtt device %s point %s: topic %q: %w", d.ID, p.ID, p.Topic, err)
	}
	pt := &point{id: drivers.PointID(p.ID), device: d.ID, topic: p.Topic, scale: 1, offset: p.Offset,
		wildcard: strings.ContainsAny(p.Topic, "+#")}
	if p.Scale != nil {
		pt.scale = *p.Scale
	}
	if p.Path != "" {
		pt.path = strings.Split(p.Path, ".")
	}
	if pt.wildcard && pt.path == nil {
		return nil, fmt.Errorf("mqtt device %s point %s: wildcard topic %q needs a path that selects the point's field", d.ID, p.ID, p.Topic)
	}
	if p.TimePath != "" {
		pt.timePath = strings.Split(p.TimePath, ".")
	}
	if len(p.Range) == 2 {
		pt.lo, pt.hi = p.Range[0], p.Range[1]
	}
	return pt, nil
}

func validFilter(f string) error {
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("'#' must be a whole last level")
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("'+' must be a whole level")
		}
	}
	return nil
}

// matchTopic reports whether topic matches the MQTT filter.
func matchTopic(filter, topic string) bool {
	for {
		fi := strings.IndexByte(filter, '/')
		ti := strings.IndexByte(topic, '/')
		var fl, tl string
		if fi < 0 {
			fl = filter
		} else {
			fl = filter[:fi]
		}
		if ti < 0 {
			tl = topic
		} else {
			tl = topic[:ti]
		}
		if fl == "#" {
			return true
		}
		if fl != "+" && fl != tl {
			return false
		}
		if fi < 0 || ti < 0 {
			if fi < 0 && ti < 0 {
				return true
			}
			// "a/#" matches "a" too.
			return ti < 0 && filter[fi+1:] == "#"
		}
		filter, topic = filter[fi+1:], topic[ti+1:]
	}
}

// Reasons a payload fails to decode; they label the decode error counter.
const (
	reasonEmpty     = "empty payload"
	reasonNotJSON   = "not json"
	reasonNoPath    = "path missing"
	reasonNotNumber = "not a number"
	reasonNoTime    = "time missing"
	reasonBadTime   = "bad time"
)

var reasons = []string{reasonEmpty, reasonNotJSON, reasonNoPath, reasonNotNumber, reasonNoTime, reasonBadTime}

// payload is one message's body, parsed at most once for all the points
// that share its topic.
type payload struct {
	raw    []byte
	parsed bool
	doc    any
	err    error
}

func (p *payload) json() (any, error) {
	if !p.parsed {
		p.parsed = true
		d := json.NewDecoder(bytes.NewReader(p.raw))
		d.UseNumber()
		p.err = d.Decode(&p.doc)
		if p.err == nil && d.More() {
			p.err = fmt.Errorf("trailing data")
		}
	}
	return p.doc, p.err
}

// decode turns a message into this point's sample. arrived is when the
// message reached the gateway (the sample time unless time_path says
// otherwise). skip is true when the message does not concern the point
// (a wildcard topic whose payload lacks the point's field). A payload that
// cannot be decoded gives a bad/decode sample and a reason.
func (pt *point) decode(pl *payload, arrived time.Time) (s drivers.Sample, reason string, skip bool) {
	s = drivers.Sample{Point: pt.id, Time: arrived}
	bad := func(r string) (drivers.Sample, string, bool) {
		s.Value, s.Quality, s.Cause = 0, drivers.Bad, drivers.CauseDecode
		return s, r, false
	}
	var (
		raw float64
		r   string
	)
	if pt.path == nil && pt.timePath == nil {
		raw, r = bareValue(pl.raw)
		if r != "" {
			return bad(r)
		}
	} else {
		if len(bytes.TrimSpace(pl.raw)) == 0 {
			return bad(reasonEmpty)
		}
		doc, err := pl.json()
		if err != nil {
			return bad(reasonNotJSON)
		}
		v := doc
		if pt.path != nil {
			var ok bool
			v, ok = walk(doc, pt.path)
			if !ok {
				if pt.wildcard {
					return s, "", true
				}
				return bad(reasonNoPath)
			}
		}
		raw, r = jsonValue(v)
		if r != "" {
			return bad(r)
		}
		if pt.timePath != nil {
			tv, ok := walk(doc, pt.timePath)
			if !ok {
				return bad(reasonNoTime)
			}
			t, ok := jsonTime(tv)
			if !ok {
				return bad(reasonBadTime)
			}
			s.Time = t
		}
	}
	s.Value = raw*pt.scale + pt.offset
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return bad(reasonNotNumber)
	}
	s.Quality, s.Cause = drivers.Classify(s.Value, pt.lo, pt.hi)
	return s, "", false
}

// bareValue reads a payload that is a number or true/false (JSON or plain
// text, surrounding white space allowed).
func bareValue(b []byte) (float64, string) {
	t := string(bytes.TrimSpace(b))
	switch t {
	case "":
		return 0, reasonEmpty
	case "true":
		return 1, ""
	case "false":
		return 0, ""
	}
	// Only plain decimal numbers: ParseFloat would also take "NaN", "Inf"
	// and hex floats.
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			if c == '{' || c == '[' || c == '"' {
				return 0, reasonNotNumber
			}
			return 0, reasonNotNumber
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, reasonNotNumber
	}
	return v, ""
}

func jsonValue(v any) (float64, string) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, reasonNotNumber
		}
		return f, ""
	case bool:
		if x {
			return 1, ""
		}
		return 0, ""
	}
	return 0, reasonNotNumber
}

// walk follows a dot path through objects (and arrays, by index).
func walk(v any, path []string) (any, bool) {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			n, ok := x[k]
			if !ok {
				return nil, false
			}
			v = n
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// jsonTime reads an RFC 3339 string or Unix milliseconds.
func jsonTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, false
		}
		return t, true
	case json.Number:
		ms, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(string(x), 64)
			if ferr != nil || f < 0 || f > 1e15 {
				return time.Time{}, false
			}
			ms = int64(f)
		}
		if ms < 0 || ms > 1e15 {
			return time.Time{}, false
		}
		return time.UnixMilli(ms), true
	}
	return time.Time{}, false
}
