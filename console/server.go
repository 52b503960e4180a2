package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"

	"github.com/prometheus/client_golang/prometheus"
)

// Engine is what the console needs of the alarm engine (alarms.Engine
// implements it). Do's errors wrap alarms.ErrUnknown, ErrRefused or
// ErrInvalid.
type Engine interface {
	Do(ctx context.Context, c alarms.Command) (alarms.Event, error)
	Alarms() []alarms.Event                                 // every alarm not normal
	Events(after uint64, limit int) ([]alarms.Event, error) // journal, oldest first
	Seq() uint64                                            // latest alarm seq
	Flood() bool
}

// StoreHealth is the store's part of /api/health (SPEC §8).
type StoreHealth struct {
	InfluxDB      string `json:"influxdb"` // "up" | "down" | "off"
	OutboxBytes   int64  `json:"outbox_bytes"`
	OutboxSamples int64  `json:"outbox_samples"`
	// Down is true when the local store itself fails (disk, journal); it
	// makes the gateway "degraded". Not part of the JSON.
	Down bool `json:"-"`
}

// HistoryFunc returns the samples of one point acquired in [from, to],
// oldest first (the store's local history). Used by GET /api/history.
type HistoryFunc func(ctx context.Context, point drivers.PointID, from, to time.Time) ([]drivers.Sample, error)

// Deps are the console's collaborators; Engine is required.
type Deps struct {
	Engine  Engine
	Devices func() []drivers.Health // for /api/health; nil: none
	Store   func() StoreHealth      // for /api/health; nil: influxdb "off"
	History HistoryFunc             // for /api/history; nil: 404
	// Linkages serves /api/linkages, run/release and the linkage frame;
	// nil: no linkages.
	Linkages Linkages
	// Records is the durable log of operator actions and disposal
	// records (/api/records, .../dispose); nil: actions are not recorded
	// and dispose answers 503.
	Records *Records
	// Notices are the district's notices (SPEC §13; [uplink] notices):
	// /api/notices, the notice frame and the snapshot's notices. Nil: no
	// notices (the list is empty, an acknowledgement 404).
	Notices *Notices
	Reload  ReloadFunc // for POST /api/reload; nil: 404
	// Registry gets the console's collectors and is served on /metrics.
	// Nil: a private registry.
	Registry *prometheus.Registry
	Log      *slog.Logger
}

// Options tune the console; the zero value is production defaults.
type Options struct {
	Now     func() time.Time // clock for hello and uptime; default time.Now
	Started time.Time        // process start for uptime_s; default Now() at New
	// Origins lists extra allowed Origin hosts (host or host:port) for /ws;
	// the page's own host is always allowed, and so is a missing Origin
	// (non-browser clients).
	Origins []string
	// Per-client queues. AlarmQueue: reliable frames (alarm, result,
	// hello, snapshot) before the client is disconnected (default 4096).
	// SampleQueue: samples frames before frames are dropped (default 8).
	AlarmQueue, SampleQueue int
	// SampleBuffer bounds the samples waiting for the hub (default 100000);
	// beyond it the oldest batches are dropped.
	SampleBuffer int
	// Ring is how many recent events the hub keeps for resume before it
	// reads the journal (default 1024).
	Ring int
	// FlushEvery is the samples batching period (default 50ms, SPEC §7).
	FlushEvery time.Duration
	// MaxFrame is the largest client frame in bytes (default 64 KiB).
	MaxFrame int64
	// WriteWait, PongWait: websocket deadlines (default 10s, 60s; pings
	// every 9/10 of PongWait).
	WriteWait, PongWait time.Duration
	// CommandRate is commands per second per connection, Burst the bucket
	// (default 10/s, burst 20). Over the limit a command is answered
	// ok:false "rate limited" without reaching the engine.
	CommandRate  float64
	CommandBurst int
	// Limits bound connections, timeouts and descriptors (guard.go).
	Limits Limits
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.AlarmQueue, 4096)
	def(&o.SampleQueue, 8)
	def(&o.SampleBuffer, 100000)
	def(&o.Ring, 1024)
	def(&o.CommandBurst, 20)
	if o.FlushEvery <= 0 {
		o.FlushEvery = 50 * time.Millisecond
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = 64 << 10
	}
	if o.WriteWait <= 0 {
		o.WriteWait = 10 * time.Second
	}
	if o.PongWait <= 0 {
		o.PongWait = 60 * time.Second
	}
	if o.CommandRate <= 0 {
		o.CommandRate = 10
	}
	o.Limits.defaults()
}

