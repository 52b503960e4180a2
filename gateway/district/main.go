//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hazardgw/gateway/center/natstest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("district", flag.ContinueOnError)
	sites := fs.Int("sites", 100, "site gateways")
	dir := fs.String("dir", "", "working directory (default: a new one under $TMPDIR, kept)")
	gw := fs.String("gateway", "", "gateway binary (default: go build ./gateway into -dir)")
	period := fs.Duration("period", time.Minute, "slowest simulated gas head's sine period (alarms every half of it)")
	warmup := fs.Duration("warmup", 30*time.Second, "time after every site is up before measuring")
	steady := fs.Duration("steady", 2*time.Minute, "measurement window without faults")
	faults := fs.Bool("faults", true, "run the faults after the measurement and verify")
	centerDown := fs.Duration("center-down", 15*time.Second, "how long the center stays killed")
	nodeDown := fs.Duration("node-down", 30*time.Second, "how long the broker node stays killed")
	cut := fs.Duration("cut", time.Minute, "how long the site stays cut off")
	hold := fs.Bool("hold", false, "keep the district running after the report until SIGINT")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	say := func(format string, args ...any) {
		fmt.Fprintf(out, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "district-")
		if err != nil {
			say("district: %v", err)
			return 2
		}
		*dir = d
	}
	if *gw == "" {
		*gw = filepath.Join(*dir, "gateway")
		say("building the gateway into %s", *gw)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", *gw, "hazardgw/gateway")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			say("district: go build: %v (run it from the module's directory or give -gateway)", err)
			return 2
		}
	}
	nats, err := natstest.Path()
	if err != nil {
		say("district: %v", err)
		return 2
	}
	say("starting %d sites, 3 NATS nodes (%s) and a center under %s", *sites, nats, *dir)
	d, err := Start(ctx, Options{Sites: *sites, Dir: *dir, Gateway: *gw, NATS: nats, Period: *period, Out: out})
	if err != nil {
		say("district: %v", err)
		return 2
	}
	defer func() {
		say("stopping the district")
		d.Close()
	}()
	list := filepath.Join(*dir, "consoles.txt")
	var b strings.Builder
	fmt.Fprintf(&b, "center %s\n", d.CenterURL)
	for _, s := range d.Sites {
		fmt.Fprintf(&b, "%s %s %s\n", s.ID, s.Console, d.Nodes[s.Node].Name)
	}
	_ = os.WriteFile(list, []byte(b.String()), 0o644)
	say("district console %s; site consoles %s (%s) ... %s (%s); every console in %s",
		d.CenterURL, d.Sites[0].Console, d.Sites[0].ID, d.Sites[len(d.Sites)-1].Console, d.Sites[len(d.Sites)-1].ID, list)

	w := NewWatch(d.CenterURL)
	wctx, wstop := context.WithCancel(ctx)
	defer wstop()
	go w.Run(wctx)

	if err := sleep(ctx, *warmup); err != nil {
		return 2
	}
	if err := d.WaitFlowing(ctx, w, 5*time.Minute); err != nil {
		say("district: %v", err)
		return 2
	}
	say("measuring for %v", *steady)
	m0, sys0 := d.usage(), systemCPU()
	t0 := time.Now()
	if err := sleep(ctx, *steady); err != nil {
		return 2
	}
	m1, sys1 := d.usage(), systemCPU()
	t1 := time.Now()
	lat := LatencyOf(w.Arrivals(), t0, t1)
	secs := t1.Sub(t0).Seconds()
	n := float64(len(d.Sites))
	cpu := func(a, b Usage) float64 { return 100 * (b.CPU - a.CPU).Seconds() / secs }
	say("load: loadavg %s; the whole machine %.0f%% busy of %d cores", loadavg(), 100*(sys1.busy-sys0.busy)/(sys1.total-sys0.total), sys1.cores)
	say("site alarm → district websocket (live frames, %v): %v; %.1f events/s", t1.Sub(t0).Round(time.Second), lat, float64(lat.N)/secs)
	say("center: CPU %.1f%% of a core (%.3f%% per site), RSS %.0f MiB (%.2f MiB per site)",
		cpu(m0.center, m1.center), cpu(m0.center, m1.center)/n, mib(m1.center.RSS), mib(m1.center.RSS)/n)
	say("sites: CPU %.1f%% of a core in all (%.2f%% each), RSS %.0f MiB in all (%.1f MiB each)",
		cpu(m0.sites, m1.sites), cpu(m0.sites, m1.sites)/n, mib(m1.sites.RSS), mib(m1.sites.RSS)/n)
	say("NATS nodes: CPU %.1f%% of a core in all, RSS %.0f MiB in all", cpu(m0.nodes, m1.nodes), mib(m1.nodes.RSS))

	code := 0
	if *faults {
		f := Faults{CenterDown: *centerDown, NodeDown: *nodeDown, Cut: *cut, MinEvents: 1}
		ws, err := f.Run(ctx, d)
		if err != nil {
			say("district: faults: %v", err)
			return 2
		}
		say("verifying every site's events at the center")
		problems, compared, err := d.Verify(ctx, w, 5*time.Minute)
		d.Measure(ws, w)
		for _, win := range ws {
			say("%v", win)
		}
		for _, p := range problems {
			say("PROBLEM %s", p)
		}
		if err != nil {
			say("district: verify: %v", err)
			return 2
		}
		if len(problems) > 0 {
			code = 1
		}
		say("%d events compared with the sites' journals; %d problems; websocket reconnects %d", compared, len(problems), w.Conns()-1)
		tf := time.Now()
		say("site alarm → district websocket over the whole run (live frames): %v", LatencyOf(w.Arrivals(), t0, tf))
	}
	if *hold {
		say("holding the district until SIGINT")
		<-ctx.Done()
	}
	return code
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

type usages struct{ center, sites, nodes Usage }

// usage sums the processes' counters by kind.
func (d *District) usage() usages {
	var u usages
	add := func(to *Usage, p *Proc) {
		x := p.Usage()
		to.CPU += x.CPU
		to.RSS += x.RSS
	}
	add(&u.center, d.Center)
	for _, s := range d.Sites {
		add(&u.sites, s.Proc)
	}
	for _, n := range d.Nodes {
		add(&u.nodes, n.Proc)
	}
	return u
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

type sysCPU struct {
	busy, total float64
	cores       int
}

// systemCPU reads the machine's CPU counters (/proc/stat).
func systemCPU() sysCPU {
	b, _ := os.ReadFile("/proc/stat")
	var s sysCPU
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 5 && f[0] == "cpu":
			for i, v := range f[1:] {
				x, _ := strconv.ParseFloat(v, 64)
				s.total += x
				if i != 3 && i != 4 { // idle, iowait
					s.busy += x
				}
			}
		case len(f) > 0 && strings.HasPrefix(f[0], "cpu"):
			s.cores++
		}
	}
	return s
}
