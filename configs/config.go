package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is one gateway's whole configuration (SPEC §3). Field comments give
// defaults; Load fills them in before validation.
type Config struct {
	Site       Site        `toml:"site"`
	Console    Console     `toml:"console"`
	Store      Store       `toml:"store"`
	Brokers    []Broker    `toml:"broker"`
	Devices    []Device    `toml:"device"`
	Escalation Escalation  `toml:"escalation"`
	Notify     []Notify    `toml:"notify"`
	Uplink     *Uplink     `toml:"uplink"`
	Votes      []Vote      `toml:"vote"`      // safety.go
	Deviations []Deviation `toml:"deviation"` // safety.go
	Linkages   []Linkage   `toml:"linkage"`   // safety.go
	Simulator  *Simulator  `toml:"simulator"` // see sim.go; nil: a plain gateway
	Center     *Center     `toml:"center"`    // center.go; set: a district console (`gateway center`)

	// File is the path the config was read from (for messages); not a key.
	File string `toml:"-"`
	// Warnings are the values Load found valid but likely wrong (SPEC §3,
	// "Warnings"), positioned like errors; not a key. A warning never stops
	// `run`; `check -strict` refuses them.
	Warnings Errors `toml:"-"`
}

// WithoutDevices is a shallow copy of c without its devices (nor their
// points): what a component keeps of the config after start when it needs
// the settings but not the point list. At 100,000 points the decoded
// devices are about 70 MiB; a component that kept the whole *Config would
// keep them alive for the life of the process (docs/PERFORMANCE.md).
func (c *Config) WithoutDevices() *Config {
	s := *c
	s.Devices = nil
	return &s
}

type Site struct {
	ID   string `toml:"id"` // required
	Name string `toml:"name"`
}

type Console struct {
	Listen    string   `toml:"listen"`     // default "127.0.0.1:8080"
	MaxShelve Duration `toml:"max_shelve"` // default 60m
	MaxOOS    Duration `toml:"max_oos"`    // longest out of service; default 8h
	// Hosts are the Host names (any port) the console answers to besides
	// its listen address, IP literals and loopback (SPEC §8, DNS rebinding).
	Hosts []string `toml:"hosts"`
	Cert  string   `toml:"cert"` // optional TLS certificate file
	Key   string   `toml:"key"`  // optional TLS key file
	Users []User   `toml:"user"`
	// Plan is an optional site plan image (SVG or PNG file) the console
	// shows with every point that has `plan` placed on it (docs/CONFIG.md).
	Plan string `toml:"plan"`
}

type User struct {
	Name  string `toml:"name"`
	Role  string `toml:"role"` // viewer | operator | commander | admin
	Token string `toml:"token"`
}

type Store struct {
	Dir      string    `toml:"dir"` // default "var"
	InfluxDB *InfluxDB `toml:"influxdb"`
	Outbox   Outbox    `toml:"outbox"`
	// History is how long the local per-point history (used for trends
	// when no InfluxDB is configured) reaches back. Default 24h.
	History Duration `toml:"history"`
	// HistoryBytes bounds the memory of the local trend history, all
	// points together (default 64MiB); the oldest detail goes first.
	HistoryBytes Size `toml:"history_bytes"`
	// JournalKeep is how long alarm events are kept in the journal at
	// least (default 400d: alarms are kept over a year) ...
	JournalKeep Duration `toml:"journal_keep"`
	// ... unless the journal would exceed JournalMaxBytes (default
	// 512MiB); deleting younger events, or events an output has not
	// taken, raises _GW.JOURNAL.
	JournalMaxBytes Size `toml:"journal_max_bytes"`
}

type InfluxDB struct {
	URL    string   `toml:"url"`
	Token  string   `toml:"token"`
	Org    string   `toml:"org"`
	Bucket string   `toml:"bucket"`
	Batch  int      `toml:"batch"` // default 5000
	Flush  Duration `toml:"flush"` // default 1s
	// Layout is "point" (default: one line per sample, SPEC §9) or
	// "device" (one line per device and poll).
	Layout string `toml:"layout"`
}

// InfluxDB line layouts (SPEC §9).
const (
	LayoutPoint  = "point"
	LayoutDevice = "device"
)

type Outbox struct {
	MaxBytes Size `toml:"max_bytes"` // default 1GiB
}

