package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// This file is the console's hardening against hostile clients (SPEC §8):
//
//	listener ─► connection caps (per client address, in total, below the
//	            process's file limit minus a reserve for drivers and the
//	            journal) ─► http.Server (idle, header and body timeouts)
//	         ─► Host check (403) ─► wrong-token throttle (429) ─► handlers
//
// Every limit is counted in hazardgw_console_refused_total{reason}.

// Defaults of the hardening Options (SPEC §8; docs/SECURITY.md).
const (
	defaultMaxConns        = 1024
	defaultMaxConnsPerAddr = 64
	defaultFDReserve       = 256
	defaultIdleTimeout     = 60 * time.Second
	defaultReadTimeout     = 30 * time.Second

	// badTokenLimit wrong tokens from one address within badTokenWindow
	// are tolerated; the next one blocks the address for badTokenWindow.
	badTokenLimit  = 10
	badTokenWindow = time.Minute
	// maxTrackedAddrs bounds the throttle's memory; beyond it every new
	// address shares one entry (and is throttled together).
	maxTrackedAddrs = 4096
	overflowAddr    = "*"
)

// Limits is the part of Options that bounds what clients may hold.
// The zero value is the production defaults.
type Limits struct {
	// MaxConns bounds the console's open connections in total (default
	// 1024); it is lowered to the process's file limit minus FDReserve.
	MaxConns int
	// MaxConnsPerAddr bounds the open connections of one client IP
	// (default 64).
	MaxConnsPerAddr int
	// FDReserve file descriptors are never used by console connections:
	// they stay for the drivers, the journal, the outbox and the uplink
	// (default 256).
	FDReserve int
	// IdleTimeout closes a keep-alive connection that sends no request
	// (default 60s, SPEC §8). ReadTimeout bounds reading one request,
	// headers and body (default 30s): a slow POST cannot hold a socket.
	IdleTimeout, ReadTimeout time.Duration
	// FileLimit is the process's open-file limit; default RLIMIT_NOFILE.
	FileLimit func() int
}

func (h *Limits) defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&h.MaxConns, defaultMaxConns)
	def(&h.MaxConnsPerAddr, defaultMaxConnsPerAddr)
	def(&h.FDReserve, defaultFDReserve)
	if h.IdleTimeout <= 0 {
		h.IdleTimeout = defaultIdleTimeout
	}
	if h.ReadTimeout <= 0 {
		h.ReadTimeout = defaultReadTimeout
	}
	if h.FileLimit == nil {
		h.FileLimit = fileLimit
	}
}

// connCap is the total connection cap for a file limit: MaxConns, lowered
// so that FDReserve descriptors stay free, and never below 8 (a console
// that accepts nothing is no console).
func (h *Limits) connCap(files int) int {
	n := h.MaxConns
	if files > 0 && files-h.FDReserve < n {
		n = files - h.FDReserve
	}
	return max(n, 8)
}

// guard holds the live counts behind the caps and the throttle. Its
// methods are safe from any goroutine.
type guard struct {
	h       Limits
	total   int // cap on open connections (Limits.connCap)
	log     *slog.Logger
	now     func() time.Time
	refused *prometheus.CounterVec // reason: total | per_addr | host | throttled
	badTok  *prometheus.CounterVec // on: ws | api
	open    prometheus.Gauge

	mu       sync.Mutex
	conns    int            // open connections
	seen     int            // connections accepted, admitted or not
	perAddr  map[string]int // open connections by client IP
	fails    map[string]*failures
	loggedAt time.Time // last "connection cap reached" log line
}

// failures is one address's wrong tokens in the current window.
type failures struct {
	start        time.Time // window start
	n            int       // wrong tokens since start
	blockedUntil time.Time
}

func newGuard(h Limits, log *slog.Logger, now func() time.Time, reg prometheus.Registerer) (*guard, error) {
	g := &guard{h: h, log: log, now: now, perAddr: map[string]int{}, fails: map[string]*failures{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_console_refused_total",
			Help: "Connections and requests the console refused: total or per_addr connection cap, unknown host, throttled wrong tokens."},
			[]string{"reason"}),
		badTok: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_console_bad_tokens_total",
			Help: "Requests that carried a token matching no user, on the websocket or the HTTP API."},
			[]string{"on"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hazardgw_console_connections",
			Help: "Open console connections (HTTP and websocket)."}),
	}
	for _, c := range []prometheus.Collector{g.refused, g.badTok, g.open} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	g.total = h.connCap(h.FileLimit())
	return g, nil
}

