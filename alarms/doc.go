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
//     flood.go, roc.go, timers.go (the timer heaps: engine clock and input
//     watermark), index.go (point ids; a batch's points resolve through
//     drivers.ShapeCache in Machine.Samples). The Machine keeps no pointer
//     into the config, so the config is collected after start. Its
//     memory, per point: 32 bytes of state without pointers (value, last
//     good time, quality, comm count, flags, an index into Machine.confs,
//     the limits, delays and priorities points of one shape share), its
//     id and name as offsets into one string each, 4 bytes per alarm
//     number (Machine.slot) and an alarm row (alarm.go, 32 bytes) only
//     once that alarm changed: a point without limits has comm and stale
//     alarms, and no row for them while they are pristine (normal, never
//     activated, no flag), which is what Machine.view reads from the
//     config.
//   - Rule points (rules.go, SPEC §11): each [[vote]], [[deviation]] and
//     [[linkage]] is one point of the Machine that no driver feeds, with
//     one alarm: ID:vote (k of n member alarms active; with bad_votes a
//     member whose point is bad counts), ID:dev (two points more than max
//     apart for on_delay; a bad point freezes it) and ID:linkage (the
//     linkage failed; raised and cleared by the runner with OpRaise and
//     OpClear). A member's event or a sample marks the rule dirty; settle,
//     at the end of every Machine entry point, re-evaluates it, so its
//     changes go through Machine.step like any alarm (states, ack,
//     shelving, escalation, journal) and follow their cause in seq order.
//   - Linkages (linkage.go: the state machine of one linkage, pure, time
//     as a parameter; linkrun.go: the runner): an Output of the Engine.
//     Alarm events fire linkages, feedback samples confirm them, writes
//     go out through a Writer (modbus.Driver.WriteRegister, ahead of the
//     polls on the device's bus), ID:linkage is raised and cleared through
//     a Doer (Engine.Do), and every state change is appended and fsync'd
//     to store.dir/linkages.jsonl before anyone sees it (so a fired
//     linkage is written again after a restart).
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
// Sink stamps each batch with the engine clock before any wait and counts
// the calls under way (an atomic); Run derives from them the input
// watermark that stale, delays and held clearings are judged at
// (Machine.AdvanceTo, docs/ALARMS.md "Time: the input watermark"), so
// neither a queued batch nor a driver blocked in Sink makes a point stale.
// Alarms, Events, Seq, Flood and Health may be called from any goroutine:
// they read copies (a mutex-guarded map of alarms not normal, atomics, the
// journal's own lock). Outputs are called from the engine goroutine and
// must not block.
//
// Linkages.Run's goroutine owns the linkages: Event and Samples (called
// from the engine goroutine) append to an inbox under a mutex and never
// block; Views and Command may be called from any goroutine (Watch
// before Run); each
// write runs in a goroutine of its own (one at a time per linkage), so a
// slow device never delays the engine or another linkage. The runner
// reaches the engine only through Do, never from inside an Output call.
//
// # Shutdown
//
// After the drivers have stopped the gateway calls CloseInput; Run
// evaluates and journals whatever is queued, hands it to the outputs and
// returns nil. Cancelling Run's context returns at once (events already
// journaled are safe). Close the Journal after Run has returned.
//
// The linkage runner stops first, before the drivers and the engine drain
// (gateway/run.go): cancelling Linkages.Run abandons a write under way
// unjournaled (a fired linkage is written again at the next start), so no
// write meets a stopping bus and no raise of ID:linkage meets a draining
// engine.
package alarms
