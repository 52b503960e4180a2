package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Options are the dependencies New needs besides the config.
type Options struct {
	Log        *slog.Logger          // default: discard
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
	// Wills are the last wills by broker name (the uplink's offline
	// status, gateway/outputs.Wills).
	Wills map[string]Will
	// Now is the clock for arrival times and health. Default time.Now.
	Now func() time.Time
	// Queue is the per-broker queue of received messages waiting to be
	// decoded. Default 16384.
	Queue int
}

// Conns is the MQTT side of one gateway: the embedded brokers, one
// connection per used [[broker]] (by mqtt points, the uplink or a notify
// target of kind mqtt) and a Subscriber per broker with mqtt points. The
// uplink and notify outputs (gateway/outputs) publish through Conn.
type Conns struct {
	conns   []*Conn
	byName  map[string]*Conn
	subs    []*Subscriber
	log     *slog.Logger
	now     func() time.Time
	devices map[string][]string // broker -> mqtt device ids
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
	c := &Conns{byName: map[string]*Conn{}, log: opts.Log, now: opts.Now, devices: map[string][]string{}}

	used := map[string]bool{}
	for _, d := range cfg.Devices {
		if d.Driver == "mqtt" {
			used[d.Broker] = true
		}
	}
	for _, n := range cfg.Notify {
		if n.Kind == "mqtt" {
			used[n.Broker] = true
		}
	}
	if cfg.Uplink != nil {
		used[cfg.Uplink.Broker] = true
	}

	var errs []error
	for i := range cfg.Brokers {
		b := &cfg.Brokers[i]
		if !used[b.Name] && b.URL != "embedded" {
			continue
		}
		var w *Will
		if x, ok := opts.Wills[b.Name]; ok {
			w = &x
		}
		conn, err := newConn(b, aclFor(cfg, b.Name), w, opts.Now, opts.Log, m)
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

// Runners wraps each Subscriber in a drivers.Runner feeding sink. The
// backoff is short (100ms..1s) because Connect itself waits up to 2 s for
// the connection that paho re-establishes.
func (c *Conns) Runners(sink drivers.Sink, log *slog.Logger) []*drivers.Runner {
	var rs []*drivers.Runner
	for _, s := range c.subs {
		rs = append(rs, &drivers.Runner{ID: "mqtt:" + s.broker, Driver: s, Sink: sink, Log: log,
			Backoff: drivers.Backoff{Min: 100 * time.Millisecond, Max: time.Second}, Now: c.now})
	}
	return rs
}

// Conn returns the connection to the named broker, nil when New made none
// (the broker is used by no point, uplink or notify target).
func (c *Conns) Conn(broker string) *Conn { return c.byName[broker] }

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

// Run starts the embedded brokers (unless StartBrokers did), connects
// every client (paho keeps reconnecting in the background) and holds the
// connections until ctx ends; then it disconnects every client and stops
// the embedded brokers. It returns an error only when it cannot start (an
// embedded broker's port in use).
//
// The connections serve both ends of the pipeline: end ctx after the
// Subscribers' Runners and the outputs publishing through Conn (the
// uplink's final flush and offline status) have returned.
func (c *Conns) Run(ctx context.Context) error {
	if err := c.StartBrokers(); err != nil {
		return err
	}
	for _, conn := range c.conns {
		conn.client.Connect() // ConnectRetry: paho keeps trying in the background
	}
	<-ctx.Done()
	for _, conn := range c.conns {
		conn.client.Disconnect(250)
	}
	c.stopBrokers()
	return nil
}
