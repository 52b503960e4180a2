package consoletest

import (
	"bytes"
	"strconv"
)

// FirstValue finds the first "value": number in a frame without decoding
// all of it (a load test's readers must not be its bottleneck). ok is false
// when the frame has no "value" or it is not a number (null, say).
func FirstValue(frame []byte) (v float64, ok bool) {
	i := bytes.Index(frame, []byte(`"value":`))
	if i < 0 {
		return 0, false
	}
	frame = frame[i+len(`"value":`):]
	j := bytes.IndexAny(frame, ",}")
	if j < 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(frame[:j]), 64)
	return v, err == nil
}
