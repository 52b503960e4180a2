// Package mqtttest starts real MQTT brokers for tests of any package: mochi-mqtt
// in-process (StartMochi, StartMochiWith: credentials, TLS, websocket,
// extra hooks) and Mosquitto as a child process (StartMosquitto, installed
// with apt-get when missing, never skipped), each on a random loopback port
// and restartable on the same port (Stop, Start, Restart). Broker.Subscribe
// collects messages (made again after a restart, numbered by session);
// Broker.Publisher and Broker.Publish send. NewCA generates a CA with server
// and client certificates as PEM files. Kinds lists both brokers for table
// tests; Gate is a TCP proxy that refuses or cuts connections (a broker
// gone without a DISCONNECT); WaitFor and Gathered wait on a condition and
// read a metric.
//
// # Concurrency
//
// A Broker's methods are safe for concurrent use. A Collector is filled by
// paho's goroutine and read by the test through its methods.
//
// # Shutdown
//
// Everything a helper starts (brokers, processes, clients) is stopped by
// t.Cleanup.
package mqtttest
