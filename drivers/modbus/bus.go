package modbus

import (
	"context"
	"encoding/binary"
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
	// sh is the device's plan, shared with the devices whose points
	// compile the same; ids are its points' ids in plan order (sh.pts),
	// the config's strings. Both are immutable.
	sh  *shape
	ids []drivers.PointID
	fr  framer
	bus *bus // the bus the device polls on
	m   *devMetrics

	// Owned by the bus goroutine.
	due    time.Time
	fails  int // consecutive failed polls
	demote drivers.Backoff
	// badAddr marks the requests (by index in sh.reqs) refused with
	// "illegal address", logged once; nil until one is.
	badAddr []bool

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

	// req is the ADU of the read in flight (bus goroutine only).
	req [maxRequest]byte
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

// result is how a transaction ended, for metrics and for what to do next.
type result uint8

const (
	resOK result = iota
	resTimeout
	resConn
	resFraming
	resException
)

var resultNames = [...]string{resOK: "ok", resTimeout: "timeout", resConn: "connection", resFraming: "framing", resException: "exception"}

func (r result) String() string { return resultNames[r] }

// classify sorts an error of a transaction.
func classify(err error, fc byte) (result, *gmb.ModbusError) {
	if err == nil {
		return resOK, nil
	}
	// Declared after the nil check: errors.As moves it to the heap, which
	// a good transaction must not pay for.
	var me *gmb.ModbusError
	switch {
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

// transact runs one transaction with the device's timeout and the error
// handling shared by reads and writes: a transport error resets the
// connection, busy is retried. It returns the result kind for metrics.
// what names the transaction in an ExceptionError (formatted only then).
func (b *bus) transact(d *device, fc byte, what fmt.Stringer, call func() ([]byte, error)) ([]byte, result, error) {
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
			return nil, kind, &ExceptionError{Code: me.ExceptionCode, Op: what.String()}
		default:
			if kind != resConn {
				b.tr.reset()
			}
			return nil, kind, err
		}
	}
}

// opName names a write for transact.
type opName string

func (o opName) String() string { return string(o) }

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

// read performs one planned read and checks the reply's size. The data
// returned is the transport's buffer: valid until the bus's next
// transaction. A read allocates nothing unless it fails.
func (b *bus) read(d *device, r *request) ([]byte, result, error) {
	fc := fcRead[r.kind]
	res, kind, err := b.transact(d, fc, r, func() ([]byte, error) {
		var pdu [4]byte
		binary.BigEndian.PutUint16(pdu[:], r.addr)
		binary.BigEndian.PutUint16(pdu[2:], r.qty)
		req := d.fr.frame(b.req[:0], fc, pdu[:])
		res, err := b.tr.Send(req)
		if err != nil {
			return nil, err
		}
		gotFC, data, err := d.fr.reply(req, res)
		if err != nil {
			return nil, err
		}
		return readReply(fc, gotFC, data)
	})
	if err == nil {
		want := 2 * int(r.qty)
		if r.kind.bits() {
			want = (int(r.qty) + 7) / 8
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
//
// The batch is the one allocation of a good poll: the sink's consumers keep
// it. Everything else (request, reply, decoding) reuses the bus's buffers.
func (b *bus) poll(d *device, sink drivers.Sink) {
	sh := d.sh
	batch := make([]drivers.Sample, 0, len(d.ids))
	var failed bool
	var lastErr error
	skip := false
	for ri := range sh.reqs {
		r := &sh.reqs[ri]
		ids := d.ids[r.from:r.to]
		if skip {
			batch = appendComm(batch, ids, b.now())
			continue
		}
		data, kind, err := b.read(d, r)
		now := b.now()
		if err != nil {
			batch = appendComm(batch, ids, now)
			lastErr = fmt.Errorf("modbus %s unit %d: %s: %w", d.id, d.unit, r, err)
			var ex *ExceptionError
			if errors.As(err, &ex) {
				if ex.IllegalAddress() {
					if d.badAddr == nil {
						d.badAddr = make([]bool, len(sh.reqs))
					}
					if !d.badAddr[ri] {
						d.badAddr[ri] = true
						b.log.Error("configuration error: the device has no such registers (illegal data address); check the points' addresses",
							"device", d.id, "unit", d.unit, "request", r.String(), "points", ids)
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
		if d.badAddr != nil {
			d.badAddr[ri] = false
		}
		for i := r.from; i < r.to; i++ {
			p := &sh.pts[i]
			var raw float64
			if r.kind.bits() {
				k := int(p.addr) - int(r.addr)
				raw = float64(data[k/8] >> (k % 8) & 1)
			} else {
				raw = p.raw(data, int(r.addr))
			}
			batch = append(batch, sh.convs[p.conv].sample(d.ids[i], p.boolean(), raw, now))
		}
	}
	now := b.now()
	b.schedule(d, failed, lastErr, now)
	if len(batch) > 0 {
		sink(batch)
	}
}

func appendComm(batch []drivers.Sample, ids []drivers.PointID, now time.Time) []drivers.Sample {
	for _, id := range ids {
		batch = append(batch, drivers.Sample{Point: id, Quality: drivers.Bad, Cause: drivers.CauseComm, Time: now})
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
	c := gmb.NewClient2(&d.fr, b.tr)
	var err error
	what := opName(fmt.Sprintf("write %s %d", w.kind, w.addr))
	switch {
	case w.kind == Coil:
		v := uint16(0)
		if w.on {
			v = 0xFF00
		}
		_, _, err = b.transact(d, 5, what, func() ([]byte, error) { return c.WriteSingleCoil(uint16(w.addr), v) })
	case w.bit >= 0:
		var cur []byte
		cur, _, err = b.transact(d, 3, what, func() ([]byte, error) { return c.ReadHoldingRegisters(uint16(w.addr), 1) })
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
			_, _, err = b.transact(d, 6, what, func() ([]byte, error) { return c.WriteSingleRegister(uint16(w.addr), v) })
		}
	case len(w.regs) == 2:
		v := uint16(w.regs[0])<<8 | uint16(w.regs[1])
		_, _, err = b.transact(d, 6, what, func() ([]byte, error) { return c.WriteSingleRegister(uint16(w.addr), v) })
	default:
		_, _, err = b.transact(d, 16, what, func() ([]byte, error) {
			return c.WriteMultipleRegisters(uint16(w.addr), uint16(len(w.regs)/2), w.regs)
		})
	}
	if err != nil {
		err = fmt.Errorf("modbus %s unit %d: %s: %w", d.id, d.unit, what, err)
		d.countError(err)
	}
	return err
}
