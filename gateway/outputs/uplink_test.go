package outputs_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/gateway/outputs"
)

func uplinkConfig(t *testing.T, url string) *configs.Config {
	cfg := config(t, url)
	cfg.Uplink = &configs.Uplink{Broker: "plant", Prefix: "hz/S1", SamplesEvery: configs.Duration(50 * time.Millisecond)}
	return cfg
}

func seqs(t *testing.T, msgs []mqtttest.Message) (perSession map[int][]uint64, all map[uint64]bool) {
	t.Helper()
	perSession, all = map[int][]uint64{}, map[uint64]bool{}
	for _, m := range msgs {
		var ev alarms.Event
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatalf("event payload %q: %v", m.Payload, err)
		}
		perSession[m.Session] = append(perSession[m.Session], ev.Seq)
		all[ev.Seq] = true
	}
	return perSession, all
}

// TestUplinkAlarmsAcrossBrokerRestart: 300 events, the broker restarts in
// the middle (the gateway kept away until the receiver is back, through a
// proxy): none is lost, each receiver session sees them in strictly
// increasing seq order (so none twice).
func TestUplinkAlarmsAcrossBrokerRestart(t *testing.T) {
	for _, bk := range mqtttest.Kinds {
		t.Run(bk.Name, func(t *testing.T) {
			b := bk.Start(t)
			gt := mqtttest.NewGate(t, b.Addr)
			rx := b.Subscribe(t, "hz/S1/alarms", 1)
			j := &journal{}
			cfg := uplinkConfig(t, gt.URL())
			reg := prometheus.NewRegistry()
			g := startGW(t, cfg, outputs.Options{Events: j, Registerer: reg})
			g.waitUp(t)
			up := g.outs.Uplink()
			const n = 300
			for i := 1; i <= n; i++ {
				up.Event(j.add())
				if i == n/2 {
					// Cut the gateway off first and let the receiver get
					// everything the broker acknowledged: an in-memory
					// broker that restarts loses what it acknowledged but
					// had not yet forwarded, which no publisher can help.
					gt.SetOpen(false)
					gt.Kill()
					mqtttest.WaitFor(t, "the receiver caught up with the broker", func() bool {
						acked := uint64(mqtttest.Gathered(t, reg, "hazardgw_mqtt_event_cursor", "target", "uplink"))
						_, all := seqs(t, rx.Messages())
						return len(all) >= int(acked)
					})
					b.Restart()
					mqtttest.WaitFor(t, "the receiver back", func() bool { return rxSession(rx) >= 2 })
					gt.SetOpen(true)
				}
			}
			msgs := rx.Wait(t, 30*time.Second, func(m []mqtttest.Message) bool {
				if len(m) < n {
					return false
				}
				_, all := seqs(t, m)
				return len(all) == n
			})
			per, _ := seqs(t, msgs)
			for s, list := range per {
				for i := 1; i < len(list); i++ {
					if list[i] <= list[i-1] {
						t.Fatalf("session %d: seq %d after %d", s, list[i], list[i-1])
					}
				}
			}
			for _, m := range msgs {
				if m.QoS != 1 {
					t.Fatalf("alarm event at QoS %d", m.QoS)
				}
			}
		})
	}
}

func rxSession(c *mqtttest.Collector) int { return c.Session() }

// TestUplinkCursorSurvivesRestart: events acknowledged before a clean
// shutdown are not sent again by the next gateway process; the ones added
// while it was down are.
func TestUplinkCursorSurvivesRestart(t *testing.T) {
	b := mqtttest.StartMochi(t)
	rx := b.Subscribe(t, "hz/S1/alarms", 1)
	j := &journal{}
	cfg := uplinkConfig(t, b.URL)
	g := startGW(t, cfg, outputs.Options{Events: j})
	g.waitUp(t)
	for range 5 {
		g.outs.Uplink().Event(j.add())
	}
	rx.WaitN(t, 5, 10*time.Second)
	g.cancel()
	for range 3 {
		j.add() // while the gateway is down
	}
	cfg2 := uplinkConfig(t, b.URL)
	cfg2.Store.Dir = cfg.Store.Dir
	g2 := startGW(t, cfg2, outputs.Options{Events: j})
	g2.waitUp(t)
	msgs := rx.WaitN(t, 8, 10*time.Second)
	_, all := seqs(t, msgs)
	if len(msgs) != 8 || len(all) != 8 {
		t.Fatalf("received %d messages, %d distinct seqs; want 8 and 8", len(msgs), len(all))
	}
}

