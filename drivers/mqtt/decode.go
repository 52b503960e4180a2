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

// payload is one message's body; it is validated at most once for all the
// points that share its topic.
type payload struct {
	raw     []byte
	checked bool
	valid   bool
}

// json reports whether the payload is exactly one JSON value (white space
// around it allowed).
func (p *payload) json() bool {
	if !p.checked {
		p.checked, p.valid = true, json.Valid(p.raw)
	}
	return p.valid
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
		if !pl.json() {
			return bad(reasonNotJSON)
		}
		v := pl.raw
		if pt.path != nil {
			var ok bool
			v, ok = find(pl.raw, pt.path)
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
			tv, ok := find(pl.raw, pt.timePath)
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
	if !plausible(s.Time, arrived) {
		// SPEC §4: the receive time instead, and uncertain/time unless the
		// range already made the sample worse.
		s.Time = arrived
		if s.Quality == drivers.Good {
			s.Quality, s.Cause = drivers.Uncertain, drivers.CauseTime
		}
	}
	return s, "", false
}

// Time window of a device's time stamp (SPEC §4).
const maxAhead = 10 * time.Second

var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// plausible reports whether a device time stamp t, received at arrived, is
// within SPEC §4's window: not before 2000-01-01 and at most 10 s ahead.
// Times are compared as time.Time, never as nanoseconds: year 9999 does
// not overflow.
func plausible(t, arrived time.Time) bool {
	return !t.Before(minTime) && !t.After(arrived.Add(maxAhead))
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

// The functions below read JSON that json.Valid accepted, without building
// a document: find returns the raw bytes of the value at a path, the others
// read one value's raw bytes. FuzzFind checks them against encoding/json.

// find follows a dot path through objects (and arrays, by index) and
// returns the raw value there. As encoding/json, the last of duplicate keys
// wins.
func find(data []byte, path []string) ([]byte, bool) {
	v := trimWS(data)
	for _, k := range path {
		if len(v) == 0 {
			return nil, false
		}
		switch v[0] {
		case '{':
			var (
				found []byte
				ok    bool
			)
			i := 1
			for {
				i = skipWS(v, i)
				if v[i] == '}' {
					break
				}
				ke := skipString(v, i)
				key := v[i:ke]
				i = skipWS(v, ke)
				i = skipWS(v, i+1) // ':'
				ve := skipValue(v, i)
				if keyEquals(key, k) {
					found, ok = v[i:ve], true
				}
				i = skipWS(v, ve)
				if v[i] == ',' {
					i++
				}
			}
			if !ok {
				return nil, false
			}
			v = found
		case '[':
			idx, err := strconv.Atoi(k)
			if err != nil || idx < 0 {
				return nil, false
			}
			i, n := 1, 0
			var found []byte
			for {
				i = skipWS(v, i)
				if v[i] == ']' {
					break
				}
				ve := skipValue(v, i)
				if n == idx {
					found = v[i:ve]
					break
				}
				n++
				i = skipWS(v, ve)
				if v[i] == ',' {
					i++
				}
			}
			if found == nil {
				return nil, false
			}
			v = found
		default:
			return nil, false
		}
	}
	return v, true
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimWS(b []byte) []byte {
	for len(b) > 0 && isWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && !isWS(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return i
}

// keyEquals compares a raw JSON string token with a path element.
func keyEquals(raw []byte, k string) bool {
	inner := raw[1 : len(raw)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(inner) == k
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == k
}

// jsonValue reads a number or true/false token.
func jsonValue(v []byte) (float64, string) {
	switch {
	case len(v) == 0:
		return 0, reasonNotNumber
	case string(v) == "true":
		return 1, ""
	case string(v) == "false":
		return 0, ""
	case v[0] == '-' || v[0] >= '0' && v[0] <= '9':
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, reasonNotNumber
		}
		return f, ""
	}
	return 0, reasonNotNumber
}

// jsonTime reads an RFC 3339 string or Unix milliseconds token.
func jsonTime(v []byte) (time.Time, bool) {
	if len(v) == 0 {
		return time.Time{}, false
	}
	switch {
	case v[0] == '"':
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return time.Time{}, false
		}
		return t, true
	case v[0] == '-' || v[0] >= '0' && v[0] <= '9':
		x := string(v)
		ms, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(x, 64)
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
