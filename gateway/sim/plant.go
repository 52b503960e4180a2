package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"hazardgw/configs"
)

// Options are the plant's injected dependencies. The zero value works.
type Options struct {
	Log *slog.Logger
	// Now is the clock (default time.Now). Behaviours are pure functions of
	// Now() minus the start time.
	Now func() time.Time
	// MaxHold bounds how long a Modbus request waits, unanswered, during a
	// comm-loss window before the slave answers exception 0x0B (gateway
	// target failed to respond). Default 10s: longer than any poll timeout.
	MaxHold time.Duration
}

// ErrUnknown is returned by the control methods for a point or device the
// plant does not simulate.
var ErrUnknown = errors.New("not simulated")

// Plant is the simulated plant of one config: Modbus TCP slaves on the
// loopback addresses of its modbus devices and MQTT publishers for its
// mqtt points with a behaviour. Build it with New, serve it with Run; the
// control methods (Set, Play, Release, CommLoss) may be called from any
// goroutine at any time.
type Plant struct {
	cfg     *configs.Config
	log     *slog.Logger
	now     func() time.Time
	maxHold time.Duration
	loop    time.Duration
	publish time.Duration
	windows []configs.SimCommLoss

	points  map[string]*point
	devices map[string]*device
	slaves  []*slave     // one per Modbus TCP address
	pubs    []*publisher // one per broker
	buses   []*rtuBus    // one per simulated RTU line ([simulator] rtu)

	ready chan struct{}
	done  chan struct{}

	mu    sync.Mutex // guards start and every point's and device's control state
	start time.Time
}

type point struct {
	cfg  *configs.Point
	dev  *device
	sim  *configs.SimPoint // nil: constant 0 (modbus); not published (mqtt)
	seed uint64
	lo   float64
	hi   float64

	// Control state, guarded by Plant.mu.
	override   *configs.SimPoint
	overrideAt time.Time
}

type device struct {
	cfg    *configs.Device
	points []*point
	lost   bool // guarded by Plant.mu
	// Values written by a Modbus master (linkage outputs), guarded by
	// Plant.mu: they overlay the simulated values at their address.
	coils map[uint16]bool
	regs  map[uint16]uint16
	// When each written coil last changed and what it held before, for
	// feedback points that follow it after a delay; refuse: writes are
	// answered with exception 01 ([simulator] refuse_writes, RefuseWrites).
	coilAt  map[uint16]time.Time
	coilWas map[uint16]bool
	refuse  bool
}

// New builds the plant cfg describes. It validates the behaviours and
// does no I/O. A config without [simulator] still gives a plant: every
// loopback Modbus device is served with its points at 0 unless a point has
// a behaviour.
func New(cfg *configs.Config, opts Options) (*Plant, error) {
	p := &Plant{
		cfg:     cfg,
		log:     opts.Log,
		now:     opts.Now,
		maxHold: opts.MaxHold,
		publish: time.Second,
		points:  map[string]*point{},
		devices: map[string]*device{},
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.maxHold <= 0 {
		p.maxHold = 10 * time.Second
	}
	if s := cfg.Simulator; s != nil {
		p.loop = s.Loop.D()
		if s.Publish > 0 {
			p.publish = s.Publish.D()
		}
		p.windows = s.CommLoss
	}
	var errs []error
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		dev := &device{cfg: d, coils: map[uint16]bool{}, regs: map[uint16]uint16{},
			coilAt: map[uint16]time.Time{}, coilWas: map[uint16]bool{}}
		p.devices[d.ID] = dev
		for j := range d.Points {
			c := &d.Points[j]
			pt := &point{cfg: c, dev: dev, sim: c.Sim, seed: seedOf(c.ID)}
			if len(c.Range) == 2 {
				pt.lo, pt.hi = c.Range[0], c.Range[1]
			}
			dev.points = append(dev.points, pt)
			p.points[c.ID] = pt
		}
	}
	for _, pt := range p.points {
		if pt.sim == nil {
			continue
		}
		if err := p.check(pt, pt.sim); err != nil {
			errs = append(errs, fmt.Errorf("device %s point %s: %w", pt.dev.cfg.ID, pt.cfg.ID, err))
		}
	}
	for i, w := range p.windows {
		if _, ok := p.devices[w.Device]; !ok {
			errs = append(errs, fmt.Errorf("simulator.comm_loss[%d]: unknown device %q", i, w.Device))
		}
	}
	if s := cfg.Simulator; s != nil {
		for i, id := range s.RefuseWrites {
			if d := p.devices[id]; d != nil {
				d.refuse = true
			} else {
				errs = append(errs, fmt.Errorf("simulator.refuse_writes[%d]: unknown device %q", i, id))
			}
		}
	}
	slaves, err := p.buildSlaves()
	errs = append(errs, err)
	p.slaves = slaves
	buses, err := p.buildBuses()
	errs = append(errs, err)
	p.buses = buses
	pubs, err := p.buildPublishers()
	errs = append(errs, err)
	p.pubs = pubs
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.start = p.now()
	return p, nil
}

