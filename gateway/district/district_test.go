//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazardgw/gateway/center/natstest"
)

// logWriter sends the district's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestDistrictFaults is the loopback district at a size CI holds: six
// real site gateways (built once, without -race: the gateway's own tests
// run it under the race detector) on a 3-node NATS cluster, one real
// center, and the incident's three faults — the center killed and
// restarted, the center's broker node killed and restarted, a site cut
// off from its broker and back — each lasting until the sites it holds
// back raised events. Then every site's events are at the center,
// continuous from seq 1 and equal to the site's own journal, none lost,
// each seen once on the district websocket in seq order.
func TestDistrictFaults(t *testing.T) {
	nats := natstest.Binary(t) // fails loudly when missing
	dir := t.TempDir()
	gw := filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", gw, "hazardgw/gateway")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build hazardgw/gateway: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := Start(ctx, Options{Sites: 6, Dir: dir, Gateway: gw, NATS: nats, Period: 12 * time.Second, Out: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		if t.Failed() {
			logs := []string{d.Center.log, d.Sites[Cut].log}
			for _, n := range d.Nodes {
				logs = append(logs, n.log)
			}
			for _, p := range logs {
				b, _ := os.ReadFile(p)
				t.Logf("%s (tail):\n%s", p, b[max(0, len(b)-3000):])
			}
		}
	})
	w := NewWatch(d.CenterURL)
	wctx, wstop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	t.Cleanup(func() { wstop(); <-done })

	if err := d.WaitFlowing(ctx, w, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Each fault lasts until the sites it holds back journaled atLeast
	// events (no fixed duration: about 2 s at a 12 s period).
	const atLeast = 2
	ws, err := Faults{MinEvents: atLeast}.Run(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	problems, compared, err := d.Verify(ctx, w, 2*time.Minute)
	for _, p := range problems {
		t.Error(p)
	}
	if err != nil {
		t.Fatal(err)
	}
	d.Measure(ws, w)
	for _, win := range ws {
		t.Log(win)
	}
	// Each fault happened during the incident: the sites it held back
	// raised events meanwhile, and they reached the websocket.
	for i, held := range []int{atLeast * len(d.Sites), atLeast * len(d.Sites) / 3, atLeast} {
		if ws[i].Held < held || ws[i].Delivered.IsZero() {
			t.Errorf("%s: %d events held back (want at least %d), delivered %v", ws[i].Name, ws[i].Held, held, ws[i].Delivered)
		}
	}
	if w.Conns() < 2 {
		t.Errorf("the websocket connected %d times: the center's restart went unseen", w.Conns())
	}
	t.Logf("%d events compared; websocket latency over the run %v", compared, LatencyOf(w.Arrivals(), time.Time{}, time.Now()))
}
