// Package modbustest provides real Modbus peers for tests and the
// simulator: a simonvetter/modbus TCP server on loopback (TCPServer), an RTU
// slave on a socat pty pair (RTUSlave) and an RTU-over-TCP serial gateway
// (RTUOverTCP).
//
// # What it owns
//
// Unit: one slave's four tables (grown on demand, unset addresses read 0)
// and how it answers: a reply delay, silence (a dead slave), a wrong CRC, a
// well-formed reply one register short, half a reply (RTU), exception
// codes, permanently or for the next n requests; and request counters.
//
// # Concurrency
//
// Every Unit method is safe for concurrent use; servers answer from their
// own goroutines (simonvetter: one per connection; RTU: one per line or
// connection, one request at a time, as on a bus).
//
// # Shutdown
//
// StartTCP, StartRTU and StartRTUOverTCP stop at the end of the test
// (t.Cleanup): listeners and connections are closed, socat is killed and
// waited for. TCPServer.Stop and Start simulate a slave restart on the same
// port. NewTCP and NewRTU are for programs, which call Stop / Close.
// StartRTU installs socat with apt-get when it is missing, or fails the
// test.
package modbustest
