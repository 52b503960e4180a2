package center

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
)

// TestMosquitto: one site through a single Mosquitto; the center keeps
// every event once, across its own restart (persistent session), asks for
// a replay on a gap, and refuses malformed and foreign messages.
func TestMosquitto(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	urls := []string{b.URL}
	dir := t.TempDir()
	cfg := centerConfig(t, urls, dir, "")
	c := startCenter(t, cfg)
	site := newTestSite(t, urls, "SITE-A")
	site.status("online")
	site.raise(5)
	c.waitSeqs(t, "SITE-A", 5)

	// A redelivery is dropped.
	evs, _ := site.log.Events(2, 1)
	site.publishEvent(evs[0])
	testenv.WaitFor(t, 20*time.Second, "duplicate counted", func() bool {
		return counter(c.m.duplicates) == 1 || c.summary("SITE-A").Events != 5
	})

	// The center goes down; the site goes on; the center returns.
	c.stop(t)
	site.raise(5)
	c = startCenter(t, cfg)
	c.waitSeqs(t, "SITE-A", 10)

	// Cut off: events 11..13 are journaled at the site only; 14 arrives:
	// the gap is seen and filled by a replay.
	site.setCut(true)
	site.raise(3)
	site.setCut(false)
	site.raise(1)
	c.waitSeqs(t, "SITE-A", 14)
	if s := c.summary("SITE-A"); s.Gaps != 1 || s.Replays < 1 || s.Lost != 0 {
		t.Errorf("after the gap: %+v, want gaps 1, replays >= 1, lost 0", s)
	}

	// Bad input: counted, never an alarm.
	site.publish("hazard/SITE-A/alarms", []byte(`{"seq": "x"}`))
	site.publish("hazard/SITE-A/alarms", []byte(`not json`))
	other, _ := json.Marshal(map[string]any{"seq": 15, "id": "X:hi", "site": "SITE-B", "priority": "high", "state": "unack"})
	site.publish("hazard/SITE-A/alarms", other)
	testenv.WaitFor(t, 20*time.Second, "bad input refused", func() bool {
		return mqtttest.Gathered(t, c.reg, "hazardgw_center_refused_total", "reason", "malformed") == 2 &&
			mqtttest.Gathered(t, c.reg, "hazardgw_center_refused_total", "reason", "site") == 1
	})
	if s := c.summary("SITE-A"); s.Events != 14 || s.MaxSeq != 14 {
		t.Errorf("bad input changed the site: %+v", s)
	}
	if c.summary("SITE-B").Site != "" {
		t.Error("a payload naming another site made a site")
	}
	var alarmsNow []map[string]any
	c.get(t, "/api/sites/SITE-A/alarms", "", &alarmsNow)
	for _, a := range alarmsNow {
		if a["id"] == "X:hi" {
			t.Error("a refused event is shown as an alarm")
		}
	}
}

// TestLostForGood: a center meeting a site whose journal no longer holds
// its first events counts them lost and shows them, and keeps the rest.
func TestLostForGood(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	urls := []string{b.URL}
	site := newTestSite(t, urls, "SITE-L")
	site.setCut(true)
	site.raise(5)
	site.log.Keep(4) // the site holds the last 4: 4..7 when the center asks
	site.setCut(false)
	site.raise(1) // 6: the center's first contact
	c := startCenter(t, centerConfig(t, urls, t.TempDir(), ""))
	site.raise(1) // 7
	testenv.WaitFor(t, 20*time.Second, "the gap before 4 found permanent", func() bool {
		s := c.summary("SITE-L")
		return s.Seq == 7 && s.Lost == 3 && s.Events == 4
	})
	if got := c.seqs(t, "SITE-L"); len(got) != 4 || got[0] != 4 || got[3] != 7 {
		t.Errorf("seqs %v, want 4..7", got)
	}
}

