package alarms

import (
	"sync"

	"hazardgw/drivers"
)

// Queue is the queue an Output keeps between the engine and its own
// goroutine, so that Samples and Event never block the engine (the store
// and the console use it).
//
// Overflow policy: sample batches are bounded by a number of samples and,
// beyond it, the oldest batches are dropped whole and counted
// (drivers.Queue); alarm events are never dropped: their queue is
// unbounded, which is safe because they come at human rates (a flood is
// tens per minute) and are already in the journal. Both share one wake-up
// slot; the consumer takes events first.
type Queue struct {
	samples *drivers.Queue[[]drivers.Sample] // owns the wake-up slot

	mu     sync.Mutex
	events []Event
}

// NewQueue returns a queue holding at most maxSamples samples.
func NewQueue(maxSamples int) *Queue {
	return &Queue{samples: drivers.NewQueue(maxSamples, func(b []drivers.Sample) int { return len(b) })}
}

// PushSamples queues a read-only batch (nothing for an empty one) and
// returns how many samples the overflow policy dropped. It never blocks.
func (q *Queue) PushSamples(batch []drivers.Sample) (dropped int) {
	if len(batch) == 0 {
		return 0
	}
	return q.samples.Push(batch)
}

// PushEvent queues an alarm event. It never blocks and never drops.
func (q *Queue) PushEvent(ev Event) {
	q.mu.Lock()
	q.events = append(q.events, ev)
	q.mu.Unlock()
	q.samples.Signal()
}

// Wake receives once after one or more pushes.
func (q *Queue) Wake() <-chan struct{} { return q.samples.Wake() }

// TakeEvents removes and returns the queued events, in seq order.
func (q *Queue) TakeEvents() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.events
	q.events = nil
	return evs
}

// TakeSamples removes and returns the queued batches, oldest first.
func (q *Queue) TakeSamples() [][]drivers.Sample { return q.samples.Take() }

// Len returns the samples and the events queued (depth gauges).
func (q *Queue) Len() (samples, events int) {
	q.mu.Lock()
	events = len(q.events)
	q.mu.Unlock()
	return q.samples.Len(), events
}

// Dropped returns the samples dropped by the overflow policy.
func (q *Queue) Dropped() uint64 { return q.samples.Dropped() }
