package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// Events is the alarm journal as the uplink and notify targets read it
// (alarms.Engine provides it): the events with seq > after, oldest first,
// at most limit.
type Events interface {
	Events(after uint64, limit int) ([]alarms.Event, error)
}

// Output is what the engine feeds (alarms.Output): neither method blocks.
type Output interface {
	Samples(batch []drivers.Sample)
	Event(ev alarms.Event)
}

// publisher publishes alarm events from the journal to one topic, in seq
// order, each after the previous one was acknowledged (PUBACK at QoS 1),
// and keeps a durable cursor: the last seq acknowledged. Event only wakes
// it, so the engine never waits and no event is ever dropped: whatever is
// not yet acknowledged is read again from the journal after a reconnect or
// a restart.
type publisher struct {
	target     string // metric label and log name: "uplink" or the notify name
	conn       *Conn
	topic      string
	qos        byte
	filter     func(*alarms.Event) bool // nil: every event
	src        Events
	cursorPath string
	cursor     uint64
	startSeq   uint64 // cursor when no cursor file exists yet
	wake       chan struct{}
	log        *slog.Logger
	m          *metrics

	// onSession runs once per connection before events are published
	// (the uplink's online status).
	onSession func(ctx context.Context, down <-chan struct{}) error
	gen       uint64

	// pending is the publish that was in flight when the connection went
	// down. paho may still send it on the next connection (it sits in its
	// outbound queue), so it is settled before anything is replayed: if it
	// completes, the cursor moves past it; if not, it is published again.
	pending    paho.Token
	pendingSeq uint64
}

// SettleWait bounds how long a new connection waits for the publish that
// was in flight when the previous one dropped.
const SettleWait = 2 * time.Second

// settle resolves the pending publish at the start of a connection.
func (p *publisher) settle(ctx context.Context, down <-chan struct{}) {
	if p.pending == nil {
		return
	}
	tok, seq := p.pending, p.pendingSeq
	p.pending = nil
	t := time.NewTimer(SettleWait)
	defer t.Stop()
	select {
	case <-tok.Done():
		if tok.Error() == nil && seq > p.cursor {
			p.cursor = seq
			p.m.published.WithLabelValues(p.target).Inc()
			p.m.cursor.WithLabelValues(p.target).Set(float64(seq))
			if err := p.saveCursor(); err != nil {
				p.log.Error("mqtt cursor not saved; events may be sent again after a restart", "target", p.target, "err", err)
			}
		}
	case <-t.C:
	case <-down:
	case <-ctx.Done():
	}
}

// Event wakes the publisher; the event itself is read from the journal.
func (p *publisher) Event(alarms.Event) {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *publisher) loadCursor() error {
	b, err := os.ReadFile(p.cursorPath)
	if errors.Is(err, os.ErrNotExist) {
		p.cursor = p.startSeq
		return nil
	}
	if err != nil {
		return fmt.Errorf("mqtt %s: cursor: %w", p.target, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return fmt.Errorf("mqtt %s: cursor %s: %w", p.target, p.cursorPath, err)
	}
	p.cursor = v
	p.m.cursor.WithLabelValues(p.target).Set(float64(v))
	return nil
}

// saveCursor writes the cursor durably (temp file, fsync, rename).
func (p *publisher) saveCursor() error {
	if err := os.MkdirAll(filepath.Dir(p.cursorPath), 0o755); err != nil {
		return err
	}
	tmp := p.cursorPath + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatUint(p.cursor, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, p.cursorPath)
}

// run publishes until ctx ends. It returns an error only when the cursor
// file cannot be read.
func (p *publisher) run(ctx context.Context) error {
	if err := p.loadCursor(); err != nil {
		return err
	}
	retry := time.NewTimer(0)
	<-retry.C
	for ctx.Err() == nil {
		up, upCh, downCh, gen := p.conn.state()
		if !up {
			select {
			case <-upCh:
			case <-ctx.Done():
			}
			continue
		}
		if gen != p.gen {
			if p.onSession != nil {
				if err := p.onSession(ctx, downCh); err != nil {
					p.log.Warn("mqtt session start failed", "err", err)
					select {
					case <-downCh:
					case <-ctx.Done():
					}
					continue
				}
			}
			p.gen = gen
			p.settle(ctx, downCh)
		}
		n, err := p.pump(ctx, downCh)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("mqtt event publish interrupted; resumes from the journal", "target", p.target, "after", p.cursor, "err", err)
			retry.Reset(time.Second)
			select {
			case <-retry.C:
			case <-ctx.Done():
			}
			continue
		}
		if n == 0 {
			retry.Reset(10 * time.Second) // a safety net; Event wakes us
			select {
			case <-p.wake:
			case <-downCh:
			case <-retry.C:
			case <-ctx.Done():
			}
			if !retry.Stop() {
				select {
				case <-retry.C:
				default:
				}
			}
		}
	}
	return nil
}

