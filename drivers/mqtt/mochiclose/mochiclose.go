// Package mochiclose shuts an embedded mochi-mqtt broker down without the
// deadlock of mochi v2.7.9's Server.Close (mochi-mqtt/server #488, fixes
// open as #489 and #507): Close reaches Clients.GetByListener, which takes
// the clients' read lock twice; a client connecting or leaving in between
// asks for the write lock, and the broker hangs for good. The gateway's
// embedded broker and the test brokers both close through here.
//
// # Concurrency
//
// Close may be called from any goroutine, once per server.
//
// # Shutdown
//
// Close returns after every listener is closed and every client
// disconnected.
package mochiclose

import (
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Close closes every listener of s, disconnecting its clients with one
// read-locked copy of the client table (Clients.GetAll), then runs mochi's
// own Close, which finds the listeners already closed and only stops the
// hooks.
func Close(s *mochi.Server) error {
	s.Listeners.CloseAll(func(listener string) {
		for _, cl := range s.Clients.GetAll() {
			if cl.Net.Listener == listener && !cl.Closed() {
				_ = s.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	})
	return s.Close()
}
