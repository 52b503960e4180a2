//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process of the district (a NATS node, the center, a
// site gateway) that can be killed, stopped, resumed and started again
// with the same command line. Its output is appended to one log file.
type Proc struct {
	Name string
	bin  string
	args []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

func newProc(name, log, bin string, args ...string) *Proc {
	return &Proc{Name: name, bin: bin, args: args, log: log}
}

// Start runs the process (again); a running process is left alone.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	defer f.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a ^C at the terminal reaches the district
	// program, which stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", p.Name, p.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// running returns the command and its done channel, or nil.
func (p *Proc) running() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// Alive reports whether the process runs (a stopped one counts).
func (p *Proc) Alive() bool {
	cmd, done := p.running()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// PID is the running process's id, 0 when there is none.
func (p *Proc) PID() int {
	if cmd, _ := p.running(); cmd != nil {
		return cmd.Process.Pid
	}
	return 0
}

// Kill sends SIGKILL (a crash: no goodbye to the broker) and waits.
func (p *Proc) Kill() { p.end(syscall.SIGKILL, 0) }

// Stop sends SIGTERM and waits up to within, then kills.
func (p *Proc) Stop(within time.Duration) { p.end(syscall.SIGTERM, within) }

func (p *Proc) end(sig syscall.Signal, within time.Duration) {
	cmd, done := p.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a stopped process cannot act on SIGTERM
	_ = cmd.Process.Signal(sig)
	if sig != syscall.SIGKILL {
		select {
		case <-done:
		case <-time.After(within):
			_ = cmd.Process.Kill()
		}
	}
	<-done
	p.mu.Lock()
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
}

// Signal sends sig (SIGSTOP, SIGCONT) to the running process.
func (p *Proc) Signal(sig syscall.Signal) error {
	cmd, _ := p.running()
	if cmd == nil {
		return fmt.Errorf("%s: not running", p.Name)
	}
	return cmd.Process.Signal(sig)
}

// Usage is a process's CPU time so far and resident memory now, from
// /proc (Linux).
type Usage struct {
	CPU time.Duration // user + system
	RSS int64         // bytes
}

// clockTick is USER_HZ, 100 on every Linux the district runs on.
const clockTick = 100

// Usage reads the running process's counters; zero when it is not running.
func (p *Proc) Usage() Usage {
	pid := p.PID()
	if pid == 0 {
		return Usage{}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}
	}
	// Fields after the command (which may hold spaces) closed by ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 22 {
		return Usage{}
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 utime
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15 stime
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	return Usage{CPU: time.Duration(ut+st) * time.Second / clockTick, RSS: rss * int64(os.Getpagesize())}
}

// lastLine is the last line of the process's log.
func (p *Proc) lastLine() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// portTaken reports whether the process's log says a port it was to
// listen on was taken.
func (p *Proc) portTaken() bool {
	b, _ := os.ReadFile(p.log)
	return strings.Contains(string(b), "address already in use")
}

// Listening ports are taken below the kernel's ephemeral range (32768
// and up on Linux: the outgoing connections of a hundred gateways take
// ports there, and could take one between our check and a child's
// listen). nextPort walks them from a point that depends on the process,
// so that two districts on one machine seldom meet.
var (
	portMu   sync.Mutex
	nextPort = 20000 + os.Getpid()%10000
)

// freePort returns a loopback TCP port below 32768 that nobody listens on.
func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 12768 {
		p := nextPort
		if nextPort++; nextPort >= 32768 {
			nextPort = 20000
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free loopback port in 20000-32767")
}

// waitOK polls url until it answers 200, p exits, or ctx ends.
func waitOK(ctx context.Context, p *Proc, url string) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p != nil && !p.Alive() {
			return fmt.Errorf("%s exited before %s answered: %q (log %s)", p.Name, url, p.lastLine(), p.log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200: %w", p.Name, url, ctx.Err())
		case <-tick.C:
		}
	}
}
