package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set by the release script with -ldflags "-X main.version=v1.2.3";
// without it the module version from the build info is used (a `go install`
// of a tag), else "devel".
var version = ""

// commit is set by the release script (-X main.commit=...) for builds
// without VCS stamping (a source tarball, a git worktree).
var commit = ""

// buildInfo is what `gateway version` prints and hazardgw_build_info
// carries: the version, the VCS commit (with "-dirty" when the tree had
// changes) and the Go version, all from debug.ReadBuildInfo.
type buildInfo struct {
	Version, Commit, GoVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "devel"
		}
		return b
	}
	if b.Version == "" {
		b.Version = bi.Main.Version
		if b.Version == "" || b.Version == "(devel)" {
			b.Version = "devel"
		}
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if commit != "" {
				continue
			}
			b.Commit = s.Value
			if len(b.Commit) > 12 {
				b.Commit = b.Commit[:12]
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Commit != "unknown" {
		b.Commit += "-dirty"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("gateway %s (commit %s, %s, %s/%s)", b.Version, b.Commit, b.GoVersion, runtime.GOOS, runtime.GOARCH)
}

// register adds hazardgw_build_info{version,commit,goversion} 1.
func (b buildInfo) register(reg prometheus.Registerer) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "hazardgw_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion}})
	g.Set(1)
	reg.MustRegister(g)
}
