// Package consoletest holds what the console's tests and its load tool
// (console/bench) share to read the console's websocket frames quickly.
//
// # Concurrency and shutdown
//
// Pure functions: safe from any goroutine, nothing to stop.
package consoletest
