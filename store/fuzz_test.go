package store

import (
	"testing"
	"time"

	"hazardgw/drivers"
)

// FuzzRecord feeds arbitrary bytes (a damaged outbox) to the record
// decoders: they may refuse, never panic or allocate without bound.
func FuzzRecord(f *testing.F) {
	pl := encodeBlock(nil, []drivers.Sample{{Point: "A", Value: 1, Time: time.Unix(1, 0)}}, []uint32{0})
	f.Add(frame(nil, pl))
	f.Add(frame(nil, encodeDict(nil, 0, "A", "D")))
	f.Add(frame(nil, []byte(`E{"seq":1}`)))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 'S'})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := unframe(b)
		if err != nil {
			// Decode the raw bytes too, as if the CRC had matched.
			if len(b) == 0 {
				return
			}
			p = b
		}
		entries(p)
		switch p[0] {
		case recDict:
			decodeDict(p)
		case recSample:
			decodeBlock(nil, p, 0, maxBlock, []dictEntry{{"A", "D"}})
		}
	})
}
