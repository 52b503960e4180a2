package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"hazardgw/configs"
	"hazardgw/gateway/scenario"
	"hazardgw/gateway/sim"
)

// simulate runs the simulated plant of cfg until ctx ends; with a scenario
// it plays the scenario against the gateway at against and reports.
func simulate(ctx context.Context, cfg *configs.Config, scen, against, token string, stdout io.Writer, log *slog.Logger) error {
	log = log.With("component", "simulator")
	if scen != "" {
		if against == "" {
			return fmt.Errorf("-scenario needs -against ws://HOST:PORT/ws")
		}
		_, err := scenario.RunFile(ctx, scenario.FileOptions{Scenario: scen, Config: cfg.File,
			Against: against, Token: token, Out: stdout, Log: log})
		return err
	}
	plant, err := sim.New(cfg, sim.Options{Log: log})
	if err != nil {
		return err
	}
	log.Info("simulated plant running", "devices", len(cfg.Devices))
	return plant.Run(ctx)
}
