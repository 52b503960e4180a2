package outputs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazardgw/alarms"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
	"hazardgw/store/wal"
)

// Events is the alarm journal as the uplink and notify targets read it
// (alarms.Engine provides it): the events with seq > after, oldest first,
// at most limit.
type Events interface {
	Events(after uint64, limit int) ([]alarms.Event, error)
}

// entry is one message of a publisher's source: its position in the
// source (an alarm seq, or a notice acknowledgement's record number) and
// its payload. A nil payload is not published but moves the cursor (an
// event a notify target does not want).
type entry struct {
	seq     uint64
	payload []byte
}

// source reads a durable log after a position: the entries with seq >
// after, oldest first, at most limit.
type source func(after uint64, limit int) ([]entry, error)

// eventSource reads the alarm journal: each event in its wire form (SPEC
// §6), those filter refuses without payload.
func eventSource(src Events, filter func(*alarms.Event) bool) source {
	return func(after uint64, limit int) ([]entry, error) {
		evs, err := src.Events(after, limit)
		if err != nil {
			return nil, fmt.Errorf("read journal after %d: %w", after, err)
		}
		out := make([]entry, len(evs))
		for i := range evs {
			out[i].seq = evs[i].Seq
			if filter != nil && !filter(&evs[i]) {
				continue
			}
			if out[i].payload, err = json.Marshal(&evs[i]); err != nil {
				return nil, fmt.Errorf("marshal event %d: %w", evs[i].Seq, err)
			}
		}
		return out, nil
	}
}

// publisher publishes the entries of a durable source (the alarm journal;
// the notice acknowledgements) to one topic, in order, each after the
// previous one was acknowledged (PUBACK at QoS 1), and keeps a durable
// cursor: the last position acknowledged. Event only wakes it, so the
// engine never waits and no event is ever dropped: whatever is not yet
// acknowledged is read again from the source after a reconnect or a
// restart.
type publisher struct {
	target     string // metric label and log name: "uplink", the notify name or "notice-ack"
	conn       *mqtt.Conn
	topic      string
	qos        byte
	src        source
	cursorPath string
	cursor     uint64
	durable    *atomic.Uint64 // the cursor as last read from or written to its file (any goroutine)
	startSeq   uint64         // cursor when no cursor file exists yet
	mark       *wal.Mark      // the cursor file (run and flush only)
	// resendOnDamage: a damaged cursor file resends the whole journal
	// (the uplink) instead of starting at startSeq (notify).
	resendOnDamage bool
	wake           chan struct{}
	backoff        drivers.Backoff // after an interrupted publish
	log            *slog.Logger
	m              *metrics

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

	// replay answers PREFIX/replay (the uplink only; nil otherwise).
	replay *replay
}

func newPublisher(target string, conn *mqtt.Conn, topic string, qos byte, src source, cursorPath string, opts *Options, startSeq uint64, m *metrics) publisher {
	return publisher{target: target, conn: conn, topic: topic, qos: qos, src: src,
		cursorPath: cursorPath, startSeq: startSeq, wake: make(chan struct{}, 1), durable: new(atomic.Uint64),
		backoff: drivers.Backoff{Min: time.Second, Max: 5 * time.Second},
		log:     opts.Log.With("broker", conn.Name()), m: m}
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

// loadCursor opens the cursor file, a wal.Mark (written in place, so a
// full disk does not stop it). A missing file starts at startSeq; a file
// of the old format (the seq as text) is taken over. A damaged file (both
// slots fail their CRC) is reported (ERROR) and falls back to a cursor
// that skips nothing the target must have: the uplink resends from the
// start of the journal (the platform sees repeated seqs, never a gap); a
// notify target, whose messages go to people, starts from startSeq (the
// events from now on) rather than resend the history. Only an I/O error
// is returned.
func (p *publisher) loadCursor() error {
	dir := filepath.Dir(p.cursorPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mqtt %s: cursor: %w", p.target, err)
	}
	b, err := os.ReadFile(p.cursorPath)
	fresh := errors.Is(err, os.ErrNotExist)
	if err != nil && !fresh {
		return fmt.Errorf("mqtt %s: cursor: %w", p.target, err)
	}
	legacy, lerr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if !fresh && lerr == nil && len(b) < 32 {
		// The old text cursor: replaced by a mark holding the same seq.
		if err := os.Remove(p.cursorPath); err != nil {
			return fmt.Errorf("mqtt %s: cursor: %w", p.target, err)
		}
		fresh = true
	}
	m, err := wal.OpenMark(p.cursorPath)
	if err != nil && !errors.Is(err, wal.ErrMarkDamaged) {
		return fmt.Errorf("mqtt %s: cursor: %w", p.target, err)
	}
	p.mark = m
	v, ok := m.Value()
	switch {
	case err != nil:
		v = p.startSeq
		if p.resendOnDamage {
			v = 0
		}
		p.log.Error("mqtt cursor file damaged; falling back", "target", p.target, "file", p.cursorPath,
			"resend_after", v, "err", err)
	case fresh && lerr == nil && len(b) > 0:
		v = legacy
	case !ok:
		v = p.startSeq
	}
	if !ok || err != nil {
		if err := m.Store(v, true); err != nil {
			return fmt.Errorf("mqtt %s: cursor: %w", p.target, err)
		}
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("mqtt %s: cursor: %w", p.target, err)
		}
	}
	p.cursor = v
	p.durable.Store(v)
	p.m.cursor.WithLabelValues(p.target).Set(float64(v))
	return nil
}

