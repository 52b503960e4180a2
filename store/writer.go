package store

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"
	"unsafe"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// writer is the store's sender goroutine: it takes batches from the outbox
// (events first), writes them with the blocking write API and acknowledges
// them after a 2xx.
type writer struct {
	s       *Store
	client  influxdb2.Client
	api     api.WriteAPIBlocking
	backoff drivers.Backoff
	site    *lineSite // the site's tag and the last timestamp, for sample lines
	buf     []byte    // the body being sent: lines separated by '\n'
	ends    []int     // end of every line in buf
	damage  [2]uint64 // outbox damage already signalled, by Kind

	rateStart time.Time
	rateN     int
}

func newWriter(s *Store) *writer {
	opts := influxdb2.DefaultOptions().SetUseGZip(useGzip(s.db.URL)).SetBatchSize(uint(s.batch)).SetHTTPRequestTimeout(10)
	c := influxdb2.NewClientWithOptions(s.db.URL, s.db.Token, opts)
	return &writer{s: s, client: c, api: c.WriteAPIBlocking(s.db.Org, s.db.Bucket), site: newLineSite(s.site),
		backoff: drivers.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}}
}

// useGzip reports whether bodies are gzipped: not to an InfluxDB on the
// loopback interface, where compressing costs the gateway CPU and
// decompressing costs influxd CPU for no bandwidth that matters
// (docs/PERFORMANCE.md); always elsewhere.
func useGzip(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return true
	}
	h := u.Hostname()
	if h == "localhost" {
		return false
	}
	ip := net.ParseIP(h)
	return ip == nil || !ip.IsLoopback()
}

// run sends until ctx ends. Samples go when a full batch is waiting or at
// each flush tick; events go at once and before any sample batch.
func (w *writer) run(ctx context.Context, ob *Outbox) {
	defer w.client.Close()
	s := w.s
	tick := time.NewTicker(s.flush)
	defer tick.Stop()
	var pend, spare [2]*Batch // spare: the last batch acknowledged, refilled by the next
	due := false
	for {
	drain:
		for ctx.Err() == nil {
			for _, k := range [...]Kind{Events, Samples} {
				for ctx.Err() == nil {
					if pend[k] == nil {
						if k == Samples && !due && ob.Unread(Samples) < s.sendMax {
							break
						}
						b, err := ob.next(k, s.nextMax(k), spare[k])
						spare[k] = nil
						if ob.Damaged(k) > w.damage[k] {
							w.damage[k] = ob.Damaged(k)
							s.signal(s.damageWake) // Run's goroutine handles it
						}
						if err != nil || b.Len() == 0 {
							spare[k] = b // nothing in it: refilled next time
							break
						}
						pend[k] = b
					}
					err := w.send(ctx, pend[k])
					if err != nil {
						if ctx.Err() != nil {
							return
						}
						w.failed(err)
						wait := w.backoff.Next()
						var he *http2.Error
						if errors.As(err, &he) && time.Duration(he.RetryAfter)*time.Second > wait {
							wait = time.Duration(he.RetryAfter) * time.Second
						}
						t := time.NewTimer(wait)
						select {
						case <-ctx.Done():
							t.Stop()
							return
						case <-t.C:
						}
						continue drain // events first again
					}
					if err := ob.Ack(pend[k]); err != nil {
						s.diskError(err)
					}
					for _, ev := range pend[k].Events {
						if ev.Seq > s.written.Load() {
							s.written.Store(ev.Seq)
						}
					}
					w.succeeded(pend[k])
					pend[k], spare[k] = nil, pend[k]
					if k == Samples && ob.Unread(Events) > 0 {
						continue drain
					}
				}
			}
			break
		}
		due = false
		// Idle until the next tick or wake-up: let the spare batch go (a
		// drain refills it write after write; a store that keeps up
		// should not hold 24 bytes per sample of sendMax between ticks).
		spare = [2]*Batch{}
		select {
		case <-ctx.Done():
			return
		case <-s.sendWake:
		case <-tick.C:
			due = true
		}
	}
}

