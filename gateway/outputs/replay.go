package outputs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ReplayChunk is the most events a replay publishes before the live
// stream is caught up again: live events wait behind one chunk at most.
const ReplayChunk = 64

// replay is the uplink's answer to PREFIX/replay (the district wire
// contract, SPEC §13): the journal's events after a seq, published again on
// PREFIX/alarms, in order, at QoS 1, as the same messages as live.
//
// One replay at a time: a request arriving during a replay extends it: the
// lower after wins, and the replay now ends at the live cursor of the
// latest request. A replay covers the events up to that cursor (those the
// broker had acknowledged); everything after it goes out live anyway. The publisher goroutine interleaves both, one chunk of replay
// (ReplayChunk events) after each catch-up of the live stream, so a
// receiver sees two increasing seq sequences merged: the live one and the
// replayed one, each event at least once. Receivers de-duplicate by (site,
// seq).
//
// A request older than the journal's oldest event is answered from that
// oldest event (the journal holds nothing older; the receiver counts the
// rest as lost). Replayed events do not move the durable cursor. A replay
// interrupted by the connection resumes after the last event the broker
// acknowledged.
//
// request is called from paho's delivery goroutine and never blocks; the
// rest runs in the publisher's goroutine.
type replay struct {
	mu     sync.Mutex
	active bool
	pos    uint64 // events after pos are still to be replayed
	end    uint64 // the last event to replay; 0: not known yet (set by the publisher)
	wake   func() // the publisher's wake-up
}

// request starts or extends a replay of the events after after.
func (r *replay) request(after uint64) {
	r.mu.Lock()
	if !r.active || after < r.pos {
		r.pos = after
	}
	r.end = 0 // the live cursor now (next)
	r.active = true
	r.mu.Unlock()
	r.wake()
}

// next returns where the replay stands and its end (cursor, the live
// cursor, when the replay has none yet), ok false when none is under way.
func (r *replay) next(cursor uint64) (pos, end uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active && r.end == 0 {
		r.end = cursor
	}
	return r.pos, r.end, r.active
}

// advance records that the events in (from, to] were published: the
// replay moves on unless a request arrived meanwhile asking for earlier
// events. done ends it unless a request arrived meanwhile.
func (r *replay) advance(from, to uint64, done bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pos != from {
		return // extended backwards meanwhile: start again from there
	}
	r.pos = to
	if done && r.end != 0 { // a request meanwhile (end 0) moved the end on
		r.active = false
	}
}

// replayChunk publishes the next chunk of a replay under way, at most
// ReplayChunk events, and returns how many it published.
func (p *publisher) replayChunk(ctx context.Context, down <-chan struct{}) (int, error) {
	from, end, ok := p.replay.next(p.cursor)
	if !ok {
		return 0, nil
	}
	if from >= end {
		p.replay.advance(from, from, true) // all of it goes out live
		return 0, nil
	}
	es, err := p.src(from, ReplayChunk)
	if err != nil {
		return 0, err
	}
	pos, n := from, 0
	done := len(es) < ReplayChunk
	for _, e := range es {
		if e.seq > end {
			done = true // the live stream's
			break
		}
		if _, err := p.send(ctx, down, e); err != nil {
			p.replay.advance(from, pos, false)
			return n, fmt.Errorf("replay: %w", err)
		}
		p.m.replayed.Inc()
		pos, n = e.seq, n+1
	}
	if pos >= end {
		done = true
	}
	p.replay.advance(from, pos, done)
	if done {
		p.log.Info("mqtt replay done", "topic", p.topic, "last", pos)
	}
	return n, nil
}

// MaxRequest bounds a replay request's or a notice's payload in bytes;
// a larger one is malformed.
const MaxRequest = 16 << 10

// replayRequest is PREFIX/replay's payload: {"after": SEQ}, optionally
// with the requesting center's id.
type replayRequest struct {
	After *uint64 `json:"after"`
	By    string  `json:"by"`
}

// parseReplay decodes a replay request: an object with a non-negative
// integer after (other keys are ignored).
func parseReplay(b []byte) (replayRequest, error) {
	var r replayRequest
	if err := strictJSON(b, &r); err != nil {
		return r, err
	}
	if r.After == nil {
		return r, errors.New("missing after")
	}
	return r, nil
}

// strictJSON decodes one JSON object of at most MaxRequest bytes into v,
// refusing trailing data and wrong types. Unknown keys are ignored: the
// center may send more than the contract names (its notice carries its
// own "acked" state), and a key added later must not make a site drop
// notices.
func strictJSON(b []byte, v any) error {
	if len(b) > MaxRequest {
		return fmt.Errorf("payload of %d bytes exceeds %d", len(b), MaxRequest)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
