// Package pty makes linked pseudo-terminal pairs with socat, so that serial
// (Modbus RTU) code runs for real without hardware: the simulated plant's
// RTU slaves and the Modbus driver's tests use it.
//
// # Concurrency
//
// A Pair is owned by its creator; Close may be called once from any
// goroutine.
//
// # Shutdown
//
// Close ends socat, which removes the two links.
//
// # Platforms
//
// Linux only; elsewhere (pty_other.go) every function returns an error, so
// the binary builds for an installer's Windows or macOS laptop, where the
// simulated plant has no RTU slaves.
package pty
