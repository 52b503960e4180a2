package alarms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Output receives everything the engine produces, in order. Neither method
// may block: each output keeps its own queue with a written overflow policy.
type Output interface {
	Samples(batch []drivers.Sample) // read-only batch; may be dropped under overload
	Event(ev Event)                 // never dropped
}

// Options are the engine's injected dependencies.
type Options struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics not registered
	Now        func() time.Time      // nil: time.Now
	// Queue is the input channel's capacity in batches (default 512: two
	// full groups, so drivers keep polling while a group commits).
	Queue int
}

// Health is a copy of the engine's state for /api/health and logs.
type Health struct {
	Seq        uint64 `json:"seq"`
	Flood      bool   `json:"flood"`
	Active     int    `json:"active"`  // alarms not normal
	Unacked    int    `json:"unacked"` // unack or rtn_unack
	JournalErr string `json:"journal_error,omitempty"`
	// JournalDamage summarizes damage found in the journal since it was
	// opened (records lost, snapshot or seq mark unreadable): raises
	// _GW.JOURNAL until the gateway restarts.
	JournalDamage string `json:"journal_damage,omitempty"`
}

// Engine runs the Machine in one goroutine (Run), journals every event
// before any Output sees it, and answers commands.
type Engine struct {
	m    *Machine
	j    *Journal
	log  *slog.Logger
	now  func() time.Time
	met  *metrics
	outs []Output

	in      chan item
	closing chan struct{}
	closed  sync.Once
	quit    chan struct{} // closed when Run returns

	seq   atomic.Uint64
	flood atomic.Bool
	// sending counts Sink calls under way (stamped, not yet queued): the
	// input is known complete up to a time only when none is (Run).
	sending atomic.Int64
	// judged is the input watermark stale was last judged at, taken the
	// one step will judge it at (unix ns, engine clock): every batch handed
	// to Sink before it has been (will have been) evaluated. Run only;
	// Machine.AdvanceTo.
	judged, taken int64

	mu      sync.RWMutex
	current map[string]Event // every alarm not normal, by id
	jerr    string

	pending   []Event // events of the batch being committed
	sinceSnap int     // events journaled since the last snapshot (Run only)
	replies   []reply
}

type item struct {
	samples []drivers.Sample
	at      int64 // engine clock when Sink was called (unix ns); 0 for a command
	cmd     *request
}

type request struct {
	c     Command
	cfg   *configs.Config // non-nil: a reload (Reload) instead of c
	reply chan reply
}

type reply struct {
	ev  Event
	err error
}

// New builds the engine for cfg and restores every alarm's state from the
// journal (snapshot, then the records after it). It starts nothing.
func New(cfg *configs.Config, j *Journal, opts Options) (*Engine, error) {
	if j == nil {
		return nil, errors.New("alarms: nil journal")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := NewMachine(cfg, now())
	if err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	t := now()
	// last is each alarm's latest journaled event: after a restart the
	// current alarms are shown exactly as they were last emitted (same seq,
	// time and value), not as fresh events without a seq.
	last := map[string]Event{}
	if err := j.Replay(func(ev Event) { m.Restore(ev, t); last[ev.ID] = ev }); err != nil {
		return nil, fmt.Errorf("alarms: restore: %w", err)
	}
	// Floor, not the last record: a seq shown before a crash, a damaged
	// segment or a full disk is never given to another event.
	m.seq = max(m.seq, j.Floor())
	if opts.Queue <= 0 {
		opts.Queue = 512
	}
	e := &Engine{
		m: m, j: j, log: log.With("component", "alarms"), now: now,
		met:     newMetrics(opts.Registerer),
		in:      make(chan item, opts.Queue),
		closing: make(chan struct{}),
		quit:    make(chan struct{}),
		current: map[string]Event{},
		judged:  t.UnixNano(),
		taken:   t.UnixNano(),
	}
	j.observe = func(d time.Duration) { e.met.fsync.Observe(d.Seconds()) }
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "hazardgw_alarm_journal_damaged_records_total",
			Help: "Journal records lost to damage (skipped at open or read) since the gateway started.",
		}, func() float64 { return float64(j.Damage().Records) }))
	}
	for _, ev := range m.Current(t) {
		if l, ok := last[ev.ID]; ok && l.State == ev.State {
			ev = l
		}
		e.current[ev.ID] = ev
	}
	e.seq.Store(m.seq)
	e.met.active.Set(float64(len(e.current)))
	return e, nil
}

