//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"hazardgw/gateway/center/natstest"
)

// Options say what district to run.
type Options struct {
	Sites   int    // site gateways (real `gateway run` processes)
	Dir     string // every config, store, JetStream directory and log lives under it
	Gateway string // the gateway binary
	NATS    string // the nats-server binary
	// Period is the slowest simulated point's sine period; the three
	// points of a site cross hi and hihi every Period, 2/3 and 1/2 of it.
	Period time.Duration
	Out    io.Writer // progress, one line per step
}

// Node is one nats-server of the cluster.
type Node struct {
	*Proc
	URL    string // MQTT listener as paho dials it
	health string // /healthz: 200 once its JetStream is current
	mqtt   string
}

// Site is one site gateway.
type Site struct {
	*Proc
	ID      string
	Console string // http://127.0.0.1:PORT
	Node    int    // index of the NATS node its uplink uses
	// Gate, on the site that is cut off (Cut), stands between the site
	// and its node.
	Gate *Gate
	seen uint64 // the latest seq of its journal the district read (lastSeq)

	dir, url string // its directory; its broker (a node, or its Gate)
	period   time.Duration
}

// Cut is the index of the site whose broker link goes through a Gate
// (the second: on the second node).
const Cut = 1

// District is the running loopback district: three NATS nodes, one
// center, the sites.
type District struct {
	opt    Options
	Nodes  []*Node
	Center *Proc
	// CenterURL is the center's console (http://127.0.0.1:PORT).
	CenterURL string
	Sites     []*Site
}

