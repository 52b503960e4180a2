package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// Frames of SPEC §7, server to client.

type helloFrame struct {
	Type       string `json:"type"` // "hello"
	Site       string `json:"site"`
	SiteName   string `json:"site_name"` // addition
	User       string `json:"user"`
	Role       string `json:"role"`
	Seq        uint64 `json:"seq"`
	ServerTime string `json:"server_time"`
	MaxShelve  string `json:"max_shelve"` // addition: longest shelving, Go duration
}

type snapshotFrame struct {
	Type   string         `json:"type"` // "snapshot"
	Seq    uint64         `json:"seq"`  // addition: the alarm seq the snapshot is at
	Flood  bool           `json:"flood"`
	Points []pointJSON    `json:"points"`
	Alarms []alarms.Event `json:"alarms"`
	// Linkages is every linkage's state (SPEC §7, §11).
	Linkages []alarms.LinkView `json:"linkages"`
	// Notices are the district's notices not yet acknowledged (SPEC §13):
	// a list (maybe empty) with [uplink] notices, absent without.
	Notices *[]Notice `json:"notices,omitempty"`
	// Votes and Deviations (additions): members of each vote and the two
	// points of each deviation, for the page.
	Votes      []voteJSON `json:"votes"`
	Deviations []devJSON  `json:"deviations"`
}

// pointJSON is one point's latest value (snapshot, /api/points). Value is
// null when the point has never been seen (then quality bad, cause stale).
type pointJSON struct {
	Point   string    `json:"point"`
	Value   *float64  `json:"value"`
	Quality string    `json:"quality"`
	Cause   string    `json:"cause"`
	Time    *string   `json:"time"`
	Unit    string    `json:"unit"`
	Device  string    `json:"device"`
	Name    string    `json:"name,omitempty"` // additions
	Area    string    `json:"area,omitempty"`
	Range   []float64 `json:"range,omitempty"`
}

func fnum(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// samplesFrame carries samples in their one wire form, cause always
// written (SPEC §7).
type samplesFrame struct {
	Type    string               `json:"type"` // "samples"
	Samples []drivers.SampleJSON `json:"samples"`
}

// framer writes samples frames in a buffer it reuses, with no allocation
// per sample: the bytes are exactly json.Marshal's of a samplesFrame of
// the samples' drivers.SampleJSON (FuzzFramer), written directly instead
// of through one SampleJSON (a time string, a value pointer, two
// MarshalText slices) per sample. The hub owns it.
type framer struct {
	buf []byte
	n   int // samples in buf
	// The last time written and its text: the samples of one poll share
	// their time.
	t  time.Time
	ts []byte
}

// add appends s to the frame being built.
func (f *framer) add(s *drivers.Sample) {
	if f.n == 0 {
		f.buf = append(f.buf[:0], `{"type":"samples","samples":[`...)
	} else {
		f.buf = append(f.buf, ',')
	}
	f.n++
	b := append(f.buf, `{"point":`...)
	b = appendJSONString(b, string(s.Point))
	b = append(b, `,"value":`...)
	b = appendJSONFloat(b, s.Value)
	b = append(b, `,"quality":`...)
	b = appendJSONString(b, s.Quality.String())
	b = append(b, `,"cause":`...)
	b = appendJSONString(b, s.Cause.String())
	b = append(b, `,"time":"`...)
	if len(f.ts) == 0 || !s.Time.Equal(f.t) {
		f.t, f.ts = s.Time, s.Time.UTC().AppendFormat(f.ts[:0], drivers.TimeFormat)
	}
	b = append(b, f.ts...)
	f.buf = append(b, `"}`...)
}

// frame returns the frame built since the last call (its own copy, one
// allocation) and starts the next; nil when no sample was added.
func (f *framer) frame() []byte {
	if f.n == 0 {
		return nil
	}
	f.buf = append(f.buf, "]}"...)
	out := bytes.Clone(f.buf)
	f.buf, f.n = f.buf[:0], 0
	return out
}

// appendJSONString appends s as encoding/json writes it: as is between
// quotes when it holds only printable ASCII that needs no escape (point
// ids, quality and cause names), through json.Marshal otherwise.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return append(b, mustJSON(s)...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONFloat appends v as encoding/json writes a *float64 of
// drivers.SampleJSON: null for NaN and ±Inf, the shortest decimal without
// exponent where encoding/json uses none, json.Marshal otherwise.
func appendJSONFloat(b []byte, v float64) []byte {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return append(b, "null"...)
	case a == 0 || a >= 1e-6 && a < 1e21:
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return append(b, mustJSON(v)...)
}

type alarmFrame struct {
	Type  string       `json:"type"` // "alarm"
	Alarm alarms.Event `json:"alarm"`
}

type resultFrame struct {
	Type  string          `json:"type"` // "result"
	Ref   json.RawMessage `json:"ref"`
	OK    bool            `json:"ok"`
	Error string          `json:"error"` // "" when ok
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("console: marshal %T: %v", v, err)) // our own types: a bug
	}
	return b
}

