package scenario

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"hazardgw/configs"
	"hazardgw/gateway/sim"
)

// FileOptions are the inputs of `gateway simulate -scenario FILE`.
type FileOptions struct {
	Scenario string // scenario file
	Config   string // gateway config; empty: the scenario's own `config`
	Against  string // ws://HOST:PORT/ws of the gateway under test
	Token    string
	Out      io.Writer
	Log      *slog.Logger
}

// RunFile is `gateway simulate -config FILE -scenario FILE -against URL`:
// it loads the scenario and the config, checks that they agree, starts the
// simulated plant the config describes in this process (serving the
// gateway's device addresses), waits until it listens, runs the scenario
// against the gateway's console and stops the plant. The error is non-nil
// when anything failed; the report is filled as far as the run got.
func RunFile(ctx context.Context, o FileOptions) (Report, error) {
	sc, err := Load(o.Scenario)
	if err != nil {
		return Report{}, err
	}
	file := o.Config
	if file == "" {
		file = sc.Config
	}
	if file == "" {
		return Report{}, fmt.Errorf("%s: no config: give -config or the scenario's `config` key", o.Scenario)
	}
	cfg, err := configs.Load(file)
	if err != nil {
		return Report{}, err
	}
	if err := sc.Check(cfg); err != nil {
		return Report{}, err
	}
	plant, err := sim.New(cfg, sim.Options{Log: o.Log})
	if err != nil {
		return Report{}, fmt.Errorf("%s: %w", file, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- plant.Run(ctx) }()
	stop := func() error { cancel(); return <-done }
	select {
	case <-plant.Ready():
	case err := <-done:
		cancel()
		return Report{}, err
	case <-ctx.Done():
		return Report{}, stop()
	}
	rep, err := Run(ctx, sc, Options{Against: o.Against, Token: o.Token, Plant: plant, Out: o.Out, Log: o.Log})
	if perr := stop(); err == nil {
		err = perr
	}
	return rep, err
}

var _ Plant = (*sim.Plant)(nil)