// TestNotices: a commander's notice reaches the site; its acknowledgement
// comes back; roles and malformed requests are answered as SPEC §8.
func TestNotices(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	urls := []string{b.URL}
	c := startCenter(t, centerConfig(t, urls, t.TempDir(), ""))
	site := newTestSite(t, urls, "SITE-N")
	site.status("online")
	testenv.WaitFor(t, 20*time.Second, "site known", func() bool { return c.summary("SITE-N").Status == Online })

	post := func(site, token, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", c.srv.URL+"/api/sites/"+site+"/notices", bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for _, tc := range []struct {
		name, site, token, body string
		code                    int
	}{
		{"viewer", "SITE-N", "viewer-token-0123456789", `{"text":"evacuate"}`, 403},
		{"wrong token", "SITE-N", "nope", `{"text":"evacuate"}`, 401},
		{"unknown site", "SITE-X", "commander-token-0123456789", `{"text":"evacuate"}`, 404},
		{"malformed", "SITE-N", "commander-token-0123456789", `{"text":`, 400},
		{"empty", "SITE-N", "commander-token-0123456789", `{"text":"  "}`, 400},
		{"unknown field", "SITE-N", "commander-token-0123456789", `{"txt":"x"}`, 400},
	} {
		if code, _ := post(tc.site, tc.token, tc.body); code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.code)
		}
	}
	code, n := post("SITE-N", "commander-token-0123456789", `{"text":"Report the NH3 leak status within 10 minutes"}`)
	if code != 200 || n["id"] == "" || n["by"] != "wang" || n["site"] != "SITE-N" {
		t.Fatalf("notice: %d %v", code, n)
	}
	testenv.WaitFor(t, 20*time.Second, "notice at the site", func() bool {
		site.mu.Lock()
		defer site.mu.Unlock()
		return len(site.notices) == 1 && site.notices[0]["id"] == n["id"] && site.notices[0]["text"] != ""
	})
	if c.summary("SITE-N").NoticesOpen != 1 {
		t.Errorf("notices open %d, want 1", c.summary("SITE-N").NoticesOpen)
	}
	ack, _ := json.Marshal(map[string]any{"id": n["id"], "site": "SITE-N", "by": "zhang", "time": "2026-11-30T08:00:00.000Z", "comment": "on it"})
	site.publish("hazard/SITE-N/notices/ack", ack)
	site.publish("hazard/SITE-N/notices/ack", ack) // redelivered: no harm
	testenv.WaitFor(t, 20*time.Second, "acknowledgement at the center", func() bool { return c.summary("SITE-N").NoticesOpen == 0 })
	var ns []notice
	c.get(t, "/api/sites/SITE-N/notices", "", &ns)
	if len(ns) != 1 || !ns[0].Acked {
		t.Errorf("notices %+v, want one acked", ns)
	}
	if got := mqtttest.Gathered(t, c.reg, "hazardgw_center_notices_total", "kind", "acked"); got != 1 {
		t.Errorf("acked notices counted %v, want 1", got)
	}
}

// TestTLS: the center reaches its broker over ssl:// with the broker's CA
// and a client certificate (Mosquitto requiring one), as docs/DISTRICT.md
// says.
func TestTLS(t *testing.T) {
	ca := mqtttest.NewCA(t)
	b := mqtttest.StartMosquittoWith(t, mqtttest.MosquittoOptions{CAFile: ca.CAFile, CertFile: ca.ServerCertFile,
		KeyFile: ca.ServerKeyFile, Extra: []string{"require_certificate true"}})
	urls := []string{b.URL}
	cfg := centerConfig(t, urls, t.TempDir(), "")
	br := &cfg.Brokers[0]
	br.CA, br.Cert, br.Key = ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile
	c := startCenter(t, cfg)
	site := newTestSite(t, urls, "SITE-T", func(o *paho.ClientOptions) { o.SetTLSConfig(ca.ClientTLS()) })
	site.raise(3)
	c.waitSeqs(t, "SITE-T", 3)
}
