package mqtt_test

import (
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
	"hazardgw/drivers/mqtt/mqtttest"
)

// TestEmbeddedBroker: url = "embedded" starts mochi on listen with
// username/password; the gateway's own client and an outside client with
// the credentials use it; a wrong password is refused.
func TestEmbeddedBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := &configs.Config{Site: configs.Site{ID: "S1"}, Store: configs.Store{Dir: t.TempDir()},
		Brokers: []configs.Broker{{Name: "plant", URL: "embedded", Listen: addr, Username: "gw", Password: "s3cret"}}}
	cfg.Devices = []configs.Device{mqttDevice(1, configs.Point{ID: "E", Topic: "e/v", Path: "v"})}
	g := startGW(t, cfg, mqtt.Options{})
	g.waitUp(t)
	b := &mqtttest.Broker{URL: "tcp://" + addr, Addr: addr}
	creds := func(user, pass string) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(pass) }
	}
	p := b.Publisher(t, creds("gw", "s3cret"))
	pub(t, p, "e/v", `{"v": 9}`)
	g.sink.wait(t, "a value through the embedded broker", has("E", 9, drivers.Good, 0))

	bad := paho.NewClient(b.ClientOptions("intruder").SetUsername("gw").SetPassword("wrong").SetConnectRetry(false).SetAutoReconnect(false))
	tok := bad.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() == nil {
		t.Fatal("wrong password accepted")
	}
	g.cancel()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("embedded broker still listening after Run returned")
	}
}