// TestUplinkStartsAtSeq: without a cursor file, a source with Seq() starts
// from its current seq instead of replaying history.
func TestUplinkStartsAtSeq(t *testing.T) {
	b := mqtttest.StartMochi(t)
	rx := b.Subscribe(t, "hz/S1/alarms", 1)
	j := &seqJournal{}
	for range 10 {
		j.add()
	}
	g := startGW(t, uplinkConfig(t, b.URL), outputs.Options{Events: j})
	g.waitUp(t)
	g.outs.Uplink().Event(j.add())
	msgs := rx.WaitN(t, 1, 10*time.Second)
	per, _ := seqs(t, msgs)
	if got := per[1]; len(got) != 1 || got[0] != 11 {
		t.Fatalf("got seqs %v, want [11]", got)
	}
}

type seqJournal struct{ journal }

func (j *seqJournal) Seq() uint64 { return j.log.Seq() }

// TestUplinkStatusAndSamples: retained online status, samples batches,
// the offline will when the connection dies, offline on clean shutdown.
func TestUplinkStatusAndSamples(t *testing.T) {
	for _, bk := range mqtttest.Kinds {
		t.Run(bk.Name, func(t *testing.T) {
			b := bk.Start(t)
			gt := mqtttest.NewGate(t, b.Addr)
			g := startGW(t, uplinkConfig(t, gt.URL()), outputs.Options{Events: &journal{}})
			g.waitUp(t)
			last := func(want string) func([]mqtttest.Message) bool {
				return func(m []mqtttest.Message) bool {
					if len(m) == 0 {
						return false
					}
					var s struct{ Site, Status, Time string }
					_ = json.Unmarshal(m[len(m)-1].Payload, &s)
					return s.Site == "S1" && s.Status == want && s.Time != ""
				}
			}
			// The online status goes out just after the connection is up:
			// seen once, a new subscriber must get it retained.
			b.Subscribe(t, "hz/S1/status", 1).Wait(t, 10*time.Second, last("online"))
			status := b.Subscribe(t, "hz/S1/status", 1)
			msgs := status.Wait(t, 10*time.Second, last("online"))
			if !msgs[0].Retained {
				t.Errorf("online status not retained")
			}

			samples := b.Subscribe(t, "hz/S1/samples", 0)
			now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
			g.outs.Uplink().Samples([]drivers.Sample{{Point: "A", Value: 1.5, Time: now},
				{Point: "B", Quality: drivers.Bad, Cause: drivers.CauseComm, Time: now}})
			m := samples.WaitN(t, 1, 10*time.Second)
			var got struct {
				Site    string
				Samples []map[string]any
			}
			if err := json.Unmarshal(m[0].Payload, &got); err != nil {
				t.Fatal(err)
			}
			if got.Site != "S1" || len(got.Samples) != 2 || got.Samples[0]["point"] != "A" || got.Samples[0]["value"] != 1.5 ||
				got.Samples[0]["quality"] != "good" || got.Samples[0]["time"] != "2026-11-28T08:00:00.000Z" ||
				got.Samples[1]["quality"] != "bad" || got.Samples[1]["cause"] != "comm" {
				t.Errorf("samples message %s", m[0].Payload)
			}

			gt.SetOpen(false)
			gt.Kill() // the gateway vanishes without DISCONNECT: the broker sends the will
			status.Wait(t, 20*time.Second, last("offline"))
			gt.SetOpen(true)
			status.Wait(t, 20*time.Second, last("online"))
			g.cancel() // clean shutdown publishes offline
			status.Wait(t, 10*time.Second, last("offline"))
		})
	}
}