// Sink is the drivers' input. It blocks while the engine's queue is full
// (back-pressure) and never drops; after Run has returned it discards. The
// time drivers spend blocked is counted
// (hazardgw_alarm_sink_blocked_seconds_total): it is the one place where a
// slow engine slows polling.
//
// The batch is stamped with the engine's clock when Sink is called, before
// any wait: the time a driver spends blocked here, or its batch in the
// queue, never counts against the freshness of its points (Run's input
// watermark).
func (e *Engine) Sink() drivers.Sink {
	return func(b []drivers.Sample) {
		if len(b) == 0 {
			return
		}
		e.sending.Add(1)
		defer e.sending.Add(-1)
		it := item{samples: b, at: e.now().UnixNano()}
		select {
		case e.in <- it:
			return
		default:
		}
		t0 := time.Now()
		select {
		case e.in <- it:
		case <-e.quit:
		}
		e.met.blocked.Add(time.Since(t0).Seconds())
	}
}

// Input returns the inputs (sample batches and commands) waiting for the
// engine and the queue's capacity. A full queue means the drivers wait.
func (e *Engine) Input() (queued, capacity int) { return len(e.in), cap(e.in) }

// Subscribe adds an output. Call it before Run.
func (e *Engine) Subscribe(o Output) { e.outs = append(e.outs, o) }

// CloseInput tells Run that every driver has stopped: Run drains what is
// queued and returns.
func (e *Engine) CloseInput() { e.closed.Do(func() { close(e.closing) }) }

// Do applies an operator command and returns the event it caused, or an
// error wrapping ErrUnknown, ErrRefused or ErrInvalid. The event is
// journaled before Do returns.
func (e *Engine) Do(ctx context.Context, c Command) (Event, error) {
	return e.do(ctx, &request{c: c, reply: make(chan reply, 1)})
}

// Reload makes the engine continue with cfg, a config that passed
// configs validation (SPEC §12, Machine.Reload): alarms that still exist
// keep their state, seq continues, changed limits apply from the next
// sample, removed alarms end with a last event (journaled and emitted
// before Reload returns). On error nothing changed.
func (e *Engine) Reload(ctx context.Context, cfg *configs.Config) error {
	_, err := e.do(ctx, &request{cfg: cfg, reply: make(chan reply, 1)})
	return err
}

func (e *Engine) do(ctx context.Context, r *request) (Event, error) {
	select {
	case e.in <- item{cmd: r}:
	case <-ctx.Done():
		return Event{}, ctx.Err()
	case <-e.quit:
		return Event{}, errors.New("alarms: engine stopped")
	}
	select {
	case rep := <-r.reply:
		return rep.ev, rep.err
	case <-ctx.Done():
		return Event{}, ctx.Err()
	case <-e.quit:
		select {
		case rep := <-r.reply:
			return rep.ev, rep.err
		default:
			return Event{}, errors.New("alarms: engine stopped")
		}
	}
}

// Alarms returns every alarm not normal (copies), in no particular order.
func (e *Engine) Alarms() []Event {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Event, 0, len(e.current))
	for _, ev := range e.current {
		out = append(out, ev)
	}
	return out
}

// Events answers from the journal: up to limit events after seq.
func (e *Engine) Events(after uint64, limit int) ([]Event, error) { return e.j.Events(after, limit) }

// FirstSeq is the oldest seq the journal still holds. A client resuming
// from before it must take a fresh snapshot (SPEC §7 resume).
func (e *Engine) FirstSeq() uint64 { return e.j.First() }

// Seq is the seq of the last event journaled.
func (e *Engine) Seq() uint64 { return e.seq.Load() }

// Flood reports an alarm flood (DOMAIN §5).
func (e *Engine) Flood() bool { return e.flood.Load() }

