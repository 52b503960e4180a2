// Package drivers owns the data model every other package shares, the
// contract that protocol drivers implement and the queue every stage uses.
//
// # What it owns
//
//   - Sample, Quality, Cause, PointID: one measured value with its quality,
//     born here and passed read-only through the engine to the store and the
//     console. SampleJSON is its one wire form (SPEC §7 console frames,
//     SPEC §10 uplink samples).
//   - Driver: the Connect / Read / Close contract of one device or broker
//     connection. Protocol code lives in subpackages (drivers/modbus,
//     drivers/mqtt); this package has none.
//   - Runner: the connect / read / reconnect-with-backoff loop of one
//     Driver. The MQTT Subscribers run under it. The Modbus driver does
//     not, on purpose: one serial line (or one RTU-over-TCP gateway)
//     carries several devices whose polls must interleave on a single
//     transport, so each Modbus bus owns its loop (a scheduler with
//     per-device demotion, docs/MODBUS.md) instead of one Runner per device.
//   - Backoff: the one retry backoff (Runner, the store's InfluxDB writer,
//     the uplink and notify publishers, Modbus demotion).
//   - Queue: the bounded queue with a written overflow policy (drop the
//     oldest, count the drops) and a one-slot wake-up, between a producer
//     that must not block and one consumer: the MQTT Subscriber's incoming
//     messages, the uplink's samples, and through alarms.Queue the store's
//     and the console's. Len and Dropped give each stage's depth and drops.
//
// # Time
//
// Logic takes the time as a parameter (Failer.Failed's now); loops take a
// clock (Runner.Now, the Modbus and MQTT Options.Now), default time.Now.
//
// # Concurrency
//
// Samples are values; a []Sample handed to a Sink belongs to the receiver and
// must not be modified by the sender afterwards. A Runner runs one driver in
// the goroutine that calls Run. A Queue may be used from any goroutine.
//
// # Shutdown
//
// Runner.Run returns when its context ends, after closing the driver.
package drivers
