package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the gateway built once for the process-level tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gateway")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gateway:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// result is what a finished gateway process left.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the binary to completion.
func runCLI(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// proc is a gateway started in the background.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

// startGateway starts `gateway run -config cfg` in dir.
func startGateway(t testing.TB, dir, cfg string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, "run", "-config", cfg), done: make(chan struct{})}
	p.cmd.Dir = dir
	r, w := io.Pipe()
	p.cmd.Stderr, p.cmd.Stdout = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		err := p.cmd.Wait()
		w.Close()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = -int(ws.Signal())
			}
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// logged reports whether the output holds want, waiting up to within for
// it (the output arrives through a pipe, after the HTTP answer that caused
// it may have).
func (p *proc) logged(want string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !strings.Contains(p.output(), want) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// stop sends sig and waits for the exit code.
func (p *proc) stop(t testing.TB, sig os.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.code
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not exit 30s after %v", sig)
		return 0
	}
}

// exited waits for the process to end on its own.
func (p *proc) exited(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		t.Fatalf("gateway still running after %v", within)
		return 0
	}
}

// startHealthy starts the gateway as startGateway does and waits until its
// console at listen answers /api/health.
func startHealthy(t testing.TB, dir, cfg, listen string) *proc {
	t.Helper()
	p := startGateway(t, dir, cfg)
	waitHTTP(t, p, "http://"+listen+"/api/health", 20*time.Second)
	return p
}

// waitHTTP polls url until it answers 200 or the deadline passes.
func waitHTTP(t testing.TB, p *proc, url string, within time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("gateway exited (code %d) before %s answered", p.code, url)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %v", url, within)
	return nil
}

var positioned = regexp.MustCompile(`^[^:]+\.toml:\d+:\d+: [A-Za-z0-9_.\[\]]+: .+$`)

func TestVersion(t *testing.T) {
	r := runCLI(t, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "gateway ") {
		t.Fatalf("version: code %d, stdout %q", r.code, r.stdout)
	}
}

func TestCheckExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("../configs/*.toml")
	if len(files) < 4 {
		t.Fatalf("want at least 4 example configs, found %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := runCLI(t, "check", "-config", f)
			if r.code != 0 {
				t.Fatalf("check %s: exit %d\n%s", f, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "devices") || !strings.Contains(r.stdout, "points") {
				t.Fatalf("summary lacks counts: %q", r.stdout)
			}
		})
	}
}

func TestCheckReportsEveryError(t *testing.T) {
	r := checkFixture(t, "errors.toml", 1)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	for _, want := range []string{"site.colour", "device[0].unit", "device[0].point[0].hihi", "device[0].point[1].id"} {
		found := false
		for _, l := range lines {
			if strings.Contains(l, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error names %s; got:\n%s", want, r.stderr)
		}
	}
	for _, l := range lines {
		if !positioned.MatchString(l) {
			t.Errorf("error line not FILE:LINE:COL: KEY.PATH: message: %q", l)
		}
	}
}

func TestCheckUnreadableFile(t *testing.T) {
	r := runCLI(t, "check", "-config", filepath.Join(t.TempDir(), "missing.toml"))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 || !strings.Contains(r.stderr, "missing.toml") {
		t.Fatalf("want one line naming the file, got %q", r.stderr)
	}
}
