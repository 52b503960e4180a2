package modbus

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus/serial"
)

// Options are the driver's collaborators. All are optional.
type Options struct {
	Log        *slog.Logger          // default: discard
	Registerer prometheus.Registerer // nil: no metrics
	// MaxDemote is the longest a demoted (down) device waits between
	// probes. Default 30s.
	MaxDemote time.Duration
	// Now is the clock of sample times and of every bus's poll schedule.
	// Default time.Now.
	Now func() time.Time
}

// Driver polls every modbus device of a config. Build it with New, run it
// with Run; Health, Stats and Write may be called from any goroutine.
type Driver struct {
	opts Options
	log  *slog.Logger
	m    *metrics

	mu    sync.Mutex // guards the fields below; Reload replaces them
	buses []*bus
	devs  []*device // in config order
	byDev map[string]*device
	// points finds a point by id for Write: the number (see pointRef)
	// of every point of devs, sorted by id: 4 bytes a point, where a map
	// took about 90.
	points []pointRef
	// first is the number of each device's first point (by devs index).
	first []pointRef
	run   bool
	ctx   context.Context // of Run, for the buses Reload starts
	sink  drivers.Sink
	wg    sync.WaitGroup // bus goroutines
}

// pointRef numbers the points of Driver.devs: device by device in devs
// order, each device's in plan order.
type pointRef uint32

// at is the device of point r and the point's index in it; drv.mu held.
func (drv *Driver) at(r pointRef) (*device, int) {
	i := sort.Search(len(drv.first), func(i int) bool { return drv.first[i] > r }) - 1
	return drv.devs[i], int(r - drv.first[i])
}

// id is point r's id; drv.mu held.
func (drv *Driver) id(r pointRef) drivers.PointID {
	d, i := drv.at(r)
	return d.ids[i]
}

// lookup finds point id; drv.mu held.
func (drv *Driver) lookup(id drivers.PointID) (*device, int, bool) {
	i, ok := slices.BinarySearchFunc(drv.points, id, func(r pointRef, id drivers.PointID) int {
		return strings.Compare(string(drv.id(r)), string(id))
	})
	if !ok {
		return nil, 0, false
	}
	d, pt := drv.at(drv.points[i])
	return d, pt, true
}

// DeviceStats is a device's health beyond drivers.Health.
type DeviceStats struct {
	ID    string
	Bus   string        // transport and address the device shares
	Down  bool          // demoted after comm_after failed polls
	RTT   time.Duration // round trip of the last good transaction
	Polls uint64
}

// New builds the buses and devices of every device with driver = "modbus"
// in cfg. Devices on the same serial address, or the same TCP address
// (tcp or rtu-over-tcp), share one bus: one connection, requests never
// overlap. It does no I/O. Every error names the device (and point).
func New(cfg *configs.Config, opts Options) (*Driver, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxDemote <= 0 {
		opts.MaxDemote = 30 * time.Second
	}
	return build(cfg, opts, log, newMetrics(opts.Registerer))
}

