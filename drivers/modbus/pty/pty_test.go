package pty

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestPairCarriesBytes writes at one end and reads at the other, both ways.
func TestPairCarriesBytes(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		if out, err := exec.Command("apt-get", "install", "-y", "socat").CombinedOutput(); err != nil {
			t.Fatalf("socat missing and not installable: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	p, err := Start(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, err := OpenRaw(p.A)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenRaw(p.B)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Bytes a terminal in cooked mode would change: CR, NL, ^C, ^S.
	msg := []byte{0x01, 0x03, '\r', '\n', 0x03, 0x13, 0xff}
	for _, dir := range []struct {
		w, r interface {
			io.ReadWriter
			SetReadDeadline(time.Time) error
		}
	}{{a, b}, {b, a}} {
		if _, err := dir.w.Write(msg); err != nil {
			t.Fatal(err)
		}
		dir.r.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(dir.r, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("got % x, want % x", got, msg)
		}
	}
}

// TestKernelPair carries bytes both ways through a kernel pty pair.
func TestKernelPair(t *testing.T) {
	m, path, err := OpenKernel()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := OpenRaw(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := []byte{0x01, 0x03, '\r', '\n', 0x03, 0xff}
	if _, err := s.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	m.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(m, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("master read % x, %v; want % x", got, err, msg)
	}
	if _, err := m.Write(msg); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("slave read % x, %v; want % x", got, err, msg)
	}
}
