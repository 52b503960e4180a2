package outputs_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/gateway/outputs"
)

// request publishes a replay request (or anything) on hz/S1/replay as the
// center would.
func request(t *testing.T, b *mqtttest.Broker, payload string) {
	t.Helper()
	pub := b.Publisher(t)
	if tok := pub.Publish("hz/S1/replay", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish replay request: %v", tok.Error())
	}
}

// TestReplayAfterSeq: a replay after SEQ publishes exactly the journal's
// events after it, in order, on PREFIX/alarms (the broker already had
// them: the cursor is at the journal's end); the next live event follows.
func TestReplayAfterSeq(t *testing.T) {
	for _, bk := range mqtttest.Kinds {
		t.Run(bk.Name, func(t *testing.T) {
			b := bk.Start(t)
			j := &seqJournal{}
			for range 20 {
				j.add()
			}
			g := startGW(t, uplinkConfig(t, b.URL), outputs.Options{Events: j}) // starts after seq 20
			g.waitUp(t)
			rx := b.Subscribe(t, "hz/S1/alarms", 1)
			request(t, b, `{"after": 5, "by": "SQ-DISTRICT"}`)
			msgs := rx.WaitN(t, 15, 10*time.Second)
			per, _ := seqs(t, msgs)
			if want := seqRange(6, 20); !slices.Equal(per[1], want) {
				t.Fatalf("replay after 5 sent %v, want %v", per[1], want)
			}
			g.outs.Uplink().Event(j.add())
			msgs = rx.WaitN(t, 16, 10*time.Second)
			if per, _ = seqs(t, msgs); per[1][15] != 21 || len(msgs) != 16 {
				t.Fatalf("after the replay got %v, want 6..21", per[1])
			}
		})
	}
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestReplayFromOldest: a request older than the journal holds is answered
// from the oldest event the journal still has.
func TestReplayFromOldest(t *testing.T) {
	b := mqtttest.StartMochi(t)
	j := &seqJournal{}
	for range 30 {
		j.add()
	}
	j.log.Keep(10) // 21..30 left
	g := startGW(t, uplinkConfig(t, b.URL), outputs.Options{Events: j})
	g.waitUp(t)
	rx := b.Subscribe(t, "hz/S1/alarms", 1)
	request(t, b, `{"after": 3}`)
	msgs := rx.WaitN(t, 10, 10*time.Second)
	if per, _ := seqs(t, msgs); !slices.Equal(per[1], seqRange(21, 30)) {
		t.Fatalf("replay after 3 sent %v, want 21..30", per[1])
	}
}

// TestReplayInterleavesLive: a replay longer than a chunk while live
// events arrive: every event reaches the receiver, the replayed ones in
// order and the live ones in order (two increasing sequences merged),
// and the live events do not wait for the whole replay.
func TestReplayInterleavesLive(t *testing.T) {
	b := mqtttest.StartMochi(t)
	// The replay's second chunk waits at the journal until the live
	// events are there.
	j := &gatedJournal{at: outputs.ReplayChunk, reached: make(chan struct{}), release: make(chan struct{})}
	const old = 10 * outputs.ReplayChunk
	for range old {
		j.add()
	}
	g := startGW(t, uplinkConfig(t, b.URL), outputs.Options{Events: j})
	g.waitUp(t)
	rx := b.Subscribe(t, "hz/S1/alarms", 1)
	request(t, b, `{"after": 0}`)
	select {
	case <-j.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the replay did not reach its second chunk")
	}
	const live = 5
	for range live {
		g.outs.Uplink().Event(j.add())
	}
	close(j.release)
	msgs := rx.Wait(t, 20*time.Second, func(m []mqtttest.Message) bool {
		_, all := seqs(t, m)
		return len(all) == old+live
	})
	var replayed, lived []uint64
	firstLive := -1
	for i, m := range msgs {
		per, _ := seqs(t, []mqtttest.Message{m})
		if s := per[m.Session][0]; s > old {
			lived = append(lived, s)
			if firstLive < 0 {
				firstLive = i
			}
		} else {
			replayed = append(replayed, s)
		}
	}
	if !slices.Equal(replayed, seqRange(1, old)) {
		t.Errorf("replayed %d events, not 1..%d in order", len(replayed), old)
	}
	if !slices.Equal(lived, seqRange(old+1, old+live)) {
		t.Errorf("live events %v, want %d..%d in order", lived, old+1, old+live)
	}
	if firstLive != 2*outputs.ReplayChunk {
		t.Errorf("the first live event was message %d, want %d (after the replay's chunk under way)", firstLive, 2*outputs.ReplayChunk)
	}
}

// gatedJournal holds the first read after seq at until release is closed.
type gatedJournal struct {
	seqJournal
	at               uint64
	once             sync.Once
	reached, release chan struct{}
}

func (g *gatedJournal) Events(after uint64, limit int) ([]alarms.Event, error) {
	if after == g.at {
		g.once.Do(func() { close(g.reached); <-g.release })
	}
	return g.seqJournal.Events(after, limit)
}

// TestReplayMalformed: malformed requests are counted and dropped; a good
// one after them is answered.
func TestReplayMalformed(t *testing.T) {
	b := mqtttest.StartMochi(t)
	j := &seqJournal{}
	for range 3 {
		j.add()
	}
	reg := prometheus.NewRegistry()
	g := startGW(t, uplinkConfig(t, b.URL), outputs.Options{Events: j, Registerer: reg})
	g.waitUp(t)
	rx := b.Subscribe(t, "hz/S1/alarms", 1)
	bad := []string{``, `not json`, `{}`, `{"after": -1}`, `{"after": 1.5}`, `{"after": "2"}`,
		`{"after": true}`, `{"after": 1} {"after": 0}`, `null`, `[1]`}
	for _, p := range bad {
		request(t, b, p)
	}
	request(t, b, `{"after": 2}`)
	msgs := rx.WaitN(t, 1, 10*time.Second)
	mqtttest.WaitFor(t, "malformed requests counted", func() bool {
		return mqtttest.Gathered(t, reg, "hazardgw_mqtt_uplink_refused_total", "kind", "replay") == float64(len(bad))
	})
	if per, _ := seqs(t, msgs); !slices.Equal(per[1], []uint64{3}) || len(rx.Messages()) != 1 {
		t.Fatalf("got %v, want only the replay of seq 3", per[1])
	}
}
