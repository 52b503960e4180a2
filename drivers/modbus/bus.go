package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	gmb "github.com/goburrow/modbus"

	"hazardgw/drivers"
)

// device is one Modbus slave (a unit on a bus) and its poll state. The
// schedule fields are owned by the bus goroutine; the health fields are
// guarded by mu.
type device struct {
	id        string
	unit      byte
	interval  time.Duration
	timeout   time.Duration
	commAfter int
	points    []*point
	reqs      []*request
	client    gmb.Client
	m         *devMetrics

	// Owned by the bus goroutine.
	due     time.Time
	fails   int // consecutive failed polls
	demote  drivers.Backoff
	badAddr map[*request]bool // requests refused with "illegal address", logged once

	mu     sync.Mutex
	health drivers.Health
	stats  DeviceStats
}

// down reports whether the device is demoted (bus goroutine only).
func (d *device) down() bool { return d.fails >= d.commAfter }

// bus is one connection or serial line and the devices on it. One goroutine
// (run) owns the transport: polls and writes never overlap.
type bus struct {
	name      string
	tr        transport
	devices   []*device
	writes    chan *writeJob
	log       *slog.Logger
	maxDemote time.Duration
	// now is the clock of sample times and of the poll schedule
	// (Options.Now). Round-trip times are measured on the monotonic clock.
	now func() time.Time

	// sig is what the bus polls (transport, devices, their points as
	// compiled): Reload keeps a running bus whose sig did not change.
	sig string
	// stop (set by Driver.start, under Driver.mu) cancels run; done is
	// closed when run returned (the transport is closed).
	stop context.CancelFunc
	done chan struct{}
}

type writeJob struct {
	dev  *device
	kind Kind
	addr int
	regs []byte // registers to write (holding) or nil for a coil
	on   bool   // coil value
	bit  int    // >= 0: read-modify-write of this bit of the register
	done chan error
}

