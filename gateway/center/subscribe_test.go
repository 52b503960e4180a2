package center

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/internal/testenv"
)

// refuseAlarms is a broker policy that refuses subscriptions to the
// alarm topics (SUBACK 0x80) until allow is set; everything else is open.
type refuseAlarms struct {
	mochi.HookBase
	allow atomic.Bool
}

func (h *refuseAlarms) ID() string { return "refuse-alarms" }
func (h *refuseAlarms) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck}, []byte{b})
}
func (h *refuseAlarms) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (h *refuseAlarms) OnACLCheck(_ *mochi.Client, topic string, write bool) bool {
	return write || h.allow.Load() || !strings.HasSuffix(topic, "/alarms")
}

// TestSubscribeRefused: a broker that refuses the center's subscription
// to the alarm topics (paho reports it only in the SUBACK's codes, not as
// an error) leaves the center not up, counted and retrying, instead of
// connected but deaf to its sites; once the broker grants it, the
// center is up and takes the sites' events.
func TestSubscribeRefused(t *testing.T) {
	addr := testenv.FreeAddr(t)
	hook := &refuseAlarms{}
	srv := mochi.New(&mochi.Options{InlineClient: true})
	if err := srv.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	urls := []string{"tcp://" + addr}

	c, err := New(centerConfig(t, urls, t.TempDir(), ""), Options{Registry: prometheus.NewRegistry(), Tick: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCenter(t, c)
	up := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.brokerUp
	}
	testenv.WaitFor(t, 20*time.Second, "a refused subscription counted", func() bool { return counter(c.m.subscribeFailed) >= 1 })
	if up() {
		t.Fatal("the center says the broker is up while its alarm subscriptions are refused")
	}
	hook.allow.Store(true)
	testenv.WaitFor(t, 40*time.Second, "center up once granted", up)
	site := newTestSite(t, urls, "SITE-A")
	site.raise(3)
	tc := &testCenter{Center: c, srv: httptest.NewServer(c.Handler())}
	defer tc.srv.Close()
	tc.waitSeqs(t, "SITE-A", 3)
}
