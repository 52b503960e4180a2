package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/drivers"
)

// MaxPayload is the largest payload decoded; a bigger one is bad/decode.
const MaxPayload = 256 << 10

const reasonTooLarge = "payload too large"

// message is one received publish waiting to be decoded.
type message struct {
	topic   string
	payload []byte
	at      time.Time
}

// Subscriber is the drivers.Driver of every mqtt point on one broker. Its
// paho handler only queues the message (bounded queue, drop oldest when
// full, counted in hazardgw_mqtt_queue_dropped_total): it never blocks, so
// keepalives never stall. Read decodes in the Runner's goroutine.
//
// Connect does not dial: the broker's Conn (paho, auto-reconnect) does. It
// waits until the connection is up with its subscriptions made; while the
// broker is unreachable it fails, and the Runner delivers Failed's bad/comm
// samples for every subscribed point, so the engine raises comm.
type Subscriber struct {
	broker  string
	conn    *Conn
	points  []*point
	exact   map[string][]*point
	wild    []*point
	filters map[string]byte // filter -> qos
	q       *drivers.Queue[message]
	scratch []message // Read only
	now     func() time.Time
	m       *metrics
	log     *slog.Logger
	lim     logLimiter
	msgs    prometheus.Counter
	drops   prometheus.Counter

	// ConnectWait is how long Connect waits for the broker before failing
	// (so comm samples flow while it is down). Default 2s.
	ConnectWait time.Duration
	// MaxBatch caps the messages decoded per Read. Default 1024.
	MaxBatch int
}

var _ drivers.Driver = (*Subscriber)(nil)
var _ drivers.Failer = (*Subscriber)(nil)

func newSubscriber(conn *Conn, queue int, now func() time.Time, m *metrics, log *slog.Logger) *Subscriber {
	s := &Subscriber{broker: conn.name, conn: conn, exact: map[string][]*point{}, filters: map[string]byte{},
		q: drivers.NewQueue[message](queue, nil), now: now, m: m, log: log.With("broker", conn.name),
		ConnectWait: 2 * time.Second, MaxBatch: 1024}
	s.lim.every = 10 * time.Second
	s.msgs, s.drops = m.messages.WithLabelValues(conn.name), m.dropped.WithLabelValues(conn.name)
	for _, r := range decodeReasons {
		m.decodeErrors.WithLabelValues(conn.name, reasonLabel(r)) // a series from the start, at 0
	}
	conn.publish = s.enqueue
	conn.onConnect = append(conn.onConnect, s.subscribe)
	return s
}

func (s *Subscriber) add(p *point, qos byte) {
	s.points = append(s.points, p)
	if p.wildcard {
		s.wild = append(s.wild, p)
	} else {
		s.exact[p.topic] = append(s.exact[p.topic], p)
	}
	if q, ok := s.filters[p.topic]; !ok || qos > q {
		s.filters[p.topic] = qos
	}
}

// Broker names the broker this subscriber reads.
func (s *Subscriber) Broker() string { return s.broker }

// subscribe makes every subscription again; called on each connect because
// paho does not restore them after a broker restart with a clean session.
func (s *Subscriber) subscribe(cl paho.Client) error {
	if len(s.filters) == 0 {
		return nil
	}
	tok := cl.SubscribeMultiple(s.filters, nil) // nil: messages go to the default handler
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("mqtt broker %s: subscribe: no SUBACK within 10s", s.broker)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqtt broker %s: subscribe: %w", s.broker, err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code >= 0x80 {
				return fmt.Errorf("mqtt broker %s: subscribe %s refused (code %#x)", s.broker, f, code)
			}
		}
	}
	return nil
}

// enqueue is paho's message handler. Overflow policy (drivers.Queue): drop
// the oldest queued message and count it, so the newest values get through.
func (s *Subscriber) enqueue(topic string, payload []byte) {
	if n := s.q.Push(message{topic: topic, payload: payload, at: s.now()}); n > 0 {
		s.drops.Add(float64(n))
	}
}

// Connect waits until the broker connection is up with its subscriptions.
func (s *Subscriber) Connect(ctx context.Context) error {
	up, upCh, _, _ := s.conn.State()
	if up {
		return nil
	}
	t := time.NewTimer(s.ConnectWait)
	defer t.Stop()
	select {
	case <-upCh:
		return nil
	case <-t.C:
		err := s.conn.Health().Err
		if err == "" {
			err = "broker unreachable"
		}
		return fmt.Errorf("mqtt broker %s: %s: %w", s.broker, err, drivers.ErrNotConnected)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Read returns the samples of the next queued messages (at least one),
// or ErrNotConnected once the connection is lost and the queue is empty.
func (s *Subscriber) Read(ctx context.Context) ([]drivers.Sample, error) {
	for {
		s.scratch = s.q.TakeN(s.scratch[:0], s.MaxBatch)
		if len(s.scratch) > 0 {
			break
		}
		_, _, downCh, _ := s.conn.State()
		select {
		case <-s.q.Wake():
		case <-downCh:
			if s.q.Len() == 0 {
				return nil, fmt.Errorf("mqtt broker %s: connection lost: %w", s.broker, drivers.ErrNotConnected)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make([]drivers.Sample, 0, 8)
	for i := range s.scratch {
		out = s.decode(s.scratch[i], out)
		s.scratch[i] = message{} // the payloads may go
	}
	return out, nil
}

// decode appends the samples of every point m concerns.
func (s *Subscriber) decode(m message, out []drivers.Sample) []drivers.Sample {
	s.msgs.Inc()
	pl := payload{raw: m.payload}
	one := func(p *point) {
		var (
			smp    drivers.Sample
			reason string
			skip   bool
		)
		if len(m.payload) > MaxPayload {
			smp = drivers.Sample{Point: p.id, Time: m.at, Quality: drivers.Bad, Cause: drivers.CauseDecode}
			reason = reasonTooLarge
		} else {
			smp, reason, skip = p.decode(&pl, m.at)
		}
		if skip {
			return
		}
		if reason != "" {
			s.m.decodeErrors.WithLabelValues(s.broker, reasonLabel(reason)).Inc()
			if n, ok := s.lim.allow(m.at); ok {
				s.log.Warn("mqtt payload not decoded", "topic", m.topic, "point", p.id, "reason", reason, "suppressed", n)
			}
		}
		out = append(out, smp)
	}
	for _, p := range s.exact[m.topic] {
		one(p)
	}
	for _, p := range s.wild {
		if matchTopic(p.topic, m.topic) {
			one(p)
		}
	}
	return out
}

// Close does nothing: the connection belongs to the broker's Conn, and
// queued messages stay for the next Read.
func (s *Subscriber) Close() error { return nil }

// Failed returns one bad/comm sample per subscribed point.
func (s *Subscriber) Failed(now time.Time, _ error) []drivers.Sample {
	out := make([]drivers.Sample, len(s.points))
	for i, p := range s.points {
		out[i] = drivers.Sample{Point: p.id, Quality: drivers.Bad, Cause: drivers.CauseComm, Time: now}
	}
	return out
}

// logLimiter lets one line through per period and counts the rest.
type logLimiter struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

func (l *logLimiter) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}

// decodeReasons are every reason a payload is not decoded.
var decodeReasons = []string{reasonEmpty, reasonNotJSON, reasonNoPath, reasonNotNumber, reasonNoTime, reasonBadTime, reasonTooLarge}

// reasonLabel is a reason as a label value: no spaces ("not_json").
func reasonLabel(r string) string { return strings.ReplaceAll(r, " ", "_") }
