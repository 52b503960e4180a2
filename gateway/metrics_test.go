package main

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMetrics reads /metrics of the real binary (#15 item 6): the build is
// named; labelled error counters exist at 0 before the first error; no
// influxdb_up without [store.influxdb]; no label value holds a space; the
// Modbus round-trip time is a histogram with its buckets.
func TestMetrics(t *testing.T) {
	site := newSimSite(t, 12.5)
	site.start(t)

	// Wait for a good poll: the histogram has an observation.
	var text string
	deadline := time.Now().Add(20 * time.Second)
	for {
		text = metricsText(t, site.base)
		if regexp.MustCompile(`(?m)^hazardgw_modbus_rtt_seconds_count\{device="GC-1"\} [1-9]`).MatchString(text) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Modbus round trip observed for GC-1; /metrics:\n%s", text)
		}
		time.Sleep(100 * time.Millisecond)
	}

	want := []string{
		`^hazardgw_build_info\{commit="[^"]+",goversion="go[^"]+",version="[^"]+"\} 1$`,
		// Pre-initialised: the simulated slave never answers with an
		// exception (a timeout may happen on a loaded machine: any value).
		`^hazardgw_modbus_requests_total\{device="GC-1",result="timeout"\} \d+$`,
		`^hazardgw_modbus_requests_total\{device="GC-1",result="exception"\} 0$`,
		`^hazardgw_store_samples_dropped_total\{reason="outbox_full"\} 0$`,
		`^hazardgw_store_lines_rejected_total\{cause="field_type_conflict"\} 0$`,
		`^# TYPE hazardgw_modbus_rtt_seconds histogram$`,
	}
	for _, le := range []string{"0.0025", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2.5", "\\+Inf"} {
		want = append(want, `^hazardgw_modbus_rtt_seconds_bucket\{device="GC-1",le="`+le+`"\} \d+$`)
	}
	for _, w := range want {
		if !regexp.MustCompile("(?m)" + w).MatchString(text) {
			t.Errorf("/metrics has no line matching %s", w)
		}
	}
	// Every metric the alert rules and the dashboard use is exported.
	for _, f := range []string{"../docs/monitoring/alerts.yml", "../docs/monitoring/hazardgw-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		names := regexp.MustCompile(`hazardgw_[a-z0-9_]+`).FindAllString(string(b), -1)
		if len(names) == 0 {
			t.Errorf("%s uses no hazardgw metric", f)
		}
		for _, n := range names {
			n = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
			if !strings.Contains(text, "# TYPE "+n+" ") {
				t.Errorf("%s uses %s, which /metrics does not export", f, n)
			}
		}
	}
	if strings.Contains(text, "influxdb_up") {
		t.Errorf("/metrics reports influxdb_up without [store.influxdb]")
	}
	spaced := regexp.MustCompile(`="[^"]* [^"]*"`)
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "hazardgw_") && spaced.MatchString(line) {
			t.Errorf("label value with a space: %s", line)
		}
	}
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}
