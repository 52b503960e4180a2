// Package testenv holds the small helpers that tests of several packages
// share: a goroutine-safe log sink, polling for a condition with a
// deadline, and a free loopback address. It is imported by tests and test
// tools only (console, drivers, gateway), never by the gateway's own code.
//
// # Concurrency
//
// Buffer may be written and read from any goroutine. WaitFor and FreeAddr
// run on the test's goroutine (they call t.Fatal).
//
// # Shutdown
//
// Nothing here runs in the background: there is nothing to stop.
package testenv
