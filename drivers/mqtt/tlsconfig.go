package mqtt

import (
	"crypto/tls"

	"hazardgw/configs"
)

// TLSConfig is the TLS configuration of a [[broker]] (ca, cert, key), as
// the gateway's own connections use it; gateway/center builds its client
// with it.
func TLSConfig(b *configs.Broker) (*tls.Config, error) { return tlsConfig(b) }