var errDown = errors.New("connection lost")

// pump publishes the journal's events after the cursor until it is caught
// up, and returns how many journal events it went through.
func (p *publisher) pump(ctx context.Context, down <-chan struct{}) (int, error) {
	total := 0
	for {
		evs, err := p.src.Events(p.cursor, 256)
		if err != nil {
			return total, fmt.Errorf("read journal after %d: %w", p.cursor, err)
		}
		if len(evs) == 0 {
			return total, nil
		}
		start := p.cursor
		var perr error
		for i := range evs {
			ev := &evs[i]
			if ev.Seq <= p.cursor {
				continue
			}
			if p.filter == nil || p.filter(ev) {
				if perr = p.publish(ctx, down, ev); perr != nil {
					break
				}
				p.m.published.WithLabelValues(p.target).Inc()
			}
			p.cursor = ev.Seq
			total++
		}
		if p.cursor != start {
			if err := p.saveCursor(); err != nil {
				p.log.Error("mqtt cursor not saved; events may be sent again after a restart", "target", p.target, "err", err)
			}
			p.m.cursor.WithLabelValues(p.target).Set(float64(p.cursor))
		}
		if perr != nil {
			return total, perr
		}
		if p.cursor == start {
			return total, nil // nothing newer (a source returning old events)
		}
	}
}

func (p *publisher) publish(ctx context.Context, down <-chan struct{}, ev *alarms.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("marshal event %d: %w", ev.Seq, err)
	}
	if !p.conn.client.IsConnectionOpen() {
		return errDown
	}
	tok := p.conn.client.Publish(p.topic, p.qos, false, b)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish event %d to %s: %w", ev.Seq, p.topic, err)
		}
		return nil
	case <-down:
		p.pending, p.pendingSeq = tok, ev.Seq
		return errDown
	case <-ctx.Done():
		p.pending, p.pendingSeq = tok, ev.Seq
		return ctx.Err()
	}
}

// Notifier is one [[notify]] target of kind mqtt: it publishes the events
// whose Notify names it, at its qos, in seq order, replaying from the
// journal after an outage like the uplink.
type Notifier struct{ publisher }

var (
	_ Output        = (*Notifier)(nil)
	_ alarms.Output = (*Notifier)(nil)
)

// Name is the [[notify]] name.
func (n *Notifier) Name() string { return n.target }

// Samples does nothing: notify targets receive alarm events only.
func (n *Notifier) Samples([]drivers.Sample) {}

// Uplink feeds the emergency command platform (SPEC §10): PREFIX/status
// (retained, with the offline will), PREFIX/alarms (every event, QoS 1,
// seq order, replayed from the journal after an outage) and PREFIX/samples
// (batches every samples_every).
//
// Samples overflow policy: at most MaxSamples samples wait for the next
// batch; beyond that the oldest are dropped and counted. Samples due while
// the broker is unreachable are dropped and counted (the store keeps the
// history; alarm events are never dropped).
type Uplink struct {
	publisher
	site   string
	prefix string
	every  time.Duration
	now    func() time.Time

	// MaxSamples bounds the samples buffer. Default 100,000.
	MaxSamples int
	// Chunk is the most samples in one PREFIX/samples message. Default 1000.
	Chunk int

	mu   sync.Mutex
	ring []drivers.Sample // MaxSamples long once used
	head int
	n    int
}

var (
	_ Output        = (*Uplink)(nil)
	_ alarms.Output = (*Uplink)(nil)
)

