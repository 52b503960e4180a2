package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/console"
)

// journalOptions are the alarm journal's options from the config.
func journalOptions(cfg *configs.Config, log *slog.Logger) alarms.JournalOptions {
	max := int64(cfg.Store.JournalMaxBytes)
	return alarms.JournalOptions{Log: log, MaxBytes: max, Keep: time.Duration(cfg.Store.JournalKeep),
		// Retention removes whole segments: keep them small against the bound.
		SegmentBytes: min(16<<20, max/8)}
}

// journalTrouble reports whether the journal cannot write or was found
// damaged, or the operator records log was found damaged:
// _GW.JOURNAL holds and /api/health is degraded (until restart: damage
// found at open stays found).
func journalTrouble(h alarms.Health, r console.RecordsDamage) bool {
	return h.JournalErr != "" || h.JournalDamage != "" || r != (console.RecordsDamage{})
}

// registerRecords exports what the operator records log found damaged at
// open (console.Records logs each damage at ERROR).
func registerRecords(reg prometheus.Registerer, r *console.Records) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "hazardgw", Subsystem: "records",
		Name: "damaged_records_total", Help: "Operator records lost to damage (found when the records log was opened)."},
		func() float64 { return float64(r.Damage().Records) }))
}

// journalCmd is `gateway journal -config FILE [-after SEQ] [-verify]`: it
// prints the alarm journal's events after SEQ as JSON lines on stdout,
// reading the journal without changing it (a running gateway may own it),
// and reports damage on stderr. With -verify it exits 1 when anything is
// damaged.
func journalCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("journal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "gateway.toml", "config file")
	after := fs.Uint64("after", 0, "print events with seq greater than this")
	verify := fs.Bool("verify", false, "exit 1 when the journal is damaged")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway journal: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		printConfigErrors(stderr, *path, err)
		return 1
	}
	opts := journalOptions(cfg, slog.New(slog.NewTextHandler(stderr, nil)))
	opts.ReadOnly = true
	j, err := alarms.OpenJournal(filepath.Join(cfg.Store.Dir, "journal"), opts)
	if err != nil {
		fmt.Fprintln(stderr, "gateway journal:", err)
		return 1
	}
	defer j.Close()
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	from := *after
	for {
		evs, err := j.Events(from, 4096)
		if err != nil {
			w.Flush()
			fmt.Fprintln(stderr, "gateway journal:", err)
			return 1
		}
		if len(evs) == 0 {
			break
		}
		for i := range evs {
			if err := enc.Encode(&evs[i]); err != nil {
				fmt.Fprintln(stderr, "gateway journal:", err)
				return 1
			}
		}
		from = evs[len(evs)-1].Seq
	}
	w.Flush()
	d := j.Damage()
	fmt.Fprintf(stderr, "journal %s: seq %d..%d, next seq after %d, %d bytes\n",
		filepath.Join(cfg.Store.Dir, "journal"), j.First(), j.Last(), j.Floor(), j.Bytes())
	if d.Any() {
		fmt.Fprintln(stderr, d.String())
		if *verify {
			return 1
		}
	}
	return 0
}
