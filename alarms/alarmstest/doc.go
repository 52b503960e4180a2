// Package alarmstest holds the alarm-engine doubles every package's tests
// use, so that none writes its own.
//
// # What it owns
//
//   - Log: an in-memory alarm journal (Events, Seq, First), for a consumer
//     that only reads the journal (the store's catch-up, the MQTT uplink).
//     Tests append the events they need.
//   - Fake: an engine for consumers of alarm events (the console and its
//     benchmark): the real alarms.Machine behind a Log, evaluated
//     synchronously on a test clock. Tests raise and clear single alarms,
//     operators' commands go to the Machine, so every transition, refusal
//     and latch is the production one (alarms/transitions.go); only what is
//     raised, and the flood flag, are the test's choice.
//
// A test that needs the engine goroutine itself (journal before output,
// group commit, restart) uses alarms.New on alarms.OpenJournal(t.TempDir()).
//
// # Concurrency
//
// Log and Fake may be used from any goroutine: one mutex each. Fake calls
// its output with that mutex held, in seq order, as the engine goroutine
// would; the output must not call back into the Fake.
//
// # Shutdown
//
// Nothing runs in the background: there is nothing to stop.
package alarmstest
