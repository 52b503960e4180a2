package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers/modbus/pty"
	"hazardgw/drivers/modbus/rtuslave"
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
	groups, err := p.unitsByAddress(func(d *configs.Device) bool {
		return d.Driver == "modbus" && d.Transport == "rtu"
	})
	if err != nil {
		return nil, err
	}
	out := make([]*rtuBus, len(groups))
	for i, g := range groups {
		if _, broadcast := g.units[0]; broadcast {
			return nil, fmt.Errorf("rtu line %s: unit 0 is the broadcast address", g.addr)
		}
		out[i] = &rtuBus{plant: p, path: g.addr, units: g.units}
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
	rtuslave.Serve(b.f, func() bool { return ctx.Err() != nil }, func(frame []byte) {
		if r := b.reply(frame); r != nil {
			_, _ = b.f.Write(r)
		}
	})
}

// reply is the answer ADU to one request frame, or nil when the line stays
// silent: a broadcast (unit 0), a unit not on this line, a unit in comm
// loss.
func (b *rtuBus) reply(frame []byte) []byte {
	d := b.units[frame[0]]
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
	return rtuslave.ADU(frame[0], p.answer(d, frame[1:len(frame)-2]))
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
