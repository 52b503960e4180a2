// Package console serves the control room: the websocket /ws (SPEC §7), the
// HTTP API (SPEC §8 plus /api/history and /plan), /metrics and the embedded
// page.
//
// # What it owns
//
//   - Server: the HTTP server, authentication (tokens with roles, compared
//     in constant time) and the command path to the alarm engine, which it
//     reaches through the small Engine interface declared here.
//   - the hub: its own materialized copy of the alarm table (built from the
//     engine's events) and the latest sample of every configured point, so
//     that a snapshot and the live stream that follows are consistent at one
//     alarm seq.
//   - the point table (points.go): the configured points as the console
//     shows them, one row each in config order, packed for a large site
//     (ids and names in one string, device/area/unit/range interned, the
//     rare presentations in a map, rows found by a sorted index), and the
//     hub's latest samples as pointer-free arrays by row (value, Unix ms,
//     quality, cause, seen). About 35 bytes a point besides the text
//     (BenchmarkConsoleRetained); the point objects of the snapshot and
//     the API are built from it when asked. The server keeps the config
//     without its devices.
//   - samples frames (frames.go, framer): written into a reused buffer,
//     the bytes of json.Marshal of drivers.SampleJSON, one allocation per
//     frame; with no client connected the hub formats nothing.
//   - the page (web/, go:embed): plain HTML, CSS and JS, no build step.
//   - Records: the durable log of operator actions and disposal records
//     (records.go; a store/wal log: a damaged record loses only itself), served by
//     /api/records; the gateway opens it and passes it in Deps.
//   - Notices (notices.go): the district's notices (SPEC §13) kept as
//     records (kinds notice, notice_ack) and rebuilt from them at start;
//     /api/notices, the acknowledgement, the `notice` frame and
//     snapshot.notices. The uplink (gateway/outputs) feeds it and reads the
//     acknowledgements back, through the gateway's wiring.
//   - history.go and report.go: /api/events filters and CSV, dispose,
//     records, and the /api/report statistics, all read from the journal
//     through Engine.Events (bisected by emission time for a period).
//   - hardening (guard.go, SPEC §8): connection caps per client address and
//     in total below the file limit minus a reserve, idle and read
//     timeouts, the Host check, the wrong-token throttle (429). Its counts
//     are guarded by one mutex, safe from the accept loop and handlers.
//
// # Concurrency
//
// The engine calls Samples and Event (the alarms.Output contract) from its
// own goroutine; neither blocks. Both go into one alarms.Queue: samples
// bounded (overflow policy: the oldest batches are dropped and counted in
// hazardgw_console_samples_dropped_total), events unbounded (alarm events
// are never dropped; they are rare compared with samples); the hub takes
// events before samples at every wake-up and before anything else.
//
// One hub goroutine owns the clients, the alarm table, the point table and
// the replay ring (the gorilla chat example). Each websocket has one reader
// goroutine (parses commands, calls Engine.Do, enforces the rate limit) and
// one writer goroutine (the only one writing frames, with write deadlines
// and pings). The hub never blocks on a client: each client has a bounded
// queue of reliable frames (hello, snapshot, alarm, result) and a small
// queue of samples frames. A full samples queue drops that frame for that
// client; a full reliable queue disconnects the client (close code 1008),
// which must reconnect and resume.
//
// The point table is never modified: Reload builds a new one and the hub
// goroutine swaps it in (an atomic pointer) together with its latest
// samples; HTTP handlers load it from any goroutine.
//
// Linkage and notice changes reach the hub through one frame pump (a
// goroutine started by Serve; the watch callbacks only append and wake
// it), in the order they happened.
//
// Notices is safe from any goroutine: Receive (the uplink's MQTT delivery
// goroutine) and Ack (HTTP handlers) record under its mutex before they
// change anything, then call the watchers outside it.
//
// Records.Append is safe from any goroutine (readers and HTTP handlers
// call it after the engine accepted a command); it fsyncs before it
// returns.
//
// # Shutdown
//
// Run (or Serve) returns when its context ends: the HTTP server stops
// accepting, every websocket is sent a close frame (1001 going away) and
// closed, and Run waits for every goroutine it started.
package console