// Role orders what a user may do: admin ≥ commander ≥ operator ≥ viewer.
type Role int

const (
	Viewer Role = iota
	Operator
	Commander
	Admin
)

var roleNames = [...]string{"viewer", "operator", "commander", "admin"}

func (r Role) String() string {
	if r >= 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole reads a config role name.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if n == s {
			return Role(i), nil
		}
	}
	return 0, fmt.Errorf("unknown role %q (want viewer, operator, commander or admin)", s)
}

type user struct {
	name   string
	role   Role
	digest [32]byte // tokenDigest of the token; the token itself is not kept
}

// Server is the console. Create it with New, run it with Run or Serve.
type Server struct {
	cfg   *configs.Config
	deps  Deps
	opts  Options
	log   *slog.Logger
	users []user
	// table is the point table (points.go), replaced whole by the hub
	// goroutine at a reload (Reload); any goroutine may Load it.
	table   atomic.Pointer[table]
	origins map[string]bool
	hosts   map[string]bool // console.hosts and a named listen host, lower case
	guard   *guard
	metrics *metrics
	reg     *prometheus.Registry
	hub     *hub
	links   *framePump   // linkage and notice frames
	mux     http.Handler // the routes behind harden

	goMu    sync.Mutex
	closing bool           // set before wg.Wait: no new goroutines
	wg      sync.WaitGroup // client goroutines
}