func resultJSON(ref json.RawMessage, err error) []byte {
	if len(ref) == 0 {
		ref = json.RawMessage("null")
	}
	f := resultFrame{Type: "result", Ref: ref, OK: err == nil}
	if err != nil {
		f.Error = err.Error()
	}
	return mustJSON(f)
}

// Client to server.

// command is one client frame (SPEC §7). Ref is echoed back verbatim.
type command struct {
	Type    string          `json:"type"`
	Ref     json.RawMessage `json:"ref"`
	Alarm   string          `json:"alarm"`
	Point   string          `json:"point"`
	Linkage string          `json:"linkage"`
	Comment string          `json:"comment"`
	For     string          `json:"for"`
	Reason  string          `json:"reason"`
	Seq     *uint64         `json:"seq"`
}

var (
	errForbidden   = errors.New("forbidden")
	errRateLimited = errors.New("rate limited")
)

// parseCommand decodes a client frame. On error the returned command still
// carries the ref when one could be read.
func parseCommand(b []byte) (command, error) {
	var c command
	if err := json.Unmarshal(b, &c); err != nil {
		// Try to salvage the ref so the client can match the error.
		var r struct {
			Ref json.RawMessage `json:"ref"`
		}
		_ = json.Unmarshal(b, &r)
		return command{Ref: r.Ref}, fmt.Errorf("malformed frame: %v", err)
	}
	if c.Type == "" {
		return c, errors.New("malformed frame: missing type")
	}
	return c, nil
}

// need is the role each command requires.
var need = map[string]Role{
	"ack": Operator, "reset": Operator, "shelve": Operator, "unshelve": Operator,
	"oos": Commander, "ios": Commander, "resume": Viewer,
	"run": Commander, "release": Commander, // linkages: Server.linkageCommand
}

// toEngine checks a command's fields and builds the engine command; role is
// checked first (a viewer's ack is "forbidden" whatever its fields).
// invalidError is a command the console itself rejects before the engine
// (HTTP 400).
type invalidError string

func (e invalidError) Error() string { return string(e) }

func invalid(msg string) error { return invalidError(msg) }

func toEngine(c command, id identity, maxShelve time.Duration) (alarms.Command, error) {
	r, ok := need[c.Type]
	if !ok || c.Type == "resume" {
		return alarms.Command{}, invalid(fmt.Sprintf("unknown command type %q", c.Type))
	}
	if id.role < r {
		return alarms.Command{}, errForbidden
	}
	cmd := alarms.Command{Op: alarms.Op(c.Type), Alarm: c.Alarm, Point: c.Point, By: id.user, Comment: c.Comment}
	switch c.Type {
	case "ack", "reset", "unshelve":
		if c.Alarm == "" {
			return cmd, invalid("missing alarm")
		}
	case "shelve":
		if c.Alarm == "" {
			return cmd, invalid("missing alarm")
		}
		d, err := time.ParseDuration(c.For)
		if err != nil || d <= 0 {
			return cmd, invalid(fmt.Sprintf("for: want a positive duration such as \"10m\", got %q", c.For))
		}
		if d > maxShelve {
			return cmd, invalid(fmt.Sprintf("for: %s exceeds console.max_shelve %s", d, maxShelve))
		}
		if c.Reason == "" {
			return cmd, invalid("reason required")
		}
		cmd.For, cmd.Comment = d, c.Reason
	case "oos", "ios":
		if c.Point == "" {
			return cmd, invalid("missing point")
		}
		if c.Type == "oos" && c.Reason == "" {
			return cmd, invalid("reason required")
		}
		if c.Reason != "" {
			cmd.Comment = c.Reason
		}
	}
	return cmd, nil
}