// Health returns a copy of the engine's state.
func (e *Engine) Health() Health {
	e.mu.RLock()
	defer e.mu.RUnlock()
	h := Health{Seq: e.seq.Load(), Flood: e.flood.Load(), Active: len(e.current), JournalErr: e.jerr,
		JournalDamage: e.j.Damage().String()}
	for _, ev := range e.current {
		if ev.State == Unack || ev.State == RtnUnack {
			h.Unacked++
		}
	}
	return h
}

// maxGroup bounds how many queued inputs are evaluated before one journal
// commit (group commit). The commit's fsync is where the engine waits: in
// an event flood every group has events, so a group is what one fsync
// (10–60 ms on a busy disk) buys. At 64 batches the engine fell below
// 100,000 samples/s during a stale flood on a saturated machine, the
// drivers waited in Sink (hazardgw_alarm_sink_blocked_seconds_total), more
// points went stale, and the flood fed itself. 256 batches of 100–125
// samples are 25–32k samples, evaluated in about 10 ms: alarm latency
// stays far under 100 ms while one fsync covers 4× the samples.
const maxGroup = 256

// Run evaluates input until CloseInput has been called and the queue is
// drained, or until ctx ends. Timers (delays, escalation, shelving, stale)
// fire from a timer set to the machine's next due time.
//
// Each group moves the input watermark (Machine.AdvanceTo), which stale is
// judged by: to the clock read before the group was taken when the queue
// was then found empty with no Sink call under way (everything handed in
// before it is in this group or an earlier one), otherwise to the latest
// Sink stamp taken. Sink calls a blocked queue holds back keep their
// stamp, so an engine that falls behind judges stale later, never wrongly.
func (e *Engine) Run(ctx context.Context) error {
	defer close(e.quit)
	tm := time.NewTimer(max(e.m.NextDue().Sub(e.now()), 0))
	defer tm.Stop()
	group := make([]item, 0, maxGroup)
	marks := make([]int, 0, maxGroup+1)
	for {
		group = group[:0]
		draining := false
		select {
		case it := <-e.in:
			group = append(group, it)
		case <-tm.C:
		case <-e.closing:
			draining = true
		case <-ctx.Done():
			return nil
		}
		// t is read before the queue is found empty, and sending before
		// that: a Sink stamped before t has then queued its batch, which
		// this group took.
		t := e.now().UnixNano()
		input := e.taken
	fill:
		for len(group) < maxGroup {
			idle := e.sending.Load() == 0
			select {
			case it := <-e.in:
				group = append(group, it)
				input = max(input, it.at)
			default:
				if idle {
					input = max(input, t)
				}
				break fill
			}
		}
		e.taken = input
		e.step(group, marks)
		if draining && len(e.in) == 0 {
			return nil
		}
		if draining {
			continue
		}
		d := e.m.NextDue().Sub(e.now())
		if !tm.Stop() {
			select {
			case <-tm.C:
			default:
			}
		}
		tm.Reset(max(d, 0))
	}
}

