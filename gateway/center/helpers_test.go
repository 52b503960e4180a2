package center

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"hazardgw/alarms"
	"hazardgw/alarms/alarmstest"
	"hazardgw/configs"
	"hazardgw/internal/testenv"
)

// testSite plays a site gateway on the wire (district-wire.md): it
// journals its alarm events in an alarmstest.Log, publishes them on
// PREFIX/alarms (unless cut off), answers PREFIX/replay from the log and
// records the notices it receives.
type testSite struct {
	t      testing.TB
	id     string
	prefix string
	cl     paho.Client
	log    alarmstest.Log

	mu       sync.Mutex
	cut      bool // events are journaled, not published (the site's link is down)
	replays  []uint64
	notices  []map[string]any
	replayCh chan uint64
	done     chan struct{} // closed at the test's end: answer stops
}

// counter reads a counter's value.
func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func newTestSite(t testing.TB, urls []string, id string, opts ...func(*paho.ClientOptions)) *testSite {
	t.Helper()
	s := &testSite{t: t, id: id, prefix: "hazard/" + id, replayCh: make(chan uint64, 100), done: make(chan struct{})}
	o := paho.NewClientOptions().SetClientID("site-" + id).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectTimeout(2 * time.Second).SetOrderMatters(true)
	for _, u := range urls {
		o.AddBroker(u)
	}
	for _, f := range opts {
		f(o)
	}
	ready := make(chan struct{}, 1)
	o.SetOnConnectHandler(func(cl paho.Client) {
		cl.Subscribe(s.prefix+"/replay", 1, func(_ paho.Client, m paho.Message) {
			var req struct {
				After *uint64 `json:"after"`
			}
			if json.Unmarshal(m.Payload(), &req) != nil || req.After == nil {
				return
			}
			s.mu.Lock()
			s.replays = append(s.replays, *req.After)
			s.mu.Unlock()
			select {
			case s.replayCh <- *req.After:
			default: // a site answers one replay at a time; the center asks again
			}
		}).Wait()
		cl.Subscribe(s.prefix+"/notices", 1, func(_ paho.Client, m paho.Message) {
			var n map[string]any
			if json.Unmarshal(m.Payload(), &n) == nil {
				s.mu.Lock()
				s.notices = append(s.notices, n)
				s.mu.Unlock()
			}
		}).Wait()
		select {
		case ready <- struct{}{}:
		default:
		}
	})
	s.cl = paho.NewClient(o)
	s.cl.Connect()
	t.Cleanup(func() {
		close(s.done)
		s.cl.Disconnect(100)
	})
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("site %s: not connected", id)
	}
	go s.answer()
	return s
}

// answer publishes the log after each replay request, in order (one at a
// time, as a site does).
func (s *testSite) answer() {
	for {
		var after uint64
		select {
		case <-s.done:
			return
		case after = <-s.replayCh:
		}
		s.mu.Lock()
		cut := s.cut
		s.mu.Unlock()
		if cut {
			continue
		}
		evs, _ := s.log.Events(after, 1<<30)
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			s.cl.Publish(s.prefix+"/alarms", 1, false, b).WaitTimeout(10 * time.Second) // a lost answer is asked again
		}
	}
}

func (s *testSite) publish(topic string, payload []byte) {
	s.t.Helper()
	tok := s.cl.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		s.t.Errorf("site %s: publish %s: %v", s.id, topic, tok.Error())
	}
}

func (s *testSite) publishEvent(ev alarms.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		s.t.Fatal(err)
	}
	s.publish(s.prefix+"/alarms", b)
}

// raise journals n alarm events (alternating activation and return of
// one alarm per event) and publishes them unless the site is cut off.
func (s *testSite) raise(n int) {
	s.t.Helper()
	for range n {
		seq := s.log.Seq() + 1
		now := time.Now().UTC()
		ev := alarms.Event{ID: fmt.Sprintf("P%d:hi", seq%7), Point: fmt.Sprintf("P%d", seq%7), Cond: "hi", Tier: 1,
			Priority: alarms.Priority(1 + seq%4), State: alarms.Unack, Active: true, Time: now, Emitted: now,
			Site: s.id, Device: "D1", Notify: nil}
		if seq%5 == 0 {
			ev.Notify = []string{"commander"}
		}
		ev = s.log.Append(ev)
		s.mu.Lock()
		cut := s.cut
		s.mu.Unlock()
		if !cut {
			s.publishEvent(ev)
		}
	}
}

