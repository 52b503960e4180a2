package store

import (
	"math"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"hazardgw/drivers"
)

// History keeps a trend per point for the console in memory bounded as a
// whole (store.history_bytes): per point the last raw samples as they came,
// and before them one bucket per span/buckets holding the bucket's minimum
// and maximum (with their times) and its worst quality, so a peak never
// disappears from a trend. The oldest detail goes first: a point's raw
// samples are folded into its buckets, and the oldest bucket is reused.
//
// Every point gets the same number of raw samples and buckets, fixed when
// the History is built from the byte budget and the number of points
// (HistorySize): with few points the full detail (rawKeep raw samples,
// bucketsKeep buckets, about 25 KiB per point), with many points less. The
// memory is one fixed block, allocated at construction: it does not grow
// with time or with the sample rate.
//
// Safe for concurrent use.
type History struct {
	span  time.Duration
	width int64 // bucket width, ns
	size  HistorySize

	mu     sync.RWMutex
	ids    *names      // point -> slot: slot i is ids' index i
	meta   []trendMeta // per slot
	raw    []rawSample // slot i: raw[i*size.Raw : (i+1)*size.Raw]
	bucket []bucket    // slot i: bucket[i*size.Buckets : ...]
	used   int         // slots assigned
	// Refused counts samples of points that found no free slot.
	refused uint64
}

const (
	rawKeep     = 256 // raw samples per point at full detail
	bucketsKeep = 480 // buckets per point at full detail
	minRaw      = 4
	minBuckets  = 2
)

type rawSample struct {
	t  int64
	v  float64
	qc uint8
}

type bucket struct {
	tmin, tmax int64
	vmin, vmax float64
	n          int32 // finite values folded in
	qc         uint8 // worst quality (quality<<4|cause)
}

type trendMeta struct {
	rawN, rawHead int32 // raw samples held, index of the oldest
	bN, bHead     int32 // buckets held, index of the oldest
}

const (
	rawBytes    = int64(unsafe.Sizeof(rawSample{}))
	bucketBytes = int64(unsafe.Sizeof(bucket{}))
	// slotOverhead is what a point costs besides its samples: its meta and
	// its id in the id table (kept at the size the map it replaced took,
	// so the shape of a budget, and of a saved file, did not change).
	slotOverhead = int64(unsafe.Sizeof(trendMeta{})) + 48
)

// HistorySize is the shape of a History: per point Raw raw samples and
// Buckets buckets, for at most Points points.
type HistorySize struct {
	Raw, Buckets, Points int
}

// Bytes is the memory the shape takes (all points).
func (z HistorySize) Bytes() int64 {
	return int64(z.Points) * (slotOverhead + int64(z.Raw)*rawBytes + int64(z.Buckets)*bucketBytes)
}

// SizeHistory fits points trends into budget bytes: full detail when it
// fits; otherwise the budget per point is split evenly between raw samples
// and buckets (at least minRaw and minBuckets). When even that does not fit,
// fewer points are kept (the first seen). A budget <= 0 means full detail
// for every point.
func SizeHistory(budget int64, points int) HistorySize {
	points = max(points, 1)
	full := HistorySize{Raw: rawKeep, Buckets: bucketsKeep, Points: points}
	if budget <= 0 || full.Bytes() <= budget {
		return full
	}
	per := budget/int64(points) - slotOverhead
	z := HistorySize{Points: points}
	z.Raw = int(min(max(per/2/rawBytes, minRaw), rawKeep))
	z.Buckets = int(min(max((per-int64(z.Raw)*rawBytes)/bucketBytes, minBuckets), bucketsKeep))
	if z.Bytes() > budget {
		z.Points = int(budget / (slotOverhead + int64(z.Raw)*rawBytes + int64(z.Buckets)*bucketBytes))
	}
	return z
}

// NewHistory keeps span of history (default 24h) at full detail for up to
// 64 points (tests and small sites).
func NewHistory(span time.Duration) *History {
	return NewHistorySized(span, SizeHistory(0, 64))
}

// NewHistorySized keeps span of history (default 24h) in the given shape.
// Its memory (size.Bytes()) is allocated at once, outside the Go heap when
// the system allows (an anonymous mapping: the pages count only once
// touched, and the garbage collector neither scans nor paces on them).
func NewHistorySized(span time.Duration, size HistorySize) *History {
	if span <= 0 {
		span = 24 * time.Hour
	}
	nb := max(size.Buckets, 1)
	h := &History{span: span, width: max(int64(span)/int64(nb), 1), size: size,
		ids: newNames(size.Points, 0)}
	n := size.Points
	h.meta, h.raw, h.bucket = allocSlabs(h, n, n*size.Raw, n*size.Buckets)
	return h
}

