package center

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
)

// documentedACL is the Mosquitto acl_file docs/DISTRICT.md shows.
func documentedACL(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/DISTRICT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "Mosquitto (`acl_file`")
	_, after, ok1 := strings.Cut(after, "```\n")
	acl, _, ok2 := strings.Cut(after, "```")
	ok = ok && ok1
	if !ok || !ok2 {
		t.Fatal("docs/DISTRICT.md: no Mosquitto acl_file block")
	}
	return acl
}

// heard collects what one client receives, by topic and payload.
type heard struct {
	mu  sync.Mutex
	got map[string]bool
}

func (h *heard) has(topic, payload string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[topic+" "+payload]
}

// aclClient connects to b as user, subscribed to filter (if any).
func aclClient(t *testing.T, b *mqtttest.Broker, user, filter string) (paho.Client, *heard) {
	t.Helper()
	h := &heard{got: map[string]bool{}}
	o := paho.NewClientOptions().AddBroker(b.URL).SetClientID(fmt.Sprintf("acl-%s-%s", user, filter)).SetUsername(user)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if filter != "" {
		tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
			h.mu.Lock()
			h.got[m.Topic()+" "+string(m.Payload())] = true
			h.mu.Unlock()
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: subscribe %s: %v", user, filter, tok.Error())
		}
	}
	return c, h
}

func publish(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// TestDocumentedMosquittoACL runs Mosquitto with the acl_file of
// docs/DISTRICT.md (site usernames equal to site ids): a site cannot
// publish under another site's prefix nor send notices or replay
// requests, even to itself; the center alone sends notices. Each refused
// publish is followed by an allowed one from the same client, so its
// arrival shows the refused one, sent before it, would have arrived.
func TestDocumentedMosquittoACL(t *testing.T) {
	aclPath := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(aclPath, []byte(documentedACL(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	b := mqtttest.StartMosquittoWith(t, mqtttest.MosquittoOptions{Extra: []string{"acl_file " + aclPath}})
	_, center := aclClient(t, b, "center", "hazard/#")
	siteA, atA := aclClient(t, b, "SITE-A", "hazard/SITE-A/notices")
	siteB, _ := aclClient(t, b, "SITE-B", "")
	ctr, _ := aclClient(t, b, "center", "")

	for i, refused := range []struct{ topic, by string }{
		{"hazard/SITE-A/alarms", "SITE-B"},  // another site's prefix
		{"hazard/SITE-A/notices", "SITE-B"}, // a notice to another site
		{"hazard/SITE-B/notices", "SITE-B"}, // a notice to itself
		{"hazard/SITE-B/replay", "SITE-B"},  // a replay request
	} {
		bad, good := fmt.Sprintf("refused-%d", i), fmt.Sprintf("allowed-%d", i)
		publish(t, siteB, refused.topic, bad)
		publish(t, siteB, "hazard/SITE-B/alarms", good)
		testenv.WaitFor(t, 10*time.Second, "the allowed publish at the center", func() bool {
			return center.has("hazard/SITE-B/alarms", good)
		})
		if center.has(refused.topic, bad) || atA.has(refused.topic, bad) {
			t.Errorf("%s published on %s: the documented ACL let it through", refused.by, refused.topic)
		}
	}
	// The center's notice reaches the site; the site's own alarms are taken.
	publish(t, ctr, "hazard/SITE-A/notices", "notice-1")
	testenv.WaitFor(t, 10*time.Second, "the center's notice at the site", func() bool {
		return atA.has("hazard/SITE-A/notices", "notice-1")
	})
	publish(t, siteA, "hazard/SITE-A/alarms", "a-1")
	testenv.WaitFor(t, 10*time.Second, "a site's own alarm at the center", func() bool {
		return center.has("hazard/SITE-A/alarms", "a-1")
	})
}
