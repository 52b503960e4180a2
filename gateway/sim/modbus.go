package sim

import (
	"fmt"
	"io"
	"log"
	"time"

	"hazardgw/configs"

	"github.com/simonvetter/modbus"
)

// slave is one Modbus TCP server on one address, answering for the unit
// ids of every simulated device configured on that address.
type slave struct {
	plant *Plant
	addr  string
	units map[uint8]*device
	srv   *modbus.ModbusServer
}

// buildSlaves groups the loopback Modbus TCP devices by address. Devices
// on other addresses or transports are left alone: the simulator never
// impersonates a real device on the network.
func (p *Plant) buildSlaves() ([]*slave, error) {
	groups, err := p.unitsByAddress(func(d *configs.Device) bool {
		if d.Driver != "modbus" || (d.Transport != "tcp" && d.Transport != "") {
			return false
		}
		if !configs.Loopback(d.Address) {
			p.log.Info("simulator skips a device that is not on loopback", "device", d.ID, "address", d.Address)
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make([]*slave, len(groups))
	for i, g := range groups {
		out[i] = &slave{plant: p, addr: g.addr, units: g.units}
	}
	for _, s := range out {
		srv, err := modbus.NewServer(&modbus.ServerConfiguration{
			URL:        "tcp://" + s.addr,
			Timeout:    5 * time.Minute, // idle client connections
			MaxClients: 256,             // masters reconnecting during comm loss
			Logger:     log.New(io.Discard, "", 0),
		}, s)
		if err != nil {
			return nil, fmt.Errorf("modbus slave %s: %w", s.addr, err)
		}
		s.srv = srv
	}
	return out, nil
}

// unitGroup is the simulated devices that share one address, by unit.
type unitGroup struct {
	addr  string
	units map[uint8]*device
}

// unitsByAddress groups the devices keep selects by address, in config
// order. Unit ranges and duplicates were checked by the config loader; a
// unit twice on one address is checked again here because a plant may be
// built from a config assembled in code.
func (p *Plant) unitsByAddress(keep func(*configs.Device) bool) ([]unitGroup, error) {
	var out []unitGroup
	at := map[string]int{}
	for i := range p.cfg.Devices {
		d := &p.cfg.Devices[i]
		if !keep(d) {
			continue
		}
		unit := 1
		if d.Unit != nil {
			unit = *d.Unit
		}
		if unit < 0 || unit > 247 {
			return nil, fmt.Errorf("device %s: unit %d out of 0..247", d.ID, unit)
		}
		gi, ok := at[d.Address]
		if !ok {
			gi = len(out)
			at[d.Address] = gi
			out = append(out, unitGroup{addr: d.Address, units: map[uint8]*device{}})
		}
		if other, dup := out[gi].units[uint8(unit)]; dup {
			return nil, fmt.Errorf("device %s: unit %d on %s is already device %s", d.ID, unit, d.Address, other.cfg.ID)
		}
		out[gi].units[uint8(unit)] = p.devices[d.ID]
	}
	return out, nil
}

func (s *slave) listen() error {
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("simulated modbus slave %s: %w", s.addr, err)
	}
	return nil
}

func (s *slave) stop() { _ = s.srv.Stop() }

// device returns the device serving unit, after holding the request for
// as long as the device is in comm loss (bounded by MaxHold and shutdown).
func (s *slave) device(unit uint8) (*device, error) {
	d := s.units[unit]
	if d == nil {
		return nil, modbus.ErrGWTargetFailedToRespond
	}
	p := s.plant
	deadline := time.NewTimer(p.maxHold)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		p.mu.Lock()
		lost := p.lostLocked(d, p.now())
		p.mu.Unlock()
		if !lost {
			return d, nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return nil, modbus.ErrGWTargetFailedToRespond
		case <-p.done:
			return nil, modbus.ErrServerDeviceBusy
		}
	}
}

// words builds the register image [addr, addr+qty) of one table
// ("holding" or "input") of device d at now.
func (p *Plant) words(d *device, table string, addr, qty uint16, now time.Time) []uint16 {
	out := make([]uint16, qty)
	end := int(addr) + int(qty)
	p.mu.Lock()
	defer p.mu.Unlock()
	var buf [4]uint16
	for _, pt := range d.points {
		c := pt.cfg
		if c.Register != table || c.Address == nil {
			continue
		}
		n := Words(c.Type)
		a := *c.Address
		if a+n <= int(addr) || a >= end {
			continue
		}
		v := p.valueLocked(pt, now)
		if c.Bit != nil {
			// One bit of a status word; the other bits come from the
			// word's other points.
			if i := a - int(addr); v != 0 {
				out[i] |= 1 << uint(*c.Bit)
			}
			continue
		}
		if err := Encode(c, v, buf[:n]); err != nil {
			continue // New's config validation keeps this from happening
		}
		for k := range n {
			if i := a + k - int(addr); i >= 0 && i < int(qty) {
				out[i] |= buf[k]
			}
		}
	}
	if table == "holding" {
		for a, v := range d.regs {
			if a >= addr && int(a) < end {
				out[a-addr] = v
			}
		}
	}
	return out
}

// bits builds the bit image [addr, addr+qty) of "coil" or "discrete".
func (p *Plant) bits(d *device, table string, addr, qty uint16, now time.Time) []bool {
	out := make([]bool, qty)
	end := int(addr) + int(qty)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pt := range d.points {
		c := pt.cfg
		if c.Register != table || c.Address == nil || *c.Address < int(addr) || *c.Address >= end {
			continue
		}
		out[*c.Address-int(addr)] = p.valueLocked(pt, now) != 0
	}
	if table == "coil" {
		for a, v := range d.coils {
			if a >= addr && int(a) < end {
				out[a-addr] = v
			}
		}
	}
	return out
}

// HandleCoils serves FC01 reads and FC05/FC15 writes (a linkage output
// driving a fan or a sounder): a written coil keeps its value until the
// plant stops, over the simulated one. A device that refuses writes
// answers exception 01 (illegal function).
func (s *slave) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	var write func(*device) error
	if req.IsWrite {
		write = func(d *device) error { return s.plant.writeCoils(d, req.Addr, req.Args) }
	}
	return serve(s, req.UnitId, "coil", req.Addr, req.Quantity, (*Plant).bits, write)
}

