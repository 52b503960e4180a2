// Package alarms is the alarm engine: it turns samples into ISA-18.2 alarm
// events (SPEC §5, §6), journals them durably, and answers operator
// commands.
//
// # What it owns
//
//   - Machine: every alarm of the site as one state machine (limits with
//     deadband and delays, roc, discrete on, fault/comm/stale, shelving,
//     out-of-service, escalation, flood). Its methods take `now` and do
//     no I/O, take no lock and read no clock. See docs/ALARMS.md. One
//     file per concern: machine.go (samples through deadband and delays,
//     commands, timers, restore), transitions.go (the ISA-18.2 state
//     table of SPEC §5: every state change of every alarm goes through
//     Machine.step; transitions_test.go walks every cell), alarm.go (the
//     alarms of a point, per-alarm state, the event view), escalation.go,
//     flood.go, roc.go, timers.go (the timer heap), index.go (point ids).
//   - Journal: the append-only event log under store.dir/journal
//     (store/wal segments: magic, version, CRC-framed records; a damaged
//     record loses only itself and is reported; group commit; snapshot;
//     the seq high-water mark that keeps a seq from being reused; retention
//     by journal_keep, outputs' consumption and journal_max_bytes).
//   - Engine: the goroutine that owns the Machine, commits every event to
//     the Journal before any Output sees it, and fans out to Outputs.
//   - alarmstest (subpackage): the doubles other packages' tests use: an
//     in-memory journal (Log) and a fake engine built on the real Machine
//     (Fake). No package writes its own.
//
// # Concurrency
//
// One goroutine (Engine.Run) owns all alarm state. Drivers push batches
// through Sink (blocking: back-pressure, never a drop); commands go through
// Do over the same channel and are answered with the journaled event.
// Alarms, Events, Seq, Flood and Health may be called from any goroutine:
// they read copies (a mutex-guarded map of alarms not normal, atomics, the
// journal's own lock). Outputs are called from the engine goroutine and
// must not block.
//
// # Shutdown
//
// After the drivers have stopped the gateway calls CloseInput; Run
// evaluates and journals whatever is queued, hands it to the outputs and
// returns nil. Cancelling Run's context returns at once (events already
// journaled are safe). Close the Journal after Run has returned.
package alarms
