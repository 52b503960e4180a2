package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Options are the dependencies New needs besides the config.
type Options struct {
	Log        *slog.Logger          // default: discard
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
	// Events is the alarm journal (alarms.Engine). Required when the config
	// has an [uplink] or a [[notify]] of kind mqtt. When it also has
	// Seq() uint64, a target without a cursor file yet starts after Seq()
	// (events from now on) instead of replaying the whole journal.
	Events Events
	// Now is the clock for arrival times and status messages. Default time.Now.
	Now func() time.Time
	// Queue is the per-broker queue of received messages waiting to be
	// decoded. Default 16384.
	Queue int
}

// Conns is everything MQTT of one gateway: the embedded brokers, one
// connection per used [[broker]], a Subscriber per broker with mqtt points,
// the uplink and the notify targets.
type Conns struct {
	conns     []*Conn
	byName    map[string]*Conn
	subs      []*Subscriber
	uplink    *Uplink
	notifiers []*Notifier
	log       *slog.Logger
	devices   map[string][]string // broker -> mqtt device ids
}

// New builds everything from the config. It reads the TLS files named in
// the config and nothing else: brokers start and clients connect in Run.
func New(cfg *configs.Config, opts Options) (*Conns, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Queue <= 0 {
		opts.Queue = 16384
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("mqtt metrics: %w", err)
	}
	c := &Conns{byName: map[string]*Conn{}, log: opts.Log, devices: map[string][]string{}}

	used := map[string]bool{}
	for _, d := range cfg.Devices {
		if d.Driver == "mqtt" {
			used[d.Broker] = true
		}
	}
	var notifies []configs.Notify
	for _, n := range cfg.Notify {
		if n.Kind == "mqtt" {
			used[n.Broker] = true
			notifies = append(notifies, n)
		}
	}
	up := cfg.Uplink
	if up != nil {
		used[up.Broker] = true
	}
	if (up != nil || len(notifies) > 0) && opts.Events == nil {
		return nil, errors.New("mqtt: uplink/notify need Options.Events (the alarm journal)")
	}
	var startSeq uint64
	if s, ok := opts.Events.(interface{ Seq() uint64 }); ok {
		startSeq = s.Seq()
	}

	var errs []error
	for i := range cfg.Brokers {
		b := &cfg.Brokers[i]
		if !used[b.Name] && b.URL != "embedded" {
			continue
		}
		var w *will
		if up != nil && up.Broker == b.Name {
			w = &will{topic: up.Prefix + "/status", payload: statusPayload(cfg.Site.ID, "offline", opts.Now())}
		}
		conn, err := newConn(b, w, opts.Log, m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.conns = append(c.conns, conn)
		c.byName[b.Name] = conn
	}
	for name := range used {
		if c.byName[name] == nil && !hasBroker(cfg, name) {
			errs = append(errs, fmt.Errorf("mqtt: unknown broker %q", name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	subs := map[string]*Subscriber{}
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		if d.Driver != "mqtt" {
			continue
		}
		if d.QoS < 0 || d.QoS > 1 {
			errs = append(errs, fmt.Errorf("mqtt device %s: qos %d (want 0 or 1)", d.ID, d.QoS))
			continue
		}
		conn := c.byName[d.Broker]
		sub := subs[d.Broker]
		if sub == nil {
			sub = newSubscriber(conn, opts.Queue, opts.Now, m, opts.Log)
			subs[d.Broker] = sub
			c.subs = append(c.subs, sub)
		}
		c.devices[d.Broker] = append(c.devices[d.Broker], d.ID)
		for j := range d.Points {
			p, err := compilePoint(d, &d.Points[j])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			sub.add(p, byte(d.QoS))
		}
	}
	dir := filepath.Join(cfg.Store.Dir, "mqtt")
	if up != nil {
		conn := c.byName[up.Broker]
		every := up.SamplesEvery.D()
		if every <= 0 {
			every = 5 * time.Second
		}
		u := &Uplink{site: cfg.Site.ID, prefix: up.Prefix, every: every, now: opts.Now, MaxSamples: 100000, Chunk: 1000}
		u.publisher = publisher{target: "uplink", conn: conn, topic: up.Prefix + "/alarms", qos: 1, src: opts.Events,
			cursorPath: filepath.Join(dir, "uplink-"+fileName(up.Broker)+".cursor"), startSeq: startSeq,
			wake: make(chan struct{}, 1), log: opts.Log.With("broker", up.Broker), m: m}
		u.onSession = u.online
		c.uplink = u
	}
	for _, n := range notifies {
		if n.QoS < 0 || n.QoS > 1 {
			errs = append(errs, fmt.Errorf("mqtt notify %s: qos %d (want 0 or 1)", n.Name, n.QoS))
			continue
		}
		c.notifiers = append(c.notifiers, &Notifier{publisher{target: n.Name, conn: c.byName[n.Broker], topic: n.Topic,
			qos: byte(n.QoS), filter: notifyFilter(n.Name), src: opts.Events,
			cursorPath: filepath.Join(dir, "notify-"+fileName(n.Name)+".cursor"), startSeq: startSeq,
			wake: make(chan struct{}, 1), log: opts.Log.With("broker", n.Broker), m: m}})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func hasBroker(cfg *configs.Config, name string) bool {
	for _, b := range cfg.Brokers {
		if b.Name == name {
			return true
		}
	}
	return false
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func fileName(s string) string { return unsafeName.ReplaceAllString(s, "_") }

// Runners wraps each Subscriber in a drivers.Runner feeding sink. The
// backoff is short (100ms..1s) because Connect itself waits up to 2 s for
// the connection that paho re-establishes.
func (c *Conns) Runners(sink drivers.Sink, log *slog.Logger) []*drivers.Runner {
	var rs []*drivers.Runner
	for _, s := range c.subs {
		rs = append(rs, &drivers.Runner{ID: "mqtt:" + s.broker, Driver: s, Sink: sink, Log: log,
			Backoff: drivers.Backoff{Min: 100 * time.Millisecond, Max: time.Second}})
	}
	return rs
}

// Uplink returns the [uplink] output, or nil when there is none.
func (c *Conns) Uplink() *Uplink { return c.uplink }

// Outputs returns the uplink and notify targets as engine outputs.
func (c *Conns) Outputs() []Output {
	var out []Output
	if c.uplink != nil {
		out = append(out, c.uplink)
	}
	for _, n := range c.notifiers {
		out = append(out, n)
	}
	return out
}

// Health returns one entry per broker connection (ID "mqtt:NAME").
func (c *Conns) Health() []drivers.Health {
	out := make([]drivers.Health, 0, len(c.conns))
	for _, conn := range c.conns {
		out = append(out, conn.Health())
	}
	return out
}

// DeviceHealth returns one entry per mqtt device (ID = device id), each the
// state of its broker connection, for /api/health's devices list.
func (c *Conns) DeviceHealth() []drivers.Health {
	var out []drivers.Health
	for _, conn := range c.conns {
		h := conn.Health()
		for _, id := range c.devices[conn.name] {
			h.ID = id
			out = append(out, h)
		}
	}
	return out
}

// StartBrokers starts the embedded brokers now instead of in Run, so that
// a port in use is reported before anything else of the gateway starts. On
// an error no broker is left running. Calling it again does nothing.
func (c *Conns) StartBrokers() error {
	for _, conn := range c.conns {
		if conn.embedded == nil || conn.embedded.srv != nil {
			continue
		}
		if err := conn.embedded.start(c.log); err != nil {
			c.stopBrokers()
			return fmt.Errorf("mqtt broker %s: %w", conn.name, err)
		}
	}
	return nil
}

// stopBrokers stops every embedded broker that runs.
func (c *Conns) stopBrokers() {
	for _, conn := range c.conns {
		if conn.embedded == nil {
			continue
		}
		if err := conn.embedded.stop(); err != nil {
			c.log.Warn("embedded broker stop", "broker", conn.name, "err", err)
		}
	}
}

// FlushTimeout bounds the final publishing of pending alarm events and the
// offline status at shutdown.
const FlushTimeout = 3 * time.Second

// Run starts the embedded brokers, then connects every client, publishes
// until ctx ends, then shuts down in order: pending alarm events (bounded
// by FlushTimeout), the retained offline status, client disconnects,
// embedded brokers. It returns an error only when it cannot start (an
// embedded broker's port in use, an unreadable cursor file).
//
// Cancel ctx after the engine has drained (its last events then still go
// out); the Subscribers' Runners should be stopped before that.
func (c *Conns) Run(ctx context.Context) error {
	if err := c.StartBrokers(); err != nil {
		return err
	}
	for _, conn := range c.conns {
		conn.client.Connect() // ConnectRetry: paho keeps trying in the background
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pubs []*publisher
	if c.uplink != nil {
		pubs = append(pubs, &c.uplink.publisher)
		wg.Add(1)
		go func() { defer wg.Done(); c.uplink.runSamples(pctx) }()
	}
	for _, n := range c.notifiers {
		pubs = append(pubs, &n.publisher)
	}
	for _, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.run(pctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		}()
	}
	<-pctx.Done()
	wg.Wait()

	// Final flush: events the engine emitted while draining.
	fctx, fcancel := context.WithTimeout(context.Background(), FlushTimeout)
	defer fcancel()
	for _, p := range pubs {
		if up, _, down, gen := p.conn.state(); up && gen == p.gen && len(errs) == 0 {
			p.settle(fctx, down) // the publish interrupted by the cancellation
			if _, err := p.pump(fctx, down); err != nil {
				c.log.Warn("mqtt final flush incomplete; the rest goes after the restart", "target", p.target, "err", err)
			}
		}
	}
	if c.uplink != nil {
		c.uplink.flushSamples()
		if err := c.uplink.offline(time.Until(deadlineOr(fctx))); err != nil {
			c.log.Warn("mqtt offline status", "err", err)
		}
	}
	for _, conn := range c.conns {
		conn.client.Disconnect(250)
	}
	c.stopBrokers()
	return errors.Join(errs...)
}

func deadlineOr(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	if time.Until(d) < 100*time.Millisecond {
		return time.Now().Add(100 * time.Millisecond)
	}
	return d
}
