package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"hazardgw/drivers/modbus/pty"
)

// rtuBus is one simulated RS-485 line: a socat pty pair whose gateway end
// is the devices' address; the simulator answers on the other end for
// every unit of the devices configured on that address.
type rtuBus struct {
	plant *Plant
	path  string // the gateway's end (a symlink made by socat)
	units map[uint8]*device

	pair *pty.Pair
	f    *os.File
}

// buildBuses collects the rtu devices by address when [simulator] rtu is
// set.
func (p *Plant) buildBuses() ([]*rtuBus, error) {
	if p.cfg.Simulator == nil || !p.cfg.Simulator.RTU {
		return nil, nil
	}
	byPath := map[string]*rtuBus{}
	var out []*rtuBus
	for i := range p.cfg.Devices {
		d := &p.cfg.Devices[i]
		if d.Driver != "modbus" || d.Transport != "rtu" {
			continue
		}
		unit := 1
		if d.Unit != nil {
			unit = *d.Unit
		}
		if unit < 1 || unit > 247 {
			return nil, fmt.Errorf("device %s: rtu unit %d out of 1..247", d.ID, unit)
		}
		b := byPath[d.Address]
		if b == nil {
			b = &rtuBus{plant: p, path: d.Address, units: map[uint8]*device{}}
			byPath[d.Address] = b
			out = append(out, b)
		}
		if other, dup := b.units[uint8(unit)]; dup {
			return nil, fmt.Errorf("device %s: unit %d on %s is already device %s", d.ID, unit, d.Address, other.cfg.ID)
		}
		b.units[uint8(unit)] = p.devices[d.ID]
	}
	return out, nil
}

// start makes the pty pair and opens the simulator's end.
func (b *rtuBus) start() error {
	if fi, err := os.Lstat(b.path); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("simulated rtu line %s: the address exists and is not a symlink (a real device?): refusing to replace it", b.path)
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o755); err != nil {
		return fmt.Errorf("simulated rtu line %s: %w", b.path, err)
	}
	pair, err := pty.Start(b.path, b.path+".sim")
	if err != nil {
		return fmt.Errorf("simulated rtu line %s: %w", b.path, err)
	}
	b.pair = pair
	if b.f, err = pty.OpenRaw(pair.B); err != nil {
		b.kill()
		return fmt.Errorf("simulated rtu line %s: %w", b.path, err)
	}
	return nil
}

func (b *rtuBus) kill() {
	if b.pair != nil {
		b.pair.Close()
	}
}

// stop closes the simulator's end and ends socat (which removes its links).
func (b *rtuBus) stop() {
	if b.f != nil {
		_ = b.f.SetReadDeadline(time.Now())
		_ = b.f.Close()
	}
	b.kill()
}

// serve answers request frames until the pty is closed or ctx ends. A
// frame for an unknown unit, a unit in comm loss, a broadcast or with a bad
// CRC gets no answer, as on a real line.
func (b *rtuBus) serve(ctx context.Context) {
	serveRTU(ctx, b.f, func(unit uint8, pdu []byte) []byte {
		d := b.units[unit]
		if d == nil {
			return nil
		}
		p := b.plant
		p.mu.Lock()
		lost := p.lostLocked(d, p.now())
		p.mu.Unlock()
		if lost {
			return nil
		}
		return p.answer(d, pdu)
	})
}

// serveRTU reads frames from rw (their length known from the function
// code) and writes the answers handle gives.
func serveRTU(ctx context.Context, rw io.ReadWriter, handle func(unit uint8, pdu []byte) []byte) {
	var buf []byte
	tmp := make([]byte, 512)
	for ctx.Err() == nil {
		n, err := rw.Read(tmp)
		if err != nil && n == 0 {
			return // closed at shutdown
		}
		buf = append(buf, tmp[:n]...)
		for len(buf) >= 2 {
			need := reqLength(buf)
			if need < 0 {
				buf = buf[:0] // unknown function: resynchronise on the next frame
				break
			}
			if len(buf) < need {
				break
			}
			frame := buf[:need]
			if crc16(frame[:need-2]) != binary.LittleEndian.Uint16(frame[need-2:]) {
				buf = buf[:0]
				break
			}
			if frame[0] != 0 {
				if res := handle(frame[0], frame[1:need-2]); res != nil {
					out := append([]byte{frame[0]}, res...)
					out = binary.LittleEndian.AppendUint16(out, crc16(out))
					_, _ = rw.Write(out)
				}
			}
			buf = append(buf[:0], buf[need:]...)
		}
	}
}

// reqLength is the length of the request frame at the start of buf (unit,
// function, data, CRC), or a lower bound while the length byte of FC15/16
// has not arrived; -1 for an unsupported function.
func reqLength(buf []byte) int {
	switch buf[1] {
	case 1, 2, 3, 4, 5, 6:
		return 8
	case 15, 16:
		if len(buf) < 7 {
			return 7
		}
		return 9 + int(buf[6])
	}
	return -1
}

// answer executes one request PDU (function code first) on device d and
// returns the response PDU, or an exception.
func (p *Plant) answer(d *device, pdu []byte) []byte {
	fc := pdu[0]
	exc := func(code byte) []byte { return []byte{fc | 0x80, code} }
	if len(pdu) < 5 {
		return exc(3)
	}
	addr, qty := binary.BigEndian.Uint16(pdu[1:3]), binary.BigEndian.Uint16(pdu[3:5])
	now := p.now()
	switch fc {
	case 1, 2:
		if qty == 0 || qty > 2000 || int(addr)+int(qty) > 0x10000 {
			return exc(3)
		}
		table := map[byte]string{1: "coil", 2: "discrete"}[fc]
		bits := p.bits(d, table, addr, qty, now)
		out := make([]byte, 2+(len(bits)+7)/8)
		out[0], out[1] = fc, byte((len(bits)+7)/8)
		for i, v := range bits {
			if v {
				out[2+i/8] |= 1 << (i % 8)
			}
		}
		return out
	case 3, 4:
		if qty == 0 || qty > 125 || int(addr)+int(qty) > 0x10000 {
			return exc(3)
		}
		table := map[byte]string{3: "holding", 4: "input"}[fc]
		words := p.words(d, table, addr, qty, now)
		out := []byte{fc, byte(2 * len(words))}
		for _, w := range words {
			out = binary.BigEndian.AppendUint16(out, w)
		}
		return out
	case 5:
		p.mu.Lock()
		d.coils[addr] = qty == 0xFF00
		p.mu.Unlock()
		return pdu[:5]
	case 6:
		p.mu.Lock()
		d.regs[addr] = qty
		p.mu.Unlock()
		return pdu[:5]
	case 15, 16:
		if len(pdu) < 6 || len(pdu) < 6+int(pdu[5]) {
			return exc(3)
		}
		data := pdu[6 : 6+int(pdu[5])]
		p.mu.Lock()
		for i := range int(qty) {
			a := addr + uint16(i)
			if fc == 15 && i/8 < len(data) {
				d.coils[a] = data[i/8]&(1<<(i%8)) != 0
			} else if fc == 16 && 2*i+1 < len(data) {
				d.regs[a] = binary.BigEndian.Uint16(data[2*i:])
			}
		}
		p.mu.Unlock()
		return pdu[:5]
	}
	return exc(1)
}

// crc16 is the Modbus RTU CRC (poly 0xA001, init 0xFFFF).
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
