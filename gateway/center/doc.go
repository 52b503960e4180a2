// Package center is the district console (`gateway center`, SPEC §13): it
// takes the uplinks of many site gateways from one MQTT broker service
// (a cluster in production), keeps every site's alarm events durably, asks
// a site to replay what it missed, and serves the district page, its
// websocket and HTTP API to commanders (docs/DISTRICT.md).
//
// # What it owns
//
//   - The subscription (center.go): one paho client under the broker's
//     client id with a persistent session (clean=false), QoS 1 on
//     FILTER/alarms, /samples, /status and /notices/ack for every
//     center.sites filter; every server of a comma-separated url list
//     (paho moves to the next when one dies). Messages are acknowledged by
//     hand, after the journal made them durable: a center killed between
//     the two gets the message again, and drops it as a duplicate.
//
//   - The journal (journal.go): store/wal segments
//     (center-FIRSTSEQ.log) of records (event, lost, notice, ack, and
//     site: a site's state, one per site at the head of every segment) in
//     center seq order, with group commit: the syncer goroutine fsyncs
//     once for every message handled since its last round, then shows
//     their frames and acknowledges them. Each segment has an index (the
//     sites and site seq ranges of its events). Every site's state is
//     rebuilt from the segments at start. Retention (store.journal_keep,
//     journal_max_bytes) deletes the oldest segments at a roll; a forced
//     deletion is logged and counted.
//
//   - Sites (sites.go): per site the seqs stored (hwm: every seq up to it
//     stored or lost; pending above it), the alarm table at each alarm's
//     latest event whatever order a replay brings them in, the latest
//     sample of each point, a window of the most recent events (older
//     ones are read from the journal), the status (online; offline on an `offline`
//     status or offline_after of silence) and the summary of the `site`
//     frame. A site's prefix is the topic minus its suffix; the prefix's
//     last level must be the payload's `site` (refused and counted
//     otherwise).
//
//   - Gaps and replay: a seq beyond the highest stored + 1 (or a first
//     contact above 1) is a gap: PREFIX/replay {"after": hwm} is published
//     at once and again with backoff (1 s doubling to 30 s) until filled.
//     A site answers from its oldest event when it no longer holds hwm+1;
//     two answers in a row starting at the same seq beyond hwm+1 (the
//     first makes the center ask again at once: a single message may be a
//     broker redelivery) mean the seqs before are lost for good
//     (site.answer; journaled as such, counted, shown).
//
//   - The console (api.go, web/): GET /api/sites, /api/sites/{id}/alarms,
//     /events?after=, /samples, /notices; POST /api/sites/{id}/notices
//     (commander); /ws with hello, snapshot (sites), site, alarm (with
//     site and the center seq), samples (with site), notice, and resume
//     from a center seq; /metrics; the district page. Tokens and roles as
//     SPEC §7 (console.ParseRole); the site console's SPEC §8 hardening
//     through console.Guard (connection caps on the listener, timeouts,
//     Host check, wrong-token throttle).
//
//   - InfluxDB (optional): one store.Store per site, fed in site seq
//     order up to the site's hwm (feedStore), with the center journal as
//     its store.Journal (siteJournal): events a kill took from a store's
//     memory queue are copied after the restart (Run starts every site's
//     store at once).
//
// # Concurrency
//
// One mutex (Center.mu) guards the journal's writes, the sites and the
// websocket clients. paho's router goroutine calls handle for each message
// in order (SetOrderMatters): under mu it checks, writes the journal
// records and updates the site, and queues the message's frames and ack
// (a deferred) for the syncer. The syncer fsyncs outside mu (the fsync
// covers every write before it), then under mu advances `synced` and
// broadcasts the frames in order, then acknowledges outside mu. Clients
// are shown only durable events: hello, snapshot and resume stop at
// `synced`, later events reach them as frames. A client's queue is
// bounded: a full queue cuts the client off (it reconnects and resumes);
// the message path never waits on a client. The loop goroutine checks
// offline_after and due replays every tick and publishes replay requests
// outside mu. HTTP handlers read under mu;
// events older than a site's window are read from the journal's segments
// outside mu (segments are append-only; one deleted meanwhile reads as
// empty), a resume from before the ring under mu. Stores run in their own
// goroutines; siteJournal.Events takes mu briefly. A notice is published outside mu
// and journaled once the broker acknowledged it.
//
// # Shutdown
//
// Run returns when its context ends: the HTTP server stops, the broker
// connection is closed with DISCONNECT, the syncer stops and a last sync
// makes what was written durable (those messages' acks went with the
// connection: the broker delivers them again, they are dropped as
// duplicates) (the broker keeps the session: what
// sites publish meanwhile is delivered at the next start), every websocket
// is closed, and the journal file is closed.
package center
