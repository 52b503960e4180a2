// Package influxtest runs a real InfluxDB 1.8.3 (influxd) on loopback for
// tests: Start builds the binary once if it is missing, writes a config with
// temporary directories and free ports, starts it, waits for /ping and
// creates the database "db". The server can be stopped and started again on
// the same port with the same data, to simulate an outage.
//
// influxd 1.8 takes about 5 s to start (it evaluates Flux's built-ins), so
// share a server between subtests where the test allows it. influxd reads
// INFLUXDB_* environment variables as overrides of the generated config
// (e.g. INFLUXDB_DATA_WAL_FSYNC_DELAY); the helper passes the environment
// through unchanged. Its log (level info) is in the server's temp dir and its
// tail is shown when it fails to start.
//
// # Concurrency
//
// A Server's methods may be called from any goroutine. Building influxd is
// protected by a file lock, so parallel test packages build it once.
//
// # Shutdown
//
// t.Cleanup stops the process (SIGTERM, then SIGKILL after 10 s) and the
// temporary directories are removed by the testing package.
package influxtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the InfluxDB release the helper builds when influxd is missing.
const Version = "v1.8.3"

// Server is one influxd process with its own directories and ports.
type Server struct {
	URL    string // http://127.0.0.1:PORT
	Bucket string // "db/autogen": the v2-compatible bucket of database db
	DB     string // "db"

	bin, dir, conf, logPath string
	t                       testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start builds (if needed) and starts influxd; it fails the test loudly when
// that is impossible. The server is stopped by t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("influxtest: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("influxtest: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string) (*Server, error) {
	dir := t.TempDir()
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	bindPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), Bucket: "db/autogen", DB: "db",
		bin: bin, dir: dir, conf: filepath.Join(dir, "influxdb.conf"), logPath: filepath.Join(dir, "influxd.log"), t: t,
	}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
  auth-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "info"
`, bindPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := s.launch(); err != nil {
		return nil, err
	}
	t.Cleanup(s.Stop)
	if _, err := s.influxQL("CREATE DATABASE db", true); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Binary returns the path of influxd, building it with `go install` (once,
// under a file lock) when it is neither in GOPATH/bin nor on PATH.
func Binary() (string, error) {
	if p, ok := lookBinary(); ok {
		return p, nil
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "influxtest-build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if p, ok := lookBinary(); ok {
		return p, nil
	}
	cmd := exec.Command("go", "install", "github.com/influxdata/influxdb/cmd/influxd@"+Version)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install influxd@%s: %w\n%s", Version, err, out)
	}
	if p, ok := lookBinary(); ok {
		return p, nil
	}
	return "", fmt.Errorf("influxd not found after go install")
}

func lookBinary() (string, bool) {
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			dirs = append(dirs, strings.TrimSpace(lines[0]))
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "influxd")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, true
	}
	return "", false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pingClient never reuses a connection to a stopped process.
var pingClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// launch starts the process and waits up to 30 s for /ping.
func (s *Server) launch() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "run", "-config", s.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start influxd: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("influxd exited at start: %s", s.logTail())
		default:
		}
		if resp, err := pingClient.Get(s.URL + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		select {
		case <-done:
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.Stop()
	return fmt.Errorf("influxd did not answer /ping within 30s: %s", s.logTail())
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop terminates influxd (SIGTERM, SIGKILL after 10 s) and waits until the
// process is gone and its port is free. Stopping a stopped server is a no-op.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Start runs influxd again on the same port with the same data.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		return
	}
	if err := s.launch(); err != nil {
		s.t.Fatalf("influxtest: restart: %v", err)
	}
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Write writes line protocol into database db through the 1.x /write
// endpoint (precision ns), failing the test on any non-2xx answer.
func (s *Server) Write(t testing.TB, lines string) {
	t.Helper()
	resp, err := http.Post(s.URL+"/write?db=db&precision=ns", "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatalf("influxtest: write: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("influxtest: write: %s: %s", resp.Status, b)
	}
}

// Series is one series of an InfluxQL answer.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL against database db and returns the series of its
// first statement; an error answer fails the test.
func (s *Server) Query(t testing.TB, q string) []Series {
	t.Helper()
	res, err := s.influxQL(q, false)
	if err != nil {
		t.Fatalf("influxtest: query %q: %v", q, err)
	}
	return res
}

func (s *Server) influxQL(q string, post bool) ([]Series, error) {
	v := url.Values{"db": {"db"}, "q": {q}, "epoch": {"ns"}}
	var resp *http.Response
	var err error
	if post {
		resp, err = http.PostForm(s.URL+"/query", v)
	} else {
		resp, err = http.Get(s.URL + "/query?" + v.Encode())
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var r struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", body, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	if len(r.Results) == 0 {
		return nil, nil
	}
	if r.Results[0].Error != "" {
		return nil, fmt.Errorf("%s", r.Results[0].Error)
	}
	return r.Results[0].Series, nil
}

// Count returns how many points of measurement match tags (all given tags
// equal), as the largest count(*) over its fields, so a field absent from
// some points (e.g. a NaN value) does not hide them.
func (s *Server) Count(t testing.TB, measurement string, tags map[string]string) int {
	t.Helper()
	q := fmt.Sprintf("SELECT count(*) FROM %q", measurement)
	if len(tags) > 0 {
		keys := make([]string, 0, len(tags))
		for k := range tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var conds []string
		for _, k := range keys {
			conds = append(conds, fmt.Sprintf("%q = '%s'", k, strings.ReplaceAll(tags[k], "'", `\'`)))
		}
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	max := 0
	for _, se := range s.Query(t, q) {
		for _, row := range se.Values {
			for i, v := range row {
				if i == 0 {
					continue // time
				}
				if n, ok := v.(json.Number); ok {
					if x, err := n.Int64(); err == nil && int(x) > max {
						max = int(x)
					}
				}
			}
		}
	}
	return max
}

// Flux runs a Flux query through /api/v2/query and returns the annotated
// CSV answer.
func (s *Server) Flux(t testing.TB, q string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "type": "flux"})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v2/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("influxtest: flux: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("influxtest: flux: %s: %s", resp.Status, b)
	}
	return string(b)
}

// Exec runs an InfluxQL statement that changes state (CREATE, DROP, ...)
// with POST, failing the test on an error.
func (s *Server) Exec(t testing.TB, stmt string) {
	t.Helper()
	if _, err := s.influxQL(stmt, true); err != nil {
		t.Fatalf("influxtest: %q: %v", stmt, err)
	}
}