func syncDir(dir string) error { return wal.SyncDir(dir) }

// saveCursor writes the cursor durably (in place, fsync).
func (p *publisher) saveCursor() error {
	if p.mark == nil {
		return errors.New("cursor file not open")
	}
	if err := p.mark.Store(p.cursor, true); err != nil {
		return err
	}
	p.durable.Store(p.cursor)
	return nil
}

// closeCursor closes the cursor file (after the final flush).
func (p *publisher) closeCursor() {
	if p.mark != nil {
		p.mark.Close()
		p.mark = nil
	}
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
		up, upCh, downCh, gen := p.conn.State()
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
		if err == nil && p.replay != nil {
			// One chunk of a replay between two catch-ups of the live
			// stream: a replay delays live events by one chunk at most.
			var r int
			r, err = p.replayChunk(ctx, downCh)
			n += r
		}
		if err != nil && ctx.Err() == nil {
			wait := p.backoff.Next()
			p.log.Warn("mqtt event publish interrupted; resumes from the journal", "target", p.target, "after", p.cursor,
				"err", err, "retry_in", wait.Round(time.Millisecond))
			retry.Reset(wait)
			select {
			case <-retry.C:
			case <-ctx.Done():
			}
			continue
		}
		p.backoff.Reset()
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

// pump publishes the source's entries after the cursor until it is caught
// up, and returns how many entries it went through.
func (p *publisher) pump(ctx context.Context, down <-chan struct{}) (int, error) {
	total := 0
	for {
		es, err := p.src(p.cursor, 256)
		if err != nil {
			return total, err
		}
		if len(es) == 0 {
			return total, nil
		}
		start := p.cursor
		var perr error
		for _, e := range es {
			if e.seq <= p.cursor {
				continue
			}
			if e.payload != nil {
				if perr = p.publish(ctx, down, e); perr != nil {
					break
				}
				p.m.published.WithLabelValues(p.target).Inc()
			}
			p.cursor = e.seq
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

// publish publishes e and waits for its acknowledgement. Interrupted, it
// leaves the publish pending (settle resolves it on the next connection).
func (p *publisher) publish(ctx context.Context, down <-chan struct{}, e entry) error {
	tok, err := p.send(ctx, down, e)
	if tok != nil {
		p.pending, p.pendingSeq = tok, e.seq
	}
	return err
}

// send publishes e and waits for its acknowledgement; interrupted by the
// connection or ctx, it returns the token still in flight.
func (p *publisher) send(ctx context.Context, down <-chan struct{}, e entry) (paho.Token, error) {
	if !p.conn.IsOpen() {
		return nil, errDown
	}
	tok := p.conn.Publish(p.topic, p.qos, false, e.payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("publish %d to %s: %w", e.seq, p.topic, err)
		}
		return nil, nil
	case <-down:
		return tok, errDown
	case <-ctx.Done():
		return tok, ctx.Err()
	}
}

// flush is the final publishing at shutdown: the publish interrupted by
// the cancellation, then the journal's events after the cursor, bounded by
// ctx. It does nothing when the connection is not the one run published on.
func (p *publisher) flush(ctx context.Context) {
	up, _, down, gen := p.conn.State()
	if !up || gen != p.gen {
		return
	}
	p.settle(ctx, down)
	if _, err := p.pump(ctx, down); err != nil {
		p.log.Warn("mqtt final flush incomplete; the rest goes after the restart", "target", p.target, "err", err)
	}
}
