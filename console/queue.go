package console

import (
	"sync"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// sampleQueue carries sample batches from the engine to the hub without
// blocking the engine. Overflow policy: when more than max samples wait,
// the oldest batches are dropped (and counted) until the new one fits; a
// display wants the newest values.
type sampleQueue struct {
	mu      sync.Mutex
	batches [][]drivers.Sample
	n, max  int
	wake    chan struct{} // 1-buffered
	dropped func(n int)
}

func (q *sampleQueue) push(b []drivers.Sample) {
	if len(b) == 0 {
		return
	}
	q.mu.Lock()
	drop := 0
	for q.n+len(b) > q.max && len(q.batches) > 0 {
		drop += len(q.batches[0])
		q.n -= len(q.batches[0])
		q.batches[0] = nil
		q.batches = q.batches[1:]
	}
	q.batches = append(q.batches, b)
	q.n += len(b)
	q.mu.Unlock()
	if drop > 0 {
		q.dropped(drop)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *sampleQueue) take() [][]drivers.Sample {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.batches
	q.batches, q.n = nil, 0
	return b
}

// eventQueue carries alarm events to the hub. It is unbounded: alarm events
// are never dropped, and they come at human rates (a flood is tens per
// minute), so its memory stays small.
type eventQueue struct {
	mu   sync.Mutex
	evs  []alarms.Event
	wake chan struct{} // 1-buffered
}

func (q *eventQueue) push(ev alarms.Event) {
	q.mu.Lock()
	q.evs = append(q.evs, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) take() []alarms.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.evs
	q.evs = nil
	return e
}
