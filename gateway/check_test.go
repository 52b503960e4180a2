package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// checkFixture runs check on testdata/check/name and fails the test unless
// it exits with code.
func checkFixture(t *testing.T, name string, code int) result {
	t.Helper()
	r := runCLI(t, "check", "-config", filepath.Join("testdata", "check", name))
	if r.code != code {
		t.Fatalf("check %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, r.code, code, r.stdout, r.stderr)
	}
	return r
}

var warningLine = regexp.MustCompile(`^[^:]+\.toml:\d+:\d+: [A-Za-z0-9_.\[\]]+: warning: .+$`)

// TestCheckWarnings: warnings print as FILE:LINE:COL: KEY.PATH: warning: …,
// exit 0; with -strict the same config exits 1 (SPEC §2).
func TestCheckWarnings(t *testing.T) {
	r := checkFixture(t, "warn.toml", 0) // warnings allowed
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var warns []string
	for _, l := range lines {
		if strings.Contains(l, "warning:") {
			if !warningLine.MatchString(l) {
				t.Errorf("warning not FILE:LINE:COL: KEY.PATH: warning: message: %q", l)
			}
			warns = append(warns, l)
		}
	}
	for _, want := range []string{"device[0].point[0].address: warning: 40001", "address = 0", "device[0].point[0].hi: warning:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no warning contains %q in\n%s", want, r.stdout)
		}
	}
	if len(warns) != 2 || !strings.HasSuffix(lines[len(lines)-1], "2 warnings") {
		t.Errorf("want 2 warnings and the summary last, got\n%s", r.stdout)
	}
	r = runCLI(t, "check", "-strict", "-config", filepath.Join("testdata", "check", "warn.toml"))
	if r.code != 1 || !strings.Contains(r.stderr, "-strict") {
		t.Fatalf("-strict: exit %d, want 1 naming -strict; stderr %q", r.code, r.stderr)
	}
}

// TestCheckRefusesWhatRunRefuses: values that once passed check and only
// failed when run started them are refused by check, positioned.
func TestCheckRefusesWhatRunRefuses(t *testing.T) {
	cfg := filepath.Join("testdata", "check", "run-refuses.toml")
	for _, args := range [][]string{{"check", "-config", cfg}, {"run", "-config", cfg}} {
		r := runCLI(t, args...)
		if r.code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s", args[0], r.code, r.stderr)
		}
		for _, want := range []string{"device[0].baud", "device[1].qos", "device[1].point[0].path", `did you mean "level"`} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: no error names %s:\n%s", args[0], want, r.stderr)
			}
		}
	}
}

// TestCheckCountsSelfMonitoring: the gateway's own device is part of the
// config check sees, as run runs it.
func TestCheckCountsSelfMonitoring(t *testing.T) {
	r := runCLI(t, "check", "-config", "../configs/testdata/minimal.good.toml")
	if r.code != 0 || !strings.Contains(r.stdout, "2 devices, 3 points") {
		t.Fatalf("exit %d, want the built-in device counted (2 devices, 3 points): %q %s", r.code, r.stdout, r.stderr)
	}
}
