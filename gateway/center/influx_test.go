package center

import (
	"fmt"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
	"hazardgw/store/influxtest"
)

// TestInflux: with [store.influxdb] every stored event reaches InfluxDB as
// alarm_event tagged with its site (SPEC §9), through the store's outbox.
func TestInflux(t *testing.T) {
	db := influxtest.Start(t)
	b := mqtttest.StartMosquitto(t)
	urls := []string{b.URL}
	cfg := centerConfig(t, urls, t.TempDir(), "")
	cfg.Store.InfluxDB = &configs.InfluxDB{URL: db.URL, Token: "any", Bucket: db.Bucket, Batch: 5000,
		Flush: configs.Duration(100 * time.Millisecond), Layout: configs.LayoutPoint}
	c := startCenter(t, cfg)
	sites := []*testSite{newTestSite(t, urls, "SITE-I1"), newTestSite(t, urls, "SITE-I2")}
	for _, s := range sites {
		s.raise(4)
	}
	for _, s := range sites {
		c.waitSeqs(t, s.id, 4)
	}
	for _, s := range sites {
		testenv.WaitFor(t, 20*time.Second, fmt.Sprintf("4 alarm_event points of %s in InfluxDB", s.id), func() bool {
			return db.Count(t, "alarm_event", map[string]string{"site": s.id}) == 4
		})
	}
}