// Samples buffers a batch for the next PREFIX/samples message. It never
// blocks and costs O(len(batch)); see the overflow policy above.
func (u *Uplink) Samples(batch []drivers.Sample) {
	u.mu.Lock()
	if u.ring == nil {
		u.ring = make([]drivers.Sample, u.MaxSamples)
	}
	dropped := 0
	for _, x := range batch {
		if u.n == len(u.ring) { // full: overwrite the oldest
			u.ring[u.head] = x
			u.head = (u.head + 1) % len(u.ring)
			dropped++
			continue
		}
		u.ring[(u.head+u.n)%len(u.ring)] = x
		u.n++
	}
	u.mu.Unlock()
	if dropped > 0 {
		u.m.samplesDrop.WithLabelValues(u.conn.name).Add(float64(dropped))
	}
}

// take removes and returns the buffered samples, oldest first.
func (u *Uplink) take() []drivers.Sample {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]drivers.Sample, u.n)
	for i := range out {
		out[i] = u.ring[(u.head+i)%len(u.ring)]
	}
	u.head, u.n = 0, 0
	return out
}

type statusMsg struct {
	Site   string `json:"site"`
	Status string `json:"status"`
	Time   string `json:"time"`
}

func statusPayload(site, status string, now time.Time) []byte {
	b, _ := json.Marshal(statusMsg{Site: site, Status: status, Time: alarms.FormatTime(now)})
	return b
}

// online publishes the retained online status at each new connection.
func (u *Uplink) online(ctx context.Context, down <-chan struct{}) error {
	tok := u.conn.client.Publish(u.prefix+"/status", 1, true, statusPayload(u.site, "online", u.now()))
	select {
	case <-tok.Done():
		return tok.Error()
	case <-down:
		return errDown
	case <-ctx.Done():
		return ctx.Err()
	}
}

// offline publishes the retained offline status (clean shutdown).
func (u *Uplink) offline(timeout time.Duration) error {
	if up, _, _, _ := u.conn.state(); !up {
		return nil
	}
	tok := u.conn.client.Publish(u.prefix+"/status", 1, true, statusPayload(u.site, "offline", u.now()))
	if !tok.WaitTimeout(timeout) {
		return fmt.Errorf("mqtt uplink: offline status not acknowledged within %v", timeout)
	}
	return tok.Error()
}

type sampleJSON struct {
	Point   drivers.PointID `json:"point"`
	Value   *float64        `json:"value"`
	Quality drivers.Quality `json:"quality"`
	Cause   drivers.Cause   `json:"cause,omitempty"`
	Time    string          `json:"time"`
}

type samplesMsg struct {
	Site    string       `json:"site"`
	Samples []sampleJSON `json:"samples"`
}

// runSamples publishes the buffered samples every period until ctx ends.
func (u *Uplink) runSamples(ctx context.Context) {
	t := time.NewTicker(u.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			u.flushSamples()
		}
	}
}

func (u *Uplink) flushSamples() {
	buf := u.take()
	if len(buf) == 0 {
		return
	}
	if up, _, _, _ := u.conn.state(); !up {
		u.m.samplesDrop.WithLabelValues(u.conn.name).Add(float64(len(buf)))
		return
	}
	for len(buf) > 0 {
		n := min(len(buf), u.Chunk)
		msg := samplesMsg{Site: u.site, Samples: make([]sampleJSON, n)}
		for i, s := range buf[:n] {
			v := s.Value
			msg.Samples[i] = sampleJSON{Point: s.Point, Value: &v, Quality: s.Quality, Cause: s.Cause, Time: alarms.FormatTime(s.Time)}
			if v != v || v > 1e308 || v < -1e308 { // NaN or Inf
				msg.Samples[i].Value = nil
			}
		}
		b, err := json.Marshal(msg)
		if err == nil {
			u.conn.client.Publish(u.prefix+"/samples", 0, false, b) // QoS 0: not awaited
			u.m.samplesSent.WithLabelValues(u.conn.name).Add(float64(n))
		}
		buf = buf[n:]
	}
}

// notifyFilter selects the events whose Notify names the target.
func notifyFilter(name string) func(*alarms.Event) bool {
	return func(ev *alarms.Event) bool { return slices.Contains(ev.Notify, name) }
}
