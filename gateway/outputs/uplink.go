package outputs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// Uplink feeds the emergency command platform (SPEC §10): PREFIX/status
// (retained, with the offline will), PREFIX/alarms (every event, QoS 1,
// seq order, replayed from the journal after an outage) and PREFIX/samples
// (batches every samples_every).
//
// Samples overflow policy (drivers.Queue, one unit per sample): at most
// Options.MaxSamples samples wait for the next batch; beyond that the
// oldest are dropped and counted. Samples due while the broker is
// unreachable are dropped and counted (the store keeps the history; alarm
// events are never dropped).
type Uplink struct {
	publisher
	site    string
	prefix  string
	every   time.Duration
	now     func() time.Time
	samples *drivers.Queue[drivers.Sample]
	notices Notices    // nil: notices are not accepted
	acks    *publisher // PREFIX/notices/ack; nil without notices

	// Chunk is the most samples in one PREFIX/samples message. Default 1000.
	Chunk int
}

var _ alarms.Output = (*Uplink)(nil)

// Samples buffers a batch for the next PREFIX/samples message. It never
// blocks and costs O(len(batch)); see the overflow policy above.
func (u *Uplink) Samples(batch []drivers.Sample) {
	if n := u.samples.Push(batch...); n > 0 {
		u.m.samplesDrop.WithLabelValues(u.conn.Name()).Add(float64(n))
	}
}

// Queue returns the samples waiting for the next batch and the samples the
// overflow policy dropped so far.
func (u *Uplink) Queue() (queued int, dropped uint64) { return u.samples.Len(), u.samples.Dropped() }

type statusMsg struct {
	Site   string `json:"site"`
	Status string `json:"status"`
	Time   string `json:"time"`
}

func statusPayload(site, status string, now time.Time) []byte {
	b, _ := json.Marshal(statusMsg{Site: site, Status: status, Time: alarms.FormatTime(now)})
	return b
}

// online publishes the retained online status at each new connection.
func (u *Uplink) online(ctx context.Context, down <-chan struct{}) error {
	tok := u.conn.Publish(u.prefix+"/status", 1, true, statusPayload(u.site, "online", u.now()))
	select {
	case <-tok.Done():
		return tok.Error()
	case <-down:
		return errDown
	case <-ctx.Done():
		return ctx.Err()
	}
}

// offline publishes the retained offline status (clean shutdown).
func (u *Uplink) offline(timeout time.Duration) error {
	if up, _, _, _ := u.conn.State(); !up {
		return nil
	}
	tok := u.conn.Publish(u.prefix+"/status", 1, true, statusPayload(u.site, "offline", u.now()))
	if !tok.WaitTimeout(timeout) {
		return fmt.Errorf("mqtt uplink: offline status not acknowledged within %v", timeout)
	}
	return tok.Error()
}

// samplesMsg is PREFIX/samples: the samples in their wire form without
// the cause of good samples (SPEC §10 lists {point, value, quality, time}).
type samplesMsg struct {
	Site    string               `json:"site"`
	Samples []drivers.SampleJSON `json:"samples"`
}

// runSamples publishes the buffered samples every period until ctx ends.
func (u *Uplink) runSamples(ctx context.Context) {
	t := time.NewTicker(u.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			u.flushSamples()
		}
	}
}

func (u *Uplink) flushSamples() {
	buf := u.samples.Take()
	if len(buf) == 0 {
		return
	}
	if up, _, _, _ := u.conn.State(); !up {
		u.m.samplesDrop.WithLabelValues(u.conn.Name()).Add(float64(len(buf)))
		return
	}
	for len(buf) > 0 {
		n := min(len(buf), u.Chunk)
		msg := samplesMsg{Site: u.site, Samples: make([]drivers.SampleJSON, n)}
		for i, s := range buf[:n] {
			msg.Samples[i] = s.JSON().OmitNoCause()
		}
		b, err := json.Marshal(msg)
		if err == nil {
			u.conn.Publish(u.prefix+"/samples", 0, false, b) // QoS 0: not awaited
			u.m.samplesSent.WithLabelValues(u.conn.Name()).Add(float64(n))
		}
		buf = buf[n:]
	}
}
