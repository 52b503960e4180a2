//go:build linux

// Command district runs a loopback district (docs/DISTRICT.md, issue #17):
// a 3-node NATS cluster (routes, JetStream, MQTT; configs from
// gateway/center/natstest.Config), N site gateways as real `gateway run`
// processes with simulated plants that keep alarming, and one
// `gateway center`. It measures site alarm → district websocket latency
// and the processes' CPU and memory, runs the faults of an incident (the
// center killed, a broker node killed, a site cut off), checks at the
// center that nothing was lost and every site's order was kept, and
// prints the figures.
//
//	go run ./gateway/district -sites 100
//
// Exit status 0: every check passed; 1: a check failed (each problem is
// printed); 2: the district could not run. TestDistrictFaults runs the
// same code at CI size.
//
// # What it owns
//
//   - Proc (proc.go): one child process (node, center, site) started,
//     killed (SIGKILL), stopped (SIGTERM then SIGKILL) and started again
//     with the same command line; its CPU and RSS from /proc.
//   - District (district.go): the configs under -dir, the start order
//     (nodes, the center until its broker connection is up, sites ten at a
//     time), ports picked free and picked again when a process found one
//     taken, and Close.
//   - Gate (gate.go): the TCP forwarder between the Cut site and its node
//     that cuts the site off and lets it back.
//   - Watch (watch.go): a websocket client of the center that resumes
//     after every reconnect and records each alarm frame's arrival.
//   - Faults (faults.go) and Verify (verify.go): the fault sequence, and
//     the comparison of every site's own journal with the center.
//
// Linux only (/proc, process groups).
//
// # Concurrency
//
// The District is driven from one goroutine (main's, or the test's).
// Watch.Run is one goroutine that owns the websocket; its records are
// read through accessors under its mutex. A Gate has an accept goroutine
// and two copy goroutines per connection; its open flag and connections
// are under its mutex. Each Proc has one goroutine waiting for its
// process.
//
// # Shutdown
//
// SIGINT/SIGTERM cancel the run; Close stops the sites (SIGTERM, 10 s,
// then SIGKILL), closes the gate, stops the center, then the nodes. The
// children run in their own process groups, so a ^C reaches only the
// district, which stops them in that order. -dir is kept.
package main
