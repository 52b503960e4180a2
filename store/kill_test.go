package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hazardgw/drivers"
)

// TestMain runs the kill -9 child when asked to (see TestKill9).
func TestMain(m *testing.M) {
	if dir := os.Getenv("STORE_KILL_CHILD_DIR"); dir != "" {
		killChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// killChild runs a store against an unreachable InfluxDB, feeding point K
// with values 0, 1, 2, ... and printing how many samples entered the outbox,
// until it is killed.
func killChild(dir string) {
	s, err := New(config(dir, "http://127.0.0.1:1", "db/autogen", 1<<30, "K"), Options{})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	go s.Run(context.Background())
	base := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	for i := 0; ; i += 10 {
		batch := make([]drivers.Sample, 10)
		for j := range batch {
			batch[j] = drivers.Sample{Point: "K", Value: float64(i + j), Time: base.Add(time.Duration(i+j) * time.Millisecond)}
		}
		s.Samples(batch)
		if i%1000 == 0 {
			fmt.Printf("accepted %d\n", int(counter(s.met.accepted)))
			time.Sleep(time.Millisecond) // pace the producer, ~1M samples/s at most
		}
	}
}

// TestKill9 kills a process running a store with SIGKILL while it writes
// the outbox: reopened, the outbox holds every sample the process reported
// as accepted, in order, without a gap.
func TestKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STORE_KILL_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	accepted := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "accepted" {
			accepted, _ = strconv.Atoi(f[1])
			if accepted >= 200_000 {
				break
			}
		} else {
			t.Fatalf("child: %s", sc.Text())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if accepted < 200_000 {
		t.Fatalf("child stopped after %d samples", accepted)
	}
	o := open(t, filepath.Join(dir, "outbox"), OutboxOptions{})
	defer o.Close()
	got, _ := drain(t, o, Samples, false)
	if len(got) < accepted {
		t.Fatalf("outbox holds %d samples, the process had accepted %d", len(got), accepted)
	}
	for i, e := range got {
		if e.Value != float64(i) || e.Point != "K" || e.Device != "DEV1" {
			t.Fatalf("sample %d is %+v: a gap or disorder", i, e)
		}
	}
	t.Logf("accepted %d before kill -9, %d in the reopened outbox (%d torn bytes cut)", accepted, len(got), o.Stats().Cut)
}
