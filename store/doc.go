// Package store keeps what the alarm engine produces: it sends samples and
// alarm events to InfluxDB through a durable outbox on disk, and keeps a
// bounded local trend history per point for the console.
//
// # What it owns
//
//   - Store: the engine Output (Samples, Event), the outbox pump and the
//     InfluxDB sender, Health and metrics. See docs/STORE.md.
//   - Outbox: two on-disk queues (alarm events, samples), each a store/wal
//     log (segment header, CRC-framed records with a seq) under
//     store.dir/outbox with a durable read cursor. An entry leaves only
//     after InfluxDB answered 2xx. A damaged record loses only itself
//     (the reader resyncs; counted, logged, a gateway alarm through
//     Health.Condition); damaged alarm events are taken again from the
//     journal. An outbox of the previous format is converted once at open
//     (migrate.go).
//   - History: the last 24 h (store.history) per point, raw recent samples
//     and min/max buckets before them, all points together bounded by
//     store.history_bytes (one block allocated at start); without
//     InfluxDB saved to store.dir/history.bin (history_file.go) every 5
//     minutes and at the end of Run, and loaded at its start.
//   - Per-point tables packed, pointer-free (names.go): the History's
//     point slots, the store's device of every configured point (device
//     names interned), the outbox reader's dictionary (readDict).
//   - influxtest (subpackage): a real influxd 1.8.3 for tests.
//
// # Concurrency
//
//	engine ──Samples/Event (never block)──> memory queue ──pump goroutine──> Outbox ──sender goroutine──> InfluxDB
//	                                                          └──> History
//
// Samples and Event only push onto an alarms.Queue (samples bounded, the
// oldest batches dropped and counted; events never dropped; a one-slot
// wake-up). Run's goroutine (the pump) moves the queue to
// the outbox, events first, fsyncs every flush interval, keeps the marks
// (events.mark, events.written) and handles outbox damage (the sender
// signals it when Next meets some; Run takes the events again from the
// journal); a second
// goroutine (the sender) reads the outbox, events first, writes batches
// with the blocking write API and acknowledges them; records it reads right
// after they were written come from the outbox's in-memory tail (one ring
// allocated at open, about two flush intervals of samples at the
// configured rate, at most 4 MiB), not from disk. The Outbox is guarded
// by one mutex. Health, History and metrics may be called from any
// goroutine.
//
// Trends (trend.go) reads a point's trend back from InfluxDB for the
// console (either layout), so trends reach back past a restart; it holds no
// state and each call is one bounded HTTP request.
//
// # Shutdown
//
// When Run's context ends, it stops accepting (later Samples and Event calls
// are counted as dropped), writes everything still queued in memory to the
// outbox, cancels the sender (an unacknowledged batch stays in the outbox),
// fsyncs and closes the outbox, and returns. Without InfluxDB it moves
// the queue into the history and saves the history file instead. Give Run a context that ends
// after the engine has returned, so nothing is lost in between.
package store
