package sim

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"hazardgw/drivers/modbus/rtuslave"
)

// rwBuf is a ReadWriter over fixed input; Read returns EOF at the end.
type rwBuf struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (b *rwBuf) Read(p []byte) (int, error)  { return b.in.Read(p) }
func (b *rwBuf) Write(p []byte) (int, error) { return b.out.Write(p) }

var _ io.ReadWriter = (*rwBuf)(nil)

// FuzzRTU feeds arbitrary bytes from the line to the RTU slave: it must
// never panic, and every answer it writes carries a valid CRC.
func FuzzRTU(f *testing.F) {
	cfg := loadConfig(f, "testdata/modbus.toml", 1502)
	p, err := New(cfg, Options{})
	if err != nil {
		f.Fatal(err)
	}
	d := p.devices["A"]
	frame := func(b ...byte) []byte { return binary.LittleEndian.AppendUint16(b, rtuslave.CRC(b)) }
	f.Add(frame(1, 3, 0, 0, 0, 22))
	f.Add(frame(1, 2, 0, 0, 0, 8))
	f.Add(frame(1, 16, 0, 30, 0, 2, 4, 0, 1, 0, 2))
	f.Add(frame(1, 15, 0, 0, 0, 3, 1, 5))
	f.Add(append(frame(1, 4, 0, 0, 0, 2), frame(1, 1, 0, 0, 7, 208)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		rw := &rwBuf{in: bytes.NewReader(data)}
		b := &rtuBus{plant: p, units: map[uint8]*device{1: d}}
		rtuslave.Serve(rw, func() bool { return false }, func(frame []byte) {
			if r := b.reply(frame); r != nil {
				rw.Write(r)
			}
		})
		out := rw.out.Bytes()
		for len(out) > 0 {
			// Answers are unit, fc, then: exception code | byte count + data
			// | addr + qty/value (writes).
			if len(out) < 5 {
				t.Fatalf("short answer % x", out)
			}
			n := 5
			switch fc := out[1]; {
			case fc&0x80 != 0:
				n = 5
			case fc <= 4:
				n = 3 + int(out[2]) + 2
			default:
				n = 8
			}
			if n > len(out) {
				t.Fatalf("answer % x shorter than its length %d", out, n)
			}
			if rtuslave.CRC(out[:n-2]) != binary.LittleEndian.Uint16(out[n-2:n]) {
				t.Fatalf("answer % x has a bad CRC", out[:n])
			}
			out = out[n:]
		}
	})
}