// step evaluates a group of inputs, commits their events to the journal in
// one write and fsync, then hands events and samples to the outputs and
// answers the commands, in input order. Timers due by now fire before the
// group; stale is judged after it, at the input watermark the group
// completes (e.taken, set by Run; Machine.AdvanceTo), and its events and
// bad/stale samples follow the group's.
func (e *Engine) step(group []item, marks []int) {
	now := e.now()
	e.pending = e.pending[:0]
	e.m.AdvanceTo(now, time.Unix(0, e.judged))
	e.pending = append(e.pending, e.m.Take()...)
	marks = append(marks[:0], len(e.pending))
	replies := e.replies[:0]
	nsamples := 0
	for _, it := range group {
		if it.cmd != nil && it.cmd.cfg != nil {
			var err error
			if m, rerr := e.m.Reload(it.cmd.cfg, e.current, now); rerr != nil {
				err = fmt.Errorf("alarms: reload: %w", rerr)
			} else {
				e.m = m
			}
			replies = append(replies, reply{err: err})
		} else if it.cmd != nil {
			ev, err := e.m.Command(now, it.cmd.c)
			replies = append(replies, reply{ev, err})
		} else {
			replies = append(replies, reply{})
			e.m.Samples(now, it.samples)
			nsamples += len(it.samples)
		}
		e.pending = append(e.pending, e.m.Take()...)
		marks = append(marks, len(e.pending))
	}
	e.judged = e.taken
	e.m.AdvanceTo(now, time.Unix(0, e.taken))
	stale := e.m.TakeStale()
	e.pending = append(e.pending, e.m.Take()...)
	e.met.samples.Add(float64(nsamples))
	if len(e.pending) > 0 {
		err := e.j.Append(e.pending)
		e.mu.Lock()
		for _, ev := range e.pending {
			if ev.State == Normal {
				delete(e.current, ev.ID)
			} else {
				e.current[ev.ID] = ev
			}
			e.met.events.WithLabelValues(ev.Cond, ev.State.String()).Inc()
		}
		e.mu.Unlock()
		e.sinceSnap += len(e.pending)
		if err == nil && e.j.NeedSnapshot() && e.sinceSnap >= len(e.current) {
			// The snapshot holds each alarm's last journaled event (its
			// seq and time), as a replay of the whole journal would leave
			// it. Only this goroutine writes current: no lock to read it.
			//
			// It is written only once at least as many events were
			// journaled since the last one as it would hold: in a flood
			// (250,000 points going stale at once) a snapshot of every
			// current alarm at each new segment was several times the
			// segment (write amplification, and the engine stalled in
			// json.Marshal while the drivers waited in Sink). Deferring it
			// is safe: the journal keeps every segment the last snapshot
			// does not cover, so replay is unchanged; the snapshot bytes
			// stay below the journaled bytes.
			e.sinceSnap = 0
			snap := make([]Event, 0, len(e.current))
			for _, ev := range e.current {
				snap = append(snap, ev)
			}
			err = e.j.WriteSnapshot(e.m.Seq(), snap)
		}
		e.mu.Lock()
		if err != nil {
			// The disk failed. The alarms are still shown: hiding a
			// safety alarm is worse than an incomplete journal.
			e.jerr = err.Error()
			e.met.journalErrs.Inc()
			e.log.Error("alarm journal write failed; events shown but not durable", "err", err)
		} else {
			e.jerr = ""
		}
		e.mu.Unlock()
		e.seq.Store(e.pending[len(e.pending)-1].Seq)
		e.met.active.Set(float64(len(e.current)))
	}
	fl := e.m.Flood()
	e.flood.Store(fl)
	if fl {
		e.met.flood.Set(1)
	} else {
		e.met.flood.Set(0)
	}
	e.replies = replies
	emit := func(from, to int) {
		for _, ev := range e.pending[from:to] {
			for _, o := range e.outs {
				o.Event(ev)
			}
		}
	}
	emit(0, marks[0])
	for i, it := range group {
		emit(marks[i], marks[i+1])
		if it.cmd != nil {
			it.cmd.reply <- replies[i]
		} else {
			for _, o := range e.outs {
				o.Samples(it.samples)
			}
		}
	}
	emit(marks[len(group)], len(e.pending))
	if len(stale) > 0 {
		for _, o := range e.outs {
			o.Samples(stale)
		}
	}
}

type metrics struct {
	samples prometheus.Counter
	events  *prometheus.CounterVec
	fsync   prometheus.Histogram
	active  prometheus.Gauge
	flood   prometheus.Gauge
	blocked prometheus.Counter
	// journalErrs counts failed journal commits (events shown but not
	// durable); alerted on in docs/monitoring/alerts.yml.
	journalErrs prometheus.Counter
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazardgw_alarm_samples_total", Help: "Samples evaluated by the alarm engine."}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hazardgw_alarm_events_total", Help: "Alarm events by condition and resulting state."},
			[]string{"cond", "state"}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hazardgw_alarm_journal_fsync_seconds", Help: "Latency of one journal group commit fsync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hazardgw_alarms_not_normal", Help: "Alarms in a state other than normal."}),
		flood: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hazardgw_alarm_flood", Help: "1 while the site is in an alarm flood."}),
		blocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazardgw_alarm_sink_blocked_seconds_total",
			Help: "Time drivers spent waiting in the engine's Sink because its input queue was full (summed over drivers)."}),
		journalErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazardgw_alarm_journal_errors_total", Help: "Journal commits that failed: events shown but not durable."}),
	}
	if r != nil {
		r.MustRegister(m.samples, m.events, m.fsync, m.active, m.flood, m.blocked, m.journalErrs)
	}
	return m
}
