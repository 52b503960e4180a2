package mqtt

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
)

// The embedded broker's access control (SPEC §10):
//
//	client                       may publish on
//	───────────────────────────  ─────────────────────────────────────────
//	the gateway's own connection everything (it alone holds a per-process
//	                             secret identity, never written anywhere)
//	anyone else                  the topics of this broker's mqtt points,
//	                             except the uplink prefix and notify topics
//
// The uplink prefix includes the district's topics (SPEC §13):
// PREFIX/replay and PREFIX/notices, which the gateway's own connection
// subscribes to, and PREFIX/notices/ack. On the embedded broker no other
// client may publish a replay request or a notice; on an external broker
// the broker's ACL decides (docs/MQTT.md).
//
// Subscribing is open to every authenticated client (the platform reads
// PREFIX/alarms). A refused publish is dropped by mochi, counted in
// hazardgw_mqtt_acl_refused_total and logged (at most once a minute).

// acl is one embedded broker's publish rules.
type acl struct {
	points []string // topic filters of the broker's mqtt points
	owned  []string // topic filters only the gateway publishes on
}

// aclFor builds broker's rules from the config.
func aclFor(cfg *configs.Config, broker string) acl {
	var a acl
	for _, d := range cfg.Devices {
		if d.Driver != "mqtt" || d.Broker != broker {
			continue
		}
		for _, p := range d.Points {
			if p.Topic != "" {
				a.points = append(a.points, p.Topic)
			}
		}
	}
	if u := cfg.Uplink; u != nil && u.Broker == broker && u.Prefix != "" {
		prefix := strings.TrimSuffix(u.Prefix, "/")
		a.owned = append(a.owned, prefix, prefix+"/#")
	}
	for _, n := range cfg.Notify {
		if n.Kind == "mqtt" && n.Broker == broker && n.Topic != "" {
			a.owned = append(a.owned, n.Topic)
		}
	}
	return a
}

// mayPublish reports whether a client other than the gateway may publish
// on topic. A point topic that is also an owned topic stays the gateway's.
func (a *acl) mayPublish(topic string) bool {
	for _, f := range a.owned {
		if matchTopic(f, topic) {
			return false
		}
	}
	for _, f := range a.points {
		if matchTopic(f, topic) {
			return true
		}
	}
	return false
}

// identity is the gateway's own login to its embedded broker: random for
// each process, so no other client can be the gateway.
type identity struct{ user, pass []byte }

func newIdentity() identity {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return identity{user: []byte("hazardgw-" + hex.EncodeToString(b[:8])), pass: []byte(hex.EncodeToString(b[8:]))}
}

// brokerHook authenticates and authorizes the embedded broker's clients.
// (mochi's hooks/auth would pull yaml.v3 into go.mod.)
type brokerHook struct {
	mochi.HookBase
	self       identity
	user, pass string // configured credentials; "" admits anyone
	acl        acl
	refused    prometheus.Counter
	log        *slog.Logger
	now        func() time.Time

	mu       sync.Mutex
	loggedAt time.Time
	quiet    int // refusals not logged since loggedAt
}

func (h *brokerHook) ID() string { return "hazardgw-acl" }

func (h *brokerHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *brokerHook) OnConnectAuthenticate(_ *mochi.Client, pk packets.Packet) bool {
	user, pass := pk.Connect.Username, pk.Connect.Password
	if subtle.ConstantTimeCompare(user, h.self.user) == 1 {
		return subtle.ConstantTimeCompare(pass, h.self.pass) == 1
	}
	if h.user == "" {
		return true
	}
	return subtle.ConstantTimeCompare(user, []byte(h.user)) == 1 &&
		subtle.ConstantTimeCompare(pass, []byte(h.pass)) == 1
}

func (h *brokerHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if !write || subtle.ConstantTimeCompare(cl.Properties.Username, h.self.user) == 1 || h.acl.mayPublish(topic) {
		return true
	}
	h.refused.Inc()
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.now(); now.Sub(h.loggedAt) >= time.Minute {
		h.log.Warn("embedded broker: publish refused", "client", cl.ID, "addr", cl.Net.Remote,
			"topic", topic, "refused_since_last_line", h.quiet)
		h.loggedAt, h.quiet = now, 0
	} else {
		h.quiet++
	}
	return false
}
