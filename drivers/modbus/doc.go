// Package modbus polls Modbus devices (gas detectors, ammonia heads, tank
// transmitters, fire-panel gateways) over TCP, RTU on a serial line and RTU
// over TCP, and turns their registers into drivers.Sample values.
//
// # What it owns
//
//   - Decoding (decode.go): the nine point types, the four word/byte orders,
//     bit extraction, scale/offset and the range quality of SPEC §4.
//   - Request planning (plan.go): each device's points in the fewest reads
//     (at most 125 registers or 2000 bits, bridging holes of up to `gap`
//     registers).
//   - Framing (frame.go): MBAP and RTU frames of the driver's own (the CRC
//     is rtuslave's), with goburrow's checks and errors; goburrow's client
//     sends the writes through it.
//   - Transports (transport.go, serial.go): our own goburrow Transporters,
//     which close or drain the line after a timeout or a bad frame
//     (goburrow's TCP transaction ids otherwise drift out of step, goburrow
//     #64/#103) and read RTU replies as they arrive while keeping the
//     3.5-character silence (goburrow sleeps a fixed time per request). The
//     serial line itself is opened raw by the subpackage serial, which the
//     pty test helper shares.
//   - Encode (decode.go): the inverse, for simulators that must hold what
//     the driver will read.
//   - The bus scheduler (bus.go): one goroutine per bus (a serial line, or a
//     TCP host:port with all its units) polls each device at its interval,
//     demotes a device after comm_after failed polls (probed with backoff up
//     to Options.MaxDemote, only when a full timeout fits before the next
//     healthy poll) and runs writes between polls.
//
// # Memory
//
// A device's plan is a shape (plan.go): its points packed in plan order
// (12 bytes each: address, table, type, order, bit, and an index into a
// table of the distinct scale/offset/range), and its reads as ranges of
// those points. Devices whose points compile the same share one shape, so
// a device keeps only its point ids (the config's strings) beside it; Write
// finds a point through a sorted index of 4 bytes a point. The bench's
// 100,000 points (1000 devices x 100 registers) cost about 3.2 MiB.
//
// A poll allocates its batch of samples and nothing else: the sink's
// consumers keep the batch, so each poll hands over a fresh one. The read
// request is framed in the bus's buffer, the reply is read into the
// transport's buffer and decoded in place (goburrow's client, which
// allocates per request, only carries writes).
//
// It owns its loop instead of using drivers.Runner: a Runner drives one
// connection for one device, while a serial bus carries several devices
// whose polls must be interleaved, never overlap, and be scheduled so a dead
// device does not delay the live ones.
//
// # Concurrency
//
// Driver.Run starts one goroutine per bus; buses (distinct TCP addresses,
// distinct serial lines) poll in parallel. Everything on a bus, polls and
// writes, happens in its goroutine, one transaction at a time. Health, Stats
// and Write may be called from any goroutine; Write hands its job to the
// bus and waits for the answer. The Sink is called from the bus goroutines,
// concurrently for different buses; a blocking Sink slows only its bus.
//
// # Failures are data
//
// A failed read yields bad/comm samples for exactly the points of that read
// (and of the device's later reads in the same poll when the device did not
// answer at all). Exceptions are answers: the device stays up; illegal data
// address is logged once as a configuration error; busy and acknowledge are
// retried twice within the poll.
//
// # Shutdown
//
// Run returns nil when its context ends, after every bus goroutine has
// finished its current transaction and closed its connection or port.
package modbus
