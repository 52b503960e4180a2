package store

import (
	"context"
	"errors"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

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
	buf     []byte

	rateStart time.Time
	rateN     int
}

func newWriter(s *Store) *writer {
	opts := influxdb2.DefaultOptions().SetUseGZip(true).SetBatchSize(uint(s.batch)).SetHTTPRequestTimeout(10)
	c := influxdb2.NewClientWithOptions(s.db.URL, s.db.Token, opts)
	return &writer{s: s, client: c, api: c.WriteAPIBlocking(s.db.Org, s.db.Bucket),
		backoff: drivers.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}}
}

// run sends until ctx ends. Samples go when a full batch is waiting or at
// each flush tick; events go at once and before any sample batch.
func (w *writer) run(ctx context.Context, ob *Outbox) {
	defer w.client.Close()
	s := w.s
	tick := time.NewTicker(s.flush)
	defer tick.Stop()
	var pend [2]*Batch
	due := false
	for {
	drain:
		for ctx.Err() == nil {
			for _, k := range [...]Kind{Events, Samples} {
				for ctx.Err() == nil {
					if pend[k] == nil {
						if k == Samples && !due && ob.Unread(Samples) < s.batch {
							break
						}
						b, err := ob.Next(k, s.batch)
						if err != nil || b.Len() == 0 {
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
					w.succeeded(pend[k])
					pend[k] = nil
					if k == Samples && ob.Unread(Events) > 0 {
						continue drain
					}
				}
			}
			break
		}
		due = false
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
// lines InfluxDB refuses with 4xx are dropped and counted.
func (w *writer) send(ctx context.Context, b *Batch) error {
	lines := make([]string, 0, b.Len())
	for _, ev := range b.Events {
		w.buf = eventLine(w.buf[:0], w.s.site, ev)
		lines = append(lines, string(w.buf))
	}
	for _, e := range b.Samples {
		w.buf = sampleLine(w.buf[:0], w.s.site, e)
		lines = append(lines, string(w.buf))
	}
	return w.write(ctx, lines)
}

// write writes lines; on a 400/413/422 it bisects the batch until the bad
// lines are alone, drops those and writes the rest. InfluxDB 1.8 answers
// 400 "partial write" after storing the good points of the batch: writing
// them again is harmless (same series and timestamp overwrite).
func (w *writer) write(ctx context.Context, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	err := w.api.WriteRecord(ctx, lines...)
	if err == nil {
		return nil
	}
	var he *http2.Error
	if !errors.As(err, &he) || !badRequest(he.StatusCode) {
		return err
	}
	if len(lines) == 1 {
		w.reject(lines[0], he)
		return nil
	}
	mid := len(lines) / 2
	if err := w.write(ctx, lines[:mid]); err != nil {
		return err
	}
	return w.write(ctx, lines[mid:])
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
	s.met.written.WithLabelValues(b.Kind.String()).Add(float64(b.Len()))
	if s.onWrite != nil {
		s.onWrite(b.Kind, b.Len())
	}
	w.backoff.Reset()
	now := time.Now()
	if w.rateStart.IsZero() {
		w.rateStart = now
	}
	w.rateN += b.Len()
	s.mu.Lock()
	was := s.health.InfluxDB
	s.health.InfluxDB = "up"
	s.health.WrittenLines += uint64(b.Len())
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