func (p *Plant) check(pt *point, b *configs.SimPoint) error {
	return check(b, pt.cfg, func(id string) bool {
		l, ok := p.points[id]
		return ok && l.sim != nil && l.sim.Kind != "follow"
	})
}

// Ready is closed once every Modbus slave listens (after Run started).
func (p *Plant) Ready() <-chan struct{} { return p.ready }

// Run serves the plant until ctx ends: it binds every Modbus slave (an
// address in use is an error), publishes the MQTT points every
// [simulator] publish period (connecting with retry: the broker may be the
// gateway's embedded one, started at the same time), then stops the slaves
// and disconnects. The behaviours' clock starts when Run starts.
func (p *Plant) Run(ctx context.Context) error {
	p.mu.Lock()
	p.start = p.now()
	p.mu.Unlock()
	stopAll := func() {
		for _, s := range p.slaves {
			s.stop()
		}
		for _, b := range p.buses {
			b.stop()
		}
	}
	for _, s := range p.slaves {
		if err := s.listen(); err != nil {
			stopAll()
			return err
		}
	}
	for _, b := range p.buses {
		if err := b.start(); err != nil {
			stopAll()
			return err
		}
	}
	close(p.ready)
	p.log.Info("simulated plant running", "modbus_slaves", len(p.slaves), "rtu_lines", len(p.buses), "mqtt_brokers", len(p.pubs))
	var wg sync.WaitGroup
	for _, pub := range p.pubs {
		wg.Go(func() { pub.run(ctx) })
	}
	for _, b := range p.buses {
		wg.Go(func() { b.serve(ctx) })
	}
	<-ctx.Done()
	close(p.done) // wakes requests held by comm loss
	stopAll()     // closes the ptys: the RTU loops end
	wg.Wait()
	return nil
}

// Value returns the simulated engineering value of a point at now.
func (p *Plant) Value(id string, now time.Time) (float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pt, ok := p.points[id]
	if !ok {
		return 0, fmt.Errorf("point %q: %w", id, ErrUnknown)
	}
	return p.valueLocked(pt, now), nil
}

// elapsedLocked is the behaviours' time at now: since start, modulo loop.
func (p *Plant) elapsedLocked(now time.Time) time.Duration {
	t := max(now.Sub(p.start), 0)
	if p.loop > 0 {
		t %= p.loop
	}
	return t
}

func (p *Plant) valueLocked(pt *point, now time.Time) float64 {
	return p.valueDepth(pt, now, 0)
}

// valueDepth computes a value; depth bounds follow chains (a scenario may
// Play a follow behaviour onto a leader at run time).
func (p *Plant) valueDepth(pt *point, now time.Time, depth int) float64 {
	b, t := pt.sim, p.elapsedLocked(now)
	if pt.override != nil {
		b, t = pt.override, max(now.Sub(pt.overrideAt), 0)
	}
	if b == nil {
		return 0
	}
	v := Shape(b, t, pt.seed)
	if b.Kind == "follow" {
		if l := p.points[b.Follow]; l != nil && depth < 8 {
			v += p.valueDepth(l, now, depth+1) + Drift(b, t)
		}
	}
	if b.Kind == "feedback" {
		v = p.feedbackLocked(pt.dev, b, now)
	}
	v += Noise(b, t, pt.seed)
	if f, ok := Fault(b, t, pt.lo, pt.hi); ok {
		v = f
	}
	return v
}

