package rtuslave

import (
	"bytes"
	"testing"
)

// TestCRC checks the CRC against the worked example of the Modbus serial
// line guide: read holding registers, unit 1, address 0, quantity 1.
func TestCRC(t *testing.T) {
	if got := ADU(1, []byte{0x03, 0x00, 0x00, 0x00, 0x01}); !bytes.Equal(got, []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A}) {
		t.Fatalf("ADU = % x", got)
	}
}

// chunks is a reader giving one chunk per Read, as a serial line does.
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, bytes.ErrTooLarge
	}
	n := copy(p, (*c)[0])
	*c = (*c)[1:]
	return n, nil
}

func TestServeFramesAcrossReads(t *testing.T) {
	read := ADU(1, []byte{0x03, 0x00, 0x00, 0x00, 0x02})
	write := ADU(2, []byte{0x10, 0x00, 0x05, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02})
	bad := ADU(3, []byte{0x06, 0x00, 0x01, 0x00, 0x03})
	bad[len(bad)-1] ^= 0xFF
	cases := []struct {
		name  string
		in    chunks
		units []byte
	}{
		{"one frame per read", chunks{read, write}, []byte{1, 2}},
		{"split inside the FC16 byte count", chunks{write[:6], write[6:], read}, []byte{2, 1}},
		{"two frames in one read", chunks{append(append([]byte{}, read...), write...)}, []byte{1, 2}},
		{"bad CRC dropped, next frame served", chunks{bad, read}, []byte{1}},
		{"unknown function dropped", chunks{ADU(1, []byte{0x2B, 0x0E, 0x01, 0x00}), write}, []byte{2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []byte
			in := c.in
			Serve(&in, func() bool { return false }, func(f []byte) { got = append(got, f[0]) })
			if !bytes.Equal(got, c.units) {
				t.Fatalf("served units %v, want %v", got, c.units)
			}
		})
	}
}
