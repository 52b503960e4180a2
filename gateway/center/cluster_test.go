package center

import (
	"fmt"
	"testing"
	"time"

	"hazardgw/gateway/center/natstest"
	"hazardgw/internal/testenv"
)

// TestNATSCluster: three sites on a 3-node NATS cluster, one center.
// The center is stopped and started again, the node it is connected to
// is killed, a site is cut off and comes back: every site's seq stays
// continuous at the center, no event stored twice.
func TestNATSCluster(t *testing.T) {
	cl := natstest.Start(t, 3)
	urls := cl.URLs()
	cfg := centerConfig(t, urls, t.TempDir(), "")
	c := startCenter(t, cfg)
	sites := make([]*testSite, 3)
	for i := range sites {
		// Each site starts on its own node and knows the others.
		own := append([]string{urls[i]}, urls[:i]...)
		own = append(own, urls[i+1:]...)
		sites[i] = newTestSite(t, own, fmt.Sprintf("SITE-%d", i+1))
		sites[i].status("online")
	}
	raise := func(n int) {
		for _, s := range sites {
			s.raise(n)
		}
	}
	all := func(n int) {
		t.Helper()
		for _, s := range sites {
			c.waitSeqs(t, s.id, n)
		}
	}
	raise(5)
	all(5)

	// The center goes down and comes back (same client id: the cluster
	// kept its session).
	c.stop(t)
	raise(5)
	c = startCenter(t, cfg)
	all(10)

	// The node the center (and site 1) is connected to dies.
	cl.Nodes[0].Stop()
	testenv.WaitFor(t, 20*time.Second, "center and sites reconnected to other nodes", func() bool {
		c.mu.Lock()
		up := c.brokerUp
		c.mu.Unlock()
		return up && c.client.IsConnectionOpen() && sites[0].cl.IsConnectionOpen()
	})
	raise(5)
	all(15)

	// Site 2 is cut off: its events stay in its journal; the next one
	// shows the gap, the replay fills it.
	sites[1].setCut(true)
	sites[1].raise(3)
	sites[1].setCut(false)
	raise(1)
	c.waitSeqs(t, "SITE-2", 19)
	for _, id := range []string{"SITE-1", "SITE-3"} {
		c.waitSeqs(t, id, 16)
	}
	if s := c.summary("SITE-2"); s.Gaps != 1 || s.Lost != 0 || s.Replays < 1 {
		t.Errorf("SITE-2 after its cut: %+v", s)
	}
	cl.Nodes[0].Restart()
	raise(1)
	c.waitSeqs(t, "SITE-2", 20)
	for _, s := range c.Sites() {
		if s.Lost != 0 || s.Missing != 0 {
			t.Errorf("site %s: lost %d missing %d", s.Site, s.Lost, s.Missing)
		}
	}
}
