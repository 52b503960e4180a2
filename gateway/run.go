package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/console"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus"
	"hazardgw/drivers/mqtt"
	"hazardgw/gateway/outputs"
	"hazardgw/gateway/sim"
	"hazardgw/store"
)

// run wires the gateway and runs it until ctx ends (SIGINT/SIGTERM).
//
// Pipeline and shutdown order:
//
//	drivers (modbus buses, mqtt subscribers, simulator)
//	   │ engine.Sink(): blocking, never drops
//	   ▼
//	alarms.Engine ── journal (fsync) ──► outputs, each with its own queue:
//	   ▲                                  store (outbox → InfluxDB / local history)
//	   │                                  uplink and notify targets (gateway/outputs)
//	   │                                  console (websocket hub, HTTP API)
//	   │ engine.Do (raise/clear ID:linkage)  linkages (alarms.Linkages)
//	   └──────────────────────────────────── │ modbus WriteRegister: ahead of
//	                                          ▼ the polls on its bus
//	                                         coils / holding registers
//
//	The MQTT connections (mqtt.Conns) serve both ends: the subscribers
//	read through them, the uplink and notify targets publish on them.
//
//	0. ctx ends: the linkages' context is cancelled first and their runner
//	   returns: writes under way are abandoned unjournaled (a fired linkage
//	   is written again at the next start), so that neither a stopping bus
//	   fails a write nor a raise of ID:linkage reaches a draining engine.
//	1. the drivers' context is cancelled; wait for every driver
//	   (the current poll finishes and is delivered).
//	2. engine.CloseInput(): the engine evaluates what is queued, journals
//	   and emits the last events, and returns.
//	3. the outputs' context is cancelled: the store writes its queue to the
//	   outbox on disk and fsyncs; the uplink publishes pending alarm events
//	   and its offline status; the console closes every websocket with a
//	   close frame.
//	4. the MQTT connections' context is cancelled: clients disconnect, the
//	   embedded brokers stop.
//
// A component that fails at start (port in use, unwritable data dir) stops
// the others in the same order and run returns its error (exit 1).
func run(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	log = log.With("site", cfg.Site.ID)
	build := readBuildInfo()

	if err := writableDir(cfg.Store.Dir); err != nil {
		return err
	}
	// Listen before anything starts, so a port in use is one line, exit 1.
	ln, err := net.Listen("tcp", cfg.Console.Listen)
	if err != nil {
		return fmt.Errorf("console: cannot listen on %s: %w", cfg.Console.Listen, unwrapOp(err))
	}
	defer ln.Close()

	devices := len(cfg.Devices)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build.register(reg)

	journal, err := alarms.OpenJournal(filepath.Join(cfg.Store.Dir, "journal"), journalOptions(cfg, log))
	if err != nil {
		return fmt.Errorf("alarm journal in %s: %w", cfg.Store.Dir, err)
	}
	defer journal.Close()
	records, err := console.OpenRecords(filepath.Join(cfg.Store.Dir, "records"), console.RecordsOptions{Log: log.With("component", "records")})
	if err != nil {
		return fmt.Errorf("operator records in %s: %w", cfg.Store.Dir, err)
	}
	defer records.Close()
	registerRecords(reg, records)
	engine, err := alarms.New(cfg, journal, alarms.Options{Log: log, Registerer: reg})
	if err != nil {
		return err
	}
	st, err := store.New(cfg, store.Options{Log: log, Registerer: reg, Journal: engine})
	if err != nil {
		return err
	}
	bus, err := modbus.New(cfg, modbus.Options{Log: log.With("component", "modbus"), Registerer: reg})
	if err != nil {
		return err
	}
	mq, err := mqtt.New(cfg, mqtt.Options{Log: log.With("component", "mqtt"), Registerer: reg,
		Wills: outputs.Wills(cfg, time.Now())})
	if err != nil {
		return err
	}
	// Notices from the district (SPEC §13) live in the records log.
	var notices *console.Notices
	if cfg.Uplink != nil && cfg.Uplink.Notices {
		notices = console.OpenNotices(records, cfg.Site.ID)
	}
	outs, err := outputs.New(cfg, mq, outputs.Options{Log: log.With("component", "mqtt"), Registerer: reg, Events: engine,
		Notices: noticesFor(notices)})
	if err != nil {
		return err
	}
	// Retention by journal_keep keeps what the slowest durable consumer
	// (the store's outbox mark, the uplink and notify cursors) has not
	// taken yet.
	journal.SetConsumed(consumedBy(st.EventsMark, outs.Consumed))
	// Linkage outputs (SPEC §11) write through the modbus buses and raise
	// ID:linkage through the engine.
	links, err := alarms.NewLinkages(cfg, cfg.Store.Dir, bus.WriteRegister, engine.Do,
		alarms.LinkOptions{Log: log.With("component", "linkages")})
	if err != nil {
		return err
	}
	var plant *sim.Plant
	if cfg.Simulator != nil && cfg.Simulator.Enabled {
		if plant, err = sim.New(cfg, sim.Options{Log: log.With("component", "simulator")}); err != nil {
			return err
		}
	}
	trends, err := store.NewTrends(cfg) // in the writer's layout (SPEC §9)
	if err != nil {
		return err
	}
	// Reload (SPEC §12): SIGHUP and POST /api/reload, one at a time.
	rl := &reloader{file: cfg.File, log: log.With("component", "reload"), engine: engine, bus: bus, running: runningOf(cfg)}
	con, err := console.New(cfg, console.Deps{
		Engine: engine,
		Reload: rl.reload,
		Devices: func() []drivers.Health {
			return append(bus.Health(), mq.DeviceHealth()...)
		},
		Store: func() console.StoreHealth {
			h := st.Health()
			return console.StoreHealth{InfluxDB: h.InfluxDB, OutboxBytes: h.OutboxBytes,
				OutboxSamples: h.OutboxSamples,
				Down:          h.Condition() != "" || journalTrouble(engine.Health(), records.Damage())}
		},
		History: func(ctx context.Context, p drivers.PointID, from, to time.Time) ([]drivers.Sample, error) {
			// InfluxDB first (it reaches back past a restart), the local
			// history when InfluxDB is off, down or has nothing yet.
			if trends != nil {
				if ss, err := trends.History(ctx, p, from, to); err == nil && len(ss) > 0 {
					return ss, nil
				}
			}
			var out []drivers.Sample
			for _, s := range st.History(p, from) {
				if !s.Time.After(to) {
					out = append(out, s)
				}
			}
			return out, nil
		},
		Linkages: links,
		Records:  records,
		Notices:  notices,
		Registry: reg,
		Log:      log.With("component", "console"),
	}, console.Options{})
	if err != nil {
		return err
	}
	rl.con = con

	reg.MustRegister(newQueueCollector(engine.Input, pipelineQueues(st, con, outs)...)) // queues.go

	// Embedded brokers listen before anything runs: a port in use is one
	// line, exit 1, like the console's.
	if err := mq.StartBrokers(); err != nil {
		return err
	}

	engine.Subscribe(st)
	for _, o := range outs.Outputs() {
		engine.Subscribe(o)
	}
	engine.Subscribe(con)
	engine.Subscribe(links)

	var (
		failMu              sync.Mutex
		failErr             error
		inCtx, stopInputs   = context.WithCancel(ctx)
		outCtx, stopOutputs = context.WithCancel(context.Background())
		mqCtx, stopMQTT     = context.WithCancel(context.Background())
	)
	defer stopInputs()
	defer stopOutputs()
	defer stopMQTT()
	// fail records the first error of a component and starts the shutdown.
	fail := func(what string, err error) {
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		failMu.Lock()
		if failErr == nil {
			failErr = fmt.Errorf("%s: %w", what, err)
		}
		failMu.Unlock()
		stopInputs()
	}

	// The connections and the outputs start first so nothing the engine
	// emits waits for them.
	mqDone := make(chan struct{})
	go func() { defer close(mqDone); fail("mqtt", mq.Run(mqCtx)) }()
	var running errgroup.Group
	running.Go(func() error { fail("store", st.Run(outCtx)); return nil })
	running.Go(func() error { fail("mqtt", outs.Run(outCtx)); return nil })
	running.Go(func() error {
		fail("console", con.Serve(outCtx, ln)) // TLS inside when cert and key are set
		return nil
	})

	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		fail("alarm engine", engine.Run(context.Background()))
	}()

	// The drivers and the linkages get their own contexts, cancelled in
	// shutdown order once inCtx ends.
	linkCtx, stopLinks := context.WithCancel(context.Background())
	defer stopLinks()
	drvCtx, stopDrivers := context.WithCancel(context.Background())
	defer stopDrivers()
	linksDone := make(chan struct{})
	go func() { defer close(linksDone); fail("linkages", links.Run(linkCtx)) }()

	var inputs errgroup.Group
	sink := engine.Sink()
	inputs.Go(func() error { fail("modbus", bus.Run(drvCtx, sink)); return nil })
	for _, r := range mq.Runners(sink, log.With("component", "mqtt")) {
		inputs.Go(func() error { fail("mqtt "+r.ID, r.Run(drvCtx)); return nil })
	}
	inputs.Go(func() error {
		return selfMonitor(drvCtx, sink, map[drivers.PointID]func() bool{
			configs.SelfOutbox:  func() bool { return st.Health().Condition() != "" },
			configs.SelfJournal: func() bool { return journalTrouble(engine.Health(), records.Damage()) },
		})
	})
	if plant != nil {
		inputs.Go(func() error { fail("simulator", plant.Run(drvCtx)); return nil })
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				rl.reload(inCtx)
			case <-inCtx.Done():
				return
			}
		}
	}()

	scheme := "http"
	if cfg.Console.Cert != "" {
		scheme = "https"
	}
	log.Info("gateway running", "version", build.Version, "commit", build.Commit, "console", scheme+"://"+ln.Addr().String(),
		"devices", devices, "data", cfg.Store.Dir)
	settleMemory(log) // start-up garbage back to the OS, a heap limit (memory.go)

	<-inCtx.Done()
	log.Info("shutting down: linkages")
	stopLinks()
	<-linksDone
	log.Info("shutting down: drivers")
	stopDrivers()
	_ = inputs.Wait()
	log.Info("shutting down: alarm engine drain")
	engine.CloseInput()
	<-engineDone
	log.Info("shutting down: store, mqtt, console")
	stopOutputs()
	_ = running.Wait()
	stopMQTT()
	<-mqDone
	failMu.Lock()
	defer failMu.Unlock()
	if failErr == nil {
		log.Info("stopped cleanly")
	}
	return failErr
}

// writableDir creates dir if needed and proves it can be written.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data dir %s: cannot create: %w", dir, unwrapOp(err))
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data dir %s: not writable: %w", dir, unwrapOp(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// unwrapOp drops the *PathError / *OpError wrapping whose text repeats what
// the caller's message already says.
func unwrapOp(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
}

// consumedBy returns the seq every consumer has durably taken: the lowest
// of the marks that apply (ok), all of them when none does.
func consumedBy(marks ...func() (uint64, bool)) func() uint64 {
	return func() uint64 {
		low := uint64(math.MaxUint64)
		for _, m := range marks {
			if seq, ok := m(); ok && seq < low {
				low = seq
			}
		}
		return low
	}
}