// build is New with the metrics already registered (Reload builds again).
func build(cfg *configs.Config, opts Options, log *slog.Logger, m *metrics) (*Driver, error) {
	drv := &Driver{opts: opts, log: log, m: m, byDev: map[string]*device{}}
	n := 0
	for i := range cfg.Devices {
		if cfg.Devices[i].Driver == "modbus" {
			n += len(cfg.Devices[i].Points)
		}
	}
	drv.points = make([]pointRef, 0, n)
	var shapes shaper
	byKey := map[string]*bus{}
	type serialCfg struct {
		baud, bits, stop int
		parity           string
	}
	serials := map[string]serialCfg{}
	var errs []error
	for i := range cfg.Devices {
		cd := &cfg.Devices[i]
		if cd.Driver != "modbus" {
			continue
		}
		d, dsig, err := newDevice(cd, m, &shapes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.demote.Max = opts.MaxDemote
		d.demote.Min = min(d.demote.Min, opts.MaxDemote)
		if _, dup := drv.byDev[d.id]; dup {
			errs = append(errs, fmt.Errorf("modbus %s: duplicate device id", d.id))
			continue
		}
		tr := cd.Transport
		key := tr + " " + cd.Address
		b := byKey[key]
		if b == nil {
			b = &bus{name: key, writes: make(chan *writeJob), done: make(chan struct{}), log: log.With("bus", key), maxDemote: opts.MaxDemote, now: opts.Now}
			switch tr {
			case "tcp":
				if _, _, err := net.SplitHostPort(cd.Address); err != nil {
					errs = append(errs, fmt.Errorf("modbus %s: address %q: want host:port", d.id, cd.Address))
					continue
				}
				b.tr = &tcpTransport{addr: cd.Address}
			case "rtu-over-tcp":
				if _, _, err := net.SplitHostPort(cd.Address); err != nil {
					errs = append(errs, fmt.Errorf("modbus %s: address %q: want host:port", d.id, cd.Address))
					continue
				}
				addr := cd.Address
				b.tr = &rtuTransport{silence: 0, open: func() (conn, error) {
					c, err := net.DialTimeout("tcp", addr, max(d.timeout, time.Second))
					if err != nil {
						return nil, err
					}
					return c.(*net.TCPConn), nil
				}}
			case "rtu":
				sc := serialCfg{baud: cd.Baud, bits: cd.DataBits, stop: cd.StopBits, parity: cd.Parity}
				if !serial.Supported(sc.baud) {
					errs = append(errs, fmt.Errorf("modbus %s: baud %d not supported", d.id, sc.baud))
					continue
				}
				serials[key] = sc
				charBits := 1 + sc.bits + sc.stop
				if sc.parity != "N" {
					charBits++
				}
				path := cd.Address
				b.tr = &rtuTransport{serial: true, flush: flushInput, silence: silenceFor(sc.baud, charBits),
					open: func() (conn, error) { return openSerial(path, sc.baud, sc.bits, sc.parity, sc.stop) }}
			default:
				errs = append(errs, fmt.Errorf("modbus %s: transport %q: want tcp, rtu or rtu-over-tcp", d.id, tr))
				continue
			}
			byKey[key] = b
			drv.buses = append(drv.buses, b)
		} else if tr == "rtu" {
			sc := serials[key]
			if cd.Baud != sc.baud || cd.DataBits != sc.bits || cd.StopBits != sc.stop || cd.Parity != sc.parity {
				errs = append(errs, fmt.Errorf("modbus %s: serial settings differ from the other devices on %s", d.id, cd.Address))
				continue
			}
		}
		for _, o := range b.devices {
			if o.unit == d.unit {
				errs = append(errs, fmt.Errorf("modbus %s unit %d: unit already used by %s on %s", d.id, d.unit, o.id, key))
			}
		}
		d.fr = framer{unit: d.unit, rtu: tr != "tcp"}
		d.bus = b
		// The bus's signature chains its devices' through SHA-256: 32
		// bytes a bus, not every point's settings (5 MiB at 100k points).
		sum := sha256.Sum256(append([]byte(b.sig), dsig[:]...))
		b.sig = string(sum[:])
		b.devices = append(b.devices, d)
		drv.first = append(drv.first, pointRef(len(drv.points)))
		for range d.ids {
			drv.points = append(drv.points, pointRef(len(drv.points)))
		}
		drv.devs = append(drv.devs, d)
		drv.byDev[d.id] = d
	}
	// Sorted by id, a point id's first occurrence (in devs order) first:
	// the others are duplicates.
	slices.SortStableFunc(drv.points, func(a, b pointRef) int { return strings.Compare(string(drv.id(a)), string(drv.id(b))) })
	var dups []pointRef
	for i := 1; i < len(drv.points); i++ {
		if drv.id(drv.points[i]) == drv.id(drv.points[i-1]) {
			dups = append(dups, drv.points[i])
		}
	}
	slices.Sort(dups)
	for _, r := range dups {
		d, i := drv.at(r)
		errs = append(errs, fmt.Errorf("modbus %s: point %s: duplicate point id", d.id, d.ids[i]))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, b := range drv.buses {
		if len(b.devices) == 1 {
			// Alone on its connection, a dead device delays nobody: probe
			// it at most SoloDemote apart so its return shows within
			// seconds (like a returning MQTT broker, SPEC §3).
			d := b.devices[0]
			d.demote.Max = min(d.demote.Max, max(SoloDemote, d.interval))
			d.demote.Min = min(d.demote.Min, d.demote.Max)
		}
	}
	return drv, nil
}

// SoloDemote is the longest a down device that has its bus to itself waits
// between probes. Devices sharing a bus wait up to Options.MaxDemote.
const SoloDemote = 5 * time.Second

// newDevice compiles a device and its plan (shared through shapes) and
// returns its signature for Reload (deviceSig).
func newDevice(cd *configs.Device, m *metrics, shapes *shaper) (*device, [32]byte, error) {
	// Defaults come from configs.SetDefaults (unit, interval, timeout,
	// comm_after, gap, serial settings): the driver keeps none of its own.
	if cd.Unit == nil || cd.Gap == nil {
		return nil, [32]byte{}, fmt.Errorf("modbus %s: unit and gap unset: the config needs configs.SetDefaults", cd.ID)
	}
	unit := *cd.Unit
	if unit < 0 || unit > 247 {
		return nil, [32]byte{}, fmt.Errorf("modbus %s: unit %d outside 0..247", cd.ID, unit)
	}
	d := &device{
		id:        cd.ID,
		unit:      byte(unit),
		interval:  cd.Interval.D(),
		timeout:   cd.Timeout.D(),
		commAfter: cd.CommAfter,
		health:    drivers.Health{ID: cd.ID, State: "down"},
	}
	if d.interval <= 0 || d.timeout <= 0 || d.commAfter <= 0 {
		return nil, [32]byte{}, fmt.Errorf("modbus %s: interval %s, timeout %s and comm_after %d must be positive", cd.ID, d.interval, d.timeout, d.commAfter)
	}
	d.demote = drivers.Backoff{Min: 2 * d.interval, Max: 30 * time.Second}
	gap := *cd.Gap
	if gap < 0 {
		return nil, [32]byte{}, fmt.Errorf("modbus %s: gap %d is negative", cd.ID, gap)
	}
	var errs []error
	specs := shapes.specs[:0]
	for i := range cd.Points {
		p, err := compilePoint(&cd.Points[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("modbus %s: %w", cd.ID, err))
			continue
		}
		specs = append(specs, p)
	}
	shapes.specs = specs
	if len(errs) > 0 {
		return nil, [32]byte{}, errors.Join(errs...)
	}
	var order []int32
	d.sh, order = shapes.shape(specs, gap)
	d.ids = make([]drivers.PointID, len(order))
	for n, i := range order {
		d.ids[n] = specs[i].id
	}
	d.m = m.device(cd.ID)
	d.stats.ID = cd.ID
	return d, deviceSig(cd, d, shapes.key), nil
}

// Run polls every bus until ctx ends; each bus runs in its own goroutine
// (TCP devices at different addresses poll in parallel). Samples, including
// bad/comm samples of failed reads, go to sink. It returns nil after ctx
// ends and every connection is closed. Run may be called once.
func (drv *Driver) Run(ctx context.Context, sink drivers.Sink) error {
	drv.mu.Lock()
	if drv.run {
		drv.mu.Unlock()
		return errors.New("modbus: Run called twice")
	}
	drv.run = true
	drv.ctx, drv.sink = ctx, sink
	for _, b := range drv.buses {
		drv.start(b)
	}
	drv.mu.Unlock()
	<-ctx.Done()
	drv.mu.Lock() // no Reload starts a bus after this
	drv.mu.Unlock()
	drv.wg.Wait()
	return nil
}

// start runs b in its own goroutine under the context of Run; drv.mu held.
func (drv *Driver) start(b *bus) {
	ctx, cancel := context.WithCancel(drv.ctx)
	b.stop = cancel
	drv.wg.Add(1)
	go func() {
		defer drv.wg.Done()
		defer close(b.done)
		b.run(ctx, drv.sink)
	}()
}

// Health returns one entry per device (SPEC §8 /api/health), sorted by id.
func (drv *Driver) Health() []drivers.Health {
	drv.mu.Lock()
	defer drv.mu.Unlock()
	out := make([]drivers.Health, 0, len(drv.devs))
	for _, d := range drv.devs {
		d.mu.Lock()
		out = append(out, d.health)
		d.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Stats returns the per-device detail (round trip, demotion, poll count),
// sorted by id.
func (drv *Driver) Stats() []DeviceStats {
	drv.mu.Lock()
	defer drv.mu.Unlock()
	out := make([]DeviceStats, 0, len(drv.devs))
	for _, d := range drv.devs {
		d.mu.Lock()
		s := d.stats
		d.mu.Unlock()
		s.Bus = d.bus.name
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ErrUnknownPoint is returned by Write for a point no modbus device has.
var ErrUnknownPoint = errors.New("unknown modbus point")

// Write sets a point of a coil or holding register to value (engineering
// units: the inverse of scale and offset is applied; a bool or bit point
// takes 0 or 1, a bit point by read-modify-write of its register). The
// write runs on the point's bus between polls, with the same timeout and
// error handling, and Write returns when the device has answered or ctx
// ends. Errors name the device and unit.
func (drv *Driver) Write(ctx context.Context, id drivers.PointID, value float64) error {
	drv.mu.Lock()
	d, i, ok := drv.lookup(id)
	drv.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownPoint, id)
	}
	p := d.spec(i)
	w := &writeJob{dev: d, kind: p.kind, addr: int(p.addr), bit: int(p.bit), on: value != 0}
	switch p.kind {
	case Coil:
	case Holding:
		if p.bit < 0 {
			regs, err := p.encode(value)
			if err != nil {
				return fmt.Errorf("modbus %s unit %d: write %s: %w", d.id, d.unit, id, err)
			}
			w.regs = regs
		}
	default:
		return fmt.Errorf("modbus %s unit %d: write %s: a %s point is read-only", d.id, d.unit, id, p.kind)
	}
	return d.bus.submit(ctx, w)
}

// WriteRegister writes a raw value to a coil ("coil", value 0 or 1) or a
// holding register ("holding", value 0..65535) of a device, for linkage
// outputs that are not configured points.
func (drv *Driver) WriteRegister(ctx context.Context, device, register string, addr int, value uint16) error {
	drv.mu.Lock()
	d, ok := drv.byDev[device]
	drv.mu.Unlock()
	if !ok {
		return fmt.Errorf("modbus: unknown device %q", device)
	}
	k, ok := parseKind(strings.ToLower(register))
	if !ok || (k != Coil && k != Holding) || addr < 0 || addr > 65535 {
		return fmt.Errorf("modbus %s unit %d: write %s %d: want a coil or holding register 0..65535", d.id, d.unit, register, addr)
	}
	w := &writeJob{dev: d, kind: k, addr: addr, bit: -1, on: value != 0, regs: []byte{byte(value >> 8), byte(value)}}
	return d.bus.submit(ctx, w)
}

// spec is point i (in plan order) of d, unpacked.
func (d *device) spec(i int) spec {
	p := d.sh.pts[i]
	return spec{id: d.ids[i], point: p, conv: d.sh.convs[p.conv]}
}

// errBusStopped is returned by a write to a bus a reload has stopped.
var errBusStopped = errors.New("modbus: bus stopped by a reload")

func (b *bus) submit(ctx context.Context, w *writeJob) error {
	w.done = make(chan error, 1)
	select {
	case b.writes <- w:
	case <-b.done: // closed when the bus stopped
		return fmt.Errorf("%s: %w", b.name, errBusStopped)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
