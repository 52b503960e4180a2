package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazardgw/configs"
)

// publisher publishes the simulated mqtt points of one broker.
type publisher struct {
	plant  *Plant
	broker configs.Broker
	url    string
	topics []*topic // sorted by name
}

// topic is one published topic: the points whose values share a message.
type topic struct {
	name   string
	qos    byte
	points []*point
}

// buildPublishers collects every mqtt point with a behaviour by broker and
// topic. Points of one topic with a `path` share one JSON object; a point
// without a path is a bare number, one message of its own.
func (p *Plant) buildPublishers() ([]*publisher, error) {
	brokers := map[string]configs.Broker{}
	for _, b := range p.cfg.Brokers {
		brokers[b.Name] = b
	}
	byBroker := map[string]*publisher{}
	var out []*publisher
	for i := range p.cfg.Devices {
		d := &p.cfg.Devices[i]
		if d.Driver != "mqtt" {
			continue
		}
		for _, pt := range p.devices[d.ID].points {
			if pt.sim == nil {
				continue
			}
			name := pt.cfg.Topic
			if pt.sim.Topic != "" {
				name = pt.sim.Topic
			}
			if name == "" || strings.ContainsAny(name, "+#") {
				return nil, fmt.Errorf("device %s point %s: cannot publish on topic %q (set sim.topic to a topic without wildcards)", d.ID, pt.cfg.ID, name)
			}
			b, ok := brokers[d.Broker]
			if !ok {
				return nil, fmt.Errorf("device %s: unknown broker %q", d.ID, d.Broker)
			}
			pub := byBroker[b.Name]
			if pub == nil {
				url := b.URL
				if url == "embedded" {
					url = "tcp://" + b.Listen
				}
				pub = &publisher{plant: p, broker: b, url: url}
				byBroker[b.Name] = pub
				out = append(out, pub)
			}
			pub.add(name, byte(d.QoS), pt)
		}
	}
	return out, nil
}

func (pub *publisher) add(name string, qos byte, pt *point) {
	if pt.cfg.Path != "" {
		for _, t := range pub.topics {
			if t.name == name && len(t.points) > 0 && t.points[0].cfg.Path != "" {
				t.points = append(t.points, pt)
				t.qos = max(t.qos, qos)
				return
			}
		}
	}
	pub.topics = append(pub.topics, &topic{name: name, qos: qos, points: []*point{pt}})
	sort.SliceStable(pub.topics, func(i, j int) bool { return pub.topics[i].name < pub.topics[j].name })
}

// run connects (retrying until it succeeds: the broker may still be
// starting) and publishes every period until ctx ends.
func (pub *publisher) run(ctx context.Context) {
	p := pub.plant
	log := p.log.With("broker", pub.broker.Name)
	o := paho.NewClientOptions().
		AddBroker(pub.url).
		SetClientID("sim-" + p.cfg.Site.ID + "-" + pub.broker.Name).
		SetUsername(pub.broker.Username).
		SetPassword(pub.broker.Password).
		SetCleanSession(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(500 * time.Millisecond).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(2 * time.Second).
		SetConnectTimeout(2 * time.Second).
		SetOrderMatters(false)
	c := paho.NewClient(o)
	c.Connect() // with ConnectRetry the token completes once connected
	defer c.Disconnect(250)
	tick := time.NewTicker(p.publish)
	defer tick.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !c.IsConnectionOpen() {
			if !warned {
				log.Warn("simulator waits for the MQTT broker", "url", pub.url)
				warned = true
			}
			continue
		}
		warned = false
		for _, m := range pub.messages(p.now()) {
			c.Publish(m.topic, m.qos, false, m.payload)
		}
	}
}

type message struct {
	topic   string
	qos     byte
	payload []byte
}

// messages builds this tick's messages: one per topic, without the points
// of a device in comm loss.
func (pub *publisher) messages(now time.Time) []message {
	p := pub.plant
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []message
	for _, t := range pub.topics {
		var obj map[string]any
		for _, pt := range t.points {
			if p.lostLocked(pt.dev, now) {
				continue
			}
			v := p.valueLocked(pt, now)
			if pt.cfg.Path == "" {
				out = append(out, message{t.name, t.qos, []byte(strconv.FormatFloat(v, 'g', -1, 64))})
				continue
			}
			if obj == nil {
				obj = map[string]any{}
			}
			setPath(obj, pt.cfg.Path, v)
			if pt.cfg.TimePath != "" {
				setPath(obj, pt.cfg.TimePath, now.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
			}
		}
		if obj != nil {
			b, err := json.Marshal(obj)
			if err == nil {
				out = append(out, message{t.name, t.qos, b})
			}
		}
	}
	return out
}

// Payload returns what the plant would publish for a point's topic at now
// (for tests and `gateway simulate` diagnostics).
func (p *Plant) Payload(id string, now time.Time) ([]byte, error) {
	for _, pub := range p.pubs {
		for _, t := range pub.topics {
			for _, pt := range t.points {
				if pt.cfg.ID != id {
					continue
				}
				for _, m := range pub.messages(now) {
					if m.topic == t.name {
						return m.payload, nil
					}
				}
				return nil, fmt.Errorf("point %s: device in comm loss", id)
			}
		}
	}
	return nil, fmt.Errorf("point %q: %w", id, ErrUnknown)
}

// setPath sets obj[a][b]... = v for the dot path "a.b".
func setPath(obj map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, k := range parts[:len(parts)-1] {
		next, ok := obj[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[k] = next
		}
		obj = next
	}
	obj[parts[len(parts)-1]] = v
}
