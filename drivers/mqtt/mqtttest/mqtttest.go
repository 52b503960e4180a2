package mqtttest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"hazardgw/drivers/mqtt/mochiclose"
	"hazardgw/internal/testenv"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is one running (or stopped) broker on a fixed loopback address.
type Broker struct {
	// URL is what a paho client dials: tcp://127.0.0.1:PORT, or
	// ssl://127.0.0.1:PORT when the broker speaks TLS.
	URL string
	// Addr is host:port.
	Addr string

	t     testing.TB
	mu    sync.Mutex
	start func() error
	stop  func()
	up    bool
}

// Stop stops the broker (clients see the connection drop). Stopping a
// stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.up {
		b.stop()
		b.up = false
	}
}

// Start starts a stopped broker again on the same port. It fails the test
// when the broker cannot start.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.up {
		return
	}
	if err := b.start(); err != nil {
		b.t.Fatalf("mqtttest: restart broker on %s: %v", b.Addr, err)
	}
	b.up = true
}

// Restart stops and starts the broker.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.Start()
}

// MochiOptions configures StartMochiWith.
type MochiOptions struct {
	Username, Password string      // when set, only this user may connect
	TLS                *tls.Config // when set, the listener speaks TLS (URL is ssl://, or wss:// with Websocket)
	Websocket          bool        // MQTT over websocket (URL is ws:// or wss://)
	Hooks              []mochi.Hook
}

// StartMochi starts an in-process mochi-mqtt broker allowing everyone.
func StartMochi(t testing.TB) *Broker { return StartMochiWith(t, MochiOptions{}) }

// StartMochiWith starts an in-process mochi-mqtt broker.
func StartMochiWith(t testing.TB, o MochiOptions) *Broker {
	t.Helper()
	addr := testenv.FreeAddr(t)
	scheme := "tcp"
	switch {
	case o.Websocket && o.TLS != nil:
		scheme = "wss"
	case o.Websocket:
		scheme = "ws"
	case o.TLS != nil:
		scheme = "ssl"
	}
	var srv *mochi.Server
	b := &Broker{URL: scheme + "://" + addr, Addr: addr, t: t}
	if o.Websocket {
		b.URL += "/mqtt"
	}
	b.start = func() error {
		s := mochi.New(&mochi.Options{InlineClient: true, Logger: discard()})
		if err := s.AddHook(&authHook{user: o.Username, pass: o.Password}, nil); err != nil {
			return err
		}
		for _, h := range o.Hooks {
			if err := s.AddHook(h, nil); err != nil {
				return err
			}
		}
		var l listeners.Listener = listeners.NewTCP(listeners.Config{ID: "t", Address: addr, TLSConfig: o.TLS})
		if o.Websocket {
			l = listeners.NewWebsocket(listeners.Config{ID: "t", Address: addr, TLSConfig: o.TLS})
		}
		if err := s.AddListener(l); err != nil {
			return err
		}
		if err := s.Serve(); err != nil {
			return err
		}
		srv = s
		return nil
	}
	b.stop = func() { _ = mochiclose.Close(srv) }
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// Message is one received message.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	QoS      byte
	// Session counts the collector's connections: 1 for messages received
	// on its first connection, 2 after its first reconnect, and so on.
	Session int
}

// Collector holds the messages a test subscriber received.
type Collector struct {
	Client paho.Client

	mu      sync.Mutex
	msgs    []Message
	session int
	wake    chan struct{}
}

// Messages returns a copy of everything received so far.
func (c *Collector) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs...)
}

// Session returns how many times the collector has connected.
func (c *Collector) Session() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Wait returns the messages once ok(messages) holds, or fails the test
// after timeout.
func (c *Collector) Wait(t testing.TB, timeout time.Duration, ok func([]Message) bool) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m := c.Messages()
		if ok(m) {
			return m
		}
		select {
		case <-c.wake:
		case <-deadline.C:
			t.Fatalf("mqtttest: condition not met within %v; %d messages received", timeout, len(m))
			return nil
		}
	}
}

// WaitN waits for at least n messages.
func (c *Collector) WaitN(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	return c.Wait(t, timeout, func(m []Message) bool { return len(m) >= n })
}

// ClientOptions are the options the helpers' own clients use against b
// (auto-reconnect, subscriptions made again on connect by the helpers).
func (b *Broker) ClientOptions(id string) *paho.ClientOptions {
	o := paho.NewClientOptions().AddBroker(b.URL).SetClientID(id).
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectTimeout(2 * time.Second)
	return o
}

// Subscribe connects a fresh client (with opts applied, e.g. credentials or
// TLS), subscribes to filter at qos, and collects every message. The
// subscription is made again after a broker restart. It returns once the
// first subscription is acknowledged.
func (b *Broker) Subscribe(t testing.TB, filter string, qos byte, opts ...func(*paho.ClientOptions)) *Collector {
	t.Helper()
	c := &Collector{wake: make(chan struct{}, 1)}
	subscribed := make(chan error, 1)
	o := b.ClientOptions(fmt.Sprintf("mqtttest-sub-%d", time.Now().UnixNano()))
	for _, f := range opts {
		f(o)
	}
	o.SetOnConnectHandler(func(cl paho.Client) {
		c.mu.Lock()
		c.session++
		c.mu.Unlock()
		tok := cl.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
			c.mu.Lock()
			c.msgs = append(c.msgs, Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained(), QoS: m.Qos(), Session: c.session})
			c.mu.Unlock()
			select {
			case c.wake <- struct{}{}:
			default:
			}
		})
		tok.Wait()
		select {
		case subscribed <- tok.Error():
		default:
		}
	})
	c.Client = paho.NewClient(o)
	c.Client.Connect()
	t.Cleanup(func() { c.Client.Disconnect(100) })
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("mqtttest: subscribe %s: %v", filter, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("mqtttest: subscribe %s on %s: not connected within 10s", filter, b.URL)
	}
	return c
}

// Publisher connects a client for publishing and returns it once connected.
func (b *Broker) Publisher(t testing.TB, opts ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := b.ClientOptions(fmt.Sprintf("mqtttest-pub-%d", time.Now().UnixNano()))
	for _, f := range opts {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: connect publisher to %s: %v", b.URL, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// waitListening dials addr until it accepts or ctx ends.
func waitListening(ctx context.Context, addr string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not listening: %w", addr, err)
		case <-tick.C:
		}
	}
}

// authHook lets everyone in, or only user/pass when user is set. (mochi's
// hooks/auth package would pull in yaml.v3, which go.mod does not have.)
type authHook struct {
	mochi.HookBase
	user, pass string
}

func (h *authHook) ID() string { return "mqtttest-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	return h.user == "" || (string(pk.Connect.Username) == h.user && string(pk.Connect.Password) == h.pass)
}

func (h *authHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool { return true }