// run polls the bus's devices until ctx ends, then closes the transport.
func (b *bus) run(ctx context.Context, sink drivers.Sink) {
	defer b.tr.Close()
	now := b.now()
	for i, d := range b.devices {
		// Spread the first polls of a shared bus over its shortest interval.
		d.due = now.Add(time.Duration(i) * d.interval / time.Duration(len(b.devices)))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := b.now()
		d, wait := pick(b.devices, now, b.maxDemote)
		if d != nil {
			b.poll(d, sink)
			// Writes waiting behind a poll go next.
			for {
				select {
				case w := <-b.writes:
					w.done <- b.write(w)
					continue
				default:
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case w := <-b.writes:
			if !timer.Stop() {
				<-timer.C
			}
			w.done <- b.write(w)
		case <-timer.C:
		}
	}
}

// pick chooses the device to poll at now, or how long to wait. A device
// that is up and due goes first (earliest due first). A demoted device that
// is due is probed only when a full timeout fits before the next healthy
// poll, so a dead slave never delays a live one; after maxDemote of waiting
// it is probed regardless.
func pick(devs []*device, now time.Time, maxDemote time.Duration) (*device, time.Duration) {
	var up, dn *device
	for _, d := range devs {
		if d.down() {
			if dn == nil || d.due.Before(dn.due) {
				dn = d
			}
		} else if up == nil || d.due.Before(up.due) {
			up = d
		}
	}
	if up != nil && !up.due.After(now) {
		return up, 0
	}
	if dn != nil && !dn.due.After(now) {
		if up == nil || !now.Add(dn.timeout).After(up.due) || now.Sub(dn.due) >= maxDemote {
			return dn, 0
		}
	}
	wait := time.Duration(1<<63 - 1)
	if up != nil {
		wait = up.due.Sub(now)
	}
	if dn != nil && dn.due.After(now) {
		wait = min(wait, dn.due.Sub(now))
	}
	return nil, wait
}

// failure kinds, for metrics and for what to do next.
const (
	resOK        = "ok"
	resTimeout   = "timeout"
	resConn      = "connection"
	resFraming   = "framing"
	resException = "exception"
)

// classify sorts an error of a transaction.
func classify(err error, fc byte) (string, *gmb.ModbusError) {
	var me *gmb.ModbusError
	switch {
	case err == nil:
		return resOK, nil
	case errors.As(err, &me) && me.FunctionCode == fc|0x80:
		return resException, me
	case errors.Is(err, errFraming):
		return resFraming, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return resTimeout, nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return resTimeout, nil
	}
	if errors.As(err, &me) || isPackagerError(err) {
		// A reply with the wrong function, id, unit or CRC.
		return resFraming, nil
	}
	return resConn, nil
}

// isPackagerError recognises goburrow's checks of a reply (they are plain
// fmt errors).
func isPackagerError(err error) bool {
	var ne *net.OpError
	if errors.As(err, &ne) {
		return false
	}
	s := err.Error()
	return len(s) > 8 && s[:8] == "modbus: "
}

// maxBusyRetries is how often a "device busy" (or "acknowledge") answer is
// retried within one poll, busyPause apart.
const (
	maxBusyRetries = 2
	busyPause      = 20 * time.Millisecond
)

// transact runs one goburrow call with the device's timeout and the error
// handling shared by reads and writes: a transport error resets the
// connection, busy is retried. It returns the result kind for metrics.
func (b *bus) transact(d *device, fc byte, what string, call func() ([]byte, error)) ([]byte, string, error) {
	b.tr.setTimeout(d.timeout)
	for try := 0; ; try++ {
		t0 := time.Now()
		res, err := call()
		rtt := time.Since(t0)
		kind, me := classify(err, fc)
		d.m.observe(kind, rtt)
		switch kind {
		case resOK:
			d.setRTT(rtt)
			return res, kind, nil
		case resException:
			if (me.ExceptionCode == gmb.ExceptionCodeServerDeviceBusy || me.ExceptionCode == gmb.ExceptionCodeAcknowledge) && try < maxBusyRetries {
				time.Sleep(busyPause)
				continue
			}
			return nil, kind, &ExceptionError{Code: me.ExceptionCode, Op: what}
		default:
			if kind != resConn {
				b.tr.reset()
			}
			return nil, kind, err
		}
	}
}

// ExceptionError is a Modbus exception answer.
type ExceptionError struct {
	Code byte
	Op   string
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("exception %d (%s)", e.Code, exceptionName(e.Code))
}

// IllegalAddress reports a configuration error: the device has no such
// register.
func (e *ExceptionError) IllegalAddress() bool { return e.Code == gmb.ExceptionCodeIllegalDataAddress }

func exceptionName(c byte) string {
	switch c {
	case 1:
		return "illegal function"
	case 2:
		return "illegal data address"
	case 3:
		return "illegal data value"
	case 4:
		return "server device failure"
	case 5:
		return "acknowledge"
	case 6:
		return "server device busy"
	case 8:
		return "memory parity error"
	case 10:
		return "gateway path unavailable"
	case 11:
		return "gateway target device failed to respond"
	}
	return "unknown"
}

var fcRead = [...]byte{Holding: 3, Input: 4, Coil: 1, Discrete: 2}

// read performs one planned read and checks the reply's size.
func (b *bus) read(d *device, r *request) ([]byte, string, error) {
	res, kind, err := b.transact(d, fcRead[r.kind], r.String(), func() ([]byte, error) {
		a, q := uint16(r.addr), uint16(r.qty)
		switch r.kind {
		case Holding:
			return d.client.ReadHoldingRegisters(a, q)
		case Input:
			return d.client.ReadInputRegisters(a, q)
		case Coil:
			return d.client.ReadCoils(a, q)
		default:
			return d.client.ReadDiscreteInputs(a, q)
		}
	})
	if err == nil {
		want := 2 * r.qty
		if r.kind.bits() {
			want = (r.qty + 7) / 8
		}
		if len(res) != want {
			b.tr.reset()
			d.m.observe(resFraming, 0)
			return nil, resFraming, fmt.Errorf("%w: %d data bytes, want %d", errFraming, len(res), want)
		}
	}
	return res, kind, err
}

// poll reads every request of d once and hands the samples to sink. A
// request that fails yields bad/comm samples for exactly its points; after
// a timeout or a lost connection the device's remaining requests are not
// tried (each would cost another timeout) and their points are bad/comm too.
func (b *bus) poll(d *device, sink drivers.Sink) {
	batch := make([]drivers.Sample, 0, len(d.points))
	var failed bool
	var lastErr error
	skip := false
	for _, r := range d.reqs {
		if skip {
			batch = appendComm(batch, r, b.now())
			continue
		}
		data, kind, err := b.read(d, r)
		now := b.now()
		if err != nil {
			batch = appendComm(batch, r, now)
			lastErr = fmt.Errorf("modbus %s unit %d: %s: %w", d.id, d.unit, r, err)
			var ex *ExceptionError
			if errors.As(err, &ex) {
				if ex.IllegalAddress() {
					if !d.badAddr[r] {
						d.badAddr[r] = true
						b.log.Error("configuration error: the device has no such registers (illegal data address); check the points' addresses",
							"device", d.id, "unit", d.unit, "request", r.String(), "points", pointIDs(r))
					}
				} else {
					b.log.Warn("modbus exception", "device", d.id, "err", lastErr)
				}
				d.countError(lastErr)
				continue
			}
			failed = true
			d.countError(lastErr)
			if kind == resTimeout || kind == resConn {
				skip = true
			}
			continue
		}
		delete(d.badAddr, r)
		for _, p := range r.points {
			var raw float64
			if r.kind.bits() {
				i := p.addr - r.addr
				raw = float64(data[i/8] >> (i % 8) & 1)
			} else {
				raw = p.raw(data, r.addr)
			}
			batch = append(batch, p.sample(raw, now))
		}
	}
	now := b.now()
	b.schedule(d, failed, lastErr, now)
	if len(batch) > 0 {
		sink(batch)
	}
}

func pointIDs(r *request) []drivers.PointID {
	ids := make([]drivers.PointID, len(r.points))
	for i, p := range r.points {
		ids[i] = p.id
	}
	return ids
}

func appendComm(batch []drivers.Sample, r *request, now time.Time) []drivers.Sample {
	for _, p := range r.points {
		batch = append(batch, drivers.Sample{Point: p.id, Quality: drivers.Bad, Cause: drivers.CauseComm, Time: now})
	}
	return batch
}

// schedule updates d's failure count, health and next due time after a poll.
func (b *bus) schedule(d *device, failed bool, err error, now time.Time) {
	wasDown := d.down()
	if failed {
		d.fails++
	} else {
		d.fails = 0
		d.demote.Reset()
	}
	isDown := d.down()
	switch {
	case isDown:
		d.due = now.Add(d.demote.Next())
	default:
		d.due = d.due.Add(d.interval)
		if d.due.Before(now) {
			// Behind (a slow bus): keep the period from now, do not burst.
			d.due = now.Add(d.interval)
		}
	}
	if isDown && !wasDown {
		b.log.Warn("modbus device down: demoted", "device", d.id, "unit", d.unit, "fails", d.fails, "err", err)
	} else if wasDown && !isDown {
		b.log.Info("modbus device up again", "device", d.id, "unit", d.unit)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !failed {
		d.health.State = "up"
		d.health.LastOK = now
	} else if isDown {
		d.health.State = "down"
	}
	d.stats.Polls++
	d.stats.Down = isDown
	d.m.setUp(d.health.State == "up")
}

func (d *device) countError(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health.Errors++
	d.health.Err = err.Error()
}

func (d *device) setRTT(rtt time.Duration) {
	d.mu.Lock()
	d.stats.RTT = rtt
	d.mu.Unlock()
}

// write performs a write job: FC05 for a coil, FC06 for one register, FC16
// for several, a read-modify-write (FC03 then FC06) for a bit of a register.
func (b *bus) write(w *writeJob) error {
	d := w.dev
	var err error
	what := fmt.Sprintf("write %s %d", w.kind, w.addr)
	switch {
	case w.kind == Coil:
		v := uint16(0)
		if w.on {
			v = 0xFF00
		}
		_, _, err = b.transact(d, 5, what, func() ([]byte, error) { return d.client.WriteSingleCoil(uint16(w.addr), v) })
	case w.bit >= 0:
		var cur []byte
		cur, _, err = b.transact(d, 3, what, func() ([]byte, error) { return d.client.ReadHoldingRegisters(uint16(w.addr), 1) })
		if err == nil && len(cur) != 2 {
			err = fmt.Errorf("%w: %d data bytes, want 2", errFraming, len(cur))
			b.tr.reset()
		}
		if err == nil {
			v := uint16(cur[0])<<8 | uint16(cur[1])
			if w.on {
				v |= 1 << w.bit
			} else {
				v &^= 1 << w.bit
			}
			_, _, err = b.transact(d, 6, what, func() ([]byte, error) { return d.client.WriteSingleRegister(uint16(w.addr), v) })
		}
	case len(w.regs) == 2:
		v := uint16(w.regs[0])<<8 | uint16(w.regs[1])
		_, _, err = b.transact(d, 6, what, func() ([]byte, error) { return d.client.WriteSingleRegister(uint16(w.addr), v) })
	default:
		_, _, err = b.transact(d, 16, what, func() ([]byte, error) {
			return d.client.WriteMultipleRegisters(uint16(w.addr), uint16(len(w.regs)/2), w.regs)
		})
	}
	if err != nil {
		err = fmt.Errorf("modbus %s unit %d: %s: %w", d.id, d.unit, what, err)
		d.countError(err)
	}
	return err
}
