package mqtt

import (
	"context"
	"fmt"

	"hazardgw/drivers"
)

// Reading is one mqtt point seen once by Probe: the sample as the
// subscriber would deliver it, the message it came from, and why it was
// not decoded (empty when it was).
type Reading struct {
	Device  string
	Sample  drivers.Sample
	Topic   string
	Payload string // at most 200 bytes of the message
	Reason  string // decode failure, or why nothing arrived
}

// Probe waits, while Run runs the connections, for the first message of
// every point of the mqtt devices (only device when not empty) and returns
// one Reading per point. Points still unseen when ctx ends are reported
// bad/comm with the reason. It consumes the subscribers' queues: call it
// instead of the Runners, never beside them.
func (c *Conns) Probe(ctx context.Context, device string) []Reading {
	type want struct {
		p    *point
		seen bool
		r    Reading
	}
	var order []*want
	for _, s := range c.subs {
		byID := map[drivers.PointID]*want{}
		for _, p := range s.points {
			if device == "" || p.device == device {
				w := &want{p: p, r: Reading{Device: p.device, Topic: p.topic}}
				byID[p.id] = w
				order = append(order, w)
			}
		}
		if len(byID) == 0 {
			continue
		}
		left := len(byID)
		for left > 0 && ctx.Err() == nil {
			if err := s.Connect(ctx); err != nil {
				continue // Connect waited ConnectWait or ctx ended
			}
			msgs := s.q.TakeN(nil, s.MaxBatch)
			if len(msgs) == 0 {
				select {
				case <-s.q.Wake():
				case <-ctx.Done():
				}
				continue
			}
			for _, m := range msgs {
				pl := payload{raw: m.payload}
				for _, w := range byID {
					if w.seen || !(w.p.topic == m.topic || w.p.wildcard && matchTopic(w.p.topic, m.topic)) {
						continue
					}
					smp, reason, skip := w.p.decode(&pl, m.at)
					if skip {
						continue
					}
					w.seen, left = true, left-1
					w.r.Sample, w.r.Reason, w.r.Topic = smp, reason, m.topic
					w.r.Payload = string(m.payload[:min(len(m.payload), 200)])
				}
			}
		}
	}
	out := make([]Reading, 0, len(order))
	now := c.now()
	for _, w := range order {
		if !w.seen {
			w.r.Sample = drivers.Sample{Point: w.p.id, Quality: drivers.Bad, Cause: drivers.CauseComm, Time: now}
			if h := c.byName[c.brokerOf(w.p)].Health(); h.Err != "" {
				w.r.Reason = fmt.Sprintf("no message (broker: %s)", h.Err)
			} else {
				w.r.Reason = "no message before the wait ended"
			}
		}
		out = append(out, w.r)
	}
	return out
}

// brokerOf is the broker name whose subscriber holds p.
func (c *Conns) brokerOf(p *point) string {
	for _, s := range c.subs {
		for _, q := range s.points {
			if q == p {
				return s.broker
			}
		}
	}
	return ""
}
