package configs

import "time"

// SetDefaults fills every key the installer left out (SPEC §3,
// docs/CONFIG.md). Load calls it after decoding and before validation; it is
// idempotent and never overwrites a value that was written.
func (c *Config) SetDefaults() {
	c.centerDefaults()
	if c.Console.Listen == "" {
		c.Console.Listen = "127.0.0.1:8080"
	}
	if c.Console.MaxShelve == 0 {
		c.Console.MaxShelve = Duration(60 * time.Minute)
	}
	if c.Console.MaxOOS == 0 {
		c.Console.MaxOOS = Duration(8 * time.Hour)
	}
	if c.Store.Dir == "" {
		c.Store.Dir = "var"
	}
	if c.Store.History == 0 {
		c.Store.History = Duration(24 * time.Hour)
	}
	if c.Store.HistoryBytes == 0 {
		c.Store.HistoryBytes = 64 << 20
	}
	if c.Store.Outbox.MaxBytes == 0 {
		c.Store.Outbox.MaxBytes = 1 << 30
	}
	if c.Store.JournalKeep == 0 {
		c.Store.JournalKeep = Duration(400 * 24 * time.Hour)
	}
	if c.Store.JournalMaxBytes == 0 {
		c.Store.JournalMaxBytes = 512 << 20
	}
	if db := c.Store.InfluxDB; db != nil {
		if db.Batch == 0 {
			db.Batch = 5000
		}
		if db.Flush == 0 {
			db.Flush = Duration(time.Second)
		}
		if db.Layout == "" {
			db.Layout = LayoutPoint
		}
	}
	for i := range c.Brokers {
		b := &c.Brokers[i]
		if b.URL == "embedded" && b.Listen == "" {
			b.Listen = "127.0.0.1:1883"
		}
		if b.ClientID == "" {
			b.ClientID = "gw-" + c.Site.ID
			if len(c.Brokers) > 1 {
				b.ClientID += "-" + b.Name
			}
		}
	}
	if c.Escalation.MinPriority == "" {
		c.Escalation.MinPriority = "medium"
	}
	for i := range c.Notify {
		if c.Notify[i].Kind == "" {
			c.Notify[i].Kind = "mqtt"
		}
	}
	if u := c.Uplink; u != nil {
		if u.SamplesEvery == 0 {
			u.SamplesEvery = Duration(5 * time.Second)
		}
		if u.Prefix == "" && c.Site.ID != "" {
			u.Prefix = "hazard/" + c.Site.ID
		}
	}
	if c.Simulator != nil && c.Simulator.Publish == 0 {
		c.Simulator.Publish = Duration(time.Second)
	}
	c.safetyDefaults()
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Driver == "modbus" {
			if d.Transport == "" {
				d.Transport = "tcp"
			}
			if d.Unit == nil {
				one := 1
				d.Unit = &one
			}
			if d.Interval == 0 {
				d.Interval = Duration(time.Second)
			}
			if d.Timeout == 0 {
				d.Timeout = Duration(300 * time.Millisecond)
			}
			if d.Gap == nil {
				g := 10
				d.Gap = &g
			}
			if d.Transport == "rtu" {
				if d.Baud == 0 {
					d.Baud = 9600
				}
				if d.DataBits == 0 {
					d.DataBits = 8
				}
				if d.Parity == "" {
					d.Parity = "E"
				}
				if d.StopBits == 0 {
					d.StopBits = 1
				}
			}
		}
		if d.CommAfter == 0 {
			d.CommAfter = 3
			if d.Driver == "mqtt" {
				d.CommAfter = 1
			}
		}
		for j := range d.Points {
			p := &d.Points[j]
			if p.Scale == nil {
				one := 1.0
				p.Scale = &one
			}
			if p.Order == "" {
				p.Order = "ABCD"
			}
			if p.Type == "" && (p.Register == "coil" || p.Register == "discrete") {
				p.Type = "bool" // bit tables hold only bool
			}
			if p.AlarmOn != nil && p.Tier == 0 {
				p.Tier = 2
			}
			if p.FaultDelay == nil {
				fd := Duration(4 * time.Second) // NAMUR NE 43: held 4 s
				p.FaultDelay = &fd
			}
			if p.Stale == 0 {
				s := 3 * d.Interval.D()
				if s < 3*time.Second {
					s = 3 * time.Second
				}
				if d.Driver == "mqtt" && d.Interval == 0 {
					// An MQTT source with no stated publish period is
					// stale after 30 s of silence.
					s = 30 * time.Second
				}
				p.Stale = Duration(s)
			}
		}
	}
}
