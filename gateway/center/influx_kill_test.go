package center

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/internal/testenv"
	"hazardgw/store/influxtest"
)

// TestMain runs the killed center of TestInfluxCatchUpAfterKill when asked.
func TestMain(m *testing.M) {
	if dir := os.Getenv("CENTER_KILL_CHILD_DIR"); dir != "" {
		killChild(dir, os.Getenv("CENTER_KILL_CHILD_INFLUX"), os.Getenv("CENTER_KILL_CHILD_BUCKET"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// killEvents is how many events the killed center journals.
const killEvents = recentEvents + 44 // beyond the window: the catch-up reads the journal too

// influxConfig is the test center's config with [store.influxdb].
func influxConfig(dir, url, bucket string) (*configs.Config, error) {
	cfg, err := configs.Parse("center.toml", []byte(centerDoc("kill", []string{"tcp://127.0.0.1:1"}, dir, "")))
	if err != nil {
		return nil, err
	}
	cfg.Store.InfluxDB = &configs.InfluxDB{URL: url, Token: "any", Bucket: bucket, Batch: 5000,
		Flush: configs.Duration(100 * time.Millisecond), Layout: configs.LayoutPoint}
	return cfg, nil
}

// killChild is a center that journals killEvents events of SITE-K, whose
// InfluxDB store cannot open its outbox (the test made it a file): the
// events stay in the store's memory queue. It says so, then waits for its
// SIGKILL.
func killChild(dir, url, bucket string) {
	cfg, err := influxConfig(dir, url, bucket)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	c, err := New(cfg, Options{})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	if err := c.open(); err != nil {
		fmt.Println("error", err)
		return
	}
	c.mu.Lock()
	c.stCtx = context.Background()
	c.mu.Unlock()
	for seq := uint64(1); seq <= killEvents; seq++ {
		c.handle("hazard/SITE-K/alarms", eventJSON(nopTB{}, "SITE-K", seq), nil)
	}
	c.flush(false) // journaled and fsync'd
	fmt.Println("journaled", killEvents)
	select {}
}

// nopTB lets eventJSON run outside a test (it cannot fail on valid input).
type nopTB struct{ testing.TB }

func (nopTB) Helper()           {}
func (nopTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// TestInfluxCatchUpAfterKill: events the center journaled but its InfluxDB
// store had not put into its outbox when the center was killed (SIGKILL)
// reach InfluxDB after the restart: the store copies them from the center
// journal after its mark, and Run starts the stores at once, without
// waiting for the site's next event.
func TestInfluxCatchUpAfterKill(t *testing.T) {
	db := influxtest.Start(t)
	dir := t.TempDir()
	blocked := filepath.Join(dir, "influx", "SITE-K", "outbox")
	if err := os.MkdirAll(filepath.Dir(blocked), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocked, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CENTER_KILL_CHILD_DIR="+dir, "CENTER_KILL_CHILD_INFLUX="+db.URL, "CENTER_KILL_CHILD_BUCKET="+db.Bucket)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != fmt.Sprint("journaled ", killEvents) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child: %q %v", line, err)
	}
	_ = cmd.Process.Kill() // SIGKILL: the store's memory queue dies with it
	_ = cmd.Wait()
	if n := db.Count(t, "alarm_event", map[string]string{"site": "SITE-K"}); n != 0 {
		t.Fatalf("%d points in InfluxDB before the restart, want 0", n)
	}

	if err := os.Remove(blocked); err != nil {
		t.Fatal(err)
	}
	cfg, err := influxConfig(dir, db.URL, db.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runCenter(t, c)
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("%d alarm_event points of SITE-K in InfluxDB", killEvents), func() bool {
		return db.Count(t, "alarm_event", map[string]string{"site": "SITE-K"}) == killEvents
	})
}

// TestInfluxGapFilled: events that fill a gap (a replay, after later ones
// arrived) reach InfluxDB too: the store is fed in site seq order, and a
// store skips an event below one it already took.
func TestInfluxGapFilled(t *testing.T) {
	db := influxtest.Start(t)
	cfg, err := influxConfig(t.TempDir(), db.URL, db.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.stCtx = ctx
	c.mu.Unlock()
	defer func() {
		cancel()
		c.stWG.Wait()
		c.j.close()
	}()
	for _, seq := range []uint64{1, 2, 5, 6, 3, 4} { // 3 and 4 come with the replay
		c.handle("hazard/SITE-G/alarms", eventJSON(t, "SITE-G", seq), nil)
	}
	c.flush(false)
	testenv.WaitFor(t, 30*time.Second, "6 alarm_event points of SITE-G in InfluxDB", func() bool {
		return db.Count(t, "alarm_event", map[string]string{"site": "SITE-G"}) == 6
	})
}
