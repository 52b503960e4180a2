// Package rtuslave reads Modbus RTU request frames as a slave sees them on
// a serial line, and frames the answers. The simulated plant's RTU lines
// (gateway/sim) and the test slaves (drivers/modbus/modbustest) share it;
// what a slave answers is theirs.
//
// # Concurrency
//
// Serve runs in its caller's goroutine and calls handle from it.
//
// # Shutdown
//
// Serve returns when a read fails (the line was closed) or stop reports
// true after a read.
package rtuslave

import (
	"encoding/binary"
	"io"
)

// Serve reads request frames from r (their length known from the function
// code) and calls handle with each whole frame (unit, PDU, CRC) whose CRC
// is right. A frame with a bad CRC or an unknown function is discarded with
// whatever follows it in the buffer, so the reader resynchronises on the
// next frame, as a slave on a noisy line does.
func Serve(r io.Reader, stop func() bool, handle func(frame []byte)) {
	var buf []byte
	tmp := make([]byte, 512)
	for {
		n, err := r.Read(tmp)
		if stop() || err != nil && n == 0 {
			return
		}
		buf = append(buf, tmp[:n]...)
		for len(buf) >= 2 {
			need := Length(buf)
			if need < 0 {
				buf = buf[:0]
				break
			}
			if len(buf) < need {
				break
			}
			frame := buf[:need]
			if CRC(frame[:need-2]) != binary.LittleEndian.Uint16(frame[need-2:]) {
				buf = buf[:0]
				break
			}
			handle(frame)
			buf = append(buf[:0], buf[need:]...)
		}
	}
}

// Length is the length of the request frame at the start of b (unit,
// function, data, CRC), or a lower bound while the byte count of FC15/16
// has not arrived; -1 for a function a slave here does not know.
func Length(b []byte) int {
	switch fc := b[1]; {
	case fc >= 1 && fc <= 6:
		return 8
	case fc == 15 || fc == 16:
		if len(b) < 7 {
			return 7
		}
		return 9 + int(b[6])
	}
	return -1
}

// ADU frames a reply: unit, PDU, CRC.
func ADU(unit byte, pdu []byte) []byte {
	adu := append([]byte{unit}, pdu...)
	return binary.LittleEndian.AppendUint16(adu, CRC(adu))
}

// CRC is the Modbus RTU CRC-16 (polynomial 0xA001, initial 0xFFFF).
func CRC(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c ^= uint16(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
	}
	return c
}
