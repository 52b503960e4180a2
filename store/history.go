package store

import (
	"math"
	"sync"
	"time"

	"hazardgw/drivers"
)

// History keeps a bounded trend per point for the console: the last
// rawKeep samples as they came, and before them one bucket per
// span/bucketsKeep holding the bucket's minimum and maximum (with their
// times) and its worst quality, so a peak never disappears from a trend.
// Memory is at most about 25 KiB per point, whatever the sample rate.
//
// Safe for concurrent use.
type History struct {
	span  time.Duration
	width int64 // bucket width, ns

	mu     sync.RWMutex
	points map[drivers.PointID]*trend
}

const (
	rawKeep     = 256
	bucketsKeep = 480
)

type rawSample struct {
	t  int64
	v  float64
	qc uint8
}

type bucket struct {
	start      int64 // bucket index * width
	tmin, tmax int64
	vmin, vmax float64
	qc         uint8 // worst quality (quality<<4|cause)
	n          int32
}

type trend struct {
	raw     [rawKeep]rawSample
	rawN    int // samples in raw (<= rawKeep)
	rawHead int // index of the oldest
	buckets []bucket
	bHead   int
}

// NewHistory keeps span of history (default 24h).
func NewHistory(span time.Duration) *History {
	if span <= 0 {
		span = 24 * time.Hour
	}
	return &History{span: span, width: max(int64(span)/bucketsKeep, 1), points: map[drivers.PointID]*trend{}}
}

// Add records samples (in time order per point).
func (h *History) Add(batch []drivers.Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range batch {
		tr := h.points[s.Point]
		if tr == nil {
			tr = &trend{}
			h.points[s.Point] = tr
		}
		r := rawSample{t: s.Time.UnixNano(), v: s.Value, qc: uint8(s.Quality)<<4 | uint8(s.Cause)}
		if tr.rawN == rawKeep {
			// The oldest raw sample moves into its bucket.
			h.toBucket(tr, tr.raw[tr.rawHead])
			tr.raw[tr.rawHead] = r
			tr.rawHead = (tr.rawHead + 1) % rawKeep
		} else {
			tr.raw[(tr.rawHead+tr.rawN)%rawKeep] = r
			tr.rawN++
		}
	}
}

func (h *History) toBucket(tr *trend, r rawSample) {
	start := r.t - r.t%h.width
	if n := len(tr.buckets); n > 0 {
		last := &tr.buckets[(tr.bHead+n-1)%n]
		if n < bucketsKeep {
			last = &tr.buckets[n-1]
		}
		if last.start == start {
			if !math.IsNaN(r.v) && (last.n == 0 || r.v < last.vmin) {
				last.vmin, last.tmin = r.v, r.t
			}
			if !math.IsNaN(r.v) && (last.n == 0 || r.v > last.vmax) {
				last.vmax, last.tmax = r.v, r.t
			}
			if !math.IsNaN(r.v) {
				last.n++
			}
			if r.qc>>4 > last.qc>>4 {
				last.qc = r.qc
			}
			return
		}
	}
	b := bucket{start: start, tmin: r.t, tmax: r.t, vmin: r.v, vmax: r.v, qc: r.qc, n: 1}
	if math.IsNaN(r.v) {
		b.n = 0
	}
	if len(tr.buckets) < bucketsKeep {
		tr.buckets = append(tr.buckets, b)
		return
	}
	tr.buckets[tr.bHead] = b
	tr.bHead = (tr.bHead + 1) % bucketsKeep
}

// Since returns the point's trend from since on, oldest first: bucket
// extremes (two samples per bucket, one when min and max coincide) for the
// older part, then the raw samples. Samples older than the history span are
// never returned.
func (h *History) Since(p drivers.PointID, since time.Time) []drivers.Sample {
	h.mu.RLock()
	defer h.mu.RUnlock()
	tr := h.points[p]
	if tr == nil {
		return nil
	}
	from := since.UnixNano()
	var newest int64
	if tr.rawN > 0 {
		newest = tr.raw[(tr.rawHead+tr.rawN-1)%rawKeep].t
		from = max(from, newest-int64(h.span))
	}
	mk := func(t int64, v float64, qc uint8) drivers.Sample {
		return drivers.Sample{Point: p, Value: v, Quality: drivers.Quality(qc >> 4), Cause: drivers.Cause(qc & 0x0f), Time: time.Unix(0, t)}
	}
	var out []drivers.Sample
	n := len(tr.buckets)
	for i := 0; i < n; i++ {
		b := tr.buckets[(tr.bHead+i)%n]
		if b.n == 0 {
			if b.tmin >= from {
				out = append(out, mk(b.tmin, math.NaN(), b.qc))
			}
			continue
		}
		lo, hi := mk(b.tmin, b.vmin, b.qc), mk(b.tmax, b.vmax, b.qc)
		if b.tmax < b.tmin {
			lo, hi = hi, lo
		}
		if lo.Time.UnixNano() >= from {
			out = append(out, lo)
		}
		if b.tmin != b.tmax && hi.Time.UnixNano() >= from {
			out = append(out, hi)
		}
	}
	for i := 0; i < tr.rawN; i++ {
		r := tr.raw[(tr.rawHead+i)%rawKeep]
		if r.t >= from {
			out = append(out, mk(r.t, r.v, r.qc))
		}
	}
	return out
}
