package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
)

const noticeOperator = "tok-notices-operator-0123456789abcdef"

// noticesConfig is the simulated site TEST-01 with its uplink on url and
// an operator.
func noticesConfig(t *testing.T, dir, listen, url string, notices bool) string {
	return simConfig(t, dir, listen, testenv.FreeAddr(t), 70, fmt.Sprintf(`
[[console.user]]
name = "zhang"
role = "operator"
token = %q

[[broker]]
name = "district"
url = %q

[uplink]
broker = "district"
prefix = "hz/TEST-01"
notices = %v
`, noticeOperator, url, notices))
}

// publish sends payload on topic at QoS 1 as the center would.
func publish(t *testing.T, b *mqtttest.Broker, topic, payload string) {
	t.Helper()
	pub := b.Publisher(t)
	if tok := pub.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

type noticeView struct {
	ID      string `json:"id"`
	Site    string `json:"site"`
	Text    string `json:"text"`
	By      string `json:"by"`
	Acked   bool   `json:"acked"`
	AckedBy string `json:"acked_by"`
	Comment string `json:"comment"`
}

func notices(t *testing.T, base string) []noticeView {
	var out []noticeView
	getJSON(t, base+"/api/notices", &out)
	return out
}

// ackNotice acknowledges id as the operator and returns the status.
func ackNotice(t *testing.T, base, id, comment string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"comment": comment})
	r, _ := http.NewRequest("POST", base+"/api/notices/"+id+"/ack", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+noticeOperator)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestRunNotices: the site side of SPEC §13 through a real broker. Notices
// from the district reach the console; a malformed one and one for another
// site are counted and never shown; an open notice stays open across a
// restart; an operator's acknowledgement is published on
// PREFIX/notices/ack, and one made while the broker is unreachable is
// published when it returns, even across a restart.
func TestRunNotices(t *testing.T) {
	b := mqtttest.StartMochi(t)
	gt := mqtttest.NewGate(t, b.Addr)
	acks := b.Subscribe(t, "hz/TEST-01/notices/ack", 1)
	dir, listen := t.TempDir(), testenv.FreeAddr(t)
	base := "http://" + listen
	cfg := noticesConfig(t, dir, listen, gt.URL(), true)
	p := startHealthy(t, dir, cfg, listen)
	mqtttest.WaitFor(t, "the uplink connected (online status)", func() bool {
		return strings.Contains(metricsText(t, base), `hazardgw_mqtt_connects_total{broker="district"} 1`)
	})

	publish(t, b, "hz/TEST-01/notices", `{"id": "SQ-DISTRICT-1", "site": "TEST-01", "text": "检查氨压缩机房", "by": "chen", "time": "2026-11-28T08:00:00.000Z"}`)
	publish(t, b, "hz/TEST-01/notices", `{"id": "SQ-DISTRICT-2", "site": "OTHER-02", "text": "not for us", "by": "chen", "time": "2026-11-28T08:00:01.000Z"}`)
	publish(t, b, "hz/TEST-01/notices", `{"id": "SQ-DISTRICT-3", "text": "no site, no time"}`)
	publish(t, b, "hz/TEST-01/notices", `{"id": "SQ-DISTRICT-4", "site": "TEST-01", "text": "report the tank levels", "by": "chen", "time": "2026-11-28T08:00:02.000Z"}`)
	mqtttest.WaitFor(t, "two notices shown, two refused", func() bool {
		m := metricsText(t, base)
		return len(notices(t, base)) == 2 && strings.Contains(m, `hazardgw_mqtt_uplink_refused_total{kind="notice_site"} 1`) &&
			strings.Contains(m, `hazardgw_mqtt_uplink_refused_total{kind="notice"} 1`)
	})
	if n := notices(t, base); n[0].ID != "SQ-DISTRICT-4" || n[1].ID != "SQ-DISTRICT-1" || n[1].Text != "检查氨压缩机房" || n[1].By != "chen" || n[1].Acked {
		t.Fatalf("notices %+v", n)
	}

	// Restart: both still open.
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.output())
	}
	p = startHealthy(t, dir, cfg, listen)
	if n := notices(t, base); len(n) != 2 || n[0].Acked || n[1].Acked {
		t.Fatalf("notices after a restart %+v, want both open", n)
	}
	mqtttest.WaitFor(t, "the uplink connected again", func() bool {
		return strings.Contains(metricsText(t, base), `hazardgw_mqtt_connects_total{broker="district"} 1`)
	})

	if code := ackNotice(t, base, "SQ-DISTRICT-1", "已处理"); code != 200 {
		t.Fatalf("ack: %d", code)
	}
	msgs := acks.WaitN(t, 1, 20*time.Second)
	var a struct{ ID, Site, By, Time, Comment string }
	if err := json.Unmarshal(msgs[0].Payload, &a); err != nil || a.ID != "SQ-DISTRICT-1" || a.Site != "TEST-01" ||
		a.By != "zhang" || a.Comment != "已处理" || a.Time == "" || msgs[0].Retained {
		t.Fatalf("ack message %s (%v)", msgs[0].Payload, err)
	}

	// The broker unreachable: the acknowledgement waits, across a restart.
	gt.SetOpen(false)
	gt.Kill()
	if code := ackNotice(t, base, "SQ-DISTRICT-4", "tanks at 40%"); code != 200 {
		t.Fatalf("ack while the broker is away: %d", code)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.output())
	}
	startHealthy(t, dir, cfg, listen)
	gt.SetOpen(true)
	msgs = acks.WaitN(t, 2, 20*time.Second)
	if err := json.Unmarshal(msgs[1].Payload, &a); err != nil || a.ID != "SQ-DISTRICT-4" || a.Comment != "tanks at 40%" {
		t.Fatalf("second ack message %s (%v)", msgs[1].Payload, err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d ack messages, want 2 (the first is not sent again)", len(msgs))
	}
	if n := notices(t, base); len(n) != 2 || !n[0].Acked || !n[1].Acked || n[0].AckedBy != "zhang" {
		t.Fatalf("notices after both acknowledgements %+v", n)
	}
}

