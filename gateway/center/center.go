package center

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/console"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
	"hazardgw/store"
)

// Uplink topic suffixes under a site prefix (SPEC §10, §13).
const (
	topicAlarms    = "/alarms"
	topicSamples   = "/samples"
	topicStatus    = "/status"
	topicNoticeAck = "/notices/ack"
	topicNotices   = "/notices"
	topicReplay    = "/replay"
)

var suffixes = []string{topicAlarms, topicSamples, topicStatus, topicNoticeAck}

// Options are the center's injected parts.
type Options struct {
	Log      *slog.Logger
	Registry *prometheus.Registry // default: a new one
	Now      func() time.Time     // default time.Now
	// Tick is how often sites are checked for offline_after and due
	// replay requests (default 250ms).
	Tick time.Duration
	// Limits bound the console's connections and timeouts (SPEC §8,
	// console.Limits); the zero value is the site console's defaults.
	Limits console.Limits
}

// Center is the district console. Create it with New, run it with Run.
type Center struct {
	cfg     *configs.Config
	broker  *configs.Broker
	log     *slog.Logger
	now     func() time.Time
	tick    time.Duration
	reg     *prometheus.Registry
	m       *metrics
	users   []user
	guard   *console.Guard // SPEC §8 hardening of the HTTP server, shared with the site console
	started time.Time
	wake    chan struct{} // 1-buffered: a site may have a replay due

	client paho.Client
	// stores write events to InfluxDB (alarm_event, SPEC §9, tag site from
	// the event) when [store.influxdb] is set: one store.Store per site
	// (its outbox in store.dir/influx/SITE), because a store keeps one
	// site's seq order. Started lazily under mu, run under stCtx.
	stores map[string]*store.Store
	stCtx  context.Context
	stWG   sync.WaitGroup

	mu       sync.Mutex
	j        *journal
	synced   uint64    // center seq durable on disk: what clients are shown
	batch    *deferred // the message being handled: its frames and ack wait for the sync
	pending  []*deferred
	syncWake chan struct{} // 1-buffered: pending has work
	sites    map[string]*site
	// ring is the recent window of stored events in center seq order
	// (resume), at most recentAll; every event above ringFloor is in it,
	// older ones are read from the journal.
	ring      []cref
	ringFloor uint64
	clients   map[*client]bool
	noticeN   uint64
	damaged   int
	brokerUp  bool
	addr      net.Addr // the console's listen address, once listening
}

// cref is a stored event by center seq.
type cref struct {
	cseq uint64
	site string
	raw  json.RawMessage
}

// recentAll bounds the ring of recent events (resume without the journal).
const recentAll = 4096

// remember adds a stored event to the ring. Under mu.
func (c *Center) remember(cseq uint64, site string, raw json.RawMessage) {
	c.ring = append(c.ring, cref{cseq, site, raw})
	if len(c.ring) > 2*recentAll {
		c.ringFloor = c.ring[len(c.ring)-recentAll-1].cseq
		c.ring = append(c.ring[:0], c.ring[len(c.ring)-recentAll:]...)
	}
}

