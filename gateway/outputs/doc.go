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
//   - Notify (alarms.Output): the events whose notify names the target, at
//     its qos, on its topic.
//   - the publisher both share: it reads the alarm journal after a durable
//     cursor file (store.dir/mqtt/*.cursor, a store/wal Mark written in
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
// # Shutdown
//
// Cancel Run's context after the engine has drained: Run then publishes
// the events the engine emitted while draining, the last samples and the
// offline status (bounded by FlushTimeout) and returns. End the
// connections (mqtt.Conns.Run) only after that.
package outputs