// Set holds a point at value v (a scenario step) until Release or another
// Set or Play.
func (p *Plant) Set(id string, v float64) error {
	return p.Play(id, configs.SimPoint{Kind: "constant", Value: v})
}

// Play replaces a point's behaviour by b, whose times count from now (a
// scenario starting a leak: Play("NH3-101", {Kind: "leak", ...})).
func (p *Plant) Play(id string, b configs.SimPoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pt, ok := p.points[id]
	if !ok {
		return fmt.Errorf("point %q: %w", id, ErrUnknown)
	}
	if err := p.check(pt, &b); err != nil {
		return fmt.Errorf("point %s: %w", id, err)
	}
	pt.override, pt.overrideAt = &b, p.now()
	return nil
}

// Release returns a point to its configured behaviour.
func (p *Plant) Release(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pt, ok := p.points[id]
	if !ok {
		return fmt.Errorf("point %q: %w", id, ErrUnknown)
	}
	pt.override = nil
	return nil
}

// CommLoss starts (lost) or ends a communication loss of a device: a
// Modbus slave stops answering its unit, an MQTT source stops publishing.
// The configured [[simulator.comm_loss]] windows apply besides.
func (p *Plant) CommLoss(id string, lost bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, err := p.deviceOf(id)
	if err != nil {
		return err
	}
	d.lost = lost
	return nil
}

// deviceOf is the simulated device id, or an ErrUnknown error.
func (p *Plant) deviceOf(id string) (*device, error) {
	d, ok := p.devices[id]
	if !ok {
		return nil, fmt.Errorf("device %q: %w", id, ErrUnknown)
	}
	return d, nil
}

// coilOf is the simulated device id, if addr is a coil address (0..65535).
func (p *Plant) coilOf(id string, addr int) (*device, error) {
	d, err := p.deviceOf(id)
	if err != nil {
		return nil, err
	}
	if addr < 0 || addr > 65535 {
		return nil, fmt.Errorf("device %s: coil %d out of 0..65535", id, addr)
	}
	return d, nil
}

// lostLocked reports whether device d does not answer at now.
func (p *Plant) lostLocked(d *device, now time.Time) bool {
	if d.lost {
		return true
	}
	t := p.elapsedLocked(now)
	for _, w := range p.windows {
		if w.Device == d.cfg.ID && t >= w.At.D() && (w.For <= 0 || t < w.At.D()+w.For.D()) {
			return true
		}
	}
	return false
}

// feedbackLocked is a feedback point's value at now: 1 once its coil has
// been set for Delay, Value otherwise (always Value when Stuck).
func (p *Plant) feedbackLocked(d *device, b *configs.SimPoint, now time.Time) float64 {
	if b.Stuck || b.Coil == nil {
		return b.Value
	}
	a := uint16(*b.Coil)
	on := d.coils[a]
	if at, ok := d.coilAt[a]; ok && now.Sub(at) < b.Delay.D() {
		on = d.coilWas[a]
	}
	if on {
		return 1
	}
	return b.Value
}

// writeCoilsLocked stores written coils from addr on, noting when each
// changed (feedback points follow after their delay).
func (p *Plant) writeCoilsLocked(d *device, addr uint16, vals []bool, now time.Time) {
	for i, v := range vals {
		a := addr + uint16(i)
		if old := d.coils[a]; old != v {
			d.coilWas[a], d.coilAt[a] = old, now
		}
		d.coils[a] = v
	}
}

// SetCoil sets a coil of a simulated device as a master's write would (a
// scenario step: a hand switch in the field).
func (p *Plant) SetCoil(device string, addr int, on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, err := p.coilOf(device, addr)
	if err != nil {
		return err
	}
	p.writeCoilsLocked(d, uint16(addr), []bool{on}, p.now())
	return nil
}

// Coil reads a coil of a simulated device: written, else simulated.
func (p *Plant) Coil(device string, addr int) (bool, error) {
	d, err := p.coilOf(device, addr)
	if err != nil {
		return false, err
	}
	return p.bits(d, "coil", uint16(addr), 1, p.now())[0], nil
}

// RefuseWrites makes a simulated device refuse (refuse) or accept every
// write; [simulator] refuse_writes sets it at start.
func (p *Plant) RefuseWrites(device string, refuse bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, err := p.deviceOf(device)
	if err != nil {
		return err
	}
	d.refuse = refuse
	return nil
}