// listener wraps ln with the connection caps. A connection over a cap is
// accepted and closed at once: it holds its descriptor for microseconds,
// not for as long as the client likes.
func (g *guard) listener(ln net.Listener) net.Listener { return &capListener{Listener: ln, g: g} }

type capListener struct {
	net.Listener
	g *guard
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := clientIP(c.RemoteAddr().String())
		if reason := l.g.admit(addr); reason != "" {
			_ = c.Close()
			continue
		}
		return &capConn{Conn: c, g: l.g, addr: addr}, nil
	}
}

// admit takes a connection slot for addr, or says which cap refused it.
func (g *guard) admit(addr string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen++
	reason := ""
	switch {
	case g.conns >= g.total:
		reason = "total"
	case g.perAddr[addr] >= g.h.MaxConnsPerAddr:
		reason = "per_addr"
	}
	if reason != "" {
		g.refused.WithLabelValues(reason).Inc()
		if now := g.now(); now.Sub(g.loggedAt) >= 10*time.Second {
			g.loggedAt = now // one line per 10 s, whatever the flood
			g.log.Warn("console: connection refused: cap reached", "reason", reason, "addr", addr,
				"open", g.conns, "max", g.total, "max_per_addr", g.h.MaxConnsPerAddr)
		}
		return reason
	}
	g.conns++
	g.perAddr[addr]++
	g.open.Inc()
	return ""
}

func (g *guard) release(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.conns--
	if g.perAddr[addr]--; g.perAddr[addr] <= 0 {
		delete(g.perAddr, addr)
	}
	g.open.Dec()
}

// counts are the connections holding a slot and those accepted so far.
func (g *guard) counts() (open, seen int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns, g.seen
}

// capConn gives its slot back on the first Close (websockets are closed
// by the hub after the HTTP server hijacked them: same conn).
type capConn struct {
	net.Conn
	g    *guard
	addr string
	once sync.Once
}

func (c *capConn) Close() error {
	c.once.Do(func() { c.g.release(c.addr) })
	return c.Conn.Close()
}