type Broker struct {
	Name     string `toml:"name"`
	URL      string `toml:"url"`    // tcp:// ssl:// ws:// wss:// or "embedded"
	Listen   string `toml:"listen"` // only with url = "embedded"
	ClientID string `toml:"client_id"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	// TLS options for ssl:// and wss://.
	CA   string `toml:"ca"`
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// CleanSession false keeps a persistent session for QoS 1. Default true.
	CleanSession *bool `toml:"clean_session"`
}

type Device struct {
	ID        string   `toml:"id"`
	Name      string   `toml:"name"`
	Driver    string   `toml:"driver"`    // modbus | mqtt
	Transport string   `toml:"transport"` // modbus: tcp | rtu | rtu-over-tcp (default tcp)
	Address   string   `toml:"address"`
	Unit      *int     `toml:"unit"`       // Modbus unit id 0..247 (default 1)
	Interval  Duration `toml:"interval"`   // default 1s
	Timeout   Duration `toml:"timeout"`    // default 300ms
	CommAfter int      `toml:"comm_after"` // default 3
	// RTU serial settings.
	Baud     int    `toml:"baud"`      // default 9600
	DataBits int    `toml:"data_bits"` // default 8
	Parity   string `toml:"parity"`    // N | E | O (default E)
	StopBits int    `toml:"stop_bits"` // default 1
	// Gap is how many unused registers a read may bridge to save a request
	// (default 10; bits: 16 x Gap).
	Gap *int `toml:"gap"`
	// MQTT.
	Broker string `toml:"broker"`
	QoS    int    `toml:"qos"`
	Area   string `toml:"area"` // grouping on the console overview

	Points []Point `toml:"point"`

	// Builtin marks a device the gateway adds itself (builtin.go); not a key.
	Builtin bool `toml:"-"`
}

type Point struct {
	ID   string `toml:"id"`
	Name string `toml:"name"`
	Unit string `toml:"unit"`
	// Gas is what a detector measures ("LEL" for combustibles, or NH3, H2S,
	// CO, CL2, SO2, ...), for the GB/T 50493 warnings of `check`.
	Gas string `toml:"gas"`
	// Modbus.
	Register string   `toml:"register"` // holding | input | coil | discrete
	Address  *int     `toml:"address"`
	Type     string   `toml:"type"`  // bool int16 uint16 int32 uint32 int64 uint64 float32 float64
	Order    string   `toml:"order"` // ABCD (default) CDAB BADC DCBA
	Bit      *int     `toml:"bit"`
	Scale    *float64 `toml:"scale"` // default 1
	Offset   float64  `toml:"offset"`
	// MQTT.
	Topic    string `toml:"topic"`
	Path     string `toml:"path"`
	TimePath string `toml:"time_path"`

	Range    []float64 `toml:"range"` // [lo, hi]; empty: no range
	Hi       *float64  `toml:"hi"`
	HiHi     *float64  `toml:"hihi"`
	Lo       *float64  `toml:"lo"`
	LoLo     *float64  `toml:"lolo"`
	Deadband float64   `toml:"deadband"`
	OnDelay  Duration  `toml:"on_delay"`
	OffDelay Duration  `toml:"off_delay"`
	ROC      float64   `toml:"roc"`
	Latch    bool      `toml:"latch"`
	Stale    Duration  `toml:"stale"` // 0: 3 x interval, at least 3s
	// FaultDelay: a bad/range sample must persist this long before `fault`
	// (NAMUR NE 43: held 4 s). Default 4s.
	FaultDelay *Duration `toml:"fault_delay"`
	Priority   string    `toml:"priority"`
	AlarmOn    *bool     `toml:"alarm_on"` // discrete: raise POINT:on when value is 1 (true) or 0 (false)
	Tier       int       `toml:"tier"`     // tier of the `on` alarm (default 2)

	// Console presentation (SPEC §3; see console.go for fire and plan).
	States   []string  `toml:"states"`   // texts for 0 and 1 of a discrete point
	Decimals *int      `toml:"decimals"` // digits shown on the console
	Fire     bool      `toml:"fire"`     // a fire-detection input: shown in the fire panel (GB 50116)
	Plan     []float64 `toml:"plan"`     // [x, y] on console.plan, fractions of its width and height

	Sim *SimPoint `toml:"sim"` // simulated behaviour, see sim.go
}

type Escalation struct {
	MinPriority string  `toml:"min_priority"` // default "medium"
	Stages      []Stage `toml:"stage"`
}

type Stage struct {
	After  Duration `toml:"after"`
	Notify []string `toml:"notify"`
}

type Notify struct {
	Name   string `toml:"name"`
	Kind   string `toml:"kind"` // mqtt
	Broker string `toml:"broker"`
	Topic  string `toml:"topic"`
	QoS    int    `toml:"qos"`
}

type Uplink struct {
	Broker       string   `toml:"broker"`
	Prefix       string   `toml:"prefix"`
	SamplesEvery Duration `toml:"samples_every"` // default 5s
	// Notices: accept notices (督办通知) from the district console on
	// PREFIX/notices and acknowledge them on PREFIX/notices/ack (SPEC §13).
	// Default false: the gateway does not subscribe and ignores notices.
	Notices bool `toml:"notices"`
}

// Duration is a time.Duration written as a Go duration string ("500ms").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		// Whole days ("400d", SPEC §3 journal_keep), optionally followed
		// by a Go duration ("1d12h").
		if i := strings.IndexByte(string(b), 'd'); i > 0 {
			days, derr := strconv.ParseUint(string(b[:i]), 10, 16)
			rest := time.Duration(0)
			if derr == nil && i+1 < len(b) {
				rest, derr = time.ParseDuration(string(b[i+1:]))
			}
			if derr == nil && rest >= 0 {
				*d = Duration(time.Duration(days)*24*time.Hour + rest)
				return nil
			}
		}
		return fmt.Errorf("invalid duration %q (want e.g. \"500ms\", \"2m\")", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a byte count written as "512MiB", "1GiB", "100MB" or a bare number.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func (s *Size) UnmarshalText(b []byte) error {
	t := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<62 {
		return fmt.Errorf("invalid size %q (want e.g. \"512MiB\", \"1GiB\")", b)
	}
	*s = Size(n * float64(mult))
	return nil
}

func (s Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }
