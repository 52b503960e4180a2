package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/store/wal"
)

// Options are the store's injected dependencies and tuning knobs.
type Options struct {
	Log        *slog.Logger          // default: discard
	Registerer prometheus.Registerer // nil: no metrics registered
	// QueueSamples bounds the samples waiting in memory for the outbox
	// (default: queueSeconds of the configured points' rate, at least
	// 200,000). Beyond it the oldest queued batches are dropped and
	// counted (reason "queue"). Alarm events are never dropped.
	QueueSamples int
	// SegmentBytes overrides the outbox segment size (tests).
	SegmentBytes int64
	// Now is the clock for health ages (default time.Now).
	Now func() time.Time
	// Journal is the alarm journal (alarms.Engine). With it, the store
	// keeps a durable mark of the last alarm event it put into the outbox
	// and, when Run starts, copies the journal's later events into the
	// outbox: an event journaled but still in memory when the process was
	// killed reaches InfluxDB all the same. Nil: no catch-up.
	Journal Journal
}

// Health is the store's part of /api/health (SPEC §8 `store`), plus
// details the console may show.
type Health struct {
	InfluxDB      string  `json:"influxdb"` // "up", "down" or "off"
	OutboxBytes   int64   `json:"outbox_bytes"`
	OutboxSamples int64   `json:"outbox_samples"`
	OutboxEvents  int64   `json:"outbox_events"`
	OldestAgeS    float64 `json:"oldest_age_s"`
	// OutboxFull: only alarm events are left in the outbox and they exceed
	// store.outbox.max_bytes; new samples are refused. The gateway raises
	// this as a gateway alarm.
	OutboxFull bool `json:"outbox_full"`
	// DiskError is the last outbox write error, "" when writes succeed.
	DiskError      string  `json:"disk_error,omitempty"`
	WrittenLines   uint64  `json:"written_lines"`
	WriteErrors    uint64  `json:"write_errors"`
	RejectedLines  uint64  `json:"rejected_lines"`
	DroppedSamples uint64  `json:"dropped_samples"`
	WriteRate      float64 `json:"write_rate"` // lines/s over the last write interval
	LastError      string  `json:"-"`
	// OutboxDamaged counts outbox records lost to damage since start (a
	// record that did not check; the reader skipped to the next valid
	// one). Lost alarm events are taken again from the journal; lost
	// samples are gone. Non-zero: a gateway alarm until restart.
	OutboxDamaged uint64 `json:"outbox_damaged"`
}

// Condition reports a store problem the gateway must raise as a gateway
// alarm ("" when none): the outbox full of alarm events, a disk that
// refuses writes, or outbox records found damaged since start.
func (h Health) Condition() string {
	switch {
	case h.DiskError != "":
		return "outbox disk error: " + h.DiskError
	case h.OutboxFull:
		return "outbox full: only alarm events left"
	case h.OutboxDamaged > 0:
		return fmt.Sprintf("outbox damaged: %d records lost since start", h.OutboxDamaged)
	}
	return ""
}

// Store is the engine output that keeps samples and alarm events: the
// durable outbox to InfluxDB (when [store.influxdb] is set) and the local
// trend history (always).
type Store struct {
	site    string
	dir     string
	db      *configs.InfluxDB // nil: no InfluxDB
	batch   int
	sendMax int    // samples per write: batch, more with the device layout
	layout  string // configs.LayoutPoint or LayoutDevice
	flush   time.Duration
	max     int64
	tail    int // OutboxOptions.TailBytes: two flush intervals of samples
	// The configured points (index in config order), each one's device
	// (an index into devNames): packed, see names.
	points   *names
	devOf    []uint32
	devNames []string
	log      *slog.Logger
	now      func() time.Time
	opts     Options
	met      *metrics
	hist     *History

	q        *alarms.Queue  // from the engine; overflow policy in Samples
	retry    []alarms.Event // pump only: events the outbox refused, first next time
	mu       sync.Mutex
	closed   bool
	ob       *Outbox // set by Run
	health   Health
	logged   map[string]bool
	kill     chan struct{} // test hook: abandon without flushing
	sendWake chan struct{}
	scratch  []drivers.Sample   // pump only
	scratchK []int32            // pump only: history slots of scratch
	shapes   drivers.ShapeCache // pump only: see slots
	onWrite  func(Kind, int)    // test hook: called by the sender after each 2xx

	// Alarm events in the outbox: the highest seq appended (pump only),
	// and the highest recorded in the mark file (Run only); the journal's
	// seq when New ran (where a first start begins).
	lastSeq, markedSeq, startSeq uint64

	// written is the highest alarm event seq InfluxDB acknowledged (set by
	// the sender); Run keeps it durably in events.written (wrMark) at each
	// sync. writtenAtOpen is its value when Run opened the outbox: when
	// outbox events are found damaged, the store takes the journal's
	// events after it again (damaged). Not the live value: the sender may
	// acknowledge events read after the damage before Run handles it.
	written       atomic.Uint64
	writtenAtOpen uint64    // Run only
	wrMark        *wal.Mark // Run and its sync goroutine, one at a time
	wrStored      uint64    // the value last stored in wrMark (as wrMark)
	damageSeen    [2]uint64 // Run only: outbox damage already handled, by Kind
	damageWake    chan struct{}

	statsMu   sync.Mutex
	statsAt   time.Time
	lastStats Stats
}

// Journal is what the store needs of the alarm journal: the events after a
// seq, oldest first, and the last seq, read by New (where a store without
// a mark starts: from then on, not the whole history).
type Journal interface {
	Events(after uint64, limit int) ([]alarms.Event, error)
	Seq() uint64
}

// extraPoints is how many points the history keeps beyond the configured
// ones (the gateway's own, strays).
const extraPoints = 64

// slots returns the history slot of every sample of b (cached per batch
// shape: no string-keyed lookup per sample).
func (s *Store) slots(b []drivers.Sample) []int32 { return s.shapes.Indexes(b, s.hist.Slot) }

// deviceBatchMax bounds the samples of one write with the device layout.
const deviceBatchMax = 1 << 16

// nextMax is how many entries of queue k one write takes.
func (s *Store) nextMax(k Kind) int {
	if k == Samples {
		return s.sendMax
	}
	return s.batch
}

// queueSeconds is how long the store's memory queue holds the configured
// points' samples: longer than an fsync or a segment rotation takes on a
// busy disk (seconds, while InfluxDB on the same disk compacts), so a slow
// disk does not drop samples before they reach the outbox.
const queueSeconds = 4

// pointRate is the samples per second the configured devices send (a
// device without a poll interval counted at one sample a point a second).
func pointRate(cfg *configs.Config) float64 {
	var r float64
	for _, d := range cfg.Devices {
		iv := d.Interval.D().Seconds()
		if iv <= 0 {
			iv = 1
		}
		r += float64(len(d.Points)) / iv
	}
	return r
}

// New builds a store from the config; it does no I/O.
func New(cfg *configs.Config, opts Options) (*Store, error) {
	if cfg == nil {
		return nil, errors.New("store: nil config")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.QueueSamples <= 0 {
		opts.QueueSamples = max(200_000, int(queueSeconds*pointRate(cfg)))
	}
	s := &Store{
		site: cfg.Site.ID, dir: cfg.Store.Dir, db: cfg.Store.InfluxDB, max: int64(cfg.Store.Outbox.MaxBytes),
		log: opts.Log.With("component", "store"), now: opts.Now, opts: opts,
		q: alarms.NewQueue(opts.QueueSamples), sendWake: make(chan struct{}, 1), damageWake: make(chan struct{}, 1),
		logged: map[string]bool{}, kill: make(chan struct{}),
	}
	// configs owns every default (SetDefaults): the store keeps no
	// fallbacks of its own, and refuses a config that skipped them.
	if s.dir == "" {
		return nil, errors.New("store: no store.dir (configs.SetDefaults fills it)")
	}
	npts, nbytes, rate := 0, 0, 0.0 // rate: samples/s
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			npts, nbytes = npts+1, nbytes+len(p.ID)
		}
		rate += float64(len(d.Points)) / max(d.Interval.D(), time.Second).Seconds()
	}
	s.points, s.devOf = newNames(npts, nbytes), make([]uint32, 0, npts)
	for _, d := range cfg.Devices {
		s.devNames = append(s.devNames, d.ID)
		for _, p := range d.Points {
			if i := s.points.Add(drivers.PointID(p.ID)); int(i) < len(s.devOf) {
				s.devOf[i] = uint32(len(s.devNames) - 1) // the last device naming it, as before
			} else {
				s.devOf = append(s.devOf, uint32(len(s.devNames)-1))
			}
		}
	}
	// Every configured point has a history slot, plus a few for points
	// that appear without being configured.
	s.hist = NewHistorySized(cfg.Store.History.D(), SizeHistory(int64(cfg.Store.HistoryBytes), s.points.Len()+extraPoints))
	s.health.InfluxDB = "off"
	if s.db != nil {
		if s.db.URL == "" || s.db.Bucket == "" {
			return nil, errors.New("store: [store.influxdb] needs url and bucket")
		}
		s.batch, s.flush = s.db.Batch, s.db.Flush.D()
		if s.batch <= 0 || s.flush <= 0 {
			return nil, errors.New("store: [store.influxdb] batch and flush must be positive (configs.SetDefaults fills them)")
		}
		// A sample takes about 13 bytes in a block (dictionary index,
		// time delta, quality, value); 16 leaves room for the dictionary.
		s.tail = max(int(2*s.flush.Seconds()*rate*16), 256<<10)
		s.layout, s.sendMax = s.db.Layout, s.batch
		if s.layout == configs.LayoutDevice {
			// batch counts lines; a device line carries a poll's points.
			// 64 samples per line on average, and at most deviceBatchMax
			// samples in memory per write.
			s.sendMax = min(s.batch*64, deviceBatchMax)
		} else if s.layout != configs.LayoutPoint {
			return nil, fmt.Errorf("store: unknown [store.influxdb] layout %q", s.layout)
		}
		s.health.InfluxDB = "down"
	}
	if opts.Journal != nil {
		s.startSeq = opts.Journal.Seq()
	}
	s.met = newMetrics(opts.Registerer, s)
	return s, nil
}

// Samples queues a batch (read-only, shared with other outputs) and never
// blocks. Overflow policy: beyond Options.QueueSamples queued samples the
// oldest batches are dropped and counted in
// hazardgw_store_samples_dropped_total{reason="queue"}.
func (s *Store) Samples(batch []drivers.Sample) {
	if len(batch) == 0 {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.met.dropped.WithLabelValues("closed").Add(float64(len(batch)))
		return
	}
	dropped := s.q.PushSamples(batch) // under mu: none is queued after Run closed
	if dropped > 0 {
		s.health.DroppedSamples += uint64(dropped)
	}
	s.mu.Unlock()
	if dropped > 0 {
		s.met.dropped.WithLabelValues("queue").Add(float64(dropped))
	}
}

// Event queues an alarm event and never blocks. Events are never dropped
// (alarms.Queue: unbounded; events are rare and already in the journal).
func (s *Store) Event(ev alarms.Event) { s.q.PushEvent(ev) }

// Queue returns the memory queue between the engine and the outbox (depth
// and drops, for /metrics: a store that lags shows a growing depth here
// before it drops).
func (s *Store) Queue() *alarms.Queue { return s.q }

func (s *Store) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// History returns the local trend of point from since on (see History).
func (s *Store) History(point drivers.PointID, since time.Time) []drivers.Sample {
	return s.hist.Since(point, since)
}

// Health returns a copy of the store's health.
func (s *Store) Health() Health {
	s.mu.Lock()
	h := s.health
	ob := s.ob
	s.mu.Unlock()
	if ob != nil {
		st := s.stats(ob)
		h.OutboxBytes, h.OutboxSamples, h.OutboxEvents, h.OutboxFull = st.Bytes, st.Samples, st.Events, st.Full
		h.DroppedSamples += st.Dropped
		if !st.Oldest.IsZero() {
			h.OldestAgeS = s.now().Sub(st.Oldest).Seconds()
		}
	}
	return h
}

// stats returns the outbox's Stats, reusing them for 100 ms so a metrics
// scrape (six gauges) reads the disk once.
func (s *Store) stats(ob *Outbox) Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if now := time.Now(); now.Sub(s.statsAt) >= 100*time.Millisecond {
		s.lastStats, s.statsAt = ob.Stats(), now
	}
	return s.lastStats
}

// OutboxDir is where the outbox lives under store.dir.
func (s *Store) OutboxDir() string { return filepath.Join(s.dir, "outbox") }

// Run opens the outbox (when InfluxDB is configured), moves queued samples
// and events to it and sends them to InfluxDB until ctx ends. It then
// writes what is still queued in memory to the outbox, fsyncs it and
// returns; entries not yet acknowledged by InfluxDB stay in the outbox for
// the next start. Samples and Event calls after Run returned are dropped
// (counted), so give Run a context that ends after the engine returned
// (ARCHITECTURE.md shutdown order). Run may be called once.
func (s *Store) Run(ctx context.Context) error {
	if s.db == nil {
		return s.runLocal(ctx)
	}
	ob, err := OpenOutbox(s.OutboxDir(), OutboxOptions{MaxBytes: s.max, SegmentBytes: s.opts.SegmentBytes, TailBytes: s.tail})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if st := ob.Stats(); st.Cut > 0 || st.Samples+st.Events > 0 {
		s.log.Info("outbox opened", "samples", st.Samples, "events", st.Events, "bytes", st.Bytes, "torn_bytes_cut", st.Cut)
	}
	if st := ob.Stats(); st.Migrated > 0 {
		s.log.Warn("outbox of the previous format converted", "segments", st.Migrated)
	}
	for _, a := range ob.Aside() {
		s.log.Warn("outbox queue of the previous format could not be converted: moved aside, its entries will not reach InfluxDB",
			"moved_to", a.Dir, "entries_lost", a.Entries, "err", a.Err)
	}
	s.mu.Lock()
	s.ob = ob
	s.mu.Unlock()
	s.openWritten(ob)
	s.writtenAtOpen = s.written.Load()
	if err := s.catchUp(ob); err != nil {
		s.log.Error("alarm events missing from the outbox could not be copied from the journal", "err", err)
	}
	s.damaged(ob) // found by the scan at open
	w := newWriter(s)
	sendCtx, stopSend := context.WithCancel(context.Background())
	sent := make(chan struct{})
	go func() { defer close(sent); w.run(sendCtx, ob) }()

	tick := time.NewTicker(s.flush)
	defer tick.Stop()
	// The periodic fsync runs on a goroutine of its own: under a busy disk
	// one can take seconds, and this goroutine must keep moving samples
	// from memory into the outbox meanwhile (its memory queue holds a few
	// seconds). One at a time; its result comes back here, where the
	// events mark moves to the seq appended before the sync began.
	synced := make(chan syncResult, 1)
	syncing := false
	waitSync := func() {
		if syncing {
			s.synced(<-synced)
			syncing = false
		}
	}
	for {
		select {
		case <-s.kill:
			stopSend()
			<-sent
			waitSync()
			return nil
		case <-ctx.Done():
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
			s.pump(ob)
			stopSend()
			<-sent
			waitSync()
			err := ob.Close()
			if err != nil {
				s.log.Error("outbox close", "err", err)
			} else {
				s.mark()
			}
			s.closeWritten()
			return err
		case <-s.q.Wake():
			s.pump(ob)
		case <-s.damageWake:
			waitSync()
			s.damaged(ob)
		case <-tick.C:
			if syncing {
				break // the previous one is still under way
			}
			syncing = true
			seq := s.lastSeq
			go func() {
				err := ob.Sync()
				s.storeWritten() // its own fsync, also off this goroutine
				synced <- syncResult{err: err, seq: seq}
			}()
		case r := <-synced:
			syncing = false
			s.synced(r)
		}
	}
}

// syncResult is how a periodic Outbox.Sync ended: seq is the last event
// appended before it began (durable when err is nil).
type syncResult struct {
	err error
	seq uint64
}

// synced takes a periodic sync's result (Run's goroutine).
func (s *Store) synced(r syncResult) {
	if r.err != nil {
		s.diskError(r.err)
	} else {
		s.markTo(r.seq)
	}
	s.met.syncs.Inc()
}

// runLocal is Run without InfluxDB: only the trend history is kept, and
// saved to HistoryFile every historySaveEvery and at the end, so trends
// survive a restart (loaded here first when the shape still matches).
func (s *Store) runLocal(ctx context.Context) error {
	s.loadHistory()
	tick := time.NewTicker(historySaveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
			s.pump(nil)
			s.saveHistory()
			return nil
		case <-s.kill:
			return nil
		case <-s.q.Wake():
			s.pump(nil)
		case <-tick.C:
			s.saveHistory()
		}
	}
}

// pump moves everything queued in memory into the outbox (events first)
// and the history.
func (s *Store) pump(ob *Outbox) {
	evs := append(s.retry, s.q.TakeEvents()...)
	s.retry = nil
	qs := s.q.TakeSamples()
	keys := make([][]int32, len(qs))
	for i, b := range qs {
		keys[i] = s.slots(b)
		s.hist.AddSlots(b, keys[i])
	}
	if ob == nil {
		return
	}
	for i, ev := range evs {
		if ev.Seq != 0 && ev.Seq <= s.lastSeq {
			continue // already copied from the journal at start
		}
		if err := ob.AppendEvent(ev); err != nil {
			// Keep the rest in memory and retry at the next wake-up.
			s.diskError(err)
			s.retry = evs[i:]
			break
		}
		s.lastSeq = max(s.lastSeq, ev.Seq)
		s.met.events.Inc()
	}
	// Coalesce the queued batches into blocks of up to maxBlock samples:
	// fewer records, fewer write(2) calls, fewer bytes.
	n := 0
	for len(qs) > 0 {
		b, k := qs[0], keys[0]
		if len(qs) > 1 && len(b) < maxBlock {
			s.scratch, s.scratchK = s.scratch[:0], s.scratchK[:0]
			for len(qs) > 0 && len(s.scratch)+len(qs[0]) <= maxBlock {
				s.scratch = append(s.scratch, qs[0]...)
				s.scratchK = append(s.scratchK, keys[0]...)
				qs, keys = qs[1:], keys[1:]
			}
			if len(s.scratch) == 0 {
				qs, keys = qs[1:], keys[1:]
			} else {
				b, k = s.scratch, s.scratchK
			}
		} else {
			qs, keys = qs[1:], keys[1:]
		}
		refused, err := ob.AppendIndexed(b, k, s.device)
		n += len(b) - refused
		if refused > 0 {
			reason := "outbox_full"
			if err != nil {
				reason = "disk_error"
				s.diskError(err)
			}
			s.met.dropped.WithLabelValues(reason).Add(float64(refused))
			s.mu.Lock()
			s.health.DroppedSamples += uint64(refused)
			s.mu.Unlock()
			s.logOnce("drop:"+reason, "samples dropped", "reason", reason, "err", err)
		} else if err == nil {
			s.clearDiskError()
		}
	}
	s.met.accepted.Add(float64(n))
	if len(evs) > 0 || n > 0 {
		s.signal(s.sendWake)
	}
}

