//go:build linux

package pty

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hazardgw/drivers/modbus/serial"
)

// Pair is a running socat that links two ptys at the paths A and B: what
// is written to one end is read at the other.
type Pair struct {
	A, B string
	cmd  *exec.Cmd
}

// Start runs socat with links at a and b and returns once both exist.
func Start(a, b string) (*Pair, error) {
	if _, err := exec.LookPath("socat"); err != nil {
		return nil, fmt.Errorf("socat is needed (apt-get install socat): %w", err)
	}
	cmd := exec.Command("socat", "-d", "-d", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start socat: %w", err)
	}
	// socat says "starting data transfer loop" once both ptys exist.
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "starting data transfer loop") {
				ready <- nil
				for sc.Scan() { // drain, so socat never blocks on stderr
				}
				return
			}
		}
		ready <- fmt.Errorf("socat ended before the ptys were ready: %s", strings.Join(lines, "; "))
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("socat: ptys not ready after 10s")
	}
	p := &Pair{A: a, B: b, cmd: cmd}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close ends socat.
func (p *Pair) Close() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// OpenRaw opens a pty end in raw 8-bit mode, non-blocking (so that a read
// deadline or Close ends a pending Read).
func OpenRaw(path string) (*os.File, error) {
	return serial.Open(path, serial.Raw)
}

// OpenKernel opens a kernel pseudo-terminal pair without socat: the master
// end as a file (the simulated device reads and writes it) and the path of
// the slave end (/dev/pts/N, what a serial driver opens). Nothing relays
// the bytes: the pair measures a serial driver's own time.
func OpenKernel() (master *os.File, slavePath string, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", err
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, "", fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, "", fmt.Errorf("pty number: %w", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n), nil
}
