package drivers

import (
	"fmt"
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
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// MarshalText writes the SPEC spelling ("" for none).
func (c Cause) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads the SPEC spelling.
func (c *Cause) UnmarshalText(b []byte) error {
	for x := CauseNone; x <= CauseDecode; x++ {
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

// Classify applies SPEC §4's range rule to a decoded value: good inside
// [lo, hi], uncertain/range within 2.5 % of the span outside it (NAMUR NE 43),
// bad/range further out. A zero span (lo == hi) means no range: always good.
func Classify(v, lo, hi float64) (Quality, Cause) {
	if lo == hi {
		return Good, CauseNone
	}
	if v >= lo && v <= hi {
		return Good, CauseNone
	}
	band := 0.025 * (hi - lo)
	if v >= lo-band && v <= hi+band {
		return Uncertain, CauseRange
	}
	return Bad, CauseRange
}

// Sink receives batches of samples from a driver. It may block to apply
// back-pressure (the engine's input queue is full); it never drops. The
// batch belongs to the sink after the call.
type Sink func(batch []Sample)
