package main

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
)

// TestCenterCommand: `gateway center` runs a [center] config until SIGTERM
// (exit 0); `run` refuses a center config and `center` a site config, each
// with one clear line (exit 1); `check` accepts a center config.
func TestCenterCommand(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "center.toml", fmt.Sprintf(`
[center]
id = "CLI-DISTRICT"
broker = "district"
sites = ["hazard/+"]
[console]
listen = "127.0.0.1:0"
[store]
dir = %q
[[broker]]
name = "district"
url = %q
`, dir+"/var", b.URL))
	if r := runCLI(t, "check", "-config", cfg); r.code != 0 || !strings.Contains(r.stdout, "center CLI-DISTRICT") {
		t.Errorf("check: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "run", "-config", cfg); r.code != 1 || !strings.Contains(r.stderr, "gateway center") {
		t.Errorf("run of a center config: %d %q", r.code, r.stderr)
	}
	site := writeFile(t, dir, "site.toml", "[site]\nid = \"S1\"\n")
	if r := runCLI(t, "center", "-config", site); r.code != 1 || !strings.Contains(r.stderr, "no [center]") {
		t.Errorf("center of a site config: %d %q", r.code, r.stderr)
	}

	cmd := exec.Command(binary, "center", "-config", cfg)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	testenv.WaitFor(t, 20*time.Second, "center connected", func() bool { return strings.Contains(out.String(), "center connected to the broker") })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("center exit: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("center did not stop on SIGTERM\n%s", out.String())
	}
}