// New checks cfg (a [center] config) and builds the center; it does no I/O.
func New(cfg *configs.Config, opts Options) (*Center, error) {
	if cfg.Center == nil {
		return nil, errors.New("center: the config has no [center]")
	}
	c := &Center{cfg: cfg, log: opts.Log, now: opts.Now, tick: opts.Tick, reg: opts.Registry,
		sites: map[string]*site{}, clients: map[*client]bool{}, wake: make(chan struct{}, 1),
		syncWake: make(chan struct{}, 1)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("center", cfg.Center.ID)
	if c.now == nil {
		c.now = time.Now
	}
	if c.tick <= 0 {
		c.tick = 250 * time.Millisecond
	}
	if c.reg == nil {
		c.reg = prometheus.NewRegistry()
	}
	for i := range cfg.Brokers {
		if cfg.Brokers[i].Name == cfg.Center.Broker {
			c.broker = &cfg.Brokers[i]
		}
	}
	if c.broker == nil {
		return nil, fmt.Errorf("center: unknown broker %q", cfg.Center.Broker)
	}
	users, err := usersOf(cfg)
	if err != nil {
		return nil, err
	}
	c.users = users
	m, err := newMetrics(c.reg, func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return float64(len(c.sites))
	})
	if err != nil {
		return nil, fmt.Errorf("center: metrics: %w", err)
	}
	c.m = m
	if c.guard, err = console.NewGuard(opts.Limits, cfg.Console.Listen, cfg.Console.Hosts, c.log, c.now, c.reg); err != nil {
		return nil, fmt.Errorf("center: metrics: %w", err)
	}
	if c.client, err = c.newClient(); err != nil {
		return nil, err
	}
	if cfg.Store.InfluxDB != nil {
		c.stores = map[string]*store.Store{}
		if _, err := c.newStore("check"); err != nil { // the settings, checked once before any I/O
			return nil, err
		}
	}
	return c, nil
}

// newClient builds the paho client: persistent session under the
// broker's client id, every server of the url list, acknowledgement by
// hand after the journal took the message.
func (c *Center) newClient() (paho.Client, error) {
	b := c.broker
	o := paho.NewClientOptions().SetClientID(b.ClientID).SetProtocolVersion(4).SetUsername(b.Username).SetPassword(b.Password).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(5 * time.Second).
		SetConnectTimeout(5 * time.Second).SetKeepAlive(10 * time.Second).SetPingTimeout(5 * time.Second).
		SetWriteTimeout(10 * time.Second).SetOrderMatters(true).SetAutoAckDisabled(true).
		SetMessageChannelDepth(1000)
	for _, u := range configs.BrokerURLs(b.URL) {
		o.AddBroker(u)
	}
	if b.CA != "" || b.Cert != "" {
		tc, err := mqtt.TLSConfig(b)
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	o.SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) {
		c.handle(msg.Topic(), msg.Payload(), msg.Ack)
	})
	o.SetOnConnectHandler(func(cl paho.Client) {
		// The session keeps the subscriptions, but a broker that lost it
		// (a new node, an expired session) needs them again.
		filters := map[string]byte{}
		for _, f := range c.cfg.Center.Sites {
			for _, s := range suffixes {
				filters[f+s] = 1
			}
		}
		// The broker is "up" only once every filter is granted: paho
		// reports a refused filter (0x80) in the token's result, not as an
		// error, and a center connected but deaf to its sites must not say
		// it is up. Retried while this connection lasts.
		wait := time.Second
		for {
			err := subscribeAll(cl, filters)
			if err == nil {
				break
			}
			c.m.subscribeFailed.Inc()
			c.log.Error("center subscribe failed; retrying", "err", err, "in", wait)
			time.Sleep(wait)
			if !cl.IsConnectionOpen() {
				return // the next connection subscribes again
			}
			wait = min(2*wait, 30*time.Second)
		}
		c.mu.Lock()
		c.brokerUp = true
		c.mu.Unlock()
		c.log.Info("center connected to the broker")
		c.poke()
	})
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.mu.Lock()
		c.brokerUp = false
		c.mu.Unlock()
		c.log.Warn("center lost the broker", "err", err)
	})
	return paho.NewClient(o), nil
}

