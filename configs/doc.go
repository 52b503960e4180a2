// Package configs owns the TOML configuration that installers write
// (SPEC §3): the schema (Config and its parts), strict decoding, defaults,
// validation with every error positioned as FILE:LINE:COL: KEY.PATH: message,
// and `env:NAME` secrets. A file with a [center] table configures a
// district console instead of a site (center.go, SPEC §13). The example
// configs of the product live beside the code in this folder (demo.toml,
// ammonia-cold-store.toml, tank-farm.toml, fire-alarms.toml, district.toml).
//
// # Concurrency
//
// Load is a pure function of its input; a *Config is read-only after Load
// returns and may be shared by every goroutine.
//
// # Shutdown
//
// Nothing to shut down.
package configs
