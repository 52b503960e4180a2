package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