// subscribeAll subscribes to filters at their QoS and reports a timeout,
// an error or a filter the broker refused.
func subscribeAll(cl paho.Client, filters map[string]byte) error {
	t := cl.SubscribeMultiple(filters, nil)
	if !t.WaitTimeout(10 * time.Second) {
		return errors.New("no SUBACK within 10 s")
	}
	if err := t.Error(); err != nil {
		return err
	}
	st, ok := t.(*paho.SubscribeToken)
	if !ok {
		return nil
	}
	var refused []string
	for f, code := range st.Result() {
		if code == 0x80 {
			refused = append(refused, f)
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return fmt.Errorf("broker refused %s", strings.Join(refused, ", "))
	}
	return nil
}

func (c *Center) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Registry is the center's metrics registry.
func (c *Center) Registry() *prometheus.Registry { return c.reg }

// open reads the journal and rebuilds every site's state.
func (c *Center) open() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, damaged, err := openJournal(c.cfg.Store.Dir, c.journalOptions(), func(cseq uint64, r record) {
		s := c.site(r.Site, r.Prefix)
		switch r.Kind {
		case kindSite:
			var st siteState
			if json.Unmarshal(r.Raw, &st) == nil {
				s.restore(st)
			}
		case kindEvent:
			var ev alarms.Event
			if json.Unmarshal(r.Raw, &ev) != nil || s.has(ev.Seq) {
				return
			}
			s.store(cseq, ev, r.Raw)
			c.remember(cseq, s.id, r.Raw)
		case kindLost:
			s.markLost(r.From, r.To)
		case kindNotice:
			var n notice
			if json.Unmarshal(r.Raw, &n) == nil {
				s.notices = append(s.notices, &n)
			}
		case kindAck:
			s.ack(r.Raw)
		}
	})
	if err != nil {
		return err
	}
	j.heads, j.evicted, j.consumed = c.heads, c.evicted, c.consumed
	c.j, c.damaged = j, damaged
	c.synced = j.seq // what the journal holds at start is on disk: shown to clients (hello, resume)
	if damaged > 0 {
		c.log.Error("center journal damaged: the damaged records are lost (their sites' gaps will be asked again)", "records", damaged)
	}
	return nil
}

// journalOptions are the journal's bounds from [store] (SPEC §3, as at a
// site): segments small against journal_max_bytes, since retention
// deletes whole segments.
func (c *Center) journalOptions() journalOptions {
	maxBytes := int64(c.cfg.Store.JournalMaxBytes)
	seg := int64(16 << 20)
	if maxBytes > 0 {
		seg = min(seg, maxBytes/8)
	}
	return journalOptions{SegmentBytes: seg, MaxBytes: maxBytes, Keep: time.Duration(c.cfg.Store.JournalKeep), Now: c.now}
}

// heads are the records that open a journal segment: every site's state.
// Under mu (the journal rolls in write).
func (c *Center) heads() []record {
	out := make([]record, 0, len(c.sites))
	for _, id := range slices.Sorted(maps.Keys(c.sites)) {
		s := c.sites[id]
		raw, _ := json.Marshal(s.state())
		out = append(out, record{Kind: kindSite, Site: id, Prefix: s.prefix, Raw: raw})
	}
	return out
}

// evicted logs and counts a segment that journal_max_bytes deleted before
// journal_keep was over or before InfluxDB took it. Under mu.
func (c *Center) evicted(s *segment, expired, consumed bool) {
	c.m.evicted.Add(float64(s.n))
	c.log.Error("center journal: store.journal_max_bytes reached: records deleted before store.journal_keep or before InfluxDB took them",
		"first", s.first, "last", s.last, "records", s.n, "expired", expired, "consumed", consumed)
}

// site returns the site, created when new. Under mu.
func (c *Center) site(id, prefix string) *site {
	s := c.sites[id]
	if s == nil {
		s = newSite(id, prefix)
		c.sites[id] = s
	}
	if prefix != "" {
		s.prefix = prefix
	}
	return s
}

// ack applies a notice acknowledgement; it reports whether it was new.
func (s *site) ack(raw json.RawMessage) bool {
	var a struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &a) != nil {
		return false
	}
	for _, n := range s.notices {
		if n.ID == a.ID && !n.Acked {
			n.Acked, n.Ack = true, raw
			return true
		}
	}
	return false
}

