package natstest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// connect returns a connected paho client on url.
func connect(t *testing.T, url, id string, clean bool, onConnect paho.OnConnectHandler) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).SetConnectTimeout(5 * time.Second).
		SetOnConnectHandler(onConnect)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestPersistentSessionAcrossNodes: a persistent-session subscriber on
// node 1 receives what was published on node 2 while node 1 was dead
// (the process killed, then started again).
func TestPersistentSessionAcrossNodes(t *testing.T) {
	c := Start(t, 3)
	a, b := c.Nodes[0], c.Nodes[1]

	var mu sync.Mutex
	var got []string
	wake := make(chan struct{}, 1)
	handler := func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got = append(got, string(m.Payload()))
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	// Subscribe once, at QoS 1, in a persistent session; the handler is
	// the default one so redelivered session messages reach it too.
	o := paho.NewClientOptions().AddBroker(a.URL).SetClientID("center-natstest").SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(handler)
	sub := paho.NewClient(o)
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	if tok := sub.Subscribe("hazard/+/alarms", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	pub := connect(t, b.URL, "site-natstest", true, nil)
	publish := func(i int) {
		t.Helper()
		tok := pub.Publish("hazard/S1/alarms", 1, false, fmt.Sprint(i))
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	publish(1)
	waitGot(t, &mu, &got, wake, 1)

	a.Stop()
	for i := 2; i <= 6; i++ {
		publish(i)
	}
	a.Restart()
	waitGot(t, &mu, &got, wake, 6)
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, p := range got {
		seen[p] = true
	}
	for i := 1; i <= 6; i++ {
		if !seen[fmt.Sprint(i)] {
			t.Errorf("message %d published on %s while %s was down never arrived (got %v)", i, b.Name, a.Name, got)
		}
	}
}

func waitGot(t *testing.T, mu *sync.Mutex, got *[]string, wake chan struct{}, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		mu.Lock()
		k := len(*got)
		mu.Unlock()
		if k >= n {
			return
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", k, n)
		}
	}
}

// TestDocumentedConfig: docs/DISTRICT.md shows the node config these
// tests run (for the first node of a production cluster).
func TestDocumentedConfig(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/DISTRICT.md")
	if err != nil {
		t.Fatal(err)
	}
	want := Config(NodeConfig{Name: "nats-1", Host: "0.0.0.0", Client: 4222, HTTP: 8222, Cluster: 6222, MQTT: 1883,
		StoreDir: "/var/lib/nats/jetstream", Routes: []string{"nats-route://nats-2:6222", "nats-route://nats-3:6222"},
		Replicas: 3})
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/DISTRICT.md does not show the tested node config:\n%s", want)
	}
}
