package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hazardgw/internal/testenv"
)

// simConfig is a self-contained gateway: a simulated Modbus TCP gas
// controller on a free port whose NH3 head reads a constant nh3 ppm
// (hi 30, hihi 60), polled every 200 ms. extra follows the NH3 point: more
// points of GC-1, then any other tables.
func simConfig(t testing.TB, dir, console, modbusAddr string, nh3 float64, extra string) string {
	t.Helper()
	return writeFile(t, dir, "gw.toml", fmt.Sprintf(`
[site]
id = "TEST-01"
name = "Test plant"

[console]
listen = %q

[store]
dir = %q

[simulator]
enabled = true

%s%s%s`, console, filepath.Join(dir, "var"), simDevice("GC-1", modbusAddr),
		gasHead("NH3-101", "Compressor room NH3", 0, fmt.Sprintf("kind = \"constant\"\n    value = %g", nh3)), extra))
}

// simDevice is the [[device]] table of a simulated Modbus TCP controller at
// addr (unit 1), polled every 200 ms; its points follow.
func simDevice(id, addr string) string {
	return fmt.Sprintf(`
[[device]]
id = %q
driver = "modbus"
transport = "tcp"
address = %q
unit = 1
interval = "200ms"
timeout = "300ms"
`, id, addr)
}

// gasHead is a [[device.point]] table of a gas head in ppm at holding
// register addr (uint16, 0.1 ppm a count, range 0-1000, hi 30, hihi 60,
// deadband 2), named when name is not empty, simulated by sim (the lines
// of its [device.point.sim] table).
func gasHead(id, name string, addr int, sim string) string {
	if name != "" {
		name = fmt.Sprintf("\n  name = %q", name)
	}
	return fmt.Sprintf(`
  [[device.point]]
  id = %q%s
  unit = "ppm"
  register = "holding"
  address = %d
  type = "uint16"
  scale = 0.1
  range = [0.0, 1000.0]
  hi = 30.0
  hihi = 60.0
  deadband = 2.0
    [device.point.sim]
    %s
`, id, name, addr, sim)
}

// consoleUsers is one [[console.user]] table for each name, role and token
// given, in that order.
func consoleUsers(nameRoleToken ...string) string {
	var b strings.Builder
	for i := 0; i+2 < len(nameRoleToken); i += 3 {
		fmt.Fprintf(&b, "\n[[console.user]]\nname = %q\nrole = %q\ntoken = %q\n", nameRoleToken[i], nameRoleToken[i+1], nameRoleToken[i+2])
	}
	return b.String()
}

// simSite is a simConfig gateway in a temporary dir with nothing extra:
// its config file, its console's address and base URL.
type simSite struct {
	dir, cfg, console, base string
}

func newSimSite(t testing.TB, nh3 float64) simSite {
	t.Helper()
	dir := t.TempDir()
	console := testenv.FreeAddr(t)
	return simSite{dir: dir, console: console, base: "http://" + console,
		cfg: simConfig(t, dir, console, testenv.FreeAddr(t), nh3, "")}
}

// start runs the gateway (again) and waits until it is healthy.
func (s simSite) start(t testing.TB) *proc {
	t.Helper()
	return startHealthy(t, s.dir, s.cfg, s.console)
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

type alarmView struct {
	Seq       uint64  `json:"seq"`
	ID        string  `json:"id"`
	State     string  `json:"state"`
	Tier      int     `json:"tier"`
	Value     float64 `json:"value"`
	Activated string  `json:"activated"`
}

// waitAlarm polls /api/alarms until the alarm id is in state.
func waitAlarm(t testing.TB, p *proc, base, id, state string, within time.Duration) alarmView {
	t.Helper()
	deadline := time.Now().Add(within)
	var last []alarmView
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("gateway exited (code %d) while waiting for %s %s", p.code, id, state)
		default:
		}
		last = nil
		getJSON(t, base+"/api/alarms", &last)
		for _, a := range last {
			if a.ID == id && a.State == state {
				return a
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("alarm %s not %s within %v; alarms: %+v", id, state, within, last)
	return alarmView{}
}

func TestRunServesHealthAndStopsCleanly(t *testing.T) {
	site := newSimSite(t, 12.5)
	p := site.start(t)

	// The simulated head reads 12.5 ppm: a good value arrives at the console.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var pts []struct {
			Point   string  `json:"point"`
			Value   float64 `json:"value"`
			Quality string  `json:"quality"`
		}
		getJSON(t, site.base+"/api/points", &pts)
		ok := false
		for _, p := range pts {
			ok = ok || p.Point == "NH3-101" && p.Quality == "good" && p.Value > 12.4 && p.Value < 12.6
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no good 12.5 ppm sample; points: %+v", pts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var h struct {
		Status  string `json:"status"`
		Devices []struct {
			ID, State string
		} `json:"devices"`
		Store struct {
			InfluxDB string `json:"influxdb"`
		} `json:"store"`
	}
	getJSON(t, site.base+"/api/health", &h)
	if h.Status != "ok" || len(h.Devices) != 1 || h.Devices[0].State != "up" || h.Store.InfluxDB != "off" {
		t.Fatalf("health: %+v", h)
	}
	if !strings.Contains(p.output(), site.console) {
		t.Errorf("log does not say where the console listens (%s)", site.console)
	}
	if code := p.stop(t, os.Interrupt); code != 0 {
		t.Fatalf("exit code after SIGINT: %d", code)
	}
}

func TestRunPortInUse(t *testing.T) {
	dir := t.TempDir()
	busy := busyPort(t)
	cfg := simConfig(t, dir, busy, testenv.FreeAddr(t), 1, "")
	failsInOneLine(t, dir, cfg, busy, "in use")
}

func TestRunUnwritableDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := simConfig(t, dir, testenv.FreeAddr(t), testenv.FreeAddr(t), 1, "")
	// var exists as a file, so the data dir cannot be created (a
	// read-only directory would not stop root, which CI runs as).
	writeFile(t, dir, "var", "not a directory")
	failsInOneLine(t, dir, cfg, "data dir")
}