// split parses a site topic into its prefix, the suffix and the site id
// the topic names (the prefix's last level).
func split(topic string) (prefix, suffix, id string, ok bool) {
	for _, s := range suffixes {
		if p, found := strings.CutSuffix(topic, s); found && p != "" {
			// "/notices/ack" also ends in "/ack": take the longest match.
			if s == topicAlarms || s == topicSamples || s == topicStatus || s == topicNoticeAck {
				prefix, suffix = p, s
			}
		}
	}
	if prefix == "" {
		return "", "", "", false
	}
	id = prefix[strings.LastIndexByte(prefix, '/')+1:]
	return prefix, suffix, id, id != ""
}

// deferred is what a handled message leaves for the syncer: its frames,
// shown once its records are durable, and its acknowledgement (nil: not
// to be acknowledged, the journal refused it).
type deferred struct {
	frames []frame
	ack    func()
	sync   bool   // records were written
	cseq   uint64 // the last center seq written
}

// handle takes one message of a site topic (paho's goroutine, in order)
// and queues its frames and ack for the syncer. The ack is withheld only
// when the journal could not take the message (the broker delivers it
// again).
func (c *Center) handle(topic string, payload []byte, ack func()) {
	now := c.now()
	prefix, suffix, id, ok := split(topic)
	if !ok {
		c.m.refused.WithLabelValues("foreign").Inc()
		if ack != nil {
			ack()
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batch = &deferred{ack: ack}
	if !c.take(prefix, suffix, id, topic, payload, now) {
		c.batch.ack = nil
	}
	c.pending = append(c.pending, c.batch)
	c.batch = nil
	select {
	case c.syncWake <- struct{}{}:
	default:
	}
}

// take applies one message. Under mu; false when the journal refused it.
func (c *Center) take(prefix, suffix, id, topic string, payload []byte, now time.Time) bool {
	switch suffix {
	case topicAlarms:
		return c.alarm(prefix, id, payload, now)
	case topicSamples:
		var m struct {
			Site    *string              `json:"site"`
			Samples []drivers.SampleJSON `json:"samples"`
		}
		if !c.accept(topic, id, json.Unmarshal(payload, &m) == nil, m.Site) {
			return true
		}
		s := c.site(id, prefix)
		s.seen(now)
		var batch []drivers.SampleJSON
		for _, x := range m.Samples {
			if x.Point == "" {
				continue
			}
			s.samples[string(x.Point)] = x
			batch = append(batch, x)
		}
		c.broadcast(frame{Type: "samples", Site: id, Samples: batch})
		c.broadcastSite(s)
	case topicStatus:
		var m struct {
			Site   *string `json:"site"`
			Status string  `json:"status"`
		}
		ok := json.Unmarshal(payload, &m) == nil && (m.Status == Online || m.Status == Offline)
		if !c.accept(topic, id, ok, m.Site) {
			return true
		}
		s := c.site(id, prefix)
		s.setStatus(m.Status, now)
		c.broadcastSite(s)
	case topicNoticeAck:
		var m struct {
			ID   string  `json:"id"`
			Site *string `json:"site"`
		}
		if !c.accept(topic, id, json.Unmarshal(payload, &m) == nil && m.ID != "", m.Site) {
			return true
		}
		s := c.sites[id]
		if s == nil || !slices.ContainsFunc(s.notices, func(n *notice) bool { return n.ID == m.ID && !n.Acked }) {
			return true // unknown or already acknowledged (QoS 1 redelivery)
		}
		if _, err := c.j.append(record{Kind: kindAck, Site: id, Prefix: prefix, Raw: payload}); err != nil {
			c.m.refused.WithLabelValues("journal").Inc()
			c.log.Error("center journal refused a notice acknowledgement", "site", id, "err", err)
			return false
		}
		s.ack(payload)
		s.seen(now)
		c.m.notices.WithLabelValues("acked").Inc()
		c.broadcast(frame{Type: "notice", Site: id, Notice: s.notices[slices.IndexFunc(s.notices, func(n *notice) bool { return n.ID == m.ID })]})
		c.broadcastSite(s)
	}
	return true
}

// accept reports whether a decoded message may be taken: well formed and
// naming the topic's site; otherwise it is counted and dropped.
func (c *Center) accept(topic, id string, wellFormed bool, site *string) bool {
	switch {
	case !wellFormed || site == nil:
		c.refuse("malformed", topic)
		return false
	case *site != id:
		c.refuse("site", topic)
		return false
	}
	return true
}

func (c *Center) refuse(reason, topic string) {
	c.m.refused.WithLabelValues(reason).Inc()
	c.log.Debug("center refused a message", "reason", reason, "topic", topic)
}

// alarm takes one alarm event of a site. Under mu.
func (c *Center) alarm(prefix, id string, payload []byte, now time.Time) bool {
	var ev alarms.Event
	if err := json.Unmarshal(payload, &ev); err != nil || ev.Seq == 0 || ev.ID == "" || ev.Site == "" ||
		ev.Priority == 0 {
		c.refuse("malformed", prefix+topicAlarms)
		return true
	}
	if ev.Site != id {
		c.refuse("site", prefix+topicAlarms)
		return true
	}
	s := c.site(id, prefix)
	s.seen(now)
	var recs []record
	// Two replay answers starting further on than asked (the site's
	// journal no longer holds the start): the seqs before are lost for
	// good (site.answer).
	if from, to, lost := s.answer(ev.Seq); lost {
		recs = append(recs, record{Kind: kindLost, Site: id, Prefix: prefix, From: from, To: to})
	}
	dup := s.has(ev.Seq)
	if !dup {
		recs = append(recs, record{Kind: kindEvent, Site: id, Prefix: prefix, Seq: ev.Seq, Raw: payload})
	}
	if len(recs) == 0 {
		c.m.duplicates.Inc()
		s.dups++
		if s.missing() {
			c.poke() // answer may want the replay asked again at once
		}
		return true
	}
	first, err := c.j.write(recs...)
	if err != nil {
		c.m.refused.WithLabelValues("journal").Inc()
		c.log.Error("center journal refused an event: not acknowledged, the broker delivers it again", "site", id, "seq", ev.Seq, "err", err)
		return false
	}
	c.batch.sync, c.batch.cseq = true, first+uint64(len(recs))-1
	if recs[0].Kind == kindLost {
		r := recs[0]
		s.markLost(r.From, r.To)
		c.m.lost.Add(float64(r.To - r.From + 1))
		c.log.Warn("site events lost for good: the site's journal no longer holds them", "site", id, "from", r.From, "to", r.To)
		first++
	}
	if dup {
		c.m.duplicates.Inc()
		s.dups++
		c.feedStore(s, nil) // the lost seqs moved hwm: what waited above them goes on
		c.broadcastSite(s)
		return true
	}
	if ev.Seq > s.maxSeen+1 {
		s.gaps++
		c.m.gaps.Inc()
		c.log.Warn("gap in a site's seq: asking for a replay", "site", id, "after", s.maxSeen, "got", ev.Seq)
	}
	s.store(first, ev, payload)
	c.remember(first, id, payload)
	c.m.events.Inc()
	if c.stores != nil {
		c.feedStore(s, &ev)
	}
	c.broadcast(frame{Type: "alarm", Seq: first, Site: id, Alarm: json.RawMessage(payload)})
	c.broadcastSite(s)
	if s.missing() {
		c.poke()
	}
	return true
}

// Run opens the journal, connects to the broker and serves the console
// until ctx ends; then it disconnects (the session stays with the broker:
// what arrives meanwhile is delivered at the next start) and closes the
// journal.
func (c *Center) Run(ctx context.Context) error {
	if err := c.open(); err != nil {
		return err
	}
	c.started = c.now()
	syncCtx, stopSync := context.WithCancel(context.Background())
	syncDone := make(chan struct{})
	go func() { defer close(syncDone); c.syncer(syncCtx) }()
	stCtx, stopSt := context.WithCancel(context.Background())
	defer stopSt()
	c.mu.Lock()
	c.stCtx = stCtx
	c.mu.Unlock()
	if c.stores != nil {
		c.startStores()
	}
	c.client.Connect() // retries in the background (SetConnectRetry)
	srvErr := make(chan error, 1)
	sctx, stopSrv := context.WithCancel(context.Background())
	go func() { srvErr <- c.serve(sctx) }()
	err := c.loop(ctx, srvErr)
	stopSrv()
	if e := <-srvErr; err == nil {
		err = e
	}
	c.client.Disconnect(250)
	stopSync()
	<-syncDone
	c.flush(false) // what the last messages wrote; their acks went with the connection (redelivered, then dropped as duplicates)
	c.mu.Lock()
	c.stCtx = nil // no store starts any more
	c.mu.Unlock()
	stopSt() // after the last message: the stores flush their queues to their outboxes
	c.stWG.Wait()
	c.mu.Lock()
	for cl := range c.clients {
		cl.close()
	}
	jerr := c.j.close()
	c.mu.Unlock()
	return errors.Join(err, jerr)
}

// loop checks the sites every tick (offline_after, replay requests) and
// logs a one-line summary every minute.
func (c *Center) loop(ctx context.Context, srvErr chan error) error {
	t := time.NewTicker(c.tick)
	defer t.Stop()
	lastLog := c.now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-srvErr:
			srvErr <- err // Run reads it again
			return err
		case <-t.C:
		case <-c.wake:
		}
		now := c.now()
		type req struct {
			topic   string
			payload []byte
		}
		var reqs []req
		c.mu.Lock()
		up := c.brokerUp
		for _, s := range c.sites {
			if s.tick(now, c.cfg.Center.OfflineAfter.D()) {
				c.broadcastSite(s)
			}
			if !up {
				continue
			}
			if after, due := s.replayDue(now); due {
				p, _ := json.Marshal(map[string]any{"after": after, "by": c.cfg.Center.ID})
				reqs = append(reqs, req{s.prefix + topicReplay, p})
				c.m.replays.Inc()
			}
		}
		if now.Sub(lastLog) >= time.Minute {
			lastLog = now
			c.logSummary()
		}
		c.mu.Unlock()
		for _, r := range reqs {
			c.client.Publish(r.topic, 1, false, r.payload) // not awaited: re-asked with backoff until filled
			c.log.Info("replay requested", "topic", r.topic, "payload", string(r.payload))
		}
	}
}