// send writes b. It returns an error only when the batch must be retried;
// lines InfluxDB refuses with 4xx are dropped and counted. The lines are
// built into one body (w.buf, with w.ends the end of every line) and sent
// as one record: no string per line.
func (w *writer) send(ctx context.Context, b *Batch) error {
	w.buf, w.ends = w.buf[:0], w.ends[:0]
	for _, ev := range b.Events {
		w.buf = eventLine(w.buf, w.s.site, ev)
		w.ends = append(w.ends, len(w.buf))
		w.buf = append(w.buf, '\n')
	}
	if w.s.layout == configs.LayoutDevice {
		for es := b.Samples; len(es) > 0; {
			n := deviceRun(b, es)
			w.buf = deviceLine(w.buf, w.site, b, es[:n])
			w.ends = append(w.ends, len(w.buf))
			w.buf = append(w.buf, '\n')
			es = es[n:]
		}
	} else {
		for _, e := range b.Samples {
			w.buf = sampleLine(w.buf, w.site, b, e)
			w.ends = append(w.ends, len(w.buf))
			w.buf = append(w.buf, '\n')
		}
	}
	return w.write(ctx, 0, len(w.ends))
}

// line returns line i of the body.
func (w *writer) line(i int) string {
	start := 0
	if i > 0 {
		start = w.ends[i-1] + 1
	}
	return string(w.buf[start:w.ends[i]])
}

// write writes lines [from, to) of the body; on a 400/413/422 it bisects
// them until the bad lines are alone, drops those and writes the rest.
// InfluxDB 1.8 answers 400 "partial write" after storing the good points
// of the batch: writing them again is harmless (same series and timestamp
// overwrite).
func (w *writer) write(ctx context.Context, from, to int) error {
	if from >= to {
		return nil
	}
	start := 0
	if from > 0 {
		start = w.ends[from-1] + 1
	}
	// The blocking API without batching neither copies nor keeps the
	// string after it returned, so it may alias w.buf.
	err := w.api.WriteRecord(ctx, unsafe.String(&w.buf[start], w.ends[to-1]-start))
	if err == nil {
		return nil
	}
	var he *http2.Error
	if !errors.As(err, &he) || !badRequest(he.StatusCode) {
		return err
	}
	if to-from == 1 {
		w.reject(w.line(from), he)
		return nil
	}
	mid := (from + to) / 2
	if err := w.write(ctx, from, mid); err != nil {
		return err
	}
	return w.write(ctx, mid, to)
}

func badRequest(code int) bool { return code == 400 || code == 413 || code == 422 }

// reject drops one line InfluxDB refused, counting it by cause and logging
// the first line of each cause.
func (w *writer) reject(line string, he *http2.Error) {
	msg := he.Message
	if msg == "" {
		msg = he.Error()
	}
	cause := "bad_request"
	switch {
	case strings.Contains(msg, "field type conflict"):
		cause = "field_type_conflict"
	case strings.Contains(msg, "unable to parse"):
		cause = "unable_to_parse"
	case strings.Contains(msg, "beyond retention policy"):
		cause = "beyond_retention"
	case he.StatusCode == 413:
		cause = "too_large"
	}
	w.s.met.rejected.WithLabelValues(cause).Inc()
	w.s.mu.Lock()
	w.s.health.RejectedLines++
	w.s.mu.Unlock()
	w.s.logOnce("reject:"+cause, "influxdb rejected a line; dropped (later ones of this cause are only counted)",
		"cause", cause, "status", he.StatusCode, "err", msg, "line", line)
}

func (w *writer) failed(err error) {
	s := w.s
	s.met.writeErrs.Inc()
	s.mu.Lock()
	was := s.health.InfluxDB
	s.health.InfluxDB = "down"
	s.health.WriteErrors++
	s.health.LastError = err.Error()
	s.health.WriteRate = 0
	first := s.health.WriteErrors == 1
	s.mu.Unlock()
	if was != "down" || first {
		s.log.Warn("influxdb write failed; data waits in the outbox", "err", err)
	}
}

func (w *writer) succeeded(b *Batch) {
	s := w.s
	lines := len(w.ends) // of the body just sent: one per entry, or per device and poll
	s.met.written.WithLabelValues(b.Kind.String()).Add(float64(lines))
	if s.onWrite != nil {
		s.onWrite(b.Kind, b.Len())
	}
	w.backoff.Reset()
	now := time.Now()
	if w.rateStart.IsZero() {
		w.rateStart = now
	}
	w.rateN += lines
	s.mu.Lock()
	was := s.health.InfluxDB
	s.health.InfluxDB = "up"
	s.health.WrittenLines += uint64(lines)
	if d := now.Sub(w.rateStart); d >= time.Second {
		s.health.WriteRate = float64(w.rateN) / d.Seconds()
		w.rateStart, w.rateN = now, 0
	}
	recovered := was == "down" && s.health.WriteErrors > 0
	s.mu.Unlock()
	if recovered {
		s.log.Info("influxdb writes resumed")
	}
}
