package main

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
)

// settleMemory runs once every component is built and running. Start-up
// (parsing and validating the config, building the engine, the console's
// point table, the Modbus plans) allocates several times the heap the
// gateway keeps afterwards: at 100,000 points the heap peaks at about
// 430 MiB and about 180 MiB of it is garbage the runtime would keep
// mapped, and the next GC target (2× the live heap with GOGC=100) would
// let the steady heap grow back to the peak. So:
//
//  1. debug.FreeOSMemory: collect and hand the start-up garbage back to the
//     OS now.
//  2. Unless GOMEMLIMIT is set in the environment (the operator's choice
//     wins), set a soft memory limit of the live heap after start plus
//     half of it (at least 64 MiB of headroom): the collector then runs
//     before the heap doubles. The live heap of a running gateway is the
//     config and the per-point tables, fixed after start, plus bounded
//     queues; the headroom covers them. A soft limit never fails an
//     allocation: above it the collector only runs more often (its CPU is
//     capped by the runtime at 50 %).
//
// The local history is outside the Go heap (store.history_bytes, mapped
// memory) and not counted in the limit.
func settleMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live := ms.HeapAlloc
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory after start", "heap_live_mib", live>>20, "gomemlimit", v)
		return
	}
	limit := memoryLimit(live)
	debug.SetMemoryLimit(int64(limit))
	log.Info("memory after start", "heap_live_mib", live>>20, "gomemlimit_mib", limit>>20)
}

// memoryLimit is the default soft memory limit for a live heap after start.
func memoryLimit(live uint64) uint64 {
	return live + max(64<<20, live/2)
}
