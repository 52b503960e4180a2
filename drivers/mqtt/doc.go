// Package mqtt is the gateway's MQTT connections: point subscriptions (a
// drivers.Driver per broker) and the embedded broker (SPEC §3;
// docs/MQTT.md). The uplink to the emergency command platform and the
// [[notify]] targets of kind mqtt are outputs of the alarm engine and live
// in gateway/outputs; they publish through Conn. This package does not
// import alarms.
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
//   - the small publishing API of a Conn for gateway/outputs: State
//     (up/down channels and a generation per connection), IsOpen, Publish,
//     Name; and Options.Wills, the last will of a connection (the uplink's
//     offline status).
//   - the embedded mochi-mqtt broker (url = "embedded") and its access
//     control (acl.go, SPEC §10): only the gateway's per-process identity
//     publishes on the uplink and notify topics; others on point topics.
//
// # Concurrency
//
// paho calls the message handler from its router goroutine; the handler
// only puts the message in a bounded drivers.Queue (drop oldest when
// full, counted) and returns, so it never stalls keepalives. A
// drivers.Runner goroutine per Subscriber decodes. Conn state (up/down) is
// guarded by a mutex and signalled by channels closed on change.
//
// # Shutdown
//
// Stop the Subscribers' Runners with the drivers' context, and the outputs
// publishing on the connections (gateway/outputs: their final flush and
// offline status) with theirs. Then end Conns.Run's context: it returns
// after disconnecting every client and stopping the embedded brokers.
package mqtt
