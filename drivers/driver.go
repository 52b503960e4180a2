package drivers

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// ErrNotConnected is returned by Driver.Read when the connection is gone;
// the Runner closes the driver and connects again with backoff.
var ErrNotConnected = errors.New("not connected")

// Driver is one device or broker connection. The Runner calls its methods
// from one goroutine, in the order Connect, Read..., Close, and again.
type Driver interface {
	// Connect opens the connection. An error means "try again later".
	Connect(ctx context.Context) error
	// Read blocks until the next samples are available (the next poll, the
	// next messages) and returns them. A poll that failed returns samples of
	// quality bad/comm and a nil error: a failure of the device is data.
	// ErrNotConnected (wrapped or not) asks the Runner to reconnect.
	Read(ctx context.Context) ([]Sample, error)
	// Close releases the connection. It is called after a failed Read and
	// at shutdown.
	Close() error
}

// Failer is implemented by drivers that know which points a dead connection
// blinds: the Runner delivers Failed's samples (bad/comm) each time a
// connect attempt fails or the connection drops, so the engine counts them.
type Failer interface {
	Failed(now time.Time, err error) []Sample
}

// Backoff is an exponential backoff with full jitter on the upper half,
// the one backoff of every retry loop (Runner, the store's InfluxDB writer,
// the uplink and notify publishers, a demoted Modbus device).
// The zero value waits 100ms doubling to 5s (SPEC §3: capped at 5 s).
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns the next wait and advances.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 5 * time.Second
	}
	d := lo << min(b.n, 30)
	if d > hi || d <= 0 {
		d = hi
	} else {
		b.n++
	}
	half := d / 2
	return half + rand.N(half+1)
}

// Reset starts again from Min after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Health is a copy of a connection's state for /api/health (SPEC §8).
type Health struct {
	ID     string    `json:"id"`
	State  string    `json:"state"` // "up" or "down"
	LastOK time.Time `json:"last_ok"`
	Errors uint64    `json:"errors"`
	Err    string    `json:"-"` // last error, for logs and metrics
}

// Runner owns the connect / read / reconnect loop of one Driver. The MQTT
// Subscribers run under it; the Modbus driver does not (see the package
// documentation).
type Runner struct {
	ID      string
	Driver  Driver
	Sink    Sink
	Log     *slog.Logger
	Backoff Backoff
	// Now is the clock of Failed's samples. Default time.Now.
	Now func() time.Time
}

// Run connects, reads and reconnects until ctx ends, then closes the driver.
// It returns nil on cancellation: driver errors are data (samples of bad
// quality, health, logs), never a reason to stop the gateway.
func (r *Runner) Run(ctx context.Context) error {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for ctx.Err() == nil {
		if err := r.Driver.Connect(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			r.fail(ctx, err, log, "connect")
			continue
		}
		r.Backoff.Reset()
		for ctx.Err() == nil {
			batch, err := r.Driver.Read(ctx)
			if len(batch) > 0 {
				r.Sink(batch)
			}
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				_ = r.Driver.Close()
				r.fail(ctx, err, log, "read")
				break
			}
		}
	}
	return r.Driver.Close()
}

func (r *Runner) fail(ctx context.Context, err error, log *slog.Logger, op string) {
	if f, ok := r.Driver.(Failer); ok {
		now := time.Now
		if r.Now != nil {
			now = r.Now
		}
		if b := f.Failed(now(), err); len(b) > 0 {
			r.Sink(b)
		}
	}
	wait := r.Backoff.Next()
	log.Warn("driver "+op+" failed", "device", r.ID, "err", err, "retry_in", wait.Round(time.Millisecond))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