// device returns the device of a configured point, "" for another.
func (s *Store) device(p drivers.PointID) string {
	if i := s.points.Find(p); i >= 0 {
		return s.devNames[s.devOf[i]]
	}
	return ""
}

func (s *Store) diskError(err error) {
	s.mu.Lock()
	first := s.health.DiskError == ""
	s.health.DiskError = err.Error()
	s.mu.Unlock()
	s.met.diskErrors.Inc()
	if first {
		s.log.Error("outbox write failed", "err", err)
	}
}

func (s *Store) clearDiskError() {
	s.mu.Lock()
	s.health.DiskError = ""
	s.mu.Unlock()
}

// logOnce logs a message the first time its key is seen.
func (s *Store) logOnce(key, msg string, args ...any) {
	s.mu.Lock()
	seen := s.logged[key]
	s.logged[key] = true
	s.mu.Unlock()
	if !seen {
		s.log.Warn(msg, args...)
	}
}

// abandon stops Run without flushing or closing anything, as a kill -9
// would (tests only).
func (s *Store) abandon() { close(s.kill) }

var _ alarms.Output = (*Store)(nil)

// markFile holds the seq of the last alarm event known to be durable in the
// outbox (written after an fsync of the outbox).
func (s *Store) markFile() string { return filepath.Join(s.OutboxDir(), "events.mark") }

// catchUp copies into the outbox the journal's events after the mark: the
// events a crash took from the memory queue before they reached the disk.
// Copies may repeat events already in the outbox (appended after the last
// mark); InfluxDB stores a repeated point once (same series and time).
func (s *Store) catchUp(ob *Outbox) error {
	if s.opts.Journal == nil {
		return nil
	}
	b, err := os.ReadFile(s.markFile())
	if errors.Is(err, os.ErrNotExist) {
		// First start with InfluxDB: from the events emitted after New
		// on (they all come through Event), not the whole history.
		s.lastSeq, s.markedSeq = s.startSeq, s.startSeq
		return s.writeMark(s.lastSeq)
	}
	if err != nil {
		return err
	}
	after, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %w", s.markFile(), err)
	}
	s.lastSeq, s.markedSeq = after, after
	n, err := s.copyJournal(ob)
	if n > 0 {
		s.log.Warn("alarm events copied from the journal into the outbox (the last run ended before they reached it)",
			"events", n, "after_seq", after)
	}
	return err
}

// copyJournal appends the journal's events after lastSeq to the outbox,
// then syncs and marks when any were copied. It returns how many.
func (s *Store) copyJournal(ob *Outbox) (n int, err error) {
	for {
		evs, err := s.opts.Journal.Events(s.lastSeq, 1024)
		if err != nil {
			return n, err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if err := ob.AppendEvent(ev); err != nil {
				return n, err
			}
			s.lastSeq = ev.Seq
			n++
		}
	}
	if n > 0 {
		if err := ob.Sync(); err != nil {
			return n, err
		}
		s.mark()
	}
	return n, nil
}

// damaged handles outbox records found damaged since the last call (Run's
// goroutine, at open and when the sender signals damageWake because Next
// met damage): an ERROR line, the counter, health (a gateway alarm until
// restart), and for alarm events a rewind: the events after the last seq
// known written to InfluxDB when the outbox was opened are taken again
// from the journal, the one event log, and the events mark goes back
// there (the journal's retention keeps them). Events still whole in the
// outbox are then written twice; InfluxDB keeps one point per series and
// time, so each event is there once, as journaled.
func (s *Store) damaged(ob *Outbox) {
	for _, k := range [...]Kind{Events, Samples} {
		n := ob.Damaged(k)
		if n <= s.damageSeen[k] {
			continue
		}
		lost := n - s.damageSeen[k]
		s.damageSeen[k] = n
		s.met.damaged.WithLabelValues(k.String()).Add(float64(lost))
		s.mu.Lock()
		s.health.OutboxDamaged += lost
		s.mu.Unlock()
		if k == Samples || s.opts.Journal == nil {
			s.log.Error("outbox damaged: records that do not check were skipped; what they held is lost",
				"queue", k.String(), "records", lost)
			continue
		}
		from := min(s.lastSeq, s.writtenAtOpen)
		s.log.Error("outbox damaged: alarm events that do not check were skipped; taking the events after the last one written to InfluxDB again from the journal",
			"queue", k.String(), "records", lost, "after_seq", from)
		s.lastSeq = from
		if err := s.writeMark(from); err != nil { // the journal's retention holds them again
			s.diskError(err)
		}
		s.markedSeq = from
		if _, err := s.copyJournal(ob); err != nil {
			s.log.Error("alarm events lost from the outbox could not be taken again from the journal", "err", err)
		}
	}
}

