package drivers

import "sync"

// Queue is the bounded FIFO between a producer that must never block (the
// alarm engine feeding an output, paho's router feeding a Subscriber) and
// the one goroutine that consumes it. Modelled on Prometheus'
// notifier/sendloop.go.
//
// Overflow policy: the queue holds at most max units; an item weighs
// weigh(item) units (1 without weigh: a sample batch weighs its length). A
// push that would go beyond max drops the oldest items, whole, until the
// new one fits, and counts the units dropped (Push returns them, Dropped
// sums them). The newest item is always kept, even when it alone weighs
// more than max: the consumer wants the newest values.
//
// Wake-up: Wake has one slot. Push (and Signal) fill it unless it is full,
// so a consumer that receives from Wake and then takes what is queued never
// misses an item and never runs more than once per burst.
//
// Every method may be called from any goroutine.
type Queue[T any] struct {
	max   int
	weigh func(T) int
	wake  chan struct{}

	mu      sync.Mutex
	items   []T // items[head:] are queued, oldest first
	head    int
	units   int
	dropped uint64
}

// NewQueue returns an empty queue holding at most limit units (at least
// 1). weigh may be nil: every item weighs 1.
func NewQueue[T any](limit int, weigh func(T) int) *Queue[T] {
	return &Queue[T]{max: max(limit, 1), weigh: weigh, wake: make(chan struct{}, 1)}
}

func (q *Queue[T]) weight(x T) int {
	if q.weigh == nil {
		return 1
	}
	return q.weigh(x)
}

// Push appends items, oldest first, applies the overflow policy after each
// and fills the wake-up slot. It never blocks and returns the units it
// dropped.
func (q *Queue[T]) Push(items ...T) (dropped int) {
	if len(items) == 0 {
		return 0
	}
	q.mu.Lock()
	for _, x := range items {
		q.compact()
		q.items = append(q.items, x)
		q.units += q.weight(x)
		for q.units > q.max && len(q.items)-q.head > 1 {
			w := q.weight(q.items[q.head])
			q.units -= w
			dropped += w
			var zero T
			q.items[q.head] = zero
			q.head++
		}
	}
	q.dropped += uint64(dropped)
	q.mu.Unlock()
	q.Signal()
	return dropped
}

// compact moves the queued items to the front of the array when append
// would otherwise grow it while half of it is dropped or taken space.
func (q *Queue[T]) compact() {
	if q.head == 0 || len(q.items) < cap(q.items) || q.head < len(q.items)/2 {
		return
	}
	n := copy(q.items, q.items[q.head:])
	clear(q.items[n:])
	q.items, q.head = q.items[:n], 0
}

// Signal fills the wake-up slot without queueing anything, for a consumer
// that also waits on other work through the same Wake (alarms.Queue's
// events).
func (q *Queue[T]) Signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Wake receives once after one or more Push or Signal calls.
func (q *Queue[T]) Wake() <-chan struct{} { return q.wake }

// Take removes and returns every queued item, oldest first. The returned
// slice belongs to the caller; the queue starts a new array.
func (q *Queue[T]) Take() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items[q.head:]
	if len(out) == 0 {
		out = nil
	}
	q.items, q.head, q.units = nil, 0, 0
	return out
}

// TakeN appends at most n of the oldest queued items to dst and removes
// them; the queue keeps its array (for a consumer that takes in bounded
// slices at a high rate and reuses dst).
func (q *Queue[T]) TakeN(dst []T, n int) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(n, len(q.items)-q.head)
	if k <= 0 {
		return dst
	}
	taken := q.items[q.head : q.head+k]
	dst = append(dst, taken...)
	for _, x := range taken {
		q.units -= q.weight(x)
	}
	clear(taken)
	q.head += k
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return dst
}

// Len returns the units queued (for a depth gauge).
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.units
}

// Dropped returns the units dropped by the overflow policy since NewQueue.
func (q *Queue[T]) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