// logSummary logs one line about every site together. Under mu.
func (c *Center) logSummary() {
	var online, offline, missing, lost, events int
	for _, s := range c.sites {
		if s.status == Online {
			online++
		} else {
			offline++
		}
		missing += int(s.maxSeen - s.hwm - uint64(len(s.pending)))
		lost += int(s.lost)
		events += s.count
	}
	c.log.Info("center summary", "sites", len(c.sites), "online", online, "offline", offline,
		"events", events, "missing", missing, "lost", lost, "seq", c.j.seq, "broker_up", c.brokerUp)
}

// sendNotice publishes a notice to a site and journals it once the
// broker took it (PUBACK).
func (c *Center) sendNotice(ctx context.Context, id, text, by string) (*notice, error) {
	c.mu.Lock()
	s := c.sites[id]
	if s == nil {
		c.mu.Unlock()
		return nil, errUnknownSite
	}
	now := c.now()
	c.noticeN++
	n := &notice{ID: fmt.Sprintf("%s-%d-%d", c.cfg.Center.ID, now.UnixMilli(), c.noticeN), Site: id, Text: text, By: by,
		Time: alarms.FormatTime(now)}
	topic := s.prefix + topicNotices
	c.mu.Unlock()
	payload, _ := json.Marshal(n)
	t := c.client.Publish(topic, 1, false, payload)
	select {
	case <-t.Done():
	case <-ctx.Done():
		return nil, errNotSent
	case <-time.After(5 * time.Second):
		return nil, errNotSent
	}
	if t.Error() != nil {
		return nil, fmt.Errorf("%w: %v", errNotSent, t.Error())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.j.append(record{Kind: kindNotice, Site: id, Prefix: s.prefix, Raw: payload}); err != nil {
		c.log.Error("center journal refused a notice (it was sent)", "site", id, "id", n.ID, "err", err)
	}
	s.notices = append(s.notices, n)
	c.m.notices.WithLabelValues("sent").Inc()
	c.broadcast(frame{Type: "notice", Site: id, Notice: n})
	c.broadcastSite(s)
	return n, nil
}

var (
	errUnknownSite = errors.New("unknown site")
	errNotSent     = errors.New("the broker did not take the notice")
)

// newStore builds the InfluxDB store of one site (no I/O).
func (c *Center) newStore(id string) (*store.Store, error) {
	sc := *c.cfg
	sc.Site.ID = id
	sc.Store.Dir = filepath.Join(c.cfg.Store.Dir, "influx", id)
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"site": id}, c.reg)
	if id == "check" {
		reg = nil
	}
	st, err := store.New(&sc, store.Options{Log: c.log.With("site", id), Registerer: reg, Now: c.now,
		Journal: siteJournal{c, id}})
	if err != nil {
		return nil, fmt.Errorf("center: %w", err)
	}
	return st, nil
}

