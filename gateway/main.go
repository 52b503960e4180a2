// Command gateway is the hazard-source monitoring gateway (SPEC §2).
//
//	gateway run      -config FILE   run until SIGINT/SIGTERM
//	gateway check    -config FILE [-strict]   validate the config, print warnings and a summary
//	gateway probe    -config FILE [-device ID] read every point once (commissioning)
//	gateway simulate -config FILE   run only the simulated plant
//	gateway center   -config FILE   run a district console (SPEC §13)
//	gateway version                 print the version
//
// Exit codes: 0 success or clean shutdown; 1 invalid config or a failure to
// start, with one clear line on stderr (every error, one per line, for check).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"hazardgw/configs"
	"hazardgw/gateway/center"
)

const usage = `usage:
  gateway run      [-config FILE]   run the gateway until SIGINT/SIGTERM
  gateway check    [-config FILE] [-strict]
                                    validate the config without touching devices;
                                    -strict: a warning fails the check
  gateway probe    [-config FILE] [-device ID] [-wait 10s]
                                    read every point once and print value and raw
                                    registers or payload (no alarms, store or console)
  gateway simulate [-config FILE] [-scenario FILE -against ws://HOST:PORT/ws [-token T]]
                                    run the simulated plant (and optionally a scenario)
  gateway journal  [-config FILE] [-after SEQ] [-verify]
                                    print the alarm journal's events after SEQ as JSON
                                    lines (read-only) and report damage on stderr;
                                    -verify: exit 1 when the journal is damaged
  gateway center   [-config FILE]   run a district console ([center] config, SPEC §13)
  gateway version                   print the version
FILE defaults to gateway.toml. run -pprof 127.0.0.1:6060 serves /debug/pprof
(profiles for diagnosis; loopback addresses only).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// SIGHUP must not kill the process (it did: exit 129): `run` reloads
	// its config on it (SPEC §12, reload.go); the other commands ignore it.
	signal.Ignore(syscall.SIGHUP)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli runs one command and returns the process exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	if cmd == "journal" {
		return journalCmd(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("gateway "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "gateway.toml", "config file")
	strict := fs.Bool("strict", false, "check: a warning fails the check (exit 1)")
	device := fs.String("device", "", "probe: only this device")
	logFormat := fs.String("log-format", "text", "run, simulate: log format, text or json")
	logLevel := fs.String("log-level", "info", "run, simulate: debug, info, warn or error")
	wait := fs.Duration("wait", 10*time.Second, "probe: how long mqtt points wait for their first message")
	pprofAddr := fs.String("pprof", "", "run: serve net/http/pprof on this address (loopback only, e.g. 127.0.0.1:6060); empty: off")
	var scen, against, token *string
	if cmd == "simulate" {
		scen = fs.String("scenario", "", "scenario file to play against a running gateway")
		against = fs.String("against", "", "websocket URL of the gateway under test (ws://HOST:PORT/ws)")
		token = fs.String("token", "", "console token for -against")
	}
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, readBuildInfo())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run", "check", "simulate", "probe", "center":
	default:
		fmt.Fprintf(stderr, "gateway: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}

	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "gateway %s: %v\n", cmd, err)
		return 2
	}
	cfg, err := configs.Load(*config)
	if err != nil {
		printConfigErrors(stderr, *config, err)
		return 1
	}
	if (cfg.Center != nil) != (cmd == "center") && cmd != "check" {
		if cfg.Center != nil {
			fmt.Fprintf(stderr, "gateway %s: %s is a [center] config: run it with gateway center\n", cmd, *config)
		} else {
			fmt.Fprintf(stderr, "gateway center: %s has no [center] table\n", *config)
		}
		return 1
	}
	switch cmd {
	case "check":
		if cfg.Center != nil {
			return checkCenter(cfg, stdout, stderr)
		}
		return check(cfg, *strict, stdout, stderr)
	case "center":
		cfg.Warnings = nil
		err = runCenter(ctx, cfg, logger)
	case "probe":
		return probe(ctx, cfg, *device, *wait, stdout, stderr)
	case "simulate":
		err = simulate(ctx, cfg, *scen, *against, *token, stdout, logger)
	default:
		stopProf, perr := servePprof(*pprofAddr, logger)
		if perr != nil {
			fmt.Fprintf(stderr, "gateway %s: %v\n", cmd, perr)
			return 1
		}
		// check prints the warnings; a running gateway does not keep them
		// (one per point without an alarm: 24 MiB at 100,000 points).
		cfg.Warnings = nil
		err = run(ctx, cfg, logger)
		stopProf()
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// printConfigErrors writes every config error on its own line: positioned
// errors as FILE:LINE:COL: KEY.PATH: message; an unreadable file as one line.
func printConfigErrors(w io.Writer, file string, err error) {
	var list configs.Errors
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		fmt.Fprintf(w, "%s: cannot read config: %v\n", file, pe.Err)
		return
	}
	fmt.Fprintf(w, "%s: %v\n", file, err)
}

// newLogger builds the process's logger from -log-format and -log-level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// runCenter is `gateway center` (SPEC §13): the district console runs
// until ctx ends, then disconnects from the broker (its persistent session
// keeps what arrives meanwhile) and closes its journal.
func runCenter(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	c, err := center.New(cfg, center.Options{Log: log})
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// checkCenter is `gateway check` of a [center] config.
func checkCenter(cfg *configs.Config, stdout, stderr io.Writer) int {
	if _, err := center.New(cfg, center.Options{}); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cfg.File, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: center %s: %d site filters on broker %s (no devices, no points: the sites run them)\n",
		cfg.File, cfg.Center.ID, len(cfg.Center.Sites), cfg.Center.Broker)
	return 0
}
