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
// gateway keeps afterwards, and with the default GOGC=100 the collector
// would let the steady heap grow to twice the live heap. So:
//
//  1. debug.FreeOSMemory: collect and hand the start-up garbage back to the
//     OS now.
//  2. Unless GOGC or GOMEMLIMIT is set in the environment (the operator's
//     choice wins), size GOGC so that the heap grows by a fixed headroom
//     between collections instead of by the whole live heap:
//     gcPercent(live, roots). The goal moves with the live heap, so a heap
//     that grows while running (an outbox backlog in memory, many console
//     clients) keeps the same proportion and never makes the collector
//     run back to back, which a fixed memory limit would once the live
//     heap reached it.
//
// The cost is collector CPU: a collection per headroom allocated. The
// steady path allocates little (the per-poll sample batches, mostly), and
// the live heap is mostly pointer-free tables the mark phase skips
// (docs/PERFORMANCE.md has the figures).
//
// The local history is outside the Go heap (store.history_bytes, mapped
// memory) and not counted here.
func settleMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live := ms.HeapAlloc
	if v, w := os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"); v != "" || w != "" {
		log.Info("memory after start", "heap_live_mib", live>>20, "gogc", v, "gomemlimit", w)
		return
	}
	p := gcPercent(live, ms.StackInuse)
	debug.SetGCPercent(p)
	log.Info("memory after start", "heap_live_mib", live>>20, "gogc", p, "headroom_mib", headroom(live)>>20)
}

// headroom is how much the heap may grow past the live heap between two
// collections: a quarter of the live heap, at least minHeadroom (16 MiB).
func headroom(live uint64) uint64 { return max(minHeadroom, live/4) }

// minHeadroom keeps a small gateway from collecting constantly.
const minHeadroom = 16 << 20

// gcPercent is the GOGC that gives headroom(live): the runtime's heap goal
// is live + (live + stacks + globals) × GOGC/100 (globals are small and
// left out). Clamped to [10, 100]: never more than the runtime's default.
func gcPercent(live, stacks uint64) int {
	roots := max(live+stacks, 1)
	p := int(headroom(live) * 100 / roots)
	return min(max(p, 10), 100)
}
