// Package natstest runs a real NATS cluster for tests: nats-server
// processes on loopback with cluster routes, JetStream (temporary store
// directories) and their MQTT listener, so paho clients (sites, the
// center) meet on a distributed broker as they would in a district.
//
// # Concurrency and shutdown
//
// A Cluster is used from the test goroutine. Stop and Start of a node kill
// (SIGKILL: a crash, not a goodbye) and restart its process on the same
// ports and store directory; every node is killed at the test's end.
package natstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hazardgw/internal/testenv"
)

// Node is one nats-server of a Cluster.
type Node struct {
	Name string
	// URL is the MQTT listener as paho dials it (tcp://127.0.0.1:PORT).
	URL string
	// Client is the NATS client listener (host:port).
	Client string

	t       testing.TB
	bin     string
	conf    string
	mqtt    string
	health  string // the monitoring port's /healthz: 200 once JetStream is current
	mu      sync.Mutex
	cmd     *exec.Cmd
	waitErr chan error
	log     *os.File
}

// Cluster is a set of routed nats-server nodes.
type Cluster struct {
	Nodes []*Node
}

// URLs are the MQTT URLs of every node, in order.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.URL
	}
	return out
}

// Binary finds nats-server as Path does. It fails the test when it is
// missing: no test passes by skipping.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := Path()
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return p
}

// Path finds nats-server on PATH or in GOPATH/bin (scripts/test installs
// it there with go install); gateway/district uses it too.
func Path() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(gopath, "bin", "nats-server")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("nats-server not found (go install github.com/nats-io/nats-server/v2@v2.15.2; scripts/test does): %w", err)
	}
	return p, nil
}

// Start runs n routed nodes (n >= 1) and waits until every MQTT listener
// accepts connections.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	type ports struct{ client, cluster, mqtt, http int }
	ps := make([]ports, n)
	for i := range ps {
		ps[i] = ports{testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)}
	}
	c := &Cluster{}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ps[j].cluster))
			}
		}
		conf := Config(NodeConfig{Name: name, Host: "127.0.0.1", Client: ps[i].client, HTTP: ps[i].http,
			Cluster: ps[i].cluster, MQTT: ps[i].mqtt, StoreDir: filepath.Join(dir, name, "js"), Routes: routes,
			Replicas: min(n, 3)})
		path := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		node := &Node{Name: name, URL: fmt.Sprintf("tcp://127.0.0.1:%d", ps[i].mqtt),
			Client: fmt.Sprintf("127.0.0.1:%d", ps[i].client), t: t, bin: bin, conf: path,
			mqtt: fmt.Sprintf("127.0.0.1:%d", ps[i].mqtt), health: fmt.Sprintf("http://127.0.0.1:%d/healthz", ps[i].http), log: log}
		c.Nodes = append(c.Nodes, node)
	}
	for _, node := range c.Nodes {
		node.Start()
	}
	t.Cleanup(func() {
		for _, node := range c.Nodes {
			node.Stop()
			node.log.Close()
		}
		if t.Failed() {
			for _, node := range c.Nodes {
				b, _ := os.ReadFile(node.log.Name())
				t.Logf("natstest: %s log (tail):\n%s", node.Name, tail(string(b), 3000))
			}
		}
	})
	for _, node := range c.Nodes {
		node.waitReady()
	}
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// NodeConfig is one node's place in a cluster.
type NodeConfig struct {
	Name                        string // server_name (required by JetStream and MQTT)
	Host                        string // listen address of every port
	Client, HTTP, Cluster, MQTT int    // ports: NATS clients, monitoring, routes, MQTT
	StoreDir                    string // JetStream's directory
	Routes                      []string
	Replicas                    int // MQTT streams and consumers; 3 on a 3-node cluster
}

// Config is a node's nats-server config as docs/DISTRICT.md shows it (a
// test checks the page holds it verbatim). MQTT's streams and consumers
// (sessions, QoS 1 messages) are replicated on Replicas nodes: with 3 on a
// 3-node cluster one node's death keeps the quorum. Left to itself NATS
// picks the number of nodes it sees at the first MQTT connection (R2 when
// one was still joining, and then one death stalls the sessions).
func Config(n NodeConfig) string {
	cluster := ""
	if len(n.Routes) > 0 {
		cluster = fmt.Sprintf("cluster {\n  name: district\n  listen: %s:%d\n  routes: [%s]\n}\n",
			n.Host, n.Cluster, strings.Join(n.Routes, ", "))
	}
	return fmt.Sprintf(`server_name: %s
listen: %s:%d
http: %s:%d
jetstream {
  store_dir: %q
}
%smqtt {
  listen: %s:%d
  stream_replicas: %d
  consumer_replicas: %d
}
`, n.Name, n.Host, n.Client, n.Host, n.HTTP, n.StoreDir, cluster, n.Host, n.MQTT, n.Replicas, n.Replicas)
}

// Start starts a stopped node again (same ports, same JetStream store).
func (n *Node) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return
	}
	cmd := exec.Command(n.bin, "-c", n.conf)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("natstest: start %s: %v", n.Name, err)
	}
	n.cmd, n.waitErr = cmd, make(chan error, 1)
	go func(ch chan error) { ch <- cmd.Wait() }(n.waitErr)
}

// Stop kills the node (SIGKILL) and waits for the process to end.
func (n *Node) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.waitErr
	n.cmd = nil
}

// Restart starts a stopped node and waits until it is ready.
func (n *Node) Restart() {
	n.t.Helper()
	n.Start()
	n.waitReady()
}

// waitReady waits until the node's JetStream is current (/healthz 200)
// and its MQTT listener accepts connections.
func (n *Node) waitReady() {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	hc := &http.Client{Timeout: time.Second}
	for {
		err := fmt.Errorf("healthz not ok")
		if resp, herr := hc.Get(n.health); herr != nil {
			err = herr
		} else {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				conn, derr := net.DialTimeout("tcp", n.mqtt, 200*time.Millisecond)
				if derr == nil {
					conn.Close()
					return
				}
				err = derr
			}
		}
		select {
		case <-ctx.Done():
			n.t.Fatalf("natstest: %s not ready (MQTT %s): %v", n.Name, n.mqtt, err)
		case <-tick.C:
		}
	}
}
