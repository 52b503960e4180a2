package center

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/console"
	"hazardgw/drivers"
)

//go:embed web
var webFS embed.FS

// user is a console user; the token is kept as its digest only.
type user struct {
	name   string
	role   console.Role
	digest [32]byte
}

func usersOf(cfg *configs.Config) ([]user, error) {
	var out []user
	var errs []error
	for i, u := range cfg.Console.Users {
		r, err := console.ParseRole(u.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("console.user[%d] %s: %w", i, u.Name, err))
			continue
		}
		out = append(out, user{name: u.Name, role: r, digest: console.TokenDigest(u.Token)})
	}
	return out, errors.Join(errs...)
}

// identity is who made a request.
type identity struct {
	user string
	role console.Role
}

var errBadToken = errors.New("unknown token")

// identify applies SPEC §7: no users or no token → viewer; a token matching
// no user → errBadToken. Every user's digest is compared in constant time.
func (c *Center) identify(r *http.Request) (identity, error) {
	tok := r.URL.Query().Get("token")
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return identity{}, errBadToken
		}
		tok = strings.TrimSpace(t)
	}
	if len(c.users) == 0 || tok == "" {
		return identity{role: console.Viewer}, nil
	}
	d, found := console.TokenDigest(tok), -1
	for i, u := range c.users {
		if console.SameToken(u.digest, d) && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return identity{}, errBadToken
	}
	return identity{user: c.users[found].name, role: c.users[found].role}, nil
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, id identity)

// authenticate identifies r's user behind the console's wrong-token
// throttle (console.Guard); ok is false when an answer was written.
func (c *Center) authenticate(w http.ResponseWriter, r *http.Request) (id identity, ok bool) {
	ok = c.guard.Authenticate(w, r, func() (err error) {
		id, err = c.identify(r)
		return err
	})
	return id, ok
}

func (c *Center) auth(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := c.authenticate(w, r); ok {
			f(w, r, id)
		}
	})
}

// Handler is the center's HTTP handler: the district page, /ws, /api,
// /metrics.
func (c *Center) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /ws", c.serveWS)
	mux.HandleFunc("GET /api/health", c.apiHealth)
	mux.Handle("GET /api/sites", c.auth(c.apiSites))
	mux.Handle("GET /api/sites/{id}/alarms", c.auth(c.apiSiteAlarms))
	mux.Handle("GET /api/sites/{id}/events", c.auth(c.apiSiteEvents))
	mux.Handle("GET /api/sites/{id}/samples", c.auth(c.apiSiteSamples))
	mux.Handle("GET /api/sites/{id}/notices", c.auth(c.apiSiteNotices))
	mux.Handle("POST /api/sites/{id}/notices", c.auth(c.apiSendNotice))
	mux.Handle("GET /metrics", c.auth(func(w http.ResponseWriter, r *http.Request, _ identity) {
		promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	}))
	return c.guard.Handler(mux) // the Host check of SPEC §8
}

// serve listens on console.listen until ctx ends.
func (c *Center) serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Console.Listen)
	if err != nil {
		return fmt.Errorf("center: listen %s: %w", c.cfg.Console.Listen, err)
	}
	// SPEC §8 hardening, as at a site: connection caps on the listener,
	// idle, read and header timeouts on the server.
	ln = c.guard.Listener(ln)
	c.mu.Lock()
	c.addr = ln.Addr()
	c.mu.Unlock()
	hs := c.guard.Server(c.Handler())
	errc := make(chan error, 1)
	go func() {
		if c.cfg.Console.Cert != "" {
			errc <- hs.ServeTLS(ln, c.cfg.Console.Cert, c.cfg.Console.Key)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case <-ctx.Done():
	case err = <-errc:
		return fmt.Errorf("center: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx) // websockets are hijacked: Run closes them
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (c *Center) apiHealth(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	status, broker := "ok", "up"
	if !c.brokerUp {
		status, broker = "degraded", "down"
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "uptime_s": int(c.now().Sub(c.started).Seconds()),
		"broker": broker, "sites": len(c.sites), "seq": c.synced, "journal_damaged": c.damaged})
}

// Sites returns every site's summary, by id.
func (c *Center) Sites() []Summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.summariesLocked()
}

func (c *Center) summariesLocked() []Summary {
	out := make([]Summary, 0, len(c.sites))
	for _, s := range c.sites {
		out = append(out, s.summary())
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.Site, b.Site) })
	return out
}

func (c *Center) apiSites(w http.ResponseWriter, _ *http.Request, _ identity) {
	writeJSON(w, http.StatusOK, c.Sites())
}

// withSite runs f on the site named in the path under mu, or answers 404.
func (c *Center) withSite(w http.ResponseWriter, r *http.Request, f func(s *site)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sites[r.PathValue("id")]
	if s == nil {
		writeErr(w, http.StatusNotFound, "unknown site")
		return
	}
	f(s)
}

func (c *Center) apiSiteAlarms(w http.ResponseWriter, r *http.Request, _ identity) {
	c.withSite(w, r, func(s *site) {
		out := make([]alarms.Event, 0, len(s.alarms))
		for _, ev := range s.alarms {
			out = append(out, ev)
		}
		slices.SortFunc(out, func(a, b alarms.Event) int {
			if worse(a, b) {
				return -1
			}
			return 1
		})
		writeJSON(w, http.StatusOK, out)
	})
}

// apiSiteEvents: the site's events with seq > after, in site seq order
// (limit default 1000, at most 10000).
func (c *Center) apiSiteEvents(w http.ResponseWriter, r *http.Request, _ identity) {
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "after: want a seq")
			return
		}
		after = n
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeErr(w, http.StatusBadRequest, "limit: want a positive integer")
			return
		}
		limit = min(n, 10000)
	}
	if after == math.MaxUint64 {
		writeJSON(w, http.StatusOK, []json.RawMessage{}) // beyond the newest seq (SPEC §8)
		return
	}
	out, err := c.siteEventsAfter(r.PathValue("id"), after, limit)
	switch {
	case errors.Is(err, errUnknownSite):
		writeErr(w, http.StatusNotFound, "unknown site")
	case err != nil:
		c.log.Error("center: reading the journal", "site", r.PathValue("id"), "err", err)
		writeErr(w, http.StatusInternalServerError, "journal unreadable")
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// siteEventsAfter returns site id's events with seq > after (at most
// limit, in site seq order, as published): from the recent window when it
// reaches back that far, else from the journal's segments that hold any
// (their index), read outside mu. Called without mu.
func (c *Center) siteEventsAfter(id string, after uint64, limit int) ([]json.RawMessage, error) {
	c.mu.Lock()
	s := c.sites[id]
	if s == nil {
		c.mu.Unlock()
		return nil, errUnknownSite
	}
	if after >= s.floor { // all in the recent window
		i, _ := slices.BinarySearchFunc(s.events, after+1, func(x stored, seq uint64) int { return cmp.Compare(x.Seq, seq) })
		out := make([]json.RawMessage, 0, min(limit, len(s.events)-i))
		for _, e := range s.events[i:min(len(s.events), i+limit)] {
			out = append(out, e.Raw)
		}
		c.mu.Unlock()
		return out, nil
	}
	segs := c.segsOf(id, after)
	c.mu.Unlock()
	return siteEvents(segs, id, after, limit) // outside mu: the message path goes on
}

// segsOf lists the journal segments holding events of site id above
// after (the segments' index). Under mu.
func (c *Center) segsOf(id string, after uint64) []segRef {
	var segs []segRef
	for _, seg := range c.j.segs {
		if x, ok := seg.sites[id]; ok && x.Max > after {
			segs = append(segs, segRef{seg.path, x})
		}
	}
	return segs
}

// segRef is a journal segment to read for one site: its path and the
// site's seq range in it (the segment's index).
type segRef struct {
	path string
	seqs seqRange
}

// siteEvents reads site id's events with seq > after from segs: the
// lowest limit of them, in site seq order (a replay may have journaled
// them out of order).
func siteEvents(segs []segRef, id string, after uint64, limit int) ([]json.RawMessage, error) {
	var got []stored // by Seq, at most limit
	for _, sr := range segs {
		if len(got) == limit && sr.seqs.Min >= got[limit-1].Seq {
			continue // nothing lower than what is kept
		}
		err := readSegment(sr.path, func(_ uint64, r *record) bool {
			if r.Kind != kindEvent || r.Site != id || r.Seq <= after || len(got) == limit && r.Seq >= got[limit-1].Seq {
				return true
			}
			i, found := slices.BinarySearchFunc(got, r.Seq, func(x stored, seq uint64) int { return cmp.Compare(x.Seq, seq) })
			if !found {
				got = slices.Insert(got, i, stored{Seq: r.Seq, Raw: r.Raw})
				got = got[:min(len(got), limit)]
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]json.RawMessage, len(got))
	for i, e := range got {
		out[i] = e.Raw
	}
	return out, nil
}

func (c *Center) apiSiteSamples(w http.ResponseWriter, r *http.Request, _ identity) {
	c.withSite(w, r, func(s *site) {
		out := make([]drivers.SampleJSON, 0, len(s.samples))
		for _, x := range s.samples {
			out = append(out, x)
		}
		slices.SortFunc(out, func(a, b drivers.SampleJSON) int { return strings.Compare(string(a.Point), string(b.Point)) })
		writeJSON(w, http.StatusOK, out)
	})
}

func (c *Center) apiSiteNotices(w http.ResponseWriter, r *http.Request, _ identity) {
	c.withSite(w, r, func(s *site) {
		writeJSON(w, http.StatusOK, append([]*notice{}, s.notices...))
	})
}

// maxNotice bounds a notice's text (characters).
const maxNotice = 2000

func (c *Center) apiSendNotice(w http.ResponseWriter, r *http.Request, id identity) {
	if id.role < console.Commander {
		writeErr(w, http.StatusForbidden, "forbidden")
		return
	}
	if !c.cfg.Center.Notices {
		writeErr(w, http.StatusForbidden, "notices are off (center.notices = false)")
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "malformed: "+err.Error())
		return
	}
	body.Text = strings.TrimSpace(body.Text)
	if body.Text == "" || utf8.RuneCountInString(body.Text) > maxNotice {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("text is required (at most %d characters)", maxNotice))
		return
	}
	by := id.user
	if by == "" {
		by = id.role.String()
	}
	n, err := c.sendNotice(r.Context(), r.PathValue("id"), body.Text, by)
	switch {
	case errors.Is(err, errUnknownSite):
		writeErr(w, http.StatusNotFound, "unknown site")
	case err != nil:
		writeErr(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusOK, n)
	}
}

// frame is one websocket message from the center (SPEC §7 style).
type frame struct {
	Type    string               `json:"type"`
	Seq     uint64               `json:"seq,omitempty"` // alarm: the center journal's seq (resume)
	Site    string               `json:"site,omitempty"`
	Alarm   json.RawMessage      `json:"alarm,omitempty"`
	Summary *Summary             `json:"summary,omitempty"`
	Samples []drivers.SampleJSON `json:"samples,omitempty"`
	Notice  *notice              `json:"notice,omitempty"`
}

// client is one websocket. Frames go through out (bounded); a client that
// lets it fill is cut off and must resume. close is idempotent.
type client struct {
	out  chan []byte
	once sync.Once
	done chan struct{}
}

func (cl *client) close() { cl.once.Do(func() { close(cl.done) }) }

// clientQueue bounds a client's queued frames.
const clientQueue = 4096

// send queues a frame for cl. Under mu.
func (c *Center) send(cl *client, b []byte) {
	select {
	case cl.out <- b:
	default:
		c.m.dropped.Inc()
		delete(c.clients, cl)
		cl.close()
	}
}

// broadcast sends f to every client. Under mu: frames reach each client
// in the order the center produced them.
func (c *Center) broadcast(f frame) {
	if c.batch != nil {
		c.batch.frames = append(c.batch.frames, f) // shown once the message is durable
		return
	}
	if len(c.clients) == 0 {
		return
	}
	b, _ := json.Marshal(f)
	for cl := range c.clients {
		c.send(cl, b)
	}
}

func (c *Center) broadcastSite(s *site) {
	if len(c.clients) == 0 && c.batch == nil {
		return
	}
	sum := s.summary()
	c.broadcast(frame{Type: "site", Site: s.id, Summary: &sum})
}

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 16384}

func (c *Center) serveWS(w http.ResponseWriter, r *http.Request) {
	id, ok := c.authenticate(w, r)
	if !ok {
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	cl := &client{out: make(chan []byte, clientQueue), done: make(chan struct{})}
	c.mu.Lock()
	hello, _ := json.Marshal(map[string]any{"type": "hello", "center": c.cfg.Center.ID, "name": c.cfg.Center.Name,
		"user": id.user, "role": id.role.String(), "seq": c.synced, "server_time": alarms.FormatTime(c.now()),
		"notices": c.cfg.Center.Notices})
	cl.out <- hello
	cl.out <- c.snapshotLocked()
	c.clients[cl] = true
	c.mu.Unlock()

	go c.readWS(conn, cl)
	c.writeWS(conn, cl)
	c.mu.Lock()
	delete(c.clients, cl)
	c.mu.Unlock()
}

func (c *Center) snapshotLocked() []byte {
	b, _ := json.Marshal(map[string]any{"type": "snapshot", "sites": c.summariesLocked(), "seq": c.synced})
	return b
}

// writeWS is the one writer of conn.
func (c *Center) writeWS(conn *websocket.Conn, cl *client) {
	defer conn.Close()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case b := <-cl.out:
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				cl.close()
				return
			}
		case <-ping.C:
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				cl.close()
				return
			}
		case <-cl.done:
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
			return
		}
	}
}

