package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	ppackets "github.com/eclipse/paho.mqtt.golang/packets"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt/mochiclose"
)

// MaxReconnectInterval caps paho's reconnect backoff (SPEC §3: a returning
// broker is used again within seconds).
const MaxReconnectInterval = 5 * time.Second

// Conn is the one paho connection to one [[broker]] (one client id per
// broker, so subscribers, uplink and notify share it). paho owns the
// reconnecting; Conn tracks up/down for the others.
type Conn struct {
	name   string
	url    string
	client paho.Client
	now    func() time.Time
	log    *slog.Logger
	m      *metrics

	embedded *embedded // url = "embedded"

	// onConnect runs in paho's on-connect goroutine before the connection
	// is marked up: the subscriber makes its subscriptions there.
	onConnect []func(paho.Client) error
	// publish receives every message of the subscriptions. Set before Run.
	publish func(topic string, payload []byte)

	mu     sync.Mutex
	up     bool
	upCh   chan struct{} // closed while up
	downCh chan struct{} // closed while down
	gen    uint64        // incremented at each connection
	health drivers.Health
}

// Will is a connection's last will, published retained at QoS 1 by the
// broker when the connection dies without a DISCONNECT (the uplink's
// PREFIX/status offline).
type Will struct {
	Topic   string
	Payload []byte
}

func newConn(b *configs.Broker, a acl, w *Will, now func() time.Time, log *slog.Logger, m *metrics) (*Conn, error) {
	c := &Conn{name: b.Name, url: b.URL, now: now, log: log.With("broker", b.Name), m: m,
		upCh: make(chan struct{}), downCh: make(chan struct{})}
	close(c.downCh)
	if b.URL == "embedded" {
		listen := b.Listen
		if listen == "" {
			listen = "127.0.0.1:1883"
		}
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("mqtt broker %s: listen %q: %w", b.Name, listen, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		c.embedded = &embedded{listen: listen, hook: &brokerHook{self: newIdentity(), user: b.Username,
			pass: b.Password, acl: a, refused: m.aclRefused.WithLabelValues(b.Name),
			log: c.log.With("listen", listen), now: now}}
		c.url = "tcp://" + net.JoinHostPort(host, port)
	}
	user, pass := b.Username, b.Password
	if c.embedded != nil {
		// The gateway logs in to its own broker as itself (acl.go).
		user, pass = string(c.embedded.hook.self.user), string(c.embedded.hook.self.pass)
	}
	o := paho.NewClientOptions().AddBroker(c.url).SetClientID(b.ClientID).
		SetUsername(user).SetPassword(pass).
		SetCleanSession(b.CleanSession == nil || *b.CleanSession).
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(MaxReconnectInterval).
		SetConnectTimeout(5 * time.Second).SetKeepAlive(15 * time.Second).SetPingTimeout(5 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetOrderMatters(true). // the handler only queues; order of samples is kept
		SetMessageChannelDepth(1000).
		SetStore(nullStore{})
	if b.CA != "" || b.Cert != "" {
		tc, err := tlsConfig(b)
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	if w != nil {
		o.SetBinaryWill(w.Topic, w.Payload, 1, true)
	}
	o.SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) {
		if c.publish != nil {
			c.publish(msg.Topic(), msg.Payload())
		}
	})
	o.SetOnConnectHandler(c.connected)
	o.SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost(err) })
	o.SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
		c.mu.Lock()
		c.health.Errors++
		c.mu.Unlock()
	})
	c.client = paho.NewClient(o)
	return c, nil
}

