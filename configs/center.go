package configs

import (
	"strings"
	"time"
)

// Center is the [center] table (SPEC §13): with it the file configures a
// district console (`gateway center`) instead of a site gateway. Such a
// file uses [console], [store] and [[broker]] as a site does and has no
// [site], devices, uplink, notify or safety functions.
type Center struct {
	ID     string `toml:"id"` // required; the center's identity (broker client id, notice ids)
	Name   string `toml:"name"`
	Broker string `toml:"broker"` // a [[broker]]; its session is persistent (clean_session = false)
	// Sites are MQTT topic filters matching site uplink prefixes
	// ("hazard/+"): the center subscribes to FILTER/alarms, /samples,
	// /status and /notices/ack. A whole level may be +; # is refused
	// (it would swallow the suffixes).
	Sites []string `toml:"sites"`
	// OfflineAfter: a site silent this long is shown offline (default 30s).
	OfflineAfter Duration `toml:"offline_after"`
	// Notices lets commanders send notices (督办通知) to sites.
	Notices bool `toml:"notices"`
}

// centerDefaults runs first in SetDefaults: a center's brokers get client
// ids derived from the center id (kept across restarts: the broker finds
// the persistent session again by it) and persistent sessions.
func (c *Config) centerDefaults() {
	k := c.Center
	if k == nil {
		return
	}
	if k.OfflineAfter == 0 {
		k.OfflineAfter = Duration(30 * time.Second)
	}
	for i := range c.Brokers {
		b := &c.Brokers[i]
		if b.Name == k.Broker && b.ClientID == "" && k.ID != "" {
			b.ClientID = "center-" + k.ID
		}
		if b.Name == k.Broker && b.CleanSession == nil {
			f := false
			b.CleanSession = &f
		}
	}
}

// center validates a center config: the [center] table, and that nothing
// of a site gateway is configured beside it.
func (v *validator) center(c *Config) {
	k := c.Center
	v.id("center.id", "center id", k.ID)
	var broker *Broker
	for i := range c.Brokers {
		if c.Brokers[i].Name == k.Broker {
			broker = &c.Brokers[i]
		}
	}
	switch {
	case k.Broker == "":
		v.errorf("center.broker", "center needs a broker (one of the [[broker]] names)")
	case broker == nil:
		v.errorf("center.broker", "unknown broker %q", k.Broker)
	case broker.URL == "embedded":
		v.errorf("center.broker", "broker %q is embedded: a center subscribes to the district's broker service (tcp:// or ssl://)", k.Broker)
	case broker.CleanSession != nil && *broker.CleanSession:
		v.errorf("center.broker", "broker %q has clean_session = true: the center needs a persistent session (events published while it is down)", k.Broker)
	}
	if len(k.Sites) == 0 {
		v.errorf("center.sites", "at least one topic filter of site uplink prefixes is required (e.g. \"hazard/+\")")
	}
	seen := map[string]bool{}
	for i, f := range k.Sites {
		p := idx("center.sites", i)
		switch {
		case strings.Contains(f, "#"):
			v.errorf(p, "filter %q: # is not allowed (the center appends /alarms, /samples, ...; use +)", f)
		case strings.HasSuffix(f, "/") || strings.HasPrefix(f, "/"):
			v.errorf(p, "filter %q must not begin or end with /", f)
		case seen[f]:
			v.errorf(p, "duplicate filter %q", f)
		default:
			v.topic(p, f, true)
		}
		seen[f] = true
	}
	if k.OfflineAfter < 0 {
		v.errorf("center.offline_after", "must be positive (got %s)", k.OfflineAfter.D())
	}
	if c.Site.ID != "" {
		v.errorf("site.id", "a [center] config has no [site]: the center's identity is center.id")
	}
	for i := range c.Devices {
		if !c.Devices[i].Builtin {
			v.errorf(idx("device", i)+".id", "a [center] config runs no devices (sites do)")
		}
	}
	if c.Uplink != nil {
		v.errorf("uplink.broker", "a [center] config has no [uplink] (sites publish theirs)")
	}
	for i := range c.Notify {
		v.errorf(idx("notify", i)+".name", "a [center] config has no [[notify]]")
	}
	if c.Simulator != nil {
		v.errorf("simulator", "a [center] config has no [simulator]")
	}
}

// BrokerURLs splits a [[broker]] url into its servers: a broker cluster
// may be written as a comma-separated list ("tcp://a:1883,tcp://b:1883");
// the client connects to the first that answers and moves on when it dies.
func BrokerURLs(url string) []string {
	var out []string
	for _, u := range strings.Split(url, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// siteBrokers refuses url lists outside a center: a site's connections
// (drivers/mqtt) take one server.
func (v *validator) siteBrokers(c *Config) {
	for i := range c.Brokers {
		if len(BrokerURLs(c.Brokers[i].URL)) > 1 {
			v.errorf(idx("broker", i)+".url", "a list of urls is only for the broker of a [center] (a site connects to one)")
		}
	}
}
