package modbus

import (
	"encoding/binary"
	"fmt"

	gmb "github.com/goburrow/modbus"

	"hazardgw/drivers/modbus/rtuslave"
)

// framer frames the transactions of one device: Modbus TCP (MBAP header,
// a transaction id per request) or RTU (unit, PDU, CRC), with the checks of
// goburrow's TCP and RTU packagers and the same "modbus: " errors (classify
// counts them as framing). Polls frame their reads with frame and check the
// replies with reply, allocating nothing; writes go through goburrow's
// client, for which framer is the Packager. Used by the bus goroutine only
// (Probe's caller instead of Run).
type framer struct {
	unit byte
	rtu  bool
	tid  uint16 // TCP: id of the last request
}

var _ gmb.Packager = (*framer)(nil)

// maxRequest is the longest read request ADU (TCP: 7 header + 5 PDU).
const maxRequest = 12

// frame appends the ADU of a request (function fc, data) to dst[:0].
func (f *framer) frame(dst []byte, fc byte, data []byte) []byte {
	if f.rtu {
		dst = append(append(dst[:0], f.unit, fc), data...)
		return binary.LittleEndian.AppendUint16(dst, rtuslave.CRC(dst))
	}
	f.tid++
	n := 2 + len(data) // unit, function, data
	dst = append(dst[:0], byte(f.tid>>8), byte(f.tid), 0, 0, byte(n>>8), byte(n), f.unit, fc)
	return append(dst, data...)
}

// reply checks res as the answer to req and returns its function code and
// data (a slice of res).
func (f *framer) reply(req, res []byte) (byte, []byte, error) {
	if err := f.Verify(req, res); err != nil {
		return 0, nil, err
	}
	return f.decode(res)
}

// Encode is frame for goburrow's client.
func (f *framer) Encode(pdu *gmb.ProtocolDataUnit) ([]byte, error) {
	if n := len(pdu.Data) + 4; f.rtu && n > 256 {
		return nil, fmt.Errorf("modbus: length of data '%v' must not be bigger than '%v'", n, 256)
	}
	return f.frame(make([]byte, 0, 8+len(pdu.Data)), pdu.FunctionCode, pdu.Data), nil
}

// Verify checks the ids of a reply: transaction, protocol and unit (TCP),
// or the unit and the least length (RTU).
func (f *framer) Verify(req, res []byte) error {
	if f.rtu {
		if len(res) < 4 {
			return fmt.Errorf("modbus: response length '%v' does not meet minimum '%v'", len(res), 4)
		}
		if res[0] != req[0] {
			return fmt.Errorf("modbus: response slave id '%v' does not match request '%v'", res[0], req[0])
		}
		return nil
	}
	if len(res) < 8 {
		return fmt.Errorf("modbus: response length '%v' does not meet minimum '%v'", len(res), 8)
	}
	if a, b := binary.BigEndian.Uint16(res), binary.BigEndian.Uint16(req); a != b {
		return fmt.Errorf("modbus: response transaction id '%v' does not match request '%v'", a, b)
	}
	if a, b := binary.BigEndian.Uint16(res[2:]), binary.BigEndian.Uint16(req[2:]); a != b {
		return fmt.Errorf("modbus: response protocol id '%v' does not match request '%v'", a, b)
	}
	if res[6] != req[6] {
		return fmt.Errorf("modbus: response unit id '%v' does not match request '%v'", res[6], req[6])
	}
	return nil
}

// Decode is decode for goburrow's client.
func (f *framer) Decode(adu []byte) (*gmb.ProtocolDataUnit, error) {
	fc, data, err := f.decode(adu)
	if err != nil {
		return nil, err
	}
	return &gmb.ProtocolDataUnit{FunctionCode: fc, Data: data}, nil
}

// decode checks the length (TCP) or CRC (RTU) of a verified reply and
// returns its function code and data.
func (f *framer) decode(adu []byte) (byte, []byte, error) {
	if f.rtu {
		n := len(adu)
		got, want := binary.LittleEndian.Uint16(adu[n-2:]), rtuslave.CRC(adu[:n-2])
		if got != want {
			return 0, nil, fmt.Errorf("modbus: response crc '%v' does not match expected '%v'", got, want)
		}
		return adu[1], adu[2 : n-2], nil
	}
	length := binary.BigEndian.Uint16(adu[4:])
	if n := len(adu) - 7; n <= 0 || n != int(length-1) {
		return 0, nil, fmt.Errorf("modbus: length in response '%v' does not match pdu data length '%v'", length-1, n)
	}
	return adu[7], adu[8:], nil
}

// readReply checks the PDU of a read's reply as goburrow's client does (an
// exception, an empty reply, a byte count that is not the data's) and
// returns the registers or bits.
func readReply(fc, gotFC byte, data []byte) ([]byte, error) {
	if gotFC != fc {
		me := &gmb.ModbusError{FunctionCode: gotFC}
		if len(data) > 0 {
			me.ExceptionCode = data[0]
		}
		return nil, me
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("modbus: response data is empty")
	}
	if count, n := int(data[0]), len(data)-1; count != n {
		return nil, fmt.Errorf("modbus: response data size '%v' does not match count '%v'", n, count)
	}
	return data[1:], nil
}