func tlsConfig(b *configs.Broker) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if b.CA != "" {
		pem, err := os.ReadFile(b.CA)
		if err != nil {
			return nil, fmt.Errorf("mqtt broker %s: ca: %w", b.Name, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt broker %s: ca %s: no PEM certificate found", b.Name, b.CA)
		}
	}
	if b.Cert != "" || b.Key != "" {
		if b.Cert == "" || b.Key == "" {
			return nil, fmt.Errorf("mqtt broker %s: cert and key go together", b.Name)
		}
		pair, err := tls.LoadX509KeyPair(b.Cert, b.Key)
		if err != nil {
			return nil, fmt.Errorf("mqtt broker %s: client certificate: %w", b.Name, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// connected runs in its own goroutine (paho starts it) after each CONNACK.
// paho starts the connection-lost handler in a goroutine too, so the two
// may arrive out of order on a fast bounce: each connected call starts a
// new session (gen+1; the previous session's down channel is closed so its
// users settle), and lost ignores a connection that is already back.
func (c *Conn) connected(cl paho.Client) {
	for _, f := range c.onConnect {
		if err := f(cl); err != nil {
			c.log.Error("mqtt on-connect failed", "err", err)
		}
	}
	if !cl.IsConnectionOpen() {
		return // lost again while subscribing; the next connect retries
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up {
		close(c.downCh) // the previous session ended unnoticed
	} else {
		close(c.upCh)
	}
	c.up = true
	c.gen++
	c.downCh = make(chan struct{})
	c.health.State, c.health.LastOK, c.health.Err = "up", c.now(), ""
	c.m.connects.WithLabelValues(c.name).Inc()
	c.log.Info("mqtt connected", "url", c.url)
}

func (c *Conn) lost(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.connLost.WithLabelValues(c.name).Inc()
	c.health.Errors++
	if err != nil {
		c.health.Err = err.Error()
	}
	c.log.Warn("mqtt connection lost", "err", err)
	if !c.up || c.client.IsConnectionOpen() {
		return // already down, or already back (connected starts the new session)
	}
	c.up = false
	c.health.LastOK = c.now()
	c.health.State = "down"
	close(c.downCh)
	c.upCh = make(chan struct{})
}

// State returns whether the connection is up, a channel closed when it is
// (or becomes) up, one closed when it is (or goes) down, and the
// connection's generation (incremented at each connection: a publisher
// that sees a new one starts a new session).
func (c *Conn) State() (up bool, upCh, downCh <-chan struct{}, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up, c.upCh, c.downCh, c.gen
}

// Name is the [[broker]] name (metric label).
func (c *Conn) Name() string { return c.name }

// IsOpen reports whether paho's connection is open right now (State lags
// behind a drop by the time paho takes to call the lost handler).
func (c *Conn) IsOpen() bool { return c.client.IsConnectionOpen() }

// Publish hands a message to paho and returns its token: done when the
// broker acknowledged it (QoS 1) or when it was written (QoS 0). paho keeps
// no store (nullStore): a publish lost with the connection is not sent
// again by paho, the caller decides.
func (c *Conn) Publish(topic string, qos byte, retained bool, payload []byte) paho.Token {
	return c.client.Publish(topic, qos, retained, payload)
}

// Subscribe subscribes to filter at qos on every connection (made again at
// each connect, before the connection is marked up, as the Subscriber's
// are) and hands each message on it to h, in paho's delivery goroutine: h
// must not block (it queues and returns). The uplink's PREFIX/replay and
// PREFIX/notices use it (gateway/outputs). Call before Conns.Run.
func (c *Conn) Subscribe(filter string, qos byte, h func(topic string, payload []byte)) {
	c.onConnect = append(c.onConnect, func(cl paho.Client) error {
		tok := cl.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) { h(m.Topic(), m.Payload()) })
		if !tok.WaitTimeout(10 * time.Second) {
			return fmt.Errorf("mqtt broker %s: subscribe %s: no SUBACK within 10s", c.name, filter)
		}
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt broker %s: subscribe %s: %w", c.name, filter, err)
		}
		if st, ok := tok.(*paho.SubscribeToken); ok && st.Result()[filter] >= 0x80 {
			return fmt.Errorf("mqtt broker %s: subscribe %s refused (code %#x)", c.name, filter, st.Result()[filter])
		}
		return nil
	})
}

// Health returns a copy of the connection's health, ID "mqtt:NAME".
func (c *Conn) Health() drivers.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health
	h.ID = "mqtt:" + c.name
	if h.State == "" {
		h.State = "down"
	}
	if c.up {
		h.LastOK = c.now()
	}
	return h
}

// embedded is an in-process mochi-mqtt broker.
type embedded struct {
	listen string
	hook   *brokerHook // credentials and ACL (acl.go)
	srv    *mochi.Server
}

func (e *embedded) start(log *slog.Logger) error {
	// mochi logs every hook and listener at info; the gateway wants its
	// warnings only.
	quiet := slog.New(minLevel{log.Handler(), slog.LevelWarn}).With("broker", "embedded")
	s := mochi.New(&mochi.Options{InlineClient: true, Logger: quiet})
	if err := s.AddHook(e.hook, nil); err != nil {
		return err
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: e.listen})); err != nil {
		return fmt.Errorf("embedded broker on %s: %w", e.listen, err)
	}
	if err := s.Serve(); err != nil {
		return fmt.Errorf("embedded broker on %s: %w", e.listen, err)
	}
	e.srv = s
	return nil
}

func (e *embedded) stop() error {
	if e.srv == nil {
		return nil
	}
	err := mochiclose.Close(e.srv)
	e.srv = nil
	return err
}

// nullStore keeps nothing. paho re-sends the publishes of its store after
// every automatic reconnect, even with a clean session, under new tokens:
// an alarm event would then reach the receiver twice (once from paho, once
// from the journal replay). The journal is our store; paho's is not needed.
type nullStore struct{}

func (nullStore) Open()                              {}
func (nullStore) Put(string, ppackets.ControlPacket) {}
func (nullStore) Get(string) ppackets.ControlPacket  { return nil }
func (nullStore) All() []string                      { return nil }
func (nullStore) Del(string)                         {}
func (nullStore) Close()                             {}
func (nullStore) Reset()                             {}

// minLevel is a slog.Handler that drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }
