//go:build linux

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"hazardgw/alarms"
)

// Watch is a district websocket client as a command room would hold one:
// it follows the center's `alarm` frames, reconnects when the center goes
// away and resumes from the last center seq it saw. For every alarm it
// records the latency from the site's `emitted` to the frame's arrival
// (same machine clock) and per site whether seqs arrive in order.
//
// Run is its only goroutine writing; the accessors read under mu.
type Watch struct {
	url string // ws://127.0.0.1:PORT/ws

	mu       sync.Mutex
	cseq     uint64 // the last center seq taken
	frames   []Arrival
	last     map[string]uint64 // site → the last site seq seen
	disorder map[string]int    // site → frames whose seq was not above the last
	examples []string          // the first few of them, described
	conns    int               // connections made (1 + reconnects)
}

// Arrival is one alarm frame as the watcher saw it.
type Arrival struct {
	Site     string
	Seq      uint64 // the site's
	Emitted  time.Time
	Received time.Time
	// Resumed: the frame came in answer to a resume (after a reconnect),
	// not live.
	Resumed bool
}

// Latency is how long the event took from the site's engine to here.
func (a Arrival) Latency() time.Duration { return a.Received.Sub(a.Emitted) }

// NewWatch watches the center whose console is base (http://HOST:PORT).
func NewWatch(base string) *Watch {
	return &Watch{url: "ws" + strings.TrimPrefix(base, "http") + "/ws", last: map[string]uint64{}, disorder: map[string]int{}}
}

// Run follows the center until ctx ends, reconnecting every 200 ms while
// it is away.
func (w *Watch) Run(ctx context.Context) {
	for ctx.Err() == nil {
		_ = w.session(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// session is one websocket connection: hello, a resume from the last
// center seq when there is one, then frames until the connection ends.
func (w *Watch) session(ctx context.Context) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.DialContext(ctx, w.url, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	w.mu.Lock()
	w.conns++
	from := w.cseq
	w.mu.Unlock()
	// Every connection resumes, the first from 0: the watcher sees the
	// district's whole history whenever it starts.
	// Until the resume's result, frames are held: live ones queued before
	// the center took the command come again in the resume, and the
	// resume may follow them.
	type held struct {
		cseq uint64
		site string
		ev   alarms.Event
		at   time.Time
	}
	var pending []held
	resuming := true
	if err := conn.WriteJSON(map[string]any{"type": "resume", "ref": "watch", "seq": from}); err != nil {
		return err
	}
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		now := time.Now()
		var f struct {
			Type  string          `json:"type"`
			Ref   string          `json:"ref"`
			Seq   uint64          `json:"seq"`
			Site  string          `json:"site"`
			Alarm json.RawMessage `json:"alarm"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("frame %.80s: %w", b, err)
		}
		switch f.Type {
		case "result":
			if f.Ref == "watch" && resuming {
				resuming = false
				slices.SortStableFunc(pending, func(a, b held) int { return cmp.Compare(a.cseq, b.cseq) })
				for _, h := range pending {
					w.take(h.cseq, h.site, h.ev, h.at, true)
				}
				pending = nil
			}
		case "alarm":
			var ev alarms.Event
			if err := json.Unmarshal(f.Alarm, &ev); err != nil {
				return fmt.Errorf("alarm frame %.80s: %w", b, err)
			}
			if resuming {
				pending = append(pending, held{f.Seq, f.Site, ev, now})
				continue
			}
			w.take(f.Seq, f.Site, ev, now, false)
		}
	}
}

func (w *Watch) take(cseq uint64, site string, ev alarms.Event, now time.Time, resumed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cseq <= w.cseq {
		return // live frames racing the resume: seen already
	}
	w.cseq = cseq
	if ev.Seq <= w.last[site] {
		w.disorder[site]++
		if len(w.examples) < 20 {
			w.examples = append(w.examples, fmt.Sprintf("%s seq %d after %d (center seq %d, resumed %v, connection %d)", site, ev.Seq, w.last[site], cseq, resumed, w.conns))
		}
	} else {
		w.last[site] = ev.Seq
	}
	w.frames = append(w.frames, Arrival{Site: site, Seq: ev.Seq, Emitted: ev.Emitted, Received: now, Resumed: resumed})
}

// Arrivals returns a copy of every frame seen.
func (w *Watch) Arrivals() []Arrival {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.frames)
}

// Last is the highest seq seen of site.
func (w *Watch) Last(site string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[site]
}

// Disorder counts, per site, frames whose seq was not above the last one
// seen of that site.
func (w *Watch) Disorder() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.disorder {
		out[k] = v
	}
	return out
}

// DisorderExamples describes the first frames out of order.
func (w *Watch) DisorderExamples() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.examples)
}

// Conns is how many connections the watcher made.
func (w *Watch) Conns() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conns
}

// Percentiles of the live latencies among arrivals received in [from, to).
type Latencies struct {
	N             int
	P50, P99, Max time.Duration
}

// LatencyOf summarises the live arrivals received in [from, to).
func LatencyOf(as []Arrival, from, to time.Time) Latencies {
	var ds []time.Duration
	for _, a := range as {
		if !a.Resumed && !a.Received.Before(from) && a.Received.Before(to) {
			ds = append(ds, a.Latency())
		}
	}
	if len(ds) == 0 {
		return Latencies{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return Latencies{N: len(ds), P50: at(0.50), P99: at(0.99), Max: ds[len(ds)-1]}
}

func (l Latencies) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", l.N, l.P50.Round(time.Millisecond), l.P99.Round(time.Millisecond), l.Max.Round(time.Millisecond))
}