// allocSlabs allocates the three pointer-free arrays in one anonymous
// mapping (released when h is collected), or on the heap when mmap fails.
func allocSlabs(h *History, nm, nr, nb int) ([]trendMeta, []rawSample, []bucket) {
	ms, rs, bs := int64(nm)*int64(unsafe.Sizeof(trendMeta{})), int64(nr)*rawBytes, int64(nb)*bucketBytes
	total := ms + rs + bs
	if total > 0 && total < math.MaxInt32*64 {
		mem, err := mapAnon(int(total))
		if err == nil {
			runtime.AddCleanup(h, unmapAnon, mem)
			base := unsafe.Pointer(unsafe.SliceData(mem))
			// Offsets are multiples of 8 (every element is), as the
			// fields need.
			return unsafe.Slice((*trendMeta)(base), nm),
				unsafe.Slice((*rawSample)(unsafe.Add(base, ms)), nr),
				unsafe.Slice((*bucket)(unsafe.Add(base, ms+rs)), nb)
		}
	}
	return make([]trendMeta, nm), make([]rawSample, nr), make([]bucket, nb)
}

// Size is the History's shape.
func (h *History) Size() HistorySize { return h.size }

// Refused is the number of samples not kept because their point found no
// free slot (more points than the shape holds).
func (h *History) Refused() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.refused
}

// Slot returns the point's slot, assigning the next free one to a point
// seen for the first time; -1 when none is free.
func (h *History) Slot(p drivers.PointID) int32 {
	h.mu.RLock()
	i := h.ids.Find(p)
	h.mu.RUnlock()
	if i >= 0 {
		return i
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.slotLocked(p)
}

func (h *History) slotLocked(p drivers.PointID) int32 {
	if i := h.ids.Find(p); i >= 0 {
		return i
	}
	if h.used >= h.size.Points {
		return -1
	}
	h.used++
	return h.ids.Add(p)
}

// Add records samples (in time order per point).
func (h *History) Add(batch []drivers.Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range batch {
		h.add(h.slotLocked(s.Point), s)
	}
}

// AddSlots records samples whose slots (from Slot) the caller already
// knows: slots[i] is batch[i]'s, -1 for none.
func (h *History) AddSlots(batch []drivers.Sample, slots []int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range batch {
		h.add(slots[i], s)
	}
}

func (h *History) add(slot int32, s drivers.Sample) {
	if slot < 0 {
		h.refused++
		return
	}
	R := int32(h.size.Raw)
	m := &h.meta[slot]
	raw := h.raw[int(slot)*h.size.Raw : int(slot+1)*h.size.Raw]
	r := rawSample{t: s.Time.UnixNano(), v: s.Value, qc: uint8(s.Quality)<<4 | uint8(s.Cause)}
	if m.rawN == R {
		// The oldest raw sample moves into its bucket.
		h.toBucket(slot, m, raw[m.rawHead])
		raw[m.rawHead] = r
		if m.rawHead++; m.rawHead == R {
			m.rawHead = 0
		}
		return
	}
	raw[(m.rawHead+m.rawN)%R] = r
	m.rawN++
}

func (h *History) toBucket(slot int32, m *trendMeta, r rawSample) {
	B := int32(h.size.Buckets)
	if B == 0 {
		return
	}
	bs := h.bucket[int(slot)*h.size.Buckets : int(slot+1)*h.size.Buckets]
	start := r.t - r.t%h.width
	if m.bN > 0 {
		last := &bs[(m.bHead+m.bN-1)%B]
		if last.tmin-last.tmin%h.width == start {
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
	b := bucket{tmin: r.t, tmax: r.t, vmin: r.v, vmax: r.v, qc: r.qc, n: 1}
	if math.IsNaN(r.v) {
		b.n = 0
	}
	if m.bN < B {
		bs[(m.bHead+m.bN)%B] = b
		m.bN++
		return
	}
	bs[m.bHead] = b
	if m.bHead++; m.bHead == B {
		m.bHead = 0
	}
}

// Since returns the point's trend from since on, oldest first: bucket
// extremes (two samples per bucket, one when min and max coincide) for the
// older part, then the raw samples. Samples older than the history span are
// never returned.
func (h *History) Since(p drivers.PointID, since time.Time) []drivers.Sample {
	h.mu.RLock()
	defer h.mu.RUnlock()
	slot := h.ids.Find(p)
	if slot < 0 {
		return nil
	}
	m := h.meta[slot]
	R, B := int32(h.size.Raw), int32(h.size.Buckets)
	raw := h.raw[int(slot)*h.size.Raw : int(slot+1)*h.size.Raw]
	bs := h.bucket[int(slot)*h.size.Buckets : int(slot+1)*h.size.Buckets]
	from := since.UnixNano()
	if m.rawN > 0 {
		newest := raw[(m.rawHead+m.rawN-1)%R].t
		from = max(from, newest-int64(h.span))
	}
	mk := func(t int64, v float64, qc uint8) drivers.Sample {
		return drivers.Sample{Point: p, Value: v, Quality: drivers.Quality(qc >> 4), Cause: drivers.Cause(qc & 0x0f), Time: time.Unix(0, t)}
	}
	var out []drivers.Sample
	for i := int32(0); i < m.bN; i++ {
		b := bs[(m.bHead+i)%B]
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
	for i := int32(0); i < m.rawN; i++ {
		r := raw[(m.rawHead+i)%R]
		if r.t >= from {
			out = append(out, mk(r.t, r.v, r.qc))
		}
	}
	return out
}
