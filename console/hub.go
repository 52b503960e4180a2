package console

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// hub is the one goroutine that owns the clients, the materialized alarm
// table, the latest sample of every configured point and the replay ring.
// Everything else reaches it through req (functions run in the hub, in
// order) or the queue from the engine.
type hub struct {
	s       *Server
	queue   *alarms.Queue
	req     chan func()
	running atomic.Bool
	ready   chan struct{} // closed once the hub holds the engine's table
	stopped chan struct{}

	// Owned by the hub goroutine.
	clients  map[*client]struct{}
	alarms   map[string]alarms.Event
	seq      uint64
	ring     []alarms.Event     // the last events, oldest first, consecutive seqs
	latest   latest             // the latest sample of every row of s.table
	pending  [][]drivers.Sample // batches since the last flush (read-only, shared)
	pendingN int                // samples in pending
	frame    framer             // the samples frame being built
	batches  drivers.ShapeCache // point indexes per batch shape (reset at a reload)
	// framesBuilt counts samples frames built (tests: none without a client).
	framesBuilt int
}

func newHub(s *Server) *hub {
	h := &hub{s: s, req: make(chan func()), ready: make(chan struct{}), stopped: make(chan struct{}),
		clients: map[*client]struct{}{}, alarms: map[string]alarms.Event{},
		latest: newLatest(s.table.Load().len())}
	h.queue = alarms.NewQueue(s.opts.SampleBuffer)
	return h
}

var errHubStopped = errors.New("console is not running")

// Queue returns the queue between the engine and the hub (depth and drops,
// for /metrics: a hub that lags shows here).
func (s *Server) Queue() *alarms.Queue { return s.hub.queue }