// spawn runs f in a goroutine counted by wg, unless the server is closing.
func (s *Server) spawn(f func()) bool {
	s.goMu.Lock()
	defer s.goMu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

//go:embed web
var webFS embed.FS

// ErrNoEngine is returned by New without Deps.Engine.
var ErrNoEngine = errors.New("console: no engine")

// New checks the console's part of cfg and builds the server; it does no
// I/O. The server implements alarms.Output: subscribe it to the engine
// before the engine runs.
func New(cfg *configs.Config, deps Deps, opts Options) (*Server, error) {
	if deps.Engine == nil {
		return nil, ErrNoEngine
	}
	opts.defaults()
	// The server keeps the settings, not the devices: its point table
	// (newTable) is all it needs of them, and keeping cfg would keep the
	// whole decoded point list alive (docs/PERFORMANCE.md, memory).
	s := &Server{cfg: cfg.WithoutDevices(), deps: deps, opts: opts, origins: map[string]bool{}}
	s.log = deps.Log
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for i, u := range cfg.Console.Users {
		r, err := ParseRole(u.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("console.user[%d] %s: %w", i, u.Name, err))
			continue
		}
		if u.Token == "" {
			errs = append(errs, fmt.Errorf("console.user[%d] %s: empty token", i, u.Name))
			continue
		}
		s.users = append(s.users, user{name: u.Name, role: r, digest: tokenDigest(u.Token)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.table.Store(newTable(cfg))
	for _, o := range opts.Origins {
		s.origins[strings.ToLower(o)] = true
	}
	s.reg = deps.Registry
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(s.reg)
	if err != nil {
		return nil, fmt.Errorf("console: metrics: %w", err)
	}
	s.metrics = m
	if s.guard, err = newGuard(opts.Limits, s.log, opts.Now, s.reg); err != nil {
		return nil, fmt.Errorf("console: metrics: %w", err)
	}
	s.hosts = hostSet(cfg.Console.Listen, cfg.Console.Hosts)
	s.hub = newHub(s)
	s.links = newFramePump()
	if deps.Linkages != nil {
		deps.Linkages.Watch(s.links.linkage)
	}
	if deps.Notices != nil {
		deps.Notices.Watch(s.links.notice)
	}
	s.routes()
	return s, nil
}

var (
	_ alarms.Output = (*Server)(nil)
	_ Engine        = (*alarms.Engine)(nil)
)

// Samples hands a batch to the hub; it never blocks (alarms.Output). When
// the hub's buffer is full the oldest batches are dropped and counted.
func (s *Server) Samples(batch []drivers.Sample) {
	if n := s.hub.queue.PushSamples(batch); n > 0 {
		s.metrics.samplesDropped.WithLabelValues("hub").Add(float64(n))
	}
}

// Event hands an alarm event to the hub; it never blocks and never drops
// (alarms.Output).
func (s *Server) Event(ev alarms.Event) { s.hub.queue.PushEvent(ev) }

// Handler is the console's HTTP handler (page, /ws, /api, /metrics). It
// serves websockets and current state only while Run or Serve runs.
func (s *Server) Handler() http.Handler { return s.mux }

// Run listens on console.listen (TLS when console.cert and console.key are
// set) and serves until ctx ends. A listen failure (port in use) is
// returned at once.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Console.Listen)
	if err != nil {
		return fmt.Errorf("console: listen %s: %w", s.cfg.Console.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then closes every websocket with a
// close frame and waits for its goroutines. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	lim := &s.opts.Limits
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: lim.ReadTimeout, IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	ln = s.guard.listener(ln)
	hubDone := make(chan struct{})
	hctx, stopHub := context.WithCancel(context.Background())
	go func() { defer close(hubDone); s.hub.run(hctx) }()
	linksDone := make(chan struct{})
	go func() { defer close(linksDone); s.links.run(hctx, s.hub) }()
	// Serve HTTP only once the hub holds the engine's alarm table: a
	// request that reaches the port earlier waits in the listen backlog
	// instead of getting 503 from a console that is starting.
	select {
	case <-s.hub.ready:
	case <-ctx.Done():
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.cfg.Console.Cert != "" || s.cfg.Console.Key != "" {
			err = hs.ServeTLS(ln, s.cfg.Console.Cert, s.cfg.Console.Key)
		} else {
			err = hs.Serve(ln)
		}
		errc <- err
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("console: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = hs.Shutdown(sctx) // stops listening; hijacked websockets are the hub's
	cancel()
	stopHub() // the hub sends every websocket a close frame
	<-hubDone
	<-linksDone
	s.goMu.Lock()
	s.closing = true
	s.goMu.Unlock()
	s.wg.Wait()
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	mux.Handle("GET /", files)
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("GET /api/health", s.apiHealth)
	mux.Handle("GET /api/points", s.auth(s.apiPoints))
	mux.Handle("GET /api/alarms", s.auth(s.apiAlarms))
	mux.Handle("GET /api/events", s.auth(s.apiEvents))
	mux.Handle("GET /api/history", s.auth(s.apiHistory))
	mux.Handle("POST /api/alarms/{id}/{op}", s.auth(s.apiAlarmCommand))
	mux.Handle("POST /api/alarms/{id}/dispose", s.auth(s.apiDispose))
	mux.Handle("GET /api/records", s.auth(s.apiRecords))
	mux.Handle("GET /api/report", s.auth(s.apiReport))
	mux.Handle("GET /plan", s.auth(s.apiPlan))
	mux.Handle("GET /api/presentation", s.auth(s.apiPresentation))
	mux.Handle("POST /api/points/{id}/{op}", s.auth(s.apiPointCommand))
	mux.Handle("POST /api/reload", s.auth(s.apiReload))
	mux.Handle("GET /api/linkages", s.auth(s.apiLinkages))
	mux.Handle("POST /api/linkages/{id}/{op}", s.auth(s.apiLinkageCommand))
	mux.Handle("GET /api/notices", s.auth(s.apiNotices))
	mux.Handle("POST /api/notices/{id}/ack", s.auth(s.apiNoticeAck))
	mux.Handle("GET /metrics", s.auth(func(w http.ResponseWriter, r *http.Request, _ identity) {
		s.metricsHandler().ServeHTTP(w, r)
	}))
	s.mux = s.harden(mux)
}

// identity is who made a request.
type identity struct {
	user string
	role Role
}

var errBadToken = errors.New("unknown token")

// identify applies SPEC §7: no users or no token → viewer; a token that
// matches no user → errBadToken. Every user's token is compared in
// constant time, by equal-length digests, so timing tells nothing about
// which one nearly matched nor how long a token is.
func (s *Server) identify(r *http.Request) (identity, error) {
	tok := ""
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme is case-insensitive (RFC 9110 §11.1): "bearer" works.
		if scheme, t, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimSpace(t)
		} else {
			return identity{}, errBadToken
		}
	} else {
		tok = r.URL.Query().Get("token")
	}
	if len(s.users) == 0 || tok == "" {
		return identity{role: Viewer}, nil
	}
	found, d := -1, tokenDigest(tok)
	for i, u := range s.users {
		if sameToken(u.digest, d) && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return identity{}, errBadToken
	}
	return identity{user: s.users[found].name, role: s.users[found].role}, nil
}