// writtenFile keeps the highest alarm event seq InfluxDB acknowledged.
func (s *Store) writtenFile() string { return filepath.Join(s.OutboxDir(), "events.written") }

// openWritten reads events.written (Run's goroutine, after the outbox
// opened). Missing (a first start, or an outbox of the previous version):
// the journal's seq at New on a first start, else the events mark less the
// events still waiting in the outbox (those before them were written).
func (s *Store) openWritten(ob *Outbox) {
	if s.opts.Journal == nil {
		return
	}
	m, err := wal.OpenMark(s.writtenFile())
	if m == nil {
		s.diskError(err)
		return
	}
	s.wrMark = m
	if v, ok := m.Value(); ok {
		s.written.Store(v)
		s.wrStored = v
		return
	}
	if err != nil && !zeros(s.writtenFile()) { // zeros: made, never stored (killed at once)
		s.log.Error("events.written damaged; taking the outbox's events as unwritten", "err", err)
	}
	var v uint64
	if b, err := os.ReadFile(s.markFile()); err == nil {
		mark, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if waiting := uint64(ob.Stats().Events); mark > waiting {
			v = mark - waiting
		}
	} else {
		v = s.startSeq
	}
	s.written.Store(v)
	if err := m.Store(v, true); err != nil {
		s.diskError(err)
		return
	}
	s.wrStored = v
}

// zeros reports whether the file at path holds only zero bytes.
func zeros(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// storeWritten stores the written seq durably when it moved (at each
// periodic sync, on its goroutine; at the end, on Run's).
func (s *Store) storeWritten() {
	if s.wrMark == nil {
		return
	}
	v := s.written.Load()
	if v == s.wrStored {
		return
	}
	if err := s.wrMark.Store(v, true); err != nil {
		s.diskError(err)
		return
	}
	s.wrStored = v
}

func (s *Store) closeWritten() {
	if s.wrMark != nil {
		s.storeWritten()
		_ = s.wrMark.Close()
		s.wrMark = nil
	}
}

// mark records lastSeq after the outbox was synced (Run's goroutine).
func (s *Store) mark() { s.markTo(s.lastSeq) }

// markTo records seq, an event seq known durable in the outbox.
func (s *Store) markTo(seq uint64) {
	if s.opts.Journal == nil || seq <= s.markedSeq {
		return
	}
	if err := s.writeMark(seq); err != nil {
		s.diskError(err)
		return
	}
	s.markedSeq = seq
}

// EventsMark returns the seq of the last alarm event durably in the outbox
// (the events.mark file), for the journal's retention (SetConsumed); ok is
// false when the store takes no events from the journal (no InfluxDB). It
// reads the file, so any goroutine may call it; missing or unreadable: 0.
func (s *Store) EventsMark() (seq uint64, ok bool) {
	if s.db == nil || s.opts.Journal == nil {
		return 0, false
	}
	b, err := os.ReadFile(s.markFile())
	if err != nil {
		return 0, true
	}
	seq, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return seq, true
}

func (s *Store) writeMark(seq uint64) error {
	tmp := s.markFile() + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.markFile())
}
