package modbus

import (
	"bytes"
	"testing"

	gmb "github.com/goburrow/modbus"
)

// sendFunc is a goburrow Transporter that answers with a fixed reply.
type sendFunc func(req []byte) ([]byte, error)

func (f sendFunc) Send(req []byte) ([]byte, error) { return f(req) }

// TestFramerLikeGoburrow: the driver's own framing of a read (holding 8+3,
// unit 7) sends what goburrow's client and packagers send, and takes or
// refuses each reply as they do: the same registers, or an error of the
// same kind (framing, exception).
func TestFramerLikeGoburrow(t *testing.T) {
	type reply struct {
		name   string
		pdu    gmb.ProtocolDataUnit
		mangle func(adu []byte) // nil: as framed
		want   result
	}
	good := gmb.ProtocolDataUnit{FunctionCode: 3, Data: []byte{6, 0, 1, 0, 2, 0, 3}}
	flip := func(i int) func([]byte) {
		return func(adu []byte) {
			if i < 0 {
				i += len(adu)
			}
			adu[i] ^= 1
		}
	}
	common := []reply{
		{"good", good, nil, resOK},
		{"exception", gmb.ProtocolDataUnit{FunctionCode: 0x83, Data: []byte{2}}, nil, resException},
		{"byte count", gmb.ProtocolDataUnit{FunctionCode: 3, Data: []byte{4, 0, 1, 0, 2, 0, 3}}, nil, resFraming},
		{"empty", gmb.ProtocolDataUnit{FunctionCode: 3}, nil, resFraming},
	}
	for _, rtu := range []bool{false, true} {
		cases := append([]reply(nil), common...)
		newPackager := func() gmb.Packager {
			h := &gmb.TCPClientHandler{}
			h.SlaveId = 7
			return h
		}
		if rtu {
			newPackager = func() gmb.Packager {
				h := &gmb.RTUClientHandler{}
				h.SlaveId = 7
				return h
			}
			cases = append(cases, reply{"wrong unit", good, flip(0), resFraming}, reply{"bad crc", good, flip(-1), resFraming})
		} else {
			cases = append(cases, reply{"wrong unit", good, flip(6), resFraming}, reply{"wrong transaction", good, flip(1), resFraming},
				reply{"wrong length", good, flip(5), resFraming})
		}
		for _, tc := range cases {
			t.Run(map[bool]string{false: "tcp", true: "rtu"}[rtu]+"/"+tc.name, func(t *testing.T) {
				// A reply framed by a packager one request in, as the
				// slave answers the first request.
				adu, err := newPackager().Encode(&tc.pdu)
				if err != nil {
					t.Fatal(err)
				}
				if tc.mangle != nil {
					tc.mangle(adu)
				}
				var gbReq []byte
				c := gmb.NewClient2(newPackager(), sendFunc(func(req []byte) ([]byte, error) {
					gbReq = append([]byte(nil), req...)
					return append([]byte(nil), adu...), nil
				}))
				gbRes, gbErr := c.ReadHoldingRegisters(8, 3)

				f := framer{unit: 7, rtu: rtu}
				req := f.frame(nil, 3, []byte{0, 8, 0, 3})
				if !bytes.Equal(req, gbReq) {
					t.Fatalf("request % x, goburrow sends % x", req, gbReq)
				}
				fc, data, err := f.reply(req, adu)
				var res []byte
				if err == nil {
					res, err = readReply(3, fc, data)
				}
				got, _ := classify(err, 3)
				gbKind, _ := classify(gbErr, 3)
				if got != tc.want || gbKind != tc.want {
					t.Errorf("result %s (%v), goburrow %s (%v), want %s", got, err, gbKind, gbErr, tc.want)
				}
				if !bytes.Equal(res, gbRes) {
					t.Errorf("registers % x, goburrow % x", res, gbRes)
				}
				if got == resException {
					var me *gmb.ModbusError
					_, me = classify(err, 3)
					if me.ExceptionCode != 2 {
						t.Errorf("exception code %d, want 2", me.ExceptionCode)
					}
				}
			})
		}
	}
}