func (s *testSite) setCut(cut bool) {
	s.mu.Lock()
	s.cut = cut
	s.mu.Unlock()
}

func (s *testSite) status(status string) {
	b, _ := json.Marshal(map[string]any{"site": s.id, "status": status, "time": alarms.FormatTime(time.Now())})
	s.publish(s.prefix+"/status", b)
}

// testCenter runs a Center on a config built from broker urls, in dir.
type testCenter struct {
	*Center
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

func centerConfig(t testing.TB, urls []string, dir string, extra string) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse("center.toml", []byte(centerDoc(strings.ReplaceAll(t.Name(), "/", "-"), urls, dir, extra)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// centerDoc is the test center's config: extra goes into [center]; name
// makes the broker client id.
func centerDoc(name string, urls []string, dir string, extra string) string {
	return fmt.Sprintf(`
[center]
id = "DISTRICT"
name = "Test district"
broker = "district"
sites = ["hazard/+"]
offline_after = "1m"   # TestOffline drives the timer; here no site goes quiet on a slow machine
notices = true
%s
[console]
listen = "127.0.0.1:0"
  [[console.user]]
  name = "wang"
  role = "commander"
  token = "commander-token-0123456789"
  [[console.user]]
  name = "li"
  role = "viewer"
  token = "viewer-token-0123456789"

[store]
dir = %q

[[broker]]
name = "district"
url = %q
client_id = "center-test-%s"
`, extra, dir, strings.Join(urls, ","), name)
}

func startCenter(t testing.TB, cfg *configs.Config) *testCenter {
	t.Helper()
	c, err := New(cfg, Options{Registry: prometheus.NewRegistry(), Tick: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tc := &testCenter{Center: c, cancel: cancel, done: make(chan error, 1)}
	go func() { tc.done <- c.Run(ctx) }()
	tc.srv = httptest.NewServer(c.Handler())
	t.Cleanup(func() { tc.stop(t) })
	testenv.WaitFor(t, 20*time.Second, "center connected", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.brokerUp
	})
	return tc
}

// stop ends Run and waits for it (idempotent).
func (tc *testCenter) stop(t testing.TB) {
	t.Helper()
	if tc.cancel == nil {
		return
	}
	tc.cancel()
	tc.cancel = nil
	tc.srv.Close()
	if err := <-tc.done; err != nil {
		t.Errorf("center Run: %v", err)
	}
}

// summary returns the site's summary (zero when unknown).
func (tc *testCenter) summary(id string) Summary {
	for _, s := range tc.Sites() {
		if s.Site == id {
			return s
		}
	}
	return Summary{}
}

// seqs returns the site seqs the center stored, in the order its API
// gives them.
func (tc *testCenter) seqs(t testing.TB, id string) []uint64 {
	t.Helper()
	var evs []alarms.Event
	tc.get(t, "/api/sites/"+id+"/events?limit=10000", "", &evs)
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func (tc *testCenter) get(t testing.TB, path, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", tc.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// continuous reports whether seqs are exactly 1..n.
func continuous(seqs []uint64, n int) bool {
	if len(seqs) != n {
		return false
	}
	for i, q := range seqs {
		if q != uint64(i+1) {
			return false
		}
	}
	return true
}

// waitSeqs waits until the center holds exactly 1..n of site id, in order.
func (tc *testCenter) waitSeqs(t testing.TB, id string, n int) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, fmt.Sprintf("site %s seq 1..%d at the center", id, n), func() bool {
		s := tc.summary(id)
		return s.Seq == uint64(n) && s.Events == n
	})
	testenv.WaitFor(t, 20*time.Second, "the journal synced", func() bool {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		return tc.synced == tc.j.seq
	})
	if got := tc.seqs(t, id); !continuous(got, n) {
		t.Fatalf("site %s: seqs %v, want 1..%d", id, got, n)
	}
}

// sample publishes one good sample of point on PREFIX/samples.
func (s *testSite) sample(point string, value float64) {
	b, _ := json.Marshal(map[string]any{"site": s.id, "samples": []map[string]any{
		{"point": point, "value": value, "quality": "good", "time": alarms.FormatTime(time.Now())}}})
	s.publish(s.prefix+"/samples", b)
}
