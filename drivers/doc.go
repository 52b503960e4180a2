// Package drivers owns the data model every other package shares and the
// contract that protocol drivers implement.
//
// # What it owns
//
//   - Sample, Quality, Cause, PointID: one measured value with its quality,
//     born here and passed read-only through the engine to the store and the
//     console.
//   - Driver: the Connect / Read / Close contract of one device or broker
//     connection. Protocol code lives in subpackages (drivers/modbus,
//     drivers/mqtt); this package has none.
//   - Runner: the one loop that owns reconnect with backoff for every
//     driver, so no driver reimplements it.
//
// # Concurrency
//
// Samples are values; a []Sample handed to a Sink belongs to the receiver and
// must not be modified by the sender afterwards. A Runner runs one driver in
// the goroutine that calls Run.
//
// # Shutdown
//
// Runner.Run returns when its context ends, after closing the driver.
package drivers
