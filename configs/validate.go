package configs

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Enumerations of SPEC §3.
var (
	Roles      = []string{"viewer", "operator", "commander", "admin"}
	Priorities = []string{"urgent", "high", "medium", "low"}
	Drivers    = []string{"modbus", "mqtt"}
	Transports = []string{"tcp", "rtu", "rtu-over-tcp"}
	Registers  = []string{"holding", "input", "coil", "discrete"}
	Types      = []string{"bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}
	Orders     = []string{"ABCD", "CDAB", "BADC", "DCBA"}
	// Bauds are the serial speeds the RTU transport can set on every
	// platform that has serial support.
	Bauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400}
)

func ints(list []int) string {
	s := make([]string, len(list))
	for i, n := range list {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

// jsonPath checks a dot path into a JSON payload (SPEC §3 `path`): object
// keys and array indexes separated by dots, e.g. "data.0.value". JSONPath
// and jq spellings ("$.t", "a[0]", ".a") never match anything, so they are
// refused here rather than read as silence at run time.
func (v *validator) jsonPath(path, p string) {
	if p == "" {
		return
	}
	for _, el := range strings.Split(p, ".") {
		if el == "" || strings.ContainsAny(el, "$[]*?@'\"") {
			v.errorf(path, "%q is not a dot path (keys and array indexes separated by dots, e.g. \"data.0.value\")%s",
				p, suggestPath(p))
			return
		}
	}
}

var (
	idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// RegisterCount returns how many 16-bit registers a value of type t occupies
// (bool and unknown types: 1).
func RegisterCount(t string) int {
	switch t {
	case "int32", "uint32", "float32":
		return 2
	case "int64", "uint64", "float64":
		return 4
	}
	return 1
}

// validator collects every error of one config. ix is nil for a Config
// built in code (no positions).
type validator struct {
	file string
	ix   *index
	skip map[string]bool // keys already reported (not decoded, env: unset)
	// zeros are duration keys written as zero (noteZeros), before the
	// defaults replace them.
	zeros map[string]bool
	errs  Errors
}

func (v *validator) errorf(path, format string, args ...any) {
	if v.skip[path] {
		return
	}
	e := &Error{File: v.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if v.ix != nil {
		p := v.ix.lookup(path)
		e.Line, e.Col = p.line, p.col
	}
	v.errs = append(v.errs, e)
}

// where names a definition for a message: "device[0] at line 12".
func (v *validator) where(path string) string {
	if v.ix == nil {
		return path
	}
	return fmt.Sprintf("%s at line %d", path, v.ix.lookup(path).line)
}

func idx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func oneOf(list []string) string { return strings.Join(list, " | ") }

// enum checks that s is one of list (empty allowed unless required).
func (v *validator) enum(path, key, s string, list []string, required bool) {
	switch {
	case s == "" && required:
		v.errorf(path, "%s is required (%s)", key, oneOf(list))
	case s != "" && !slices.Contains(list, s):
		v.errorf(path, "unknown %s %q (want %s)%s", key, s, oneOf(list), suggestValue(s, list))
	}
}

func (v *validator) id(path, what, s string) {
	switch {
	case s == "":
		v.errorf(path, "%s is required", what)
	case !idPattern.MatchString(s):
		v.errorf(path, "%s %q must be 1 to 64 letters, digits, '_', '.' or '-'", what, s)
	}
}

func (v *validator) nonNegDur(path string, d Duration) {
	if d < 0 {
		v.errorf(path, "must not be negative (got %s)", d.D())
	}
}

func (v *validator) finite(path string, f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		v.errorf(path, "must be a finite number (got %v)", f)
		return false
	}
	return true
}

func (v *validator) qos(path string, q int) {
	if q < 0 || q > 2 {
		v.errorf(path, "qos %d must be 0, 1 or 2", q)
	}
}

func (v *validator) hostPort(path, s string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.errorf(path, "%q must be host:port", s)
		return
	}
	_ = host
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.errorf(path, "%q: port must be 0..65535", s)
	}
}

// Loopback reports whether a host:port address is on this machine (a
// listen address there only accepts local clients).
func Loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// topic checks an MQTT topic; wildcards only when allowed.
func (v *validator) topic(path, t string, wildcards bool) {
	switch {
	case t == "":
		v.errorf(path, "topic is required")
	case strings.ContainsRune(t, 0):
		v.errorf(path, "topic must not contain NUL")
	case !wildcards && strings.ContainsAny(t, "+#"):
		v.errorf(path, "topic %q must not contain the wildcards + or #", t)
	case wildcards:
		levels := strings.Split(t, "/")
		for i, l := range levels {
			if (strings.Contains(l, "+") && l != "+") || (strings.Contains(l, "#") && (l != "#" || i != len(levels)-1)) {
				v.errorf(path, "topic %q: + and # must fill a whole level, # only the last", t)
				return
			}
		}
	}
}

// once notes that the what id is defined at path (its ".id"), or says that
// seen holds it already (id -> path of its first definition).
func (v *validator) once(seen map[string]string, path, what, id string) {
	if first, dup := seen[id]; dup && id != "" {
		v.errorf(path+".id", "duplicate %s id %q (first %s)", what, id, v.where(first))
	} else {
		seen[id] = path
	}
}

func (v *validator) validate(c *Config) {
	if c.Center != nil {
		v.center(c) // center.go
	} else {
		v.id("site.id", "site id", c.Site.ID)
		v.siteBrokers(c) // center.go
	}
	v.console(c)
	v.store(c)

	brokers := map[string]*Broker{}
	for i := range c.Brokers {
		b := &c.Brokers[i]
		p := idx("broker", i)
		v.id(p+".name", "broker name", b.Name)
		if _, dup := brokers[b.Name]; dup && b.Name != "" {
			v.errorf(p+".name", "duplicate broker name %q", b.Name)
		} else if b.Name != "" {
			brokers[b.Name] = b
		}
		v.broker(p, b)
	}
	knownBroker := func(path, name, who string) {
		switch {
		case name == "":
			v.errorf(path, "%s needs a broker (one of the [[broker]] names)", who)
		case brokers[name] == nil:
			v.errorf(path, "unknown broker %q", name)
		}
	}

	devices := map[string]string{} // id -> path of its first definition
	points := map[string]string{}
	for i := range c.Devices {
		d := &c.Devices[i]
		p := idx("device", i)
		if d.Builtin {
			continue // the gateway's own: its ids are reserved below
		}
		v.id(p+".id", "device id", d.ID)
		v.once(devices, p, "device", d.ID)
		if reserved(d.ID) {
			v.errorf(p+".id", "device id %q is reserved for the gateway itself", d.ID)
		}
		v.device(p, d, knownBroker)
		for j := range d.Points {
			pt := &d.Points[j]
			pp := idx(p+".point", j)
			v.id(pp+".id", "point id", pt.ID)
			v.once(points, pp, "point", pt.ID)
			if reserved(pt.ID) {
				v.errorf(pp+".id", "point id %q is reserved for the gateway itself (_GW.*)", pt.ID)
			}
			v.point(pp, d, pt)
		}
	}

	v.buses(c)
	v.safety(c, points)

	notifies := map[string]bool{}
	for i := range c.Notify {
		n := &c.Notify[i]
		p := idx("notify", i)
		v.id(p+".name", "notify name", n.Name)
		switch {
		case notifies[n.Name] && n.Name != "":
			v.errorf(p+".name", "duplicate notify name %q", n.Name)
		case slices.Contains(Roles, n.Name):
			v.errorf(p+".name", "notify name %q is a console role; choose another name", n.Name)
		}
		notifies[n.Name] = true
		v.enum(p+".kind", "kind", n.Kind, []string{"mqtt"}, true)
		knownBroker(p+".broker", n.Broker, "notify")
		v.topic(p+".topic", n.Topic, false)
		v.qos(p+".qos", n.QoS)
	}

	e := &c.Escalation
	v.enum("escalation.min_priority", "priority", e.MinPriority, Priorities, false)
	for i := range e.Stages {
		s := &e.Stages[i]
		p := idx("escalation.stage", i)
		v.nonNegDur(p+".after", s.After)
		if i > 0 && s.After <= e.Stages[i-1].After {
			v.errorf(p+".after", "after (%s) must be later than the previous stage's (%s)", s.After.D(), e.Stages[i-1].After.D())
		}
		if len(s.Notify) == 0 {
			v.errorf(p+".notify", "a stage must notify at least one role or [[notify]] name")
		}
		for j, name := range s.Notify {
			if !slices.Contains(Roles, name) && !notifies[name] {
				v.errorf(idx(p+".notify", j), "unknown role or notify name %q (roles: %s)", name, oneOf(Roles))
			}
		}
	}

	if u := c.Uplink; u != nil {
		knownBroker("uplink.broker", u.Broker, "uplink")
		if u.Prefix == "" {
			v.errorf("uplink.prefix", "prefix is required")
		} else {
			v.topic("uplink.prefix", u.Prefix, false)
			if strings.HasSuffix(u.Prefix, "/") {
				v.errorf("uplink.prefix", "prefix %q must not end with /", u.Prefix)
			}
		}
		if u.SamplesEvery <= 0 {
			v.errorf("uplink.samples_every", "must be positive (got %s)", u.SamplesEvery.D())
		}
		if u.Notices {
			for _, b := range c.Brokers {
				if b.Name == u.Broker && b.URL == "embedded" {
					// PREFIX/notices belongs to the gateway on its own broker
					// (drivers/mqtt/acl.go): no center could ever publish one.
					v.errorf("uplink.notices", "notices need the district's broker; broker %q is the embedded one, where only this gateway may publish under %s", u.Broker, u.Prefix)
				}
			}
		}
	}

	if s := c.Simulator; s != nil {
		v.nonNegDur("simulator.loop", s.Loop)
		v.nonNegDur("simulator.publish", s.Publish)
	}
}

func (v *validator) console(c *Config) {
	k := &c.Console
	v.hostPort("console.listen", k.Listen)
	if k.Listen != "" && !Loopback(k.Listen) && len(k.Users) == 0 {
		v.errorf("console.listen", "%q is not a loopback address: define at least one [[console.user]]", k.Listen)
	}
	if k.MaxShelve <= 0 {
		v.errorf("console.max_shelve", "must be positive (got %s)", k.MaxShelve.D())
	}
	if k.MaxOOS <= 0 {
		v.errorf("console.max_oos", "must be positive (got %s)", k.MaxOOS.D())
	}
	for i, h := range k.Hosts {
		if h == "" || strings.ContainsAny(h, "/ @") {
			v.errorf(idx("console.hosts", i), "%q is not a host name", h)
		}
	}
	if (k.Cert == "") != (k.Key == "") {
		v.errorf("console.cert", "cert and key go together")
	}
	names := map[string]bool{}
	tokens := map[string]bool{}
	for i := range k.Users {
		u := &k.Users[i]
		p := idx("console.user", i)
		if u.Name == "" {
			v.errorf(p+".name", "user name is required")
		} else if names[u.Name] {
			v.errorf(p+".name", "duplicate user name %q", u.Name)
		}
		names[u.Name] = true
		v.enum(p+".role", "role", u.Role, Roles, true)
		switch {
		case u.Token == "":
			v.errorf(p+".token", "token is required (use \"env:NAME\" to keep it out of the file)")
		case tokens[u.Token]:
			v.errorf(p+".token", "two users have the same token") // never print a secret
		case len(u.Token) < minToken && k.Listen != "" && !Loopback(k.Listen):
			v.errorf(p+".token", "a console listening beyond loopback needs tokens of at least %d characters (got %d)",
				minToken, len(u.Token)) // the length only, never the token
		}
		tokens[u.Token] = true
	}
	v.plan(c)
}

func (v *validator) store(c *Config) {
	s := &c.Store
	if s.Dir == "" {
		v.errorf("store.dir", "dir is required")
	}
	if s.Outbox.MaxBytes < 0 {
		v.errorf("store.outbox.max_bytes", "must not be negative")
	}
	v.nonNegDur("store.history", s.History)
	if s.HistoryBytes < 0 {
		v.errorf("store.history_bytes", "must not be negative")
	}
	v.nonNegDur("store.journal_keep", s.JournalKeep)
	if s.JournalMaxBytes < 0 {
		v.errorf("store.journal_max_bytes", "must not be negative")
	} else if s.JournalMaxBytes > 0 && s.JournalMaxBytes < 1<<20 {
		v.errorf("store.journal_max_bytes", "must be at least 1MiB (the journal would hold almost no alarm history)")
	}
	if db := s.InfluxDB; db != nil {
		u, err := url.Parse(db.URL)
		switch {
		case db.URL == "":
			v.errorf("store.influxdb.url", "url is required")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.errorf("store.influxdb.url", "%q must be an http:// or https:// URL", db.URL)
		}
		if db.Bucket == "" {
			v.errorf("store.influxdb.bucket", "bucket is required")
		}
		if db.Batch <= 0 {
			v.errorf("store.influxdb.batch", "must be positive (got %d)", db.Batch)
		}
		if db.Flush <= 0 {
			v.errorf("store.influxdb.flush", "must be positive (got %s)", db.Flush.D())
		}
		if db.Layout != LayoutPoint && db.Layout != LayoutDevice {
			v.errorf("store.influxdb.layout", "%q must be %q or %q", db.Layout, LayoutPoint, LayoutDevice)
		}
	}
}

// minToken is the shortest console token beyond loopback (SPEC §3).
const minToken = 16

func (v *validator) broker(p string, b *Broker) {
	if b.URL == "embedded" {
		v.hostPort(p+".listen", b.Listen)
		_, _, err := net.SplitHostPort(b.Listen)
		if b.Listen != "" && err == nil && !Loopback(b.Listen) && (b.Username == "" || b.Password == "") {
			v.errorf(p+".listen", "%q is not a loopback address: an embedded broker beyond loopback needs username and password", b.Listen)
		}
	} else {
		if b.URL == "" {
			v.errorf(p+".url", "url is required (tcp://, ssl://, ws://, wss:// or \"embedded\")")
		}
		for _, one := range BrokerURLs(b.URL) { // a cluster: comma-separated (center.go)
			if u, err := url.Parse(one); err != nil || !slices.Contains([]string{"tcp", "ssl", "ws", "wss"}, u.Scheme) || u.Host == "" {
				v.errorf(p+".url", "%q must be tcp://, ssl://, ws://, wss://HOST:PORT or \"embedded\"", one)
			}
		}
		if b.Listen != "" {
			v.errorf(p+".listen", "listen is only for url = \"embedded\"")
		}
	}
	if (b.Cert == "") != (b.Key == "") {
		v.errorf(p+".cert", "cert and key go together")
	}
}

// maxCommAfter bounds comm_after (SPEC §3): a device silent for more
// polls than this is down, whatever the installer hoped.
const maxCommAfter = 100

// written is what the file wrote at path: 0 when it wrote zero (the
// defaults replaced it since), else the value.
func (v *validator) written(path string, value any) string {
	if v.zeros[path] {
		return "0"
	}
	return fmt.Sprint(value)
}

// noteZeros records, before the defaults fill them, the duration keys the
// file set to zero where zero means "use the default" in Go but is refused
// by SPEC §3 (timeout, interval, comm_after).
func (v *validator) noteZeros(c *Config) {
	v.zeros = map[string]bool{}
	for i := range c.Devices {
		d, p := &c.Devices[i], idx("device", i)
		if v.ix == nil {
			return
		}
		if _, ok := v.ix.at[p+".timeout"]; ok && d.Timeout == 0 {
			v.zeros[p+".timeout"] = true
		}
		if _, ok := v.ix.at[p+".interval"]; ok && d.Interval == 0 {
			v.zeros[p+".interval"] = true
		}
		if _, ok := v.ix.at[p+".comm_after"]; ok && d.CommAfter == 0 {
			v.zeros[p+".comm_after"] = true
		}
	}
}

func (v *validator) device(p string, d *Device, knownBroker func(path, name, who string)) {
	v.enum(p+".driver", "driver", d.Driver, Drivers, true)
	v.nonNegDur(p+".interval", d.Interval)
	switch {
	case d.CommAfter < 0:
		v.errorf(p+".comm_after", "must not be negative (got %d)", d.CommAfter)
	case d.CommAfter > maxCommAfter || v.zeros[p+".comm_after"]:
		v.errorf(p+".comm_after", "must be 1..%d (got %s)", maxCommAfter, v.written(p+".comm_after", d.CommAfter))
	}
	switch d.Driver {
	case "modbus":
		v.enum(p+".transport", "transport", d.Transport, Transports, true)
		switch {
		case d.Address == "":
			v.errorf(p+".address", "address is required (host:port, or a serial device for rtu)")
		case d.Transport == "tcp" || d.Transport == "rtu-over-tcp":
			v.hostPort(p+".address", d.Address)
		}
		if d.Unit != nil && (*d.Unit < 0 || *d.Unit > 247) {
			v.errorf(p+".unit", "unit %d must be 0..247", *d.Unit)
		}
		if d.Interval == 0 || v.zeros[p+".interval"] {
			v.errorf(p+".interval", "must be positive")
		}
		if d.Timeout <= 0 || v.zeros[p+".timeout"] {
			v.errorf(p+".timeout", "must be positive (got %s)", v.written(p+".timeout", d.Timeout.D()))
		}
		if d.Gap != nil && *d.Gap < 0 {
			v.errorf(p+".gap", "must not be negative (got %d)", *d.Gap)
		}
		if d.Transport == "rtu" {
			if d.Baud <= 0 {
				v.errorf(p+".baud", "must be positive (got %d)", d.Baud)
			} else if !slices.Contains(Bauds, d.Baud) {
				v.errorf(p+".baud", "baud %d not supported (want one of %s)", d.Baud, ints(Bauds))
			}
			if d.DataBits < 5 || d.DataBits > 8 {
				v.errorf(p+".data_bits", "data_bits %d must be 5..8", d.DataBits)
			}
			v.enum(p+".parity", "parity", d.Parity, []string{"N", "E", "O"}, true)
			if d.StopBits != 1 && d.StopBits != 2 {
				v.errorf(p+".stop_bits", "stop_bits %d must be 1 or 2", d.StopBits)
			}
		} else {
			for _, k := range []struct {
				key string
				set bool
			}{{"baud", d.Baud != 0}, {"data_bits", d.DataBits != 0}, {"parity", d.Parity != ""}, {"stop_bits", d.StopBits != 0}} {
				if k.set {
					v.errorf(p+"."+k.key, "%s is only for transport = \"rtu\"", k.key)
				}
			}
		}
		if d.Broker != "" {
			v.errorf(p+".broker", "broker is only for driver = \"mqtt\"")
		}
	case "mqtt":
		knownBroker(p+".broker", d.Broker, "an mqtt device")
		v.qos(p+".qos", d.QoS)
		if d.QoS == 2 {
			v.errorf(p+".qos", "qos 2: an mqtt device subscribes with qos 0 or 1")
		}
		for _, k := range []struct {
			key string
			set bool
		}{{"transport", d.Transport != ""}, {"address", d.Address != ""}, {"unit", d.Unit != nil}, {"timeout", d.Timeout != 0},
			{"baud", d.Baud != 0}, {"data_bits", d.DataBits != 0}, {"parity", d.Parity != ""}, {"stop_bits", d.StopBits != 0}, {"gap", d.Gap != nil}} {
			if k.set {
				v.errorf(p+"."+k.key, "%s is only for driver = \"modbus\"", k.key)
			}
		}
	}
}

func (v *validator) point(p string, d *Device, pt *Point) {
	v.enum(p+".priority", "priority", pt.Priority, Priorities, false)
	switch d.Driver {
	case "modbus":
		v.modbusPoint(p, pt)
		for _, k := range []struct {
			key string
			set bool
		}{{"topic", pt.Topic != ""}, {"path", pt.Path != ""}, {"time_path", pt.TimePath != ""}} {
			if k.set {
				v.errorf(p+"."+k.key, "%s is only for points of an mqtt device", k.key)
			}
		}
	case "mqtt":
		v.topic(p+".topic", pt.Topic, pt.Path != "")
		v.jsonPath(p+".path", pt.Path)
		v.jsonPath(p+".time_path", pt.TimePath)
		for _, k := range []struct {
			key string
			set bool
		}{{"register", pt.Register != ""}, {"address", pt.Address != nil}, {"type", pt.Type != ""}, {"bit", pt.Bit != nil}} {
			if k.set {
				v.errorf(p+"."+k.key, "%s is only for points of a modbus device", k.key)
			}
		}
	}
	if pt.Scale != nil && v.finite(p+".scale", *pt.Scale) && *pt.Scale == 0 {
		v.errorf(p+".scale", "scale must not be 0")
	}
	v.finite(p+".offset", pt.Offset)
	v.limits(p, pt)
	if v.finite(p+".deadband", pt.Deadband) && pt.Deadband < 0 {
		v.errorf(p+".deadband", "deadband (%g) must not be negative", pt.Deadband)
	}
	if v.finite(p+".roc", pt.ROC) && pt.ROC < 0 {
		v.errorf(p+".roc", "roc (%g) must not be negative (0 = off)", pt.ROC)
	}
	v.nonNegDur(p+".on_delay", pt.OnDelay)
	v.nonNegDur(p+".off_delay", pt.OffDelay)
	v.nonNegDur(p+".stale", pt.Stale)
	if pt.FaultDelay != nil {
		v.nonNegDur(p+".fault_delay", *pt.FaultDelay)
	}
	switch {
	case pt.AlarmOn == nil && pt.Tier != 0:
		v.errorf(p+".tier", "tier is the tier of the on alarm: set alarm_on too")
	case pt.Tier < 0 || pt.Tier > 2:
		v.errorf(p+".tier", "tier %d must be 1 or 2", pt.Tier)
	}
	v.presentation(p, pt)
}

func (v *validator) modbusPoint(p string, pt *Point) {
	v.enum(p+".register", "register", pt.Register, Registers, true)
	v.enum(p+".type", "type", pt.Type, Types, true)
	v.enum(p+".order", "order", pt.Order, Orders, false)
	bits := pt.Register == "coil" || pt.Register == "discrete"
	switch {
	case bits && pt.Type != "" && pt.Type != "bool":
		v.errorf(p+".type", "register %q holds bits: type must be \"bool\" (got %q)", pt.Register, pt.Type)
	case pt.Type == "bool" && (pt.Register == "holding" || pt.Register == "input"):
		v.errorf(p+".type", "type \"bool\" is for coil and discrete registers; take a bit of a %s register with type = \"uint16\" and bit", pt.Register)
	}
	if pt.Address == nil {
		v.errorf(p+".address", "address is required (zero-based)")
	} else if a := *pt.Address; a < 0 || a > 65535 {
		v.errorf(p+".address", "address %d must be 0..65535 (zero-based)", a)
	} else if n := RegisterCount(pt.Type); !bits && a+n-1 > 65535 {
		v.errorf(p+".address", "%s at %d needs %d registers and overflows the register space (last address 65535)", pt.Type, a, n)
	}
	if pt.Bit != nil {
		switch {
		case pt.Type != "int16" && pt.Type != "uint16":
			v.errorf(p+".bit", "bit needs type int16 or uint16 (got %q)", pt.Type)
		case *pt.Bit < 0 || *pt.Bit > 15:
			v.errorf(p+".bit", "bit %d must be 0..15", *pt.Bit)
		}
	}
}

// limits checks range and the hi/hihi/lo/lolo ladder. A relation error is
// reported at the key that must change (SPEC §3): hihi against the nearest
// limit below it, lolo against the nearest above it, lo against hi.
func (v *validator) limits(p string, pt *Point) {
	var lo, hi float64
	hasRange := false
	switch len(pt.Range) {
	case 0:
	case 2:
		if v.finite(idx(p+".range", 0), pt.Range[0]) && v.finite(idx(p+".range", 1), pt.Range[1]) {
			lo, hi = pt.Range[0], pt.Range[1]
			if lo >= hi {
				v.errorf(p+".range", "range [%g, %g]: the low end must be below the high end", lo, hi)
			} else {
				hasRange = true
			}
		}
	default:
		v.errorf(p+".range", "range must be [lo, hi] (got %d values)", len(pt.Range))
	}
	type limit struct {
		key string
		val *float64
	}
	all := []limit{{"lolo", pt.LoLo}, {"lo", pt.Lo}, {"hi", pt.Hi}, {"hihi", pt.HiHi}}
	var set []limit
	for _, l := range all {
		if l.val == nil || !v.finite(p+"."+l.key, *l.val) {
			continue
		}
		set = append(set, l)
		if hasRange && (*l.val < lo || *l.val > hi) {
			v.errorf(p+"."+l.key, "%s (%g) is outside range [%g, %g]", l.key, *l.val, lo, hi)
		}
	}
	if len(set) > 0 && pt.Type == "bool" {
		v.errorf(p+"."+set[0].key, "limit alarms need a numeric point; a bool point alarms with alarm_on")
	}
	find := func(key string) int {
		return slices.IndexFunc(set, func(l limit) bool { return l.key == key })
	}
	if i := find("hihi"); i > 0 {
		if b := set[i-1]; *set[i].val <= *b.val {
			v.errorf(p+".hihi", "hihi (%g) must be greater than %s (%g)", *set[i].val, b.key, *b.val)
		}
	}
	if i, j := find("lo"), find("hi"); i >= 0 && j >= 0 && *set[i].val >= *set[j].val {
		v.errorf(p+".lo", "lo (%g) must be less than hi (%g)", *set[i].val, *set[j].val)
	}
	if i := find("lolo"); i == 0 && len(set) > 1 {
		if a := set[1]; *set[0].val >= *a.val {
			v.errorf(p+".lolo", "lolo (%g) must be less than %s (%g)", *set[0].val, a.key, *a.val)
		}
	}
}

// buses checks devices that share a connection: the same (transport,
// address, unit) twice would poll one slave as two devices, and devices on
// one serial line must agree on its settings.
func (v *validator) buses(c *Config) {
	type slave struct {
		transport, address string
		unit               int
	}
	slaves := map[slave]string{}
	lines := map[string]int{} // serial path -> index of its first device
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Driver != "modbus" || d.Address == "" || d.Unit == nil {
			continue
		}
		p := idx("device", i)
		k := slave{d.Transport, d.Address, *d.Unit}
		if first, dup := slaves[k]; dup {
			v.errorf(p+".unit", "unit %d at %q is already polled as %s", *d.Unit, d.Address, v.where(first))
		} else {
			slaves[k] = p
		}
		if d.Transport != "rtu" {
			continue
		}
		j, seen := lines[d.Address]
		if !seen {
			lines[d.Address] = i
			continue
		}
		f := &c.Devices[j]
		for _, s := range []struct {
			key       string
			got, want any
		}{{"baud", d.Baud, f.Baud}, {"data_bits", d.DataBits, f.DataBits}, {"parity", d.Parity, f.Parity}, {"stop_bits", d.StopBits, f.StopBits}} {
			if s.got != s.want {
				v.errorf(p+"."+s.key, "%s %v differs from %v of %s on the same serial line %q", s.key, s.got, s.want, v.where(idx("device", j)), d.Address)
			}
		}
	}
}
