package center

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"hazardgw/drivers/mqtt/mqtttest"
)

type wsFrame struct {
	Type    string          `json:"type"`
	Seq     uint64          `json:"seq"`
	Site    string          `json:"site"`
	Role    string          `json:"role"`
	User    string          `json:"user"`
	Center  string          `json:"center"`
	OK      bool            `json:"ok"`
	Error   string          `json:"error"`
	Alarm   json.RawMessage `json:"alarm"`
	Summary *Summary        `json:"summary"`
	Sites   []Summary       `json:"sites"`
}

func dialWS(t *testing.T, c *testCenter, token string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(c.srv.URL, "http") + "/ws?token=" + token
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial ws: %v (%d)", err, code)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// next reads frames until one of type typ arrives (others are skipped).
func next(t *testing.T, conn *websocket.Conn, typ string) wsFrame {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var f wsFrame
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for a %s frame: %v", typ, err)
		}
		if f.Type == typ {
			return f
		}
	}
}

// TestWebsocket: hello and snapshot first, then site and alarm frames (with
// site and the center seq); a client that comes back resumes from its
// last seq and gets what it missed, in order; a wrong token gets 401.
func TestWebsocket(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	urls := []string{b.URL}
	c := startCenter(t, centerConfig(t, urls, t.TempDir(), ""))
	site := newTestSite(t, urls, "SITE-W")
	site.raise(1)
	c.waitSeqs(t, "SITE-W", 1)

	conn := dialWS(t, c, "viewer-token-0123456789")
	hello := next(t, conn, "hello")
	if hello.Role != "viewer" || hello.User != "li" || hello.Center != "DISTRICT" || hello.Seq != 1 {
		t.Errorf("hello %+v", hello)
	}
	snap := next(t, conn, "snapshot")
	if len(snap.Sites) != 1 || snap.Sites[0].Site != "SITE-W" || snap.Sites[0].Seq != 1 {
		t.Errorf("snapshot %+v", snap.Sites)
	}
	site.raise(1)
	a := next(t, conn, "alarm")
	var ev struct {
		Seq  uint64 `json:"seq"`
		Site string `json:"site"`
	}
	_ = json.Unmarshal(a.Alarm, &ev)
	if a.Site != "SITE-W" || a.Seq != 2 || ev.Seq != 2 || ev.Site != "SITE-W" {
		t.Errorf("alarm frame %+v (event %+v)", a, ev)
	}
	s := next(t, conn, "site")
	if s.Summary == nil || s.Summary.Seq != 2 || s.Summary.Events != 2 {
		t.Errorf("site frame %+v", s.Summary)
	}
	conn.Close()

	site.raise(2)
	c.waitSeqs(t, "SITE-W", 4)
	conn = dialWS(t, c, "viewer-token-0123456789")
	next(t, conn, "snapshot")
	if err := conn.WriteJSON(map[string]any{"type": "resume", "ref": "r1", "seq": a.Seq}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{3, 4} {
		if f := next(t, conn, "alarm"); f.Seq != want {
			t.Errorf("resumed alarm seq %d, want %d", f.Seq, want)
		}
	}
	if r := next(t, conn, "result"); !r.OK {
		t.Errorf("resume result %+v", r)
	}
	if err := conn.WriteJSON(map[string]any{"type": "ack", "ref": "r2", "alarm": "P1:hi"}); err != nil {
		t.Fatal(err)
	}
	if r := next(t, conn, "result"); r.OK || r.Error == "" {
		t.Errorf("ack at the center: %+v, want refused with a reason", r)
	}

	url := "ws" + strings.TrimPrefix(c.srv.URL, "http") + "/ws?token=wrong"
	if _, resp, err := websocket.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %v, want 401", err)
	}
	// The Host check (SPEC §8).
	req, _ := http.NewRequest("GET", c.srv.URL+"/api/sites", nil)
	req.Host = "evil.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host: %d, want 403", resp.StatusCode)
	}
}
