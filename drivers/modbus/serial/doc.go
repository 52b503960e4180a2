// Package serial opens a serial line (or one end of a pseudo-terminal) raw,
// with the framing a Modbus RTU line uses: the Modbus driver opens its buses
// with it, and the pty test helper opens the simulated slaves' ends with it,
// so both set the terminal the same way.
//
// # Concurrency
//
// Open may be called from any goroutine; the file it returns belongs to the
// caller.
//
// # Shutdown
//
// The caller closes the file. Nothing here runs in the background.
//
// # Platforms
//
// Linux only; elsewhere (serial_other.go) Open returns an error, so the
// binary builds for an installer's Windows or macOS laptop.
package serial