// HandleDiscreteInputs serves FC02.
func (s *slave) HandleDiscreteInputs(req *modbus.DiscreteInputsRequest) ([]bool, error) {
	return serve(s, req.UnitId, "discrete", req.Addr, req.Quantity, (*Plant).bits, nil)
}

// HandleHoldingRegisters serves FC03 reads and FC06/FC16 writes (kept as
// raw words over the simulated values until the plant stops).
func (s *slave) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	var write func(*device) error
	if req.IsWrite {
		write = func(d *device) error { return s.plant.writeHolding(d, req.Addr, req.Args) }
	}
	return serve(s, req.UnitId, "holding", req.Addr, req.Quantity, (*Plant).words, write)
}

// HandleInputRegisters serves FC04.
func (s *slave) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	return serve(s, req.UnitId, "input", req.Addr, req.Quantity, (*Plant).words, nil)
}

// serve answers one request to unit: write (nil for a read) first, then
// qty values of table from addr as the plant has them now.
func serve[T any](s *slave, unit uint8, table string, addr, qty uint16,
	read func(p *Plant, d *device, table string, addr, qty uint16, now time.Time) []T,
	write func(*device) error) ([]T, error) {
	d, err := s.device(unit)
	if err != nil {
		return nil, err
	}
	if write != nil {
		if err := write(d); err != nil {
			return nil, err
		}
	}
	return read(s.plant, d, table, addr, qty, s.plant.now()), nil
}

// writeCoils keeps written coils, unless d refuses writes
// (modbus.ErrIllegalFunction); the refusal is checked under the same lock.
func (p *Plant) writeCoils(d *device, addr uint16, vals []bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d.refuse {
		return modbus.ErrIllegalFunction
	}
	p.writeCoilsLocked(d, addr, vals, p.now())
	return nil
}

// writeHolding keeps written holding registers as raw words, unless d
// refuses writes (modbus.ErrIllegalFunction).
func (p *Plant) writeHolding(d *device, addr uint16, vals []uint16) error {
	p.mu.Lock()
	refuse := d.refuse
	p.mu.Unlock()
	if refuse {
		return modbus.ErrIllegalFunction
	}
	keep(p, d.regs, addr, vals)
	return nil
}

// keep stores written values from addr on, under the plant's lock.
func keep[T any](p *Plant, m map[uint16]T, addr uint16, vals []T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, v := range vals {
		m[addr+uint16(i)] = v
	}
}

var _ modbus.RequestHandler = (*slave)(nil)
