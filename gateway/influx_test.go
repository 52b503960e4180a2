package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hazardgw/drivers/modbus/modbustest"
	"hazardgw/internal/testenv"
	"hazardgw/store/influxtest"
)

// influxConfig is a gateway polling nPoints holding registers of the Modbus
// server at modbusAddr every interval, writing to the InfluxDB db.
func influxConfig(t testing.TB, dir, console, modbusAddr string, db *influxtest.Server, interval string, nPoints int) string {
	t.Helper()
	var b strings.Builder
	influxHead(&b, "INFLUX-01", console, dir, db, "")
	fmt.Fprintf(&b, `
[[device]]
id = "GC-1"
driver = "modbus"
address = %q
interval = %q
timeout = "500ms"
`, modbusAddr, interval)
	for i := range nPoints {
		fmt.Fprintf(&b, `
  [[device.point]]
  id = "P%02d"
  register = "holding"
  address = %d
  type = "uint16"
  range = [0.0, 1000.0]
  hi = 500.0
`, i, i)
	}
	return writeFile(t, dir, "gw.toml", b.String())
}

// influxHead writes the [site], [console] and [store] tables of a gateway
// with site id, its console at listen, its data under dir/var and its
// samples going to the InfluxDB db (with layout, when not "").
func influxHead(b *strings.Builder, id, listen, dir string, db *influxtest.Server, layout string) {
	fmt.Fprintf(b, `
[site]
id = %q

[console]
listen = %q

[store]
dir = %q

  [store.influxdb]
  url = %q
  token = "any"
  bucket = %q
  flush = "200ms"
`, id, listen, filepath.Join(dir, "var"), db.URL, db.Bucket)
	if layout != "" {
		fmt.Fprintf(b, "  layout = %q\n", layout)
	}
}

// queryCount is the count(...) that the InfluxQL query q answers, 0 when
// there are no rows.
func queryCount(t testing.TB, db *influxtest.Server, q string) int {
	t.Helper()
	rows := db.Query(t, q)
	if len(rows) == 0 || len(rows[0].Values) == 0 {
		return 0
	}
	n, _ := rows[0].Values[0][1].(json.Number).Int64()
	return int(n)
}