// busyPort is an address on which something listens until the test ends.
func busyPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// failsInOneLine starts the gateway on cfg and wants it to exit 1 with a
// single line of output holding each of says.
func failsInOneLine(t *testing.T, dir, cfg string, says ...string) {
	t.Helper()
	p := startGateway(t, dir, cfg)
	if code := p.exited(t, 20*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	out := strings.TrimSpace(p.output())
	if strings.Count(out, "\n") != 0 {
		t.Fatalf("want one line, got:\n%s", out)
	}
	for _, w := range says {
		if !strings.Contains(out, w) {
			t.Fatalf("want one line holding %q, got:\n%s", w, out)
		}
	}
}

func TestRunInvalidConfigStartsNothing(t *testing.T) {
	dir := t.TempDir()
	console := testenv.FreeAddr(t)
	cfg := simConfig(t, dir, console, testenv.FreeAddr(t), 1, "  hihi_typo = 1.0\n")
	r := runCLI(t, "run", "-config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "hihi_typo") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "var")); err == nil {
		t.Fatal("an invalid config created the data dir: something started")
	}
}

// TestAlarmStateSurvivesKill9: an unacknowledged alarm is still
// unacknowledged, with the same activation and seq, after SIGKILL.
func TestAlarmStateSurvivesKill9(t *testing.T) {
	site := newSimSite(t, 70)

	p := site.start(t)
	before := waitAlarm(t, p, site.base, "NH3-101:hihi", "unack", 15*time.Second)
	hi := waitAlarm(t, p, site.base, "NH3-101:hi", "unack", 5*time.Second)
	p.cmd.Process.Signal(syscall.SIGKILL)
	if code := p.exited(t, 10*time.Second); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want killed", code)
	}

	p2 := site.start(t)
	var alarms []alarmView
	getJSON(t, site.base+"/api/alarms", &alarms)
	got := map[string]alarmView{}
	for _, a := range alarms {
		got[a.ID] = a
	}
	for _, want := range []alarmView{before, hi} {
		a, ok := got[want.ID]
		if !ok || a.State != "unack" || a.Activated != want.Activated || a.Seq < want.Seq {
			t.Errorf("after kill -9: %s = %+v, want unack activated %s seq >= %d", want.ID, a, want.Activated, want.Seq)
		}
	}
	if code := p2.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d", code)
	}
}

// TestOutboxFullIsAnAlarm: with InfluxDB unreachable and a disk bound
// smaller than the alarm events waiting, the gateway raises its own alarm.
func TestOutboxFullIsAnAlarm(t *testing.T) {
	dir := t.TempDir()
	console := testenv.FreeAddr(t)
	cfg := simConfig(t, dir, console, testenv.FreeAddr(t), 70, fmt.Sprintf(`
[store.influxdb]
url = "http://%s"
token = "any"
bucket = "db/autogen"

[store.outbox]
max_bytes = "100B"
`, testenv.FreeAddr(t)))
	base := "http://" + console
	p := startHealthy(t, dir, cfg, console)
	a := waitAlarm(t, p, base, "_GW.OUTBOX:on", "unack", 20*time.Second)
	if a.Tier != 1 {
		t.Errorf("outbox alarm tier %d, want 1", a.Tier)
	}
	var h struct {
		Status string `json:"status"`
	}
	getJSON(t, base+"/api/health", &h)
	if h.Status != "degraded" {
		t.Errorf("health status %q with the outbox full, want degraded", h.Status)
	}
	p.stop(t, syscall.SIGTERM)
}

func TestRunEmbeddedBrokerPortInUse(t *testing.T) {
	dir := t.TempDir()
	busy := busyPort(t)
	cfg := simConfig(t, dir, testenv.FreeAddr(t), testenv.FreeAddr(t), 1, fmt.Sprintf(`
[[broker]]
name = "plant"
url = "embedded"
listen = %q
`, busy))
	failsInOneLine(t, dir, cfg, busy)
}