// feedStore hands the site's store the events it lacks up to hwm, in site
// seq order (a store skips an event below one it already took, so an
// event that fills a gap waits until every seq before it is stored or
// lost); ev is the event just stored, taken as is when it is next. Under
// mu; never blocks (the store queues events, then its outbox keeps them on
// disk until InfluxDB took them). Older events than the recent window are
// read from the journal (a large gap filled, or a catch-up at start).
func (c *Center) feedStore(s *site, ev *alarms.Event) {
	if c.stores == nil || s.fed >= s.hwm {
		return
	}
	st := c.startStore(s.id)
	if st == nil {
		return
	}
	// push hands one event over; false once past hwm (events come in
	// site seq order: the rest waits for its gap).
	push := func(raw json.RawMessage) bool {
		var e alarms.Event
		if json.Unmarshal(raw, &e) != nil {
			return true // validated before it was journaled: cannot happen
		}
		if e.Seq > s.hwm {
			return false
		}
		st.Event(e)
		s.fed = e.Seq
		return true
	}
	if ev != nil && ev.Seq == s.fed+1 {
		st.Event(*ev)
		s.fed = ev.Seq
	}
	for s.fed < s.hwm && s.fed < s.floor {
		const batch = 1024
		raws, err := siteEvents(c.segsOf(s.id, s.fed), s.id, s.fed, batch)
		if err != nil {
			c.log.Error("center: reading the journal for InfluxDB", "site", s.id, "err", err)
			return // tried again at the site's next event
		}
		more := len(raws) == batch
		for _, raw := range raws {
			if !push(raw) {
				more = false
				break
			}
		}
		if !more {
			// Every stored event up to floor (or hwm) was handed over: the
			// seqs left below are lost ones.
			s.fed = max(s.fed, min(s.floor, s.hwm))
			break
		}
	}
	i, _ := slices.BinarySearchFunc(s.events, s.fed+1, func(x stored, seq uint64) int { return cmp.Compare(x.Seq, seq) })
	for ; i < len(s.events) && s.events[i].Seq <= s.hwm; i++ {
		push(s.events[i].Raw)
	}
	s.fed = s.hwm // what is left below hwm is lost seqs
}

