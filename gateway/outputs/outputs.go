package outputs

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

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
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
	// Now is the clock of status messages. Default time.Now.
	Now func() time.Time
	// Notices keeps the notices received and the acknowledgements to
	// publish. Required when [uplink] notices = true.
	Notices Notices
	// MaxSamples bounds the uplink's samples waiting for the next batch.
	// Default 100,000.
	MaxSamples int
}

// Conns gives the broker connections the outputs publish on
// (*mqtt.Conns).
type Conns interface {
	Conn(broker string) *mqtt.Conn
}

// Set is every output of the gateway besides the store and the console:
// the uplink and the notify targets.
type Set struct {
	uplink *Uplink
	notify []*Notify
	log    *slog.Logger
}

// Wills returns the last will each broker connection must carry, by
// broker name: the uplink's retained PREFIX/status offline. Give it to
// mqtt.New (Options.Wills) before New here.
func Wills(cfg *configs.Config, now time.Time) map[string]mqtt.Will {
	up := cfg.Uplink
	if up == nil {
		return nil
	}
	return map[string]mqtt.Will{up.Broker: {Topic: up.Prefix + "/status", Payload: statusPayload(cfg.Site.ID, "offline", now)}}
}

// New builds the uplink and the notify targets of kind mqtt on conns. It
// does no I/O: cursor files are read in Run.
func New(cfg *configs.Config, conns Conns, opts Options) (*Set, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxSamples <= 0 {
		opts.MaxSamples = 100_000
	}
	var notifies []configs.Notify
	for _, n := range cfg.Notify {
		if n.Kind == "mqtt" {
			notifies = append(notifies, n)
		}
	}
	up := cfg.Uplink
	if up == nil && len(notifies) == 0 {
		return &Set{log: opts.Log}, nil
	}
	if opts.Events == nil {
		return nil, errors.New("mqtt: uplink/notify need Options.Events (the alarm journal)")
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("mqtt output metrics: %w", err)
	}
	var startSeq uint64
	if s, ok := opts.Events.(interface{ Seq() uint64 }); ok {
		startSeq = s.Seq()
	}
	conn := func(broker string) (*mqtt.Conn, error) {
		if c := conns.Conn(broker); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("mqtt: unknown broker %q", broker)
	}

	s := &Set{log: opts.Log}
	var errs []error
	dir := filepath.Join(cfg.Store.Dir, "mqtt")
	if up != nil {
		c, err := conn(up.Broker)
		if err != nil {
			return nil, err
		}
		every := up.SamplesEvery.D()
		if every <= 0 {
			every = 5 * time.Second
		}
		u := &Uplink{site: cfg.Site.ID, prefix: up.Prefix, every: every, now: opts.Now,
			samples: drivers.NewQueue[drivers.Sample](opts.MaxSamples, nil), Chunk: 1000}
		u.publisher = newPublisher("uplink", c, up.Prefix+"/alarms", 1, eventSource(opts.Events, nil),
			filepath.Join(dir, "uplink-"+fileName(up.Broker)+".cursor"), &opts, startSeq, m)
		u.onSession = u.online
		u.resendOnDamage = true
		u.replay = &replay{wake: func() { u.publisher.Event(alarms.Event{}) }}
		c.Subscribe(up.Prefix+"/replay", 1, u.onReplay)
		if up.Notices {
			if opts.Notices == nil {
				return nil, errors.New("mqtt: [uplink] notices need Options.Notices")
			}
			u.notices = opts.Notices
			acks := newPublisher("notice-ack", c, up.Prefix+"/notices/ack", 1, ackSource(opts.Notices),
				filepath.Join(dir, "notice-ack-"+fileName(up.Broker)+".cursor"), &opts, 0, m)
			acks.resendOnDamage = true
			u.acks = &acks
			opts.Notices.WatchAcks(func() { acks.Event(alarms.Event{}) })
			c.Subscribe(up.Prefix+"/notices", 1, u.onNotice)
		}
		s.uplink = u
	}
	for _, n := range notifies {
		if n.QoS < 0 || n.QoS > 1 {
			errs = append(errs, fmt.Errorf("mqtt notify %s: qos %d (want 0 or 1)", n.Name, n.QoS))
			continue
		}
		c, err := conn(n.Broker)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p := newPublisher(n.Name, c, n.Topic, byte(n.QoS), eventSource(opts.Events, notifyFilter(n.Name)),
			filepath.Join(dir, "notify-"+fileName(n.Name)+".cursor"), &opts, startSeq, m)
		s.notify = append(s.notify, &Notify{p})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func fileName(s string) string { return unsafeName.ReplaceAllString(s, "_") }

// Uplink returns the [uplink] output, or nil when there is none.
func (s *Set) Uplink() *Uplink { return s.uplink }

// Outputs returns the uplink and the notify targets as engine outputs.
func (s *Set) Outputs() []alarms.Output {
	var out []alarms.Output
	if s.uplink != nil {
		out = append(out, s.uplink)
	}
	for _, n := range s.notify {
		out = append(out, n)
	}
	return out
}

// Consumed returns the lowest durable cursor of the uplink and the notify
// targets: every event up to it was acknowledged by every target (the
// journal's retention keeps what is after it, alarms.Journal.SetConsumed).
// ok is false when there is no target. Before Run has read a target's
// cursor file, that target counts as 0. Any goroutine may call it.
func (s *Set) Consumed() (seq uint64, ok bool) {
	var pubs []*publisher
	if s.uplink != nil {
		pubs = append(pubs, &s.uplink.publisher)
	}
	for _, n := range s.notify {
		pubs = append(pubs, &n.publisher)
	}
	for i, p := range pubs {
		if c := p.durable.Load(); i == 0 || c < seq {
			seq = c
		}
	}
	return seq, len(pubs) > 0
}

// FlushTimeout bounds the final publishing of pending alarm events and the
// offline status at shutdown.
const FlushTimeout = 3 * time.Second

// Run publishes until ctx ends, then, bounded by FlushTimeout, publishes
// the alarm events the engine emitted while draining and the uplink's last
// samples and retained offline status. It returns an error only when a
// cursor file cannot be read or made (an I/O error; a damaged one falls
// back, see loadCursor) and then stops the other targets too.
//
// Cancel ctx after the engine has drained, and end the connections
// (mqtt.Conns.Run) only after Run has returned.
func (s *Set) Run(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pubs []*publisher
	if s.uplink != nil {
		pubs = append(pubs, &s.uplink.publisher)
		if s.uplink.acks != nil {
			pubs = append(pubs, s.uplink.acks)
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.uplink.runSamples(pctx) }()
	}
	for _, n := range s.notify {
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
		if len(errs) == 0 {
			p.flush(fctx)
		}
		p.closeCursor()
	}
	if s.uplink != nil {
		s.uplink.flushSamples()
		if err := s.uplink.offline(time.Until(deadlineOr(fctx))); err != nil {
			s.log.Warn("mqtt offline status", "err", err)
		}
	}
	return errors.Join(errs...)
}

func deadlineOr(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	if time.Until(d) < 100*time.Millisecond {
		return time.Now().Add(100 * time.Millisecond)
	}
	return d
}
