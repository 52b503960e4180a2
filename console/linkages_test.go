package console

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"hazardgw/alarms"
	"hazardgw/configs"
)

// linkSite is testConfig's site with two linkages on a modbus PLC: an auto
// exhaust fan on NH3-101:hihi and a manual feed valve.
func linkSite(t *testing.T) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse("links.toml", []byte(`
[site]
id = "SQ-TEST"
[[device]]
id = "PLC"
driver = "modbus"
address = "127.0.0.1:1502"
  [[device.point]]
  id = "NH3-101"
  register = "holding"
  address = 0
  type = "uint16"
  hihi = 60.0
[[linkage]]
id = "EXH-FAN-1"
when = ["NH3-101:hihi"]
device = "PLC"
register = "coil"
address = 10
[[linkage]]
id = "FEED-VALVE"
when = ["NH3-101:hihi"]
mode = "manual"
device = "PLC"
register = "coil"
address = 11
value = 0
release = 1
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// linkEnv serves a console over the real linkage runner of linkSite,
// whose writes the device always accepts. ID:linkage is not the console's
// business: no engine behind the runner.
func linkEnv(t *testing.T) (*env, *alarms.Linkages) {
	t.Helper()
	return linkEnvWith(t, testConfig(true))
}

// linkEnvWith is linkEnv with the console's own config cfg (votes and
// deviations are read from it).
func linkEnvWith(t *testing.T, cfg *configs.Config) (*env, *alarms.Linkages) {
	t.Helper()
	accept := func(ctx context.Context, device, register string, addr int, value uint16) error { return nil }
	l, err := alarms.NewLinkages(linkSite(t), t.TempDir(), accept, nil, alarms.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, cfg, Deps{Linkages: l}, Options{}) // New registers its Watch
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, l
}

func TestLinkagesAPI(t *testing.T) {
	e, _ := linkEnv(t)

	resp, body := e.get("/api/linkages", tokViewer)
	var vs []alarms.LinkView
	if resp.StatusCode != 200 || json.Unmarshal(body, &vs) != nil || len(vs) != 2 ||
		vs[0].ID != "EXH-FAN-1" || vs[0].State != alarms.LinkIdle || vs[1].Mode != "manual" {
		t.Fatalf("GET /api/linkages: %d %s", resp.StatusCode, body)
	}

	for _, c := range []struct {
		name, path, token string
		want              int
	}{
		{"viewer run", "/api/linkages/FEED-VALVE/run", tokViewer, http.StatusForbidden},
		{"operator run", "/api/linkages/FEED-VALVE/run", tokOperator, http.StatusForbidden},
		{"operator release", "/api/linkages/FEED-VALVE/release", tokOperator, http.StatusForbidden},
		{"unknown linkage", "/api/linkages/NOPE/run", tokCommander, http.StatusNotFound},
		{"unknown op", "/api/linkages/FEED-VALVE/start", tokCommander, http.StatusNotFound},
		{"auto linkage not pending", "/api/linkages/EXH-FAN-1/run", tokCommander, http.StatusConflict},
		{"release of a linkage not fired", "/api/linkages/FEED-VALVE/release", tokCommander, http.StatusConflict},
		{"malformed body", "/api/linkages/FEED-VALVE/run", tokCommander, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := `{"comment": "test"}`
			if c.want == http.StatusBadRequest {
				body = `{"comment": `
			}
			resp, b := e.req("POST", c.path, c.token, body)
			if resp.StatusCode != c.want {
				t.Errorf("%s: %d %s, want %d", c.path, resp.StatusCode, b, c.want)
			}
		})
	}
	if _, b := e.get("/api/linkages", tokViewer); json.Unmarshal(b, &vs) != nil || vs[1].State != alarms.LinkIdle {
		t.Errorf("refused commands changed a linkage: %s", b)
	}
}

// linkFrame is a server `linkage` frame.
type linkFrame struct {
	Type    string          `json:"type"`
	Linkage alarms.LinkView `json:"linkage"`
}

func TestLinkagesRunReleaseFrames(t *testing.T) {
	e, _ := linkEnv(t)
	watcher, _, snap := e.dial(tokViewer)
	var s struct {
		Linkages []alarms.LinkView `json:"linkages"`
	}
	if json.Unmarshal(snap.raw, &s) != nil || len(s.Linkages) != 2 || s.Linkages[1].ID != "FEED-VALVE" {
		t.Fatalf("snapshot.linkages: %s", snap.raw)
	}
	op, _, _ := e.dial(tokOperator)
	if r := op.do(map[string]any{"type": "run", "ref": 1, "linkage": "FEED-VALVE"}); r.OK || r.Error != "forbidden" {
		t.Errorf("operator run: %s, want forbidden", r.raw)
	}
	if r := op.do(map[string]any{"type": "release", "ref": 2, "linkage": "FEED-VALVE"}); r.OK || r.Error != "forbidden" {
		t.Errorf("operator release: %s, want forbidden", r.raw)
	}
	cmd, _, _ := e.dial(tokCommander)
	if r := cmd.do(map[string]any{"type": "run", "ref": 3}); r.OK {
		t.Errorf("run without linkage: %s, want an error", r.raw)
	}
	if r := cmd.do(map[string]any{"type": "run", "ref": 4, "linkage": "FEED-VALVE", "comment": "drill"}); !r.OK {
		t.Fatalf("commander run: %s", r.raw)
	}
	got := watcher.nextLinkage()
	if got.ID != "FEED-VALVE" || got.State != alarms.LinkConfirmed || got.By != "li" {
		t.Errorf("after run: %+v, want FEED-VALVE confirmed by li", got)
	}
	resp, b := e.req("POST", "/api/linkages/FEED-VALVE/release", tokCommander, `{"comment": "all clear"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("release: %d %s", resp.StatusCode, b)
	}
	got = watcher.nextLinkage()
	if got.State != alarms.LinkReleased || got.By != "li" {
		t.Errorf("after release: %+v, want released by li", got)
	}
	if _, b := e.get("/api/linkages", tokViewer); !json.Valid(b) {
		t.Fatalf("GET: %s", b)
	} else {
		var vs []alarms.LinkView
		_ = json.Unmarshal(b, &vs)
		if vs[1].State != alarms.LinkReleased {
			t.Errorf("GET after release: %s", b)
		}
	}
}

// nextLinkage reads until a linkage frame, skipping samples frames.
func (c *wsClient) nextLinkage() alarms.LinkView {
	c.t.Helper()
	f := c.next("linkage")
	var lf linkFrame
	if err := json.Unmarshal(f.raw, &lf); err != nil {
		c.t.Fatal(err)
	}
	return lf.Linkage
}