func (d *District) logf(format string, args ...any) {
	if d.opt.Out != nil {
		fmt.Fprintf(d.opt.Out, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
}

// ports returns n free loopback ports.
func ports(n int) ([]int, error) {
	out := make([]int, n)
	for i := range out {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// Start writes every config and starts the cluster, the center and the
// sites, waiting for each to be ready. On error what was started is
// stopped.
func Start(ctx context.Context, opt Options) (_ *District, err error) {
	if opt.Period <= 0 {
		opt.Period = 60 * time.Second
	}
	d := &District{opt: opt}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := d.startCluster(ctx); err != nil {
		return nil, err
	}
	if err := d.startCenter(ctx); err != nil {
		return nil, err
	}
	if err := d.startSites(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

const nodes = 3

// startCluster starts the nodes; when one could not listen (a port picked
// free was taken meanwhile) the cluster starts again on other ports,
// three times at most.
func (d *District) startCluster(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := d.tryCluster(ctx)
		if err == nil {
			return nil
		}
		taken := false
		for _, n := range d.Nodes {
			n.Kill()
			taken = taken || n.portTaken()
		}
		if !taken || attempt == 3 {
			return err
		}
		d.logf("a NATS port was taken meanwhile: starting the cluster again on other ports")
		for _, n := range d.Nodes {
			if err := os.RemoveAll(filepath.Dir(n.log)); err != nil {
				return err
			}
		}
		d.Nodes = nil
	}
}

func (d *District) tryCluster(ctx context.Context) error {
	ps, err := ports(4 * nodes)
	if err != nil {
		return err
	}
	for i := range nodes {
		name := fmt.Sprintf("nats-%d", i+1)
		client, http, cluster, mqtt := ps[4*i], ps[4*i+1], ps[4*i+2], ps[4*i+3]
		var routes []string
		for j := range nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ps[4*j+2]))
			}
		}
		dir := filepath.Join(d.opt.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		conf := filepath.Join(dir, "nats.conf")
		text := natstest.Config(natstest.NodeConfig{Name: name, Host: "127.0.0.1", Client: client, HTTP: http,
			Cluster: cluster, MQTT: mqtt, StoreDir: filepath.Join(dir, "js"), Routes: routes, Replicas: nodes})
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return err
		}
		n := &Node{Proc: newProc(name, filepath.Join(dir, "nats.log"), d.opt.NATS, "-c", conf),
			URL: fmt.Sprintf("tcp://127.0.0.1:%d", mqtt), mqtt: fmt.Sprintf("127.0.0.1:%d", mqtt),
			health: fmt.Sprintf("http://127.0.0.1:%d/healthz", http)}
		d.Nodes = append(d.Nodes, n)
		if err := n.Start(); err != nil {
			return err
		}
	}
	for _, n := range d.Nodes {
		if err := n.WaitReady(ctx); err != nil {
			return err
		}
		d.logf("%s ready: MQTT %s (log %s)", n.Name, n.URL, n.log)
	}
	return nil
}

// WaitReady waits until the node's JetStream is current and its MQTT
// listener accepts connections (a minute at most).
func (n *Node) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := waitOK(ctx, n.Proc, n.health); err != nil {
		return err
	}
	for {
		c, err := net.DialTimeout("tcp", n.mqtt, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: MQTT %s: %w", n.Name, n.mqtt, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CenterID is the center's [center] id.
const CenterID = "DISTRICT"

func (d *District) startCenter(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	dir := filepath.Join(d.opt.Dir, "center")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	urls := make([]string, len(d.Nodes))
	for i, n := range d.Nodes {
		urls[i] = n.URL
	}
	cfg := filepath.Join(dir, "center.toml")
	text := fmt.Sprintf(`# gateway/district: the loopback district's center
[center]
id = %q
name = "Loopback district"
broker = "district"
sites = ["hazard/+"]
offline_after = "30s"
notices = true

[console]
listen = "127.0.0.1:%d"

[store]
dir = %q

[[broker]]
name = "district"
url = %q
`, CenterID, port, filepath.Join(dir, "var"), strings.Join(urls, ","))
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		return err
	}
	d.Center = newProc("center", filepath.Join(dir, "center.log"), d.opt.Gateway, "center", "-config", cfg)
	d.CenterURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := d.StartCenter(ctx); err != nil {
		return err
	}
	d.logf("center ready: %s (config %s, log %s)", d.CenterURL, cfg, d.Center.log)
	return nil
}

// StartCenter starts the center (again) and waits for its console.
func (d *District) StartCenter(ctx context.Context) error {
	if err := d.Center.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := waitOK(ctx, d.Center, d.CenterURL+"/api/health"); err != nil {
		return err
	}
	// Up once its broker connection is: a site's events published before
	// the center's first subscription would come only by replay.
	return waitUntil(ctx, "the center connected to the broker", func() (bool, error) {
		var h struct{ Broker string }
		if err := getJSON(ctx, d.CenterURL+"/api/health", &h); err != nil {
			return false, nil
		}
		return h.Broker == "up", nil
	})
}

// siteConfig is site i's config: a simulated Modbus gas controller with
// three gas heads whose sine crosses hi (30 ppm) and hihi (60 ppm) every
// period, 2/3 and 1/2 of it, so alarms keep flowing (about 12 events a
// period); its uplink to one NATS node with notices.
func siteConfig(id string, dir string, console, modbus int, url string, period time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# gateway/district: a loopback district site
[site]
id = %q
name = "District site %s"

[console]
listen = "127.0.0.1:%d"

[store]
dir = %q

[simulator]
enabled = true

[[device]]
id = "GC-1"
driver = "modbus"
transport = "tcp"
address = "127.0.0.1:%d"
unit = 1
interval = "500ms"
timeout = "1s"
`, id, id, console, filepath.Join(dir, "var"), modbus)
	for k, div := range []float64{1, 1.5, 2} {
		fmt.Fprintf(&b, `
  [[device.point]]
  id = "NH3-%d"
  name = "Gas head %d"
  unit = "ppm"
  register = "holding"
  address = %d
  type = "uint16"
  scale = 0.1
  range = [0.0, 1000.0]
  hi = 30.0
  hihi = 60.0
  deadband = 2.0
    [device.point.sim]
    kind = "sine"
    value = 35.0
    amplitude = 40.0
    period = %q
`, 101+k, k+1, k, (time.Duration(float64(period) / div)).Round(time.Second).String())
	}
	fmt.Fprintf(&b, `
[[broker]]
name = "district"
url = %q

[uplink]
broker = "district"
notices = true
`, url)
	return b.String()
}

// startSites starts the sites, a few at a time so that a 2-core machine
// is not asked to start a hundred at once.
func (d *District) startSites(ctx context.Context) error {
	for i := range d.opt.Sites {
		id := fmt.Sprintf("SITE-%03d", i+1)
		dir := filepath.Join(d.opt.Dir, "sites", id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		node := i % len(d.Nodes)
		s := &Site{ID: id, Node: node, dir: dir, url: d.Nodes[node].URL,
			// Periods differ by site (60 s to 84 s at the default) so that
			// the district's alarms do not come in waves.
			period: d.opt.Period + time.Duration(i%7)*d.opt.Period/15}
		if i == Cut {
			g, err := NewGate(d.Nodes[node].mqtt)
			if err != nil {
				return err
			}
			s.Gate, s.url = g, g.URL()
		}
		d.Sites = append(d.Sites, s)
	}
	const batch = 10
	for i := 0; i < len(d.Sites); i += batch {
		group := d.Sites[i:min(i+batch, len(d.Sites))]
		var wg sync.WaitGroup
		errs := make([]error, len(group))
		for k, s := range group {
			wg.Go(func() { errs[k] = d.startSite(ctx, s) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		d.logf("sites %s..%s up", group[0].ID, group[len(group)-1].ID)
	}
	return nil
}

// startSite picks the site's console and Modbus ports, writes its config
// and starts it, waiting for its console. A port taken meanwhile (by
// another process listening: freePort keeps clear of outgoing
// connections) makes it try again with others.
func (d *District) startSite(ctx context.Context, s *Site) error {
	for attempt := 1; ; attempt++ {
		ps, err := ports(2)
		if err != nil {
			return err
		}
		cfg := filepath.Join(s.dir, "gw.toml")
		if err := os.WriteFile(cfg, []byte(siteConfig(s.ID, s.dir, ps[0], ps[1], s.url, s.period)), 0o644); err != nil {
			return err
		}
		s.Proc = newProc(s.ID, filepath.Join(s.dir, "gw.log"), d.opt.Gateway, "run", "-config", cfg)
		s.Console = fmt.Sprintf("http://127.0.0.1:%d", ps[0])
		if err := s.Start(); err != nil {
			return err
		}
		c, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = waitOK(c, s.Proc, s.Console+"/api/health")
		cancel()
		if err == nil {
			return nil
		}
		if attempt == 3 || !s.portTaken() {
			return err
		}
		s.Kill()
		if err := os.Remove(s.log); err != nil {
			return err
		}
	}
}

// Close stops the sites, the center and the nodes (SIGTERM, then SIGKILL).
func (d *District) Close() {
	var wg sync.WaitGroup
	for _, s := range d.Sites {
		if s.Proc != nil {
			wg.Go(func() { s.Stop(10 * time.Second) })
		}
	}
	wg.Wait()
	for _, s := range d.Sites {
		if s.Gate != nil {
			s.Gate.Close()
		}
	}
	if d.Center != nil {
		d.Center.Stop(10 * time.Second)
	}
	for _, n := range d.Nodes {
		n.Stop(10 * time.Second)
	}
}
