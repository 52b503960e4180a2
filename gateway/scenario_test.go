package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hazardgw/internal/testenv"
)

// scenarioSite copies configs/scenarios/site.toml into dir with every
// loopback port replaced by a free one, so scenarios run in parallel, and
// returns the config path and the console's websocket URL.
func scenarioSite(t *testing.T, dir string) (cfg, ws string) {
	t.Helper()
	b, err := os.ReadFile("../configs/scenarios/site.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	var console string
	for _, old := range []string{"127.0.0.1:8090", "127.0.0.1:18830", "127.0.0.1:15120", "127.0.0.1:15121"} {
		if !strings.Contains(s, old) {
			t.Fatalf("site.toml no longer uses %s: update this test", old)
		}
		p := testenv.FreeAddr(t)
		if old == "127.0.0.1:8090" {
			console = p
		}
		s = strings.ReplaceAll(s, old, p)
	}
	return writeFile(t, dir, "site.toml", s), "ws://" + console + "/ws"
}

// TestShippedScenarios plays every shipped commissioning scenario against
// the real binary: `gateway run` with the scenario site, and `gateway
// simulate -scenario` serving the plant and checking the alarms on the
// console's websocket, end to end (drivers → engine → store → console).
func TestShippedScenarios(t *testing.T) {
	files, _ := filepath.Glob("../configs/scenarios/*.scenario.toml")
	if len(files) < 5 {
		t.Fatalf("want at least 5 shipped scenarios, found %v", files)
	}
	for _, f := range files {
		f, _ := filepath.Abs(f)
		t.Run(strings.TrimSuffix(filepath.Base(f), ".scenario.toml"), func(t *testing.T) {
			t.Parallel()
			r := playScenario(t, f)
			if r.code != 0 {
				t.Fatalf("scenario failed (exit %d):\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "PASS") || strings.Contains(r.stdout, "FAIL") {
				t.Fatalf("scenario output lacks PASS or has FAIL:\n%s", r.stdout)
			}
			t.Logf("\n%s", r.stdout)
		})
	}
}

// TestScenarioWrongExpectationFails: a scenario expecting the wrong tier
// must make the command fail.
func TestScenarioWrongExpectationFails(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../configs/scenarios/fire-input.scenario.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "tier = 2", "tier = 1", 1)
	if s == string(b) {
		t.Fatal("fire-input scenario has no `tier = 2` to falsify")
	}
	f := writeFile(t, t.TempDir(), "wrong.scenario.toml", s)
	r := playScenario(t, f)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL") {
		t.Fatalf("wrong expectation: exit %d, want 1 with FAIL:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func playScenario(t *testing.T, scenario string) result {
	dir := t.TempDir()
	cfg, ws := scenarioSite(t, dir)
	p := startGateway(t, dir, cfg)
	waitHTTP(t, p, strings.Replace(strings.TrimSuffix(ws, "/ws"), "ws://", "http://", 1)+"/api/health", 30*time.Second)
	r := runCLI(t, "simulate", "-config", cfg, "-scenario", scenario, "-against", ws)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("gateway exit code after SIGTERM: %d", code)
	}
	return r
}