// startStore returns site id's InfluxDB store, started (Run) when new; nil
// while shutting down. Under mu.
//
// A store takes its site's events from the center journal (siteJournal)
// after its durable mark (the last event in its outbox): events journaled
// here but still in its memory queue when the center was killed are
// copied at the next start, which Run makes at once for every site with a
// store directory. A store's first start (no mark) copies what the
// journal holds of its site.
func (c *Center) startStore(id string) *store.Store {
	st := c.stores[id]
	if st != nil || c.stCtx == nil {
		return st
	}
	st, err := c.newStore(id)
	if err != nil {
		c.log.Error("center: no InfluxDB store for a site", "site", id, "err", err)
		return nil
	}
	c.stores[id] = st
	c.stWG.Add(1)
	ctx := c.stCtx
	go func() {
		defer c.stWG.Done()
		if err := st.Run(ctx); err != nil {
			c.log.Error("center: InfluxDB store stopped", "site", id, "err", err)
		}
	}()
	return st
}

// startStores starts the store of every site that has a store directory
// (Run, at start): each copies from the journal what its outbox lacks.
func (c *Center) startStores() {
	ents, err := os.ReadDir(filepath.Join(c.cfg.Store.Dir, "influx"))
	if err != nil {
		return // none yet
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sites {
		s.fed = s.hwm // a site without a store yet: from its next event on
	}
	for _, e := range ents {
		s := c.sites[e.Name()]
		if !e.IsDir() || s == nil {
			continue
		}
		st := c.startStore(s.id)
		if st == nil {
			continue
		}
		// A mark: the store copies mark..hwm from the journal itself
		// (siteJournal). None (a first run killed before its outbox
		// took anything): the center hands it the site's journal.
		if mark, ok := st.EventsMark(); ok && mark == 0 {
			s.fed = 0
			c.feedStore(s, nil)
		}
	}
}

// siteJournal is the center journal as one site's store.Journal: the
// site's events in its own seq (the seq a store marks).
type siteJournal struct {
	c  *Center
	id string
}

var _ store.Journal = siteJournal{}

// Events returns the site's events after seq `after`, oldest first (the
// store's Run goroutine, without mu).
func (j siteJournal) Events(after uint64, limit int) ([]alarms.Event, error) {
	j.c.mu.Lock()
	var hwm uint64
	if s := j.c.sites[j.id]; s != nil {
		hwm = s.hwm // above it, events wait for their gap (feedStore)
	}
	j.c.mu.Unlock()
	raws, err := j.c.siteEventsAfter(j.id, after, limit)
	if err != nil && !errors.Is(err, errUnknownSite) {
		return nil, err
	}
	out := make([]alarms.Event, 0, len(raws))
	for _, raw := range raws {
		var ev alarms.Event
		if json.Unmarshal(raw, &ev) == nil && ev.Seq <= hwm {
			out = append(out, ev)
		}
	}
	return out, nil
}

// Seq is where a store without a mark starts: 0, so that it takes every
// event feedStore hands it (store.New calls it, under mu: no lock).
func (siteJournal) Seq() uint64 { return 0 }

// consumed reports whether every event of seg is in its site's outbox (the
// stores' marks): retention by journal_keep deletes only those. Under mu.
func (c *Center) consumed(seg *segment) bool {
	if c.stores == nil {
		return true
	}
	for id, x := range seg.sites {
		st := c.stores[id]
		if st == nil {
			return false
		}
		if mark, ok := st.EventsMark(); ok && mark < x.Max {
			return false
		}
	}
	return true
}

// syncer is the group commit: it makes the journal durable for every
// message handled since its last round (one fsync for all), then shows
// their frames and acknowledges them, in order.
func (c *Center) syncer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.syncWake:
		}
		c.flush(true)
	}
}

// flush runs one round of the group commit.
func (c *Center) flush(ack bool) {
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	var last uint64
	for _, d := range batch {
		if d.sync {
			last = d.cseq
		}
	}
	if last > 0 {
		if err := c.j.sync(); err != nil {
			// Not acknowledged: the broker delivers them again at the next
			// connection, the gaps they leave ask for replays meanwhile.
			c.m.refused.WithLabelValues("journal").Add(float64(len(batch)))
			c.log.Error("center journal cannot sync: messages not acknowledged", "err", err)
			return
		}
	}
	c.mu.Lock()
	c.synced = max(c.synced, last)
	for _, d := range batch {
		for _, f := range d.frames {
			c.broadcast(f)
		}
	}
	c.mu.Unlock()
	if !ack {
		return
	}
	for _, d := range batch {
		if d.ack != nil {
			d.ack()
		}
	}
}
