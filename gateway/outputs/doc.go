// Package outputs holds the alarm engine's outputs to other systems: the
// uplink to the emergency command platform and the [[notify]] targets of
// kind mqtt (SPEC §10; docs/MQTT.md). The store and the console are the
// engine's other outputs, in their own packages.
//
// # What it owns
//
//   - Uplink (alarms.Output): PREFIX/status, retained, online at each
//     connection and offline as the connection's will and at a clean
//     shutdown (Wills gives the will to mqtt.New); PREFIX/alarms, every
//     event at QoS 1 in seq order; PREFIX/samples, batches every
//     samples_every in the one sample wire form (drivers.SampleJSON,
//     cause left out of good samples).
//   - the uplink's side of the district (SPEC §13, replay.go, notices.go):
//     PREFIX/replay requests, answered by publishing the journal's events
//     after a seq again on PREFIX/alarms; with [uplink] notices,
//     PREFIX/notices, checked strictly and handed to the notice store
//     (Options.Notices, the console's), and the operators'
//     acknowledgements, published on PREFIX/notices/ack from their own
//     durable cursor (store.dir/mqtt/notice-ack-BROKER.cursor). Refused
//     messages are counted (hazardgw_mqtt_uplink_refused_total{kind}).
//   - Notify (alarms.Output): the events whose notify names the target, at
//     its qos, on its topic.
//   - the publisher they all share: it reads a durable source (the alarm
//     journal; the notice acknowledgements) after a durable cursor file (store.dir/mqtt/*.cursor, a store/wal Mark written in
//     place; a damaged one falls back without skipping an event for the
//     uplink), publishes each event after the
//     previous one was acknowledged and retries with drivers.Backoff, so no
//     event is dropped and none is sent twice in one receiver session.
//
// They publish on the broker connections of drivers/mqtt (mqtt.Conn:
// State, IsOpen, Publish); this package owns no connection. Set.Consumed
// is the lowest acknowledged cursor, for the journal's retention.
//
// # Concurrency
//
// Each target has one publishing goroutine; Event only wakes it (a
// 1-buffered channel: the event itself is read from the journal). The
// uplink's Samples only pushes onto a drivers.Queue (one unit per sample,
// drop the oldest and count) that a second goroutine takes every
// samples_every. Neither ever blocks the engine.
//
// A replay runs in the uplink's publishing goroutine: a request (paho's
// delivery goroutine) only records where to start and wakes it; the
// goroutine sends one chunk (ReplayChunk events) after each catch-up of
// the live stream, so live events wait behind one chunk at most. A notice
// is recorded (an fsync) in paho's delivery goroutine before it returns,
// so the broker's PUBACK follows its durability; notices are rare. The
// acknowledgements have a publishing goroutine of their own, woken by the
// notice store.
//
// # Shutdown
//
// Cancel Run's context after the engine has drained: Run then publishes
// the events the engine emitted while draining, the pending notice
// acknowledgements, the last samples and the offline status (bounded by
// FlushTimeout) and returns. A replay under way is abandoned (the center
// asks again). End the
// connections (mqtt.Conns.Run) only after that.
package outputs
