package console

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"hazardgw/alarms"

	"github.com/gorilla/websocket"
)

const (
	closeNormal    = websocket.CloseNormalClosure
	closeGoingAway = websocket.CloseGoingAway
	closePolicy    = websocket.ClosePolicyViolation
)

// newTicker is time.NewTicker; a seam for nothing but readability.
func newTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// client is one websocket connection. The hub owns its membership; the
// writer goroutine is the only one that writes frames; the reader
// goroutine parses commands.
type client struct {
	s        *Server
	conn     *websocket.Conn
	id       identity
	reliable chan []byte // hello, snapshot, alarm, result: never dropped
	samples  chan []byte // samples frames: dropped when full
	done     chan struct{}
	once     sync.Once
	ctx      context.Context
	cancel   context.CancelFunc

	snapSeq    uint64  // hub only: seq of the last snapshot sent
	resumeFrom *uint64 // /ws?resume=SEQ

	// Command rate limit (reader goroutine only).
	tokens float64
	last   time.Time
}

func (s *Server) checkOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Host)
	return host == strings.ToLower(r.Host) || s.origins[host] || s.origins[strings.ToLower(u.Hostname())]
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r)
	if !ok {
		s.metrics.disconnects.WithLabelValues("unauthorized").Inc()
		return
	}
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 16 << 10, CheckOrigin: s.checkOrigin}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered with an HTTP error
	}
	c := &client{s: s, conn: conn, id: id, reliable: make(chan []byte, s.opts.AlarmQueue),
		samples: make(chan []byte, s.opts.SampleQueue), done: make(chan struct{}),
		tokens: float64(s.opts.CommandBurst), last: s.opts.Now()}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if v := r.URL.Query().Get("resume"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			c.resumeFrom = &n
		}
	}
	if !s.spawn(c.writeLoop) {
		_ = conn.Close()
		return
	}
	if !s.hub.post(func() { s.hub.register(c) }) {
		c.kick(closeGoingAway, "gateway shutting down")
		return
	}
	s.spawn(c.readLoop)
}

// kick ends the connection once: it stops the writer, sends a close frame
// (waiting at most a second for the write lock, so a writer stuck on a
// slow peer cannot hold it) and closes the socket. Safe from any goroutine.
func (c *client) kick(code int, text string) {
	c.once.Do(func() {
		close(c.done)
		c.cancel()
		go func() { // not counted: bounded by the 1s deadline and Close
			msg := websocket.FormatCloseMessage(code, text)
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			_ = c.conn.Close()
		}()
	})
}

func (c *client) writeLoop() {
	o := &c.s.opts
	ping := time.NewTicker(o.PongWait * 9 / 10)
	defer ping.Stop()
	write := func(b []byte) bool {
		_ = c.conn.SetWriteDeadline(time.Now().Add(o.WriteWait))
		if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// The peer stopped reading for WriteWait: as slow as a
				// client whose alarm queue overflowed.
				c.s.metrics.disconnects.WithLabelValues("write_timeout").Inc()
			}
			c.gone()
			return false
		}
		return true
	}
	for {
		// Reliable frames go first.
		select {
		case b := <-c.reliable:
			if !write(b) {
				return
			}
			continue
		case <-c.done:
			return
		default:
		}
		select {
		case b := <-c.reliable:
			if !write(b) {
				return
			}
		case b := <-c.samples:
			if !write(b) {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(o.WriteWait)); err != nil {
				c.gone()
				return
			}
		case <-c.done:
			return
		}
	}
}

// gone asks the hub to forget the client and closes the connection.
func (c *client) gone() {
	if !c.s.hub.post(func() { c.s.hub.unregister(c) }) {
		c.kick(closeGoingAway, "")
	}
}

func (c *client) readLoop() {
	defer c.gone()
	o := &c.s.opts
	c.conn.SetReadLimit(o.MaxFrame)
	_ = c.conn.SetReadDeadline(time.Now().Add(o.PongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(o.PongWait))
	})
	for {
		mt, b, err := c.conn.ReadMessage()
		if err != nil {
			var ne net.Error
			if !websocket.IsCloseError(err, closeNormal, closeGoingAway) && !errors.As(err, &ne) {
				c.s.log.Debug("console: websocket read", "user", c.id.user, "err", err)
			}
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(o.PongWait))
		if mt != websocket.TextMessage {
			c.reply(nil, errors.New("malformed frame: want one JSON object per text frame"))
			continue
		}
		c.handle(b)
	}
}

// handle runs one client frame: every frame gets exactly one result.
func (c *client) handle(b []byte) {
	cmd, err := parseCommand(b)
	if err != nil {
		c.s.metrics.commands.WithLabelValues("malformed", "error").Inc()
		c.reply(cmd.Ref, err)
		return
	}
	if !c.allow() {
		c.s.metrics.commands.WithLabelValues(label(cmd.Type), "rate_limited").Inc()
		c.reply(cmd.Ref, errRateLimited)
		return
	}
	if cmd.Type == "resume" {
		if cmd.Seq == nil {
			c.reply(cmd.Ref, errors.New("resume: missing seq"))
			return
		}
		seq, ref := *cmd.Seq, cmd.Ref
		h := c.s.hub
		// The replay and its result are queued by the hub, between two
		// live events.
		h.post(func() {
			h.resume(c, seq)
			if _, ok := h.clients[c]; ok {
				h.sendReliable(c, resultJSON(ref, nil))
			}
		})
		c.s.metrics.commands.WithLabelValues("resume", "ok").Inc()
		return
	}
	if cmd.Type == "run" || cmd.Type == "release" {
		_, err = c.s.linkageCommand(c.ctx, c.id, cmd.Type, cmd.Linkage, cmd.Comment)
		c.s.metrics.commands.WithLabelValues(cmd.Type, outcome(err)).Inc()
		c.reply(cmd.Ref, err)
		return
	}
	ec, err := toEngine(cmd, c.id, c.s.cfg.Console.MaxShelve.D())
	if err == nil {
		var ev alarms.Event
		if ev, err = c.s.deps.Engine.Do(c.ctx, ec); err == nil {
			c.s.recordCommand(c.id, ec, ev)
		}
	}
	c.s.metrics.commands.WithLabelValues(label(cmd.Type), outcome(err)).Inc()
	c.reply(cmd.Ref, err)
}

func label(t string) string {
	if _, ok := need[t]; ok {
		return t
	}
	return "unknown"
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errForbidden):
		return "forbidden"
	}
	return "error"
}

// reply queues a result; a client whose reliable queue is full is slow and
// is disconnected.
func (c *client) reply(ref json.RawMessage, err error) {
	select {
	case c.reliable <- resultJSON(ref, err):
	case <-c.done:
	default:
		c.s.metrics.disconnects.WithLabelValues("slow").Inc()
		c.kick(closePolicy, "alarm queue overflow: reconnect and resume")
	}
}

// allow takes one token from the client's bucket.
func (c *client) allow() bool {
	o := &c.s.opts
	now := o.Now()
	c.tokens += now.Sub(c.last).Seconds() * o.CommandRate
	c.last = now
	if max := float64(o.CommandBurst); c.tokens > max {
		c.tokens = max
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}