// TestRunNoticesOff: with notices = false (the default) the site does not
// subscribe: a notice is neither shown nor counted, while a replay
// request published after it on the same connection is answered.
func TestRunNoticesOff(t *testing.T) {
	b := mqtttest.StartMochi(t)
	alarms := b.Subscribe(t, "hz/TEST-01/alarms", 1)
	dir, listen := t.TempDir(), testenv.FreeAddr(t)
	base := "http://" + listen
	startHealthy(t, dir, noticesConfig(t, dir, listen, b.URL, false), listen)
	alarms.WaitN(t, 1, 20*time.Second) // the hihi event: connected, subscribed
	before := len(alarms.Messages())

	pub := b.Publisher(t)
	for _, m := range []struct{ topic, payload string }{
		{"hz/TEST-01/notices", `{"id": "SQ-DISTRICT-1", "site": "TEST-01", "text": "检查", "by": "chen", "time": "2026-11-28T08:00:00.000Z"}`},
		{"hz/TEST-01/replay", `{"after": 0}`},
	} {
		if tok := pub.Publish(m.topic, 1, false, m.payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", m.topic, tok.Error())
		}
	}
	mqtttest.WaitFor(t, "the replay request taken", func() bool {
		return strings.Contains(metricsText(t, base), "hazardgw_mqtt_replay_requests_total 1")
	})
	alarms.WaitN(t, before+1, 20*time.Second) // and answered
	if n := notices(t, base); len(n) != 0 {
		t.Fatalf("notices with notices = false: %+v", n)
	}
	m := metricsText(t, base)
	for _, s := range []string{`hazardgw_mqtt_notices_total 0`, `hazardgw_mqtt_uplink_refused_total{kind="notice"} 0`} {
		if !strings.Contains(m, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
}

// TestDistrictNoticeRoundTrip: the site side against the real center
// (`gateway center`) through one broker: a commander's notice reaches the
// site's console, the operator acknowledges it, and the center shows it
// acknowledged.
func TestDistrictNoticeRoundTrip(t *testing.T) {
	b := mqtttest.StartMochi(t)
	dir, listen := t.TempDir(), testenv.FreeAddr(t)
	site := "http://" + listen
	startHealthy(t, dir, noticesConfig(t, dir, listen, b.URL, true), listen)

	const commander = "tok-district-commander-0123456789ab"
	cdir, clisten := t.TempDir(), testenv.FreeAddr(t)
	ccfg := writeFile(t, cdir, "center.toml", fmt.Sprintf(`
[center]
id = "RT-DISTRICT"
broker = "district"
sites = ["hz/+"]
notices = true
[console]
listen = %q
[[console.user]]
name = "chen"
role = "commander"
token = %q
[store]
dir = %q
[[broker]]
name = "district"
url = %q
`, clisten, commander, cdir+"/var", b.URL))
	cmd := exec.Command(binary, "center", "-config", ccfg)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("center exit: %v\n%s", err, out.String())
		}
	})
	cbase := "http://" + clisten
	testenv.WaitFor(t, 20*time.Second, "center connected", func() bool { return strings.Contains(out.String(), "center connected to the broker") })
	mqtttest.WaitFor(t, "the center knows the site", func() bool {
		var sites []struct{ Site string }
		getJSON(t, cbase+"/api/sites", &sites)
		return len(sites) == 1 && sites[0].Site == "TEST-01"
	})

	r, _ := http.NewRequest("POST", cbase+"/api/sites/TEST-01/notices", strings.NewReader(`{"text": "检查氨压缩机房"}`))
	r.Header.Set("Authorization", "Bearer "+commander)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	var sent struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if resp.StatusCode != 200 || sent.ID == "" {
		t.Fatalf("center notice: %d %+v", resp.StatusCode, sent)
	}
	mqtttest.WaitFor(t, "the notice on the site's console", func() bool {
		n := notices(t, site)
		return len(n) == 1 && n[0].ID == sent.ID && n[0].Text == "检查氨压缩机房" && n[0].By == "chen" && !n[0].Acked
	})
	if code := ackNotice(t, site, sent.ID, "风机已开"); code != 200 {
		t.Fatalf("site ack: %d", code)
	}
	mqtttest.WaitFor(t, "the center shows the acknowledgement", func() bool {
		var ns []struct {
			ID    string
			Acked bool
			Ack   struct{ By, Comment string }
		}
		getJSON(t, cbase+"/api/sites/TEST-01/notices", &ns)
		return len(ns) == 1 && ns[0].ID == sent.ID && ns[0].Acked && ns[0].Ack.By == "zhang" && ns[0].Ack.Comment == "风机已开"
	})
}
