// Package scenario owns commissioning scenarios: a timed script of plant
// events (set a point, play a behaviour such as a leak, lose a device's
// communication) and the alarm events the control room must see, checked
// live against a running gateway's console websocket (SPEC §7) while a
// sim.Plant in the same process plays the script (docs/COMMISSIONING.md).
//
// # What it owns
//
// The scenario file format (TOML, Load/Parse), the pure judgement of
// received events against expectations (Evaluate), the runner (Run) and the
// `gateway simulate -scenario` entry point (RunFile).
//
// # Concurrency
//
// Run uses one goroutine that reads the websocket (gorilla allows one
// reader) and stamps alarm frames on arrival; the calling goroutine plays
// the steps on the plant and judges. Nothing is shared but a channel.
//
// # Shutdown
//
// Run returns when every expectation is decided (all windows closed or
// met), when the console connection drops, or when ctx ends; it closes the
// websocket. RunFile stops the plant it started before it returns.
package scenario