// TestSamplesAndAlarmsReachInfluxDB writes through the whole pipeline into a
// real influxd and reads the data back with InfluxQL and Flux.
func TestSamplesAndAlarmsReachInfluxDB(t *testing.T) {
	db := influxtest.Start(t)
	slave := modbustest.StartTCP(t)
	slave.Unit(1).SetHolding(0, 42, 600) // P00 = 42, P01 = 600 > hi
	dir := t.TempDir()
	console := testenv.FreeAddr(t)
	p := startHealthy(t, dir, influxConfig(t, dir, console, slave.Addr(), db, "100ms", 2), console)

	deadline := time.Now().Add(30 * time.Second)
	for db.Count(t, "sample", map[string]string{"point": "P00", "site": "INFLUX-01", "device": "GC-1"}) < 10 ||
		db.Count(t, "alarm_event", map[string]string{"point": "P01", "cond": "hi", "priority": "medium"}) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("samples or the P01:hi alarm event did not reach InfluxDB within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	rows := db.Query(t, `SELECT last(value), last(quality) FROM sample WHERE point = 'P00'`)
	if len(rows) != 1 || len(rows[0].Values) != 1 || fmt.Sprint(rows[0].Values[0][1]) != "42" || rows[0].Values[0][2] != "good" {
		t.Fatalf("P00 last sample: %+v", rows)
	}
	ev := db.Query(t, `SELECT seq, state, tier, stage, active, acked, value, "limit" FROM alarm_event WHERE point = 'P01'`)
	if len(ev) != 1 || len(ev[0].Values) < 1 {
		t.Fatalf("alarm_event rows: %+v", ev)
	}
	first := ev[0].Values[0]
	if first[2] != "unack" || fmt.Sprint(first[3]) != "1" || first[5] != true || fmt.Sprint(first[7]) != "600" || fmt.Sprint(first[8]) != "500" {
		t.Fatalf("first P01 alarm event: %v (columns %v)", first, ev[0].Columns)
	}
	csv := db.Flux(t, `from(bucket: "db/autogen") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "sample" and r.point == "P01" and r._field == "value") |> last()`)
	if !strings.Contains(csv, ",600,") {
		t.Fatalf("Flux read-back of P01 lacks 600:\n%s", csv)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestCleanShutdownUnderLoadLosesNothing polls 20 points every 20 ms while
// InfluxDB is down, shuts the gateway down with SIGTERM, starts InfluxDB and
// the gateway again, and checks that every sample the first run read is in
// InfluxDB with its original time stamp.
func TestCleanShutdownUnderLoadLosesNothing(t *testing.T) {
	db := influxtest.Start(t)
	slave := modbustest.StartTCP(t)
	for i := range 20 {
		slave.Unit(1).SetHolding(i, uint16(i))
	}
	dir := t.TempDir()
	console := testenv.FreeAddr(t)
	cfg := influxConfig(t, dir, console, slave.Addr(), db, "20ms", 20)
	db.Stop()

	p := startHealthy(t, dir, cfg, console)
	for slave.Unit(1).Reads() < 100 {
		time.Sleep(50 * time.Millisecond)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	stopped := time.Now()
	served := slave.Unit(1).Reads()
	slave.Stop() // the second run must not add samples of its own
	db.Start()

	p2 := startHealthy(t, dir, cfg, console)
	count := func(point string) int {
		q := fmt.Sprintf(`SELECT count(value) FROM sample WHERE point = '%s' AND time <= '%s'`, point, stopped.UTC().Format(time.RFC3339Nano))
		return queryCount(t, db, q)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Every read the slave answered is one sample per point; the read
		// in flight when SIGTERM arrived may have been answered by the
		// slave after the driver stopped listening.
		got := []int{count("P00"), count("P19")}
		if got[0] >= served-1 && got[1] >= served-1 {
			if got[0] > served || got[1] > served {
				t.Fatalf("more samples (%v) than reads served (%d)", got, served)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart InfluxDB holds %v samples of P00/P19 from the first run; the slave served %d reads", got, served)
		}
		time.Sleep(250 * time.Millisecond)
	}
	p2.stop(t, syscall.SIGTERM)
}

// TestKill9WhileInfluxDown: the gateway is SIGKILLed right after an alarm
// while InfluxDB is down; after a restart with InfluxDB back, the alarm
// event and the samples read before the kill are in InfluxDB.
func TestKill9WhileInfluxDown(t *testing.T) {
	db := influxtest.Start(t)
	slave := modbustest.StartTCP(t)
	slave.Unit(1).SetHolding(0, 42, 600) // P01 = 600 > hi 500
	dir := t.TempDir()
	console := testenv.FreeAddr(t)
	cfg := influxConfig(t, dir, console, slave.Addr(), db, "100ms", 2)
	db.Stop()

	base := "http://" + console
	p := startHealthy(t, dir, cfg, console)
	a := waitAlarm(t, p, base, "P01:hi", "unack", 15*time.Second)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.exited(t, 10*time.Second)
	killed := time.Now()

	db.Start()
	p2 := startHealthy(t, dir, cfg, console)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev := db.Query(t, `SELECT seq, state FROM alarm_event WHERE point = 'P01' AND cond = 'hi'`)
		if len(ev) == 1 && len(ev[0].Values) >= 1 && fmt.Sprint(ev[0].Values[0][1]) == fmt.Sprint(a.Seq) &&
			db.Count(t, "sample", map[string]string{"point": "P00"}) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after kill -9 and restart, InfluxDB lacks the P01:hi activation (seq %d) or the samples: %+v", a.Seq, ev)
		}
		time.Sleep(250 * time.Millisecond)
	}
	q := fmt.Sprintf(`SELECT count(value) FROM sample WHERE point = 'P00' AND time <= '%s'`, killed.UTC().Format(time.RFC3339Nano))
	if rows := db.Query(t, q); len(rows) == 0 {
		t.Error("no sample read before the kill reached InfluxDB")
	}
	p2.stop(t, syscall.SIGTERM)
}