// TestNotifyTargets: each [[notify]] target gets the events naming it, at
// its qos, on its topic.
func TestNotifyTargets(t *testing.T) {
	b := mqtttest.StartMochi(t)
	rxP := b.Subscribe(t, "notify/platform", 1)
	rxB := b.Subscribe(t, "notify/boss", 1)
	j := &journal{}
	cfg := config(t, b.URL)
	cfg.Notify = []configs.Notify{
		{Name: "platform", Kind: "mqtt", Broker: "plant", Topic: "notify/platform", QoS: 1},
		{Name: "boss", Kind: "mqtt", Broker: "plant", Topic: "notify/boss", QoS: 0},
	}
	g := startGW(t, cfg, outputs.Options{Events: j})
	g.waitUp(t)
	outs := g.outs.Outputs()
	if len(outs) != 2 {
		t.Fatalf("%d outputs, want 2", len(outs))
	}
	emit := func(ev alarms.Event) {
		for _, o := range outs {
			o.Event(ev)
		}
	}
	emit(j.add("operator"))             // 1: console only
	emit(j.add("platform"))             // 2
	emit(j.add("platform", "boss"))     // 3
	emit(j.add())                       // 4
	emit(j.add("commander", "boss"))    // 5
	emit(j.add("platform", "operator")) // 6
	p := rxP.WaitN(t, 3, 10*time.Second)
	bb := rxB.WaitN(t, 2, 10*time.Second)
	check := func(name string, msgs []mqtttest.Message, want []uint64, qos byte) {
		per, _ := seqs(t, msgs)
		if fmt.Sprint(per[1]) != fmt.Sprint(want) {
			t.Errorf("%s got %v, want %v", name, per[1], want)
		}
		for _, m := range msgs {
			if m.QoS != qos {
				t.Errorf("%s: qos %d, want %d", name, m.QoS, qos)
			}
		}
	}
	// The last event naming each target is the newest; wait for it before
	// judging that nothing else came.
	rxP.Wait(t, 10*time.Second, func(m []mqtttest.Message) bool { return len(m) >= 3 })
	check("platform", p, []uint64{2, 3, 6}, 1)
	check("boss", bb, []uint64{3, 5}, 0)
}

// blockHook holds every PUBLISH from clients whose id starts with "gw-"
// until release is closed: a broker that stops reading.
type blockHook struct {
	mochi.HookBase
	release chan struct{}
	once    sync.Once
	blocked chan struct{}
}

func (h *blockHook) ID() string { return "block" }

func (h *blockHook) Provides(b byte) bool { return b == mochi.OnPublish }

func (h *blockHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if len(cl.ID) > 3 && cl.ID[:3] == "gw-" {
		h.once.Do(func() { close(h.blocked) })
		<-h.release
	}
	return pk, nil
}

// TestSlowBrokerNeverBlocksEngine: with the broker holding the gateway's
// publishes, Event and Samples still return at once; nothing is lost once
// the broker moves again.
func TestSlowBrokerNeverBlocksEngine(t *testing.T) {
	h := &blockHook{release: make(chan struct{}), blocked: make(chan struct{})}
	b := mqtttest.StartMochiWith(t, mqtttest.MochiOptions{Hooks: []mochi.Hook{h}})
	rx := b.Subscribe(t, "hz/S1/alarms", 1)
	j := &journal{}
	g := startGW(t, uplinkConfig(t, b.URL), outputs.Options{Events: j})
	up := g.outs.Uplink()
	select {
	case <-h.blocked: // the online status is stuck in the broker
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway never published")
	}
	done := make(chan struct{})
	const n = 2000
	go func() {
		defer close(done)
		batch := make([]drivers.Sample, 100)
		for range n {
			up.Event(j.add())
			up.Samples(batch)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Event/Samples blocked on a stalled broker")
	}
	close(h.release)
	msgs := rx.Wait(t, 30*time.Second, func(m []mqtttest.Message) bool {
		if len(m) < n {
			return false // cheap check first: seqs decodes every message
		}
		_, all := seqs(t, m)
		return len(all) == n
	})
	per, _ := seqs(t, msgs)
	for i := 1; i < len(per[1]); i++ {
		if per[1][i] <= per[1][i-1] {
			t.Fatalf("order: %d after %d", per[1][i], per[1][i-1])
		}
	}
}

// BenchmarkUplinkEvents measures alarm events/s through the uplink
// (journal -> publish QoS 1 -> PUBACK -> cursor) to a subscriber.
func BenchmarkUplinkEvents(b *testing.B) {
	br := mqtttest.Kinds[0].Start(b)
	rx := br.Subscribe(b, "hz/S1/alarms", 1)
	j := &journal{}
	cfg := config(b, br.URL)
	cfg.Uplink = &configs.Uplink{Broker: "plant", Prefix: "hz/S1"}
	g := startGW(b, cfg, outputs.Options{Events: j})
	g.waitUp(b)
	up := g.outs.Uplink()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		up.Event(j.add())
	}
	rx.WaitN(b, b.N, 120*time.Second)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.StopTimer()
	g.cancel()
}
