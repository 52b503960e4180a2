// Package sim owns the simulated plant behind `gateway simulate`, the demo
// and the commissioning scenarios (docs/SIMULATOR.md).
//
// # What it owns
//
// The simulated devices are the config's own [[device]]s. Every modbus
// device with transport tcp on a loopback address gets a real Modbus TCP
// slave (simonvetter/modbus) on that address; devices sharing an address
// share one slave answering per unit id. Its registers and coils encode
// each point's simulated value in the point's register, type, order, bit,
// scale and offset, the inverse of the driver's decoding. With
// [simulator] rtu, every rtu device is answered on a socat pty pair whose
// other end is the device's address. Every mqtt
// point with a `sim` behaviour is published on its topic through its
// broker (paho). Behaviours (behaviour.go) are pure functions of the time
// since the plant started (modulo [simulator] loop). Scenarios drive the
// plant through Set, Play, Release and CommLoss.
//
// # Concurrency
//
// One mutex guards the control state (overrides, comm loss, written
// registers, start time); values are computed under it on demand, when a
// Modbus request arrives or a publish tick fires. The simonvetter server
// runs one goroutine per client connection; Run runs one goroutine per
// MQTT broker and one per RTU line (plus its socat process). The control methods may be called from any goroutine.
//
// # Shutdown
//
// Run returns after ctx ends: it wakes requests held by a comm loss,
// stops every slave (closing client connections), closes the RTU ptys and
// kills their socat, and disconnects the MQTT clients after at most 250 ms.
package sim
