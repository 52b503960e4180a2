package drivers

import (
	"fmt"
	"math"
	"time"
)

// PointID is a site-unique point name (位号): letters, digits and "-_.", at
// most 64 characters (SPEC §1).
type PointID string

// Quality tells how far a value can be trusted (SPEC §4).
type Quality uint8

const (
	Good Quality = iota
	Uncertain
	Bad
)

func (q Quality) String() string {
	switch q {
	case Good:
		return "good"
	case Uncertain:
		return "uncertain"
	case Bad:
		return "bad"
	}
	return fmt.Sprintf("quality(%d)", uint8(q))
}

// MarshalText writes the SPEC spelling.
func (q Quality) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText reads the SPEC spelling.
func (q *Quality) UnmarshalText(b []byte) error {
	switch string(b) {
	case "good":
		*q = Good
	case "uncertain":
		*q = Uncertain
	case "bad":
		*q = Bad
	default:
		return fmt.Errorf("unknown quality %q", b)
	}
	return nil
}

// Cause explains a sample that is not good (SPEC §4). A good sample has
// CauseNone.
type Cause uint8

const (
	CauseNone   Cause = iota
	CauseRange        // outside the engineering range
	CauseComm         // no answer, failed connection or malformed answer
	CauseStale        // no good sample within the stale time
	CauseDecode       // payload could not be decoded
	CauseTime         // the device's time stamp was implausible; the receive time replaced it
)

func (c Cause) String() string {
	switch c {
	case CauseNone:
		return ""
	case CauseRange:
		return "range"
	case CauseComm:
		return "comm"
	case CauseStale:
		return "stale"
	case CauseDecode:
		return "decode"
	case CauseTime:
		return "time"
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// MarshalText writes the SPEC spelling ("" for none).
func (c Cause) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads the SPEC spelling.
func (c *Cause) UnmarshalText(b []byte) error {
	for x := CauseNone; x <= CauseTime; x++ {
		if x.String() == string(b) {
			*c = x
			return nil
		}
	}
	return fmt.Errorf("unknown cause %q", b)
}

// Sample is one value of one point. Value is in engineering units after
// scale and offset; booleans are 0 or 1. Time is the acquisition time (when
// the driver read it, or the device's own time stamp when it sends one).
type Sample struct {
	Point   PointID
	Value   float64
	Quality Quality
	Cause   Cause
	Time    time.Time
}

// Good reports whether the sample may raise or clear limit, roc and on alarms.
func (s Sample) Good() bool { return s.Quality == Good }

// TimeFormat is the SPEC's time format: RFC 3339, UTC, milliseconds (the
// same as alarms.TimeFormat).
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// SampleJSON is a sample on the wire, the one form of the console's
// samples frames (SPEC §7) and the uplink's PREFIX/samples (SPEC §10):
//
//	{"point":"NH3-101","value":12.5,"quality":"good","cause":"","time":"2026-11-28T08:00:00.000Z"}
//
// Value is null when it is not a finite number. The console always writes
// cause (SPEC §7 lists it; "" when good); the uplink leaves it out of good
// samples (SPEC §10 lists {point, value, quality, time}; cause is our
// addition for the others), see OmitNoCause.
type SampleJSON struct {
	Point   PointID  `json:"point"`
	Value   *float64 `json:"value"`
	Quality Quality  `json:"quality"`
	Cause   *Cause   `json:"cause,omitempty"` // nil only after OmitNoCause
	Time    string   `json:"time"`
}

// causes lets SampleJSON point at a cause without an allocation per sample.
var causes = [...]Cause{CauseNone, CauseRange, CauseComm, CauseStale, CauseDecode}

// JSON returns s in its wire form, cause included.
func (s Sample) JSON() SampleJSON {
	j := SampleJSON{Point: s.Point, Quality: s.Quality, Time: s.Time.UTC().Format(TimeFormat)}
	if !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
		v := s.Value
		j.Value = &v
	}
	if int(s.Cause) < len(causes) {
		j.Cause = &causes[s.Cause]
	} else {
		c := s.Cause
		j.Cause = &c
	}
	return j
}

// OmitNoCause leaves the cause out when there is none (the uplink's form).
func (j SampleJSON) OmitNoCause() SampleJSON {
	if j.Cause != nil && *j.Cause == CauseNone {
		j.Cause = nil
	}
	return j
}

// Classify applies SPEC §4's range rule to a decoded value: good inside
// [lo, hi]; uncertain/range down to 2.5 % of the span below it and up to
// 6.25 % above it (NAMUR NE 43 on 4–20 mA: 3.6–3.8 mA and 20.5–21.0 mA, a
// saturated signal, still a measurement); bad/range further out (a failed
// sensor). A zero span (lo == hi) means no range: always good.
func Classify(v, lo, hi float64) (Quality, Cause) {
	if lo == hi {
		return Good, CauseNone
	}
	if v >= lo && v <= hi {
		return Good, CauseNone
	}
	span := hi - lo
	if v >= lo-NE43Below*span && v <= hi+NE43Above*span {
		return Uncertain, CauseRange
	}
	return Bad, CauseRange
}

// The NAMUR NE 43 saturation bands as fractions of the span (SPEC §4): a
// 4–20 mA signal down to 3.6 mA or up to 21.0 mA.
const (
	NE43Below = 0.025
	NE43Above = 0.0625
)

// Sink receives batches of samples from a driver. It may block to apply
// back-pressure (the engine's input queue is full); it never drops. The
// batch belongs to the sink after the call.
type Sink func(batch []Sample)
