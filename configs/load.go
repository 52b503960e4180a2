package configs

import (
	"bytes"
	"os"

	"github.com/pelletier/go-toml/v2"
)

// Load reads, decodes strictly, fills defaults and validates the config at
// path. PROVISIONAL: the full loader (positions, every rule, env: secrets)
// replaces this.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	c.File = name
	c.SetDefaults()
	return &c, nil
}
