// Package mqtt is the gateway's MQTT side: point subscriptions (a
// drivers.Driver per broker), the embedded broker, the uplink to the
// emergency command platform and the [[notify]] targets of kind mqtt
// (SPEC §3, §10; docs/MQTT.md).
//
// # What it owns
//
//   - Conn: the one paho connection per [[broker]] (one client id), with
//     paho's ConnectRetry/AutoReconnect capped at MaxReconnectInterval (5 s).
//     Subscriptions are made again in the on-connect handler, so they
//     survive a broker restart (paho drops them otherwise).
//   - Subscriber: decodes payloads into samples (bare numbers, true/false,
//     JSON dot paths, time_path in RFC 3339 or Unix ms). A payload that
//     cannot be decoded is a bad/decode sample, a counter and a
//     rate-limited log line; a lost connection is bad/comm samples.
//   - Uplink and Notifier: engine outputs that publish alarm events from the
//     journal with a durable cursor file under store.dir/mqtt.
//   - the embedded mochi-mqtt broker (url = "embedded").
//
// # Concurrency
//
// paho calls the message handler from its router goroutine; the handler
// only puts the message in a bounded queue (drop oldest when full, counted)
// and returns, so it never stalls keepalives. A drivers.Runner goroutine
// per Subscriber decodes. Each uplink/notify target has one publishing
// goroutine; Event only wakes it (1-buffered channel) and Samples only
// appends to a bounded buffer under a mutex: neither ever blocks the
// engine. Conn state (up/down) is guarded by a mutex and signalled by
// channels closed on change.
//
// # Shutdown
//
// Stop the Subscribers' Runners with the drivers' context. Conns.Run
// returns after its context ends, having published the pending alarm
// events (bounded by FlushTimeout), the retained offline status,
// disconnected every client and stopped the embedded brokers.
package mqtt