// clientIP is the host part of a remote address.
func clientIP(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// blocked reports whether addr is throttled for wrong tokens (429).
func (g *guard) blocked(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[g.key(addr)]
	return f != nil && g.now().Before(f.blockedUntil)
}

// badToken counts a wrong token from addr: it is logged (the first of a
// window, and the one that blocks the address) and, past badTokenLimit
// within badTokenWindow, blocks the address for badTokenWindow. It reports
// whether the address is now blocked.
func (g *guard) badToken(addr, path string) (blocked bool) {
	on := "api"
	if path == "/ws" {
		on = "ws"
	}
	g.badTok.WithLabelValues(on).Inc()
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	k := g.key(addr)
	f := g.fails[k]
	if f == nil {
		f = &failures{start: now}
		g.fails[k] = f
	}
	if now.Sub(f.start) >= badTokenWindow {
		f.start, f.n = now, 0
	}
	f.n++
	switch {
	case f.n == 1:
		g.log.Warn("console: wrong token", "addr", addr, "path", path)
	case f.n == badTokenLimit+1:
		f.blockedUntil = now.Add(badTokenWindow)
		g.log.Warn("console: wrong tokens: address throttled", "addr", addr, "path", path,
			"wrong_tokens", f.n, "window", badTokenWindow, "until", f.blockedUntil)
	}
	return now.Before(f.blockedUntil)
}

// key is addr's entry in fails (g.mu held), pruning expired entries when
// the table is full and sharing one entry beyond maxTrackedAddrs.
func (g *guard) key(addr string) string {
	if _, ok := g.fails[addr]; ok || len(g.fails) < maxTrackedAddrs {
		return addr
	}
	now := g.now()
	for k, f := range g.fails {
		if now.Sub(f.start) >= badTokenWindow && !now.Before(f.blockedUntil) {
			delete(g.fails, k)
		}
	}
	if len(g.fails) < maxTrackedAddrs {
		return addr
	}
	return overflowAddr
}

// tokenDigest is what a token is compared by: equal-length digests, so
// the comparison takes the same time whatever the length of the guess.
func tokenDigest(tok string) [sha256.Size]byte { return sha256.Sum256([]byte(tok)) }

// sameToken compares two digests in constant time.
func sameToken(a, b [sha256.Size]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

// hostAllowed applies SPEC §8's Host check with the console's hosts.
func (s *Server) hostAllowed(host string) bool { return hostAllowed(s.hosts, host) }

// hostAllowed applies SPEC §8's Host check: the listen host, a loopback
// name, an IP literal (a browser that typed an address did not resolve a
// name, so no DNS rebinding), or one of hosts (hostSet), with any port.
func hostAllowed(hosts map[string]bool, host string) bool {
	h := strings.ToLower(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if h == "" {
		return true // HTTP/1.0 without Host: no browser, so no rebinding
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || net.ParseIP(h) != nil {
		return true
	}
	return hosts[h]
}

// hostSet is console.hosts plus the listen host when it is a name, lower
// case, without ports.
func hostSet(listen string, hosts []string) map[string]bool {
	m := map[string]bool{}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" && net.ParseIP(h) == nil {
		m[strings.ToLower(h)] = true
	}
	for _, h := range hosts {
		h = strings.ToLower(h)
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		m[strings.TrimSuffix(h, ".")] = true
	}
	return m
}

// harden wraps the console's handler with the Host check and the
// wrong-token throttle.
func (s *Server) harden(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.guard.refused.WithLabelValues("host").Inc()
			writeError(w, http.StatusForbidden, "unknown host")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate identifies r's user (SPEC §7) behind the wrong-token
// throttle (guard.admitToken). ok is false when an answer was written.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (identity, bool) {
	var id identity
	ok := s.guard.admitToken(w, r, func() (err error) {
		id, err = s.identify(r)
		return err
	})
	return id, ok
}

// admitToken runs identify behind the wrong-token throttle: a blocked
// address gets 429 without its token being compared; a wrong token
// (identify's error) is counted, logged and answered 401 (429 when it
// blocks the address). It reports whether identify succeeded and no
// answer was written.
func (g *guard) admitToken(w http.ResponseWriter, r *http.Request, identify func() error) bool {
	if g.throttled(w, r) {
		return false
	}
	if err := identify(); err != nil {
		if g.badToken(clientIP(r.RemoteAddr), r.URL.Path) {
			g.refused.WithLabelValues("throttled").Inc()
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, "too many wrong tokens")
			return false
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="console"`)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return false
	}
	return true
}

// throttled answers 429 when r's address is blocked for wrong tokens; the
// caller stops there.
func (g *guard) throttled(w http.ResponseWriter, r *http.Request) bool {
	if !g.blocked(clientIP(r.RemoteAddr)) {
		return false
	}
	g.refused.WithLabelValues("throttled").Inc()
	w.Header().Set("Retry-After", "60")
	writeError(w, http.StatusTooManyRequests, "too many wrong tokens")
	return true
}

// Guard is this file's hardening for another HTTP server of the gateway
// (the district center, gateway/center): the same connection caps,
// timeouts, Host check and wrong-token throttle, with the same metrics
// (hazardgw_console_refused_total, _bad_tokens_total, _connections) on
// the registerer it is given. Its methods are safe from any goroutine.
type Guard struct {
	g     *guard
	hosts map[string]bool
	log   *slog.Logger
}

// NewGuard builds a Guard for a server listening on listen that also
// answers to hosts (console.hosts); lim's zero fields take the console's
// defaults, now defaults to time.Now. It registers its metrics on reg and
// does no I/O.
func NewGuard(lim Limits, listen string, hosts []string, log *slog.Logger, now func() time.Time, reg prometheus.Registerer) (*Guard, error) {
	lim.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	g, err := newGuard(lim, log, now, reg)
	if err != nil {
		return nil, err
	}
	return &Guard{g: g, hosts: hostSet(listen, hosts), log: log}, nil
}

// Listener wraps ln with the connection caps (per client address and in
// total, below the file limit minus the reserve).
func (g *Guard) Listener(ln net.Listener) net.Listener { return g.g.listener(ln) }

// Server is an http.Server for h with the idle, read and header timeouts
// of the Limits; serve it on Listener(ln).
func (g *Guard) Server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: g.g.h.ReadTimeout, IdleTimeout: g.g.h.IdleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
}

// Handler wraps next with the Host check (403, counted as reason host).
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(g.hosts, r.Host) {
			g.g.refused.WithLabelValues("host").Inc()
			writeError(w, http.StatusForbidden, "unknown host")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Authenticate runs identify (which compares r's token, by TokenDigest
// and SameToken) behind the wrong-token throttle: 429 for a blocked
// address, 401 for a wrong token (counted, logged, and blocking the
// address past 10 a minute). It reports whether the caller may go on; when
// false an answer was written.
func (g *Guard) Authenticate(w http.ResponseWriter, r *http.Request, identify func() error) bool {
	return g.g.admitToken(w, r, identify)
}

// TokenDigest is what a token is kept and compared by (SameToken).
func TokenDigest(tok string) [sha256.Size]byte { return tokenDigest(tok) }

// SameToken compares two token digests in constant time.
func SameToken(a, b [sha256.Size]byte) bool { return sameToken(a, b) }