// command is a client's websocket command. Only resume: the center has
// nothing to acknowledge (alarms are acknowledged at their site).
type command struct {
	Type string `json:"type"`
	Ref  string `json:"ref"`
	Seq  uint64 `json:"seq"`
}

func (c *Center) readWS(conn *websocket.Conn, cl *client) {
	defer cl.close()
	conn.SetReadLimit(64 << 10)
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(60 * time.Second)) })
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		var cmd command
		res := map[string]any{"type": "result", "ok": true}
		if err := json.Unmarshal(data, &cmd); err != nil {
			res["ok"], res["error"] = false, "malformed: "+err.Error()
		} else {
			res["ref"] = cmd.Ref
			if cmd.Type != "resume" {
				res["ok"], res["error"] = false, fmt.Sprintf("unknown command %q (the center takes resume; alarms are acknowledged at their site)", cmd.Type)
			}
		}
		c.mu.Lock()
		if res["ok"] == true {
			c.resumeLocked(cl, cmd.Seq)
		}
		b, _ := json.Marshal(res)
		c.send(cl, b)
		c.mu.Unlock()
	}
}

// resumeLocked queues every alarm after center seq `after` that is
// durable, in order; live frames follow (they are queued under the same
// mu). From the ring when it reaches back that far, else from the journal
// (until the client's queue is full: it is then cut off and resumes).
func (c *Center) resumeLocked(cl *client, after uint64) {
	if after == math.MaxUint64 {
		return // nothing after it (and after+1 must not wrap to 0)
	}
	if after >= c.ringFloor {
		i, _ := slices.BinarySearchFunc(c.ring, after+1, func(x cref, seq uint64) int { return cmp.Compare(x.cseq, seq) })
		for _, ref := range c.ring[i:] {
			if ref.cseq > c.synced {
				break // not yet durable: the syncer sends it
			}
			b, _ := json.Marshal(frame{Type: "alarm", Seq: ref.cseq, Site: ref.site, Alarm: ref.raw})
			c.send(cl, b)
		}
		return
	}
	for _, seg := range c.j.segs {
		if seg.last <= after {
			continue
		}
		done := false
		err := readSegment(seg.path, func(cseq uint64, r *record) bool {
			switch {
			case cseq <= after:
				return true
			case cseq > c.synced || !c.clients[cl]:
				done = true // not yet durable (the syncer sends it), or the client was cut off
				return false
			case r.Kind == kindEvent:
				b, _ := json.Marshal(frame{Type: "alarm", Seq: cseq, Site: r.Site, Alarm: r.Raw})
				c.send(cl, b)
			}
			return true
		})
		if err != nil {
			c.log.Error("center: resume from the journal", "err", err)
			cl.close()
			return
		}
		if done {
			return
		}
	}
}