// call runs f in the hub goroutine and waits for it.
func (h *hub) call(ctx context.Context, f func()) error {
	if !h.running.Load() {
		return errHubStopped
	}
	done := make(chan struct{})
	select {
	case h.req <- func() { f(); close(done) }:
	case <-h.stopped:
		return errHubStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// post runs f in the hub goroutine without waiting; false when the hub
// has stopped.
func (h *hub) post(f func()) bool {
	select {
	case h.req <- f:
		return true
	case <-h.stopped:
		return false
	}
}

func (h *hub) run(ctx context.Context) {
	e := h.s.deps.Engine
	// Seq first, then the table: events after seq that the table already
	// reflects are applied again, which converges (each event carries the
	// alarm's whole state).
	h.seq = e.Seq()
	for _, ev := range e.Alarms() {
		h.alarms[ev.ID] = ev
	}
	h.running.Store(true)
	close(h.ready)
	defer close(h.stopped)
	tick := newTicker(h.s.opts.FlushEvery)
	defer tick.Stop()
	for {
		h.drainEvents() // alarm events go ahead of everything else
		select {
		case <-ctx.Done():
			h.running.Store(false)
			for c := range h.clients {
				delete(h.clients, c)
				c.kick(closeGoingAway, "gateway shutting down")
			}
			h.s.metrics.clients.Set(0)
			return
		case <-h.queue.Wake():
			h.drainEvents()
			h.drainSamples()
		case f := <-h.req:
			f()
		case <-tick.C:
			h.flush()
		}
	}
}

func (h *hub) drainEvents() {
	for _, ev := range h.queue.TakeEvents() {
		if ev.Seq <= h.seq {
			continue // already in the table read at start
		}
		if h.seq != 0 && ev.Seq != h.seq+1 {
			h.s.log.Warn("console: gap in alarm events", "have", h.seq, "got", ev.Seq)
			h.ring = h.ring[:0] // the ring must hold consecutive seqs
		}
		h.apply(ev)
		frame := mustJSON(alarmFrame{Type: "alarm", Alarm: ev})
		for c := range h.clients {
			h.sendReliable(c, frame)
		}
		h.s.metrics.alarmFrames.Add(float64(len(h.clients)))
	}
}

func (h *hub) apply(ev alarms.Event) {
	if ev.State == alarms.Normal {
		delete(h.alarms, ev.ID)
	} else {
		h.alarms[ev.ID] = ev
	}
	h.seq = ev.Seq
	h.ring = append(h.ring, ev)
	if n := h.s.opts.Ring; len(h.ring) > 2*n {
		h.ring = append(h.ring[:0:0], h.ring[len(h.ring)-n:]...)
	}
}

// flushAt is the pending size that flushes before the period ends, so one
// frame stays small.
const flushAt = 2000

// drainSamples records the latest sample of every point (for snapshots)
// and keeps the batches (read-only, shared) for the next flush. Nothing is
// formatted here: flush builds frames only when a client is connected.
func (h *hub) drainSamples() {
	for _, b := range h.queue.TakeSamples() {
		idx := h.batches.Indexes(b, h.lookup)
		for j := range b {
			if i := idx[j]; i >= 0 {
				h.latest.set(int(i), &b[j])
			}
		}
		h.pending = append(h.pending, b)
		h.pendingN += len(b)
		if h.pendingN >= flushAt {
			h.flush()
		}
	}
}

// lookup is the row of p in the point table (and h.latest); -1 for a
// point the config does not know.
func (h *hub) lookup(p drivers.PointID) int32 {
	i, _ := h.s.table.Load().row(string(p))
	return int32(i)
}

// flush sends the pending samples to every client, in frames of at most
// flushAt samples. A client whose samples queue is full loses a frame
// (counted). With no client connected the pending batches are let go
// unformatted: a client that connects later gets the latest values in its
// snapshot.
func (h *hub) flush() {
	if len(h.clients) > 0 {
		for _, b := range h.pending {
			for k := range b {
				h.frame.add(&b[k])
				if h.frame.n == flushAt {
					h.sendSamples()
				}
			}
		}
		h.sendSamples()
	}
	clear(h.pending) // let the batches go
	h.pending, h.pendingN = h.pending[:0], 0
}

func (h *hub) sendSamples() {
	frame := h.frame.frame()
	if frame == nil {
		return
	}
	h.framesBuilt++
	for c := range h.clients {
		select {
		case c.samples <- frame:
		default:
			h.s.metrics.samplesDropped.WithLabelValues("client").Inc()
		}
	}
}

// sendReliable queues a frame that must not be lost; a client whose queue
// is full is disconnected (it must reconnect and resume).
func (h *hub) sendReliable(c *client, frame []byte) bool {
	select {
	case c.reliable <- frame:
		return true
	default:
		delete(h.clients, c)
		h.s.metrics.clients.Set(float64(len(h.clients)))
		h.s.metrics.disconnects.WithLabelValues("slow").Inc()
		c.kick(closePolicy, "alarm queue overflow: reconnect and resume")
		return false
	}
}

func (h *hub) register(c *client) {
	h.clients[c] = struct{}{}
	h.s.metrics.clients.Set(float64(len(h.clients)))
	s := h.s
	hello := helloFrame{Type: "hello", Site: s.cfg.Site.ID, SiteName: s.cfg.Site.Name, User: c.id.user,
		Role: c.id.role.String(), Seq: h.seq, ServerTime: alarms.FormatTime(s.opts.Now()),
		MaxShelve: s.cfg.Console.MaxShelve.D().String()}
	h.sendReliable(c, mustJSON(hello))
	h.sendSnapshot(c)
	if c.resumeFrom != nil {
		h.resume(c, *c.resumeFrom)
	}
}

func (h *hub) unregister(c *client) {
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.s.metrics.clients.Set(float64(len(h.clients)))
	}
	c.kick(closeNormal, "")
}

func (h *hub) snapshot() []byte {
	return mustJSON(snapshotFrame{Type: "snapshot", Seq: h.seq, Flood: h.s.deps.Engine.Flood(),
		Points: h.points(), Alarms: h.alarmList(), Linkages: h.s.linkViews(), Notices: h.s.openNotices(),
		Votes: h.s.votes(), Deviations: h.s.deviations()})
}

func (h *hub) points() []pointJSON {
	t := h.s.table.Load()
	out := make([]pointJSON, t.len())
	for i := range out {
		out[i] = t.json(i, &h.latest)
	}
	return out
}

func (h *hub) alarmList() []alarms.Event {
	out := make([]alarms.Event, 0, len(h.alarms))
	for _, ev := range h.alarms {
		out = append(out, ev)
	}
	slices.SortFunc(out, func(a, b alarms.Event) int { return compareU64(a.Seq, b.Seq) })
	return out
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// resume replays to c the events after seq that it did not get live: the
// ones up to the snapshot it was sent at connect (c.snapSeq); everything
// after that reached it live. Each event thus reaches the client once, and
// the replay is in seq order. When the ring and the journal no longer reach
// back to seq+1, or the replay would not fit the client's queue, or seq is
// ahead of the console (a gateway whose journal was lost), c gets a fresh
// snapshot instead.
//
// A client that sends resume as a command may get live events (after its
// snapshot) before the replay; one that connects with /ws?resume=SEQ gets
// hello, snapshot, the replay, then live, strictly in that order.
func (h *hub) resume(c *client, seq uint64) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	upto := c.snapSeq
	switch {
	case seq > h.seq || upto > seq && upto-seq > uint64(h.s.opts.AlarmQueue/2):
		h.sendSnapshot(c)
		return
	case seq >= upto:
		return
	}
	want := int(upto - seq)
	var evs []alarms.Event
	if len(h.ring) > 0 && h.ring[0].Seq <= seq+1 && h.ring[len(h.ring)-1].Seq >= upto {
		evs = h.ring[seq+1-h.ring[0].Seq:]
	} else {
		// Rare (a client away for longer than the ring): read the
		// journal here, in the hub, bounded by want.
		j, err := h.s.deps.Engine.Events(seq, want)
		if err != nil {
			h.s.log.Warn("console: resume: journal", "err", err)
		}
		evs = j
	}
	if len(evs) < want || evs[0].Seq != seq+1 || evs[want-1].Seq != upto {
		h.sendSnapshot(c)
		return
	}
	for _, ev := range evs[:want] {
		if !h.sendReliable(c, mustJSON(alarmFrame{Type: "alarm", Alarm: ev})) {
			return
		}
	}
}

func (h *hub) sendSnapshot(c *client) {
	c.snapSeq = h.seq
	h.sendReliable(c, h.snapshot())
}
