package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"hazardgw/configs"
)

// Scenario is one commissioning test: a timed script of plant events and
// the alarm events the console must show (docs/COMMISSIONING.md). Times
// count from the scenario's start, after Settle.
type Scenario struct {
	Name string `toml:"name"`
	// Config is the gateway config the scenario runs against, relative to
	// the scenario file (Load makes it absolute).
	Config string `toml:"config"`
	// Settle is how long the runner waits after connecting before t = 0,
	// so the gateway has good samples of every point (default 5s).
	Settle configs.Duration `toml:"settle"`
	// Within is the default tolerance of every expectation (default 5s).
	Within configs.Duration `toml:"within"`
	Steps  []Step           `toml:"step"`
	Expect []Expect         `toml:"expect"`

	// File is the path the scenario was read from; not a key.
	File string `toml:"-"`
}

// Step is one plant event at time At. Exactly one action is given:
// Set (hold Point at a value, or with Device and Coil set that coil: a
// hand switch in the field), Play (run a behaviour on Point from At),
// Release (Point back to its configured behaviour), Comm ("lost" or
// "restored" for Device) or Refuse (Device refuses writes, or accepts
// them again).
type Step struct {
	At      configs.Duration  `toml:"at"`
	Point   string            `toml:"point"`
	Device  string            `toml:"device"`
	Coil    *int              `toml:"coil"`
	Refuse  *bool             `toml:"refuse"`
	Set     *float64          `toml:"set"`
	Play    *configs.SimPoint `toml:"play"`
	Release bool              `toml:"release"`
	Comm    string            `toml:"comm"` // lost | restored
	Note    string            `toml:"note"` // printed when the step plays
}

// Expect is one expected alarm event (or, with None, the absence of one):
// an event of Alarm whose given fields match, received on the console
// between At and At + Within. Unset fields match anything. Instead of
// Alarm, an expectation may name a Linkage (its `linkage` frame, State
// one of SPEC §11's linkage states) or a Device and Coil (the simulated
// coil, read from the plant, reading Value).
type Expect struct {
	At       configs.Duration `toml:"at"`
	Alarm    string           `toml:"alarm"`    // POINT:COND
	Linkage  string           `toml:"linkage"`  // a [[linkage]] id
	Device   string           `toml:"device"`   // with Coil
	Coil     *int             `toml:"coil"`     // coil address on Device
	Value    *float64         `toml:"value"`    // the coil's value (0 or 1)
	State    string           `toml:"state"`    // normal unack acked rtn_unack latched shelved oos
	Active   *bool            `toml:"active"`   //
	Tier     *int             `toml:"tier"`     //
	Priority string           `toml:"priority"` // urgent high medium low
	Stage    *int             `toml:"stage"`    // escalation stage
	Within   configs.Duration `toml:"within"`   // default: the scenario's Within
	// None turns the expectation around: no matching event may arrive in
	// the window (a deadband that must hold, an alarm that must not
	// escalate yet).
	None bool   `toml:"none"`
	Note string `toml:"note"` // printed with the result
}

var conds = map[string]bool{"hihi": true, "hi": true, "lo": true, "lolo": true, "roc": true, "on": true, "fault": true, "comm": true, "stale": true,
	"vote": true, "dev": true, "linkage": true}

var linkStates = map[string]bool{"": true, "idle": true, "pending": true, "written": true, "confirmed": true, "failed": true, "released": true}

var states = map[string]bool{"": true, "normal": true, "unack": true, "acked": true, "rtn_unack": true, "latched": true, "shelved": true, "oos": true}

var priorities = map[string]bool{"": true, "urgent": true, "high": true, "medium": true, "low": true}

// Load reads a scenario file strictly (an unknown key is an error), fills
// defaults and checks it; Config is resolved against the file's folder.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	sc, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if sc.Config != "" && !filepath.IsAbs(sc.Config) {
		sc.Config = filepath.Join(filepath.Dir(path), sc.Config)
	}
	return sc, nil
}

// Parse is Load on bytes already read (Config is left as written).
func Parse(name string, data []byte) (*Scenario, error) {
	var sc Scenario
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		var se *toml.StrictMissingError
		if errors.As(err, &se) {
			var msgs []string
			for i := range se.Errors {
				line, col := se.Errors[i].Position()
				msgs = append(msgs, fmt.Sprintf("%s:%d:%d: unknown key %s", name, line, col, strings.Join(se.Errors[i].Key(), ".")))
			}
			return nil, errors.New(strings.Join(msgs, "\n"))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return nil, fmt.Errorf("%s:%d:%d: %s", name, line, col, de.Error())
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sc.File = name
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	if sc.Settle == 0 {
		sc.Settle = configs.Duration(5 * time.Second)
	}
	if sc.Within == 0 {
		sc.Within = configs.Duration(5 * time.Second)
	}
	for i := range sc.Expect {
		if sc.Expect[i].Within == 0 {
			sc.Expect[i].Within = sc.Within
		}
	}
	sort.SliceStable(sc.Steps, func(i, j int) bool { return sc.Steps[i].At < sc.Steps[j].At })
	if err := sc.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &sc, nil
}

func (sc *Scenario) validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if sc.Settle < 0 || sc.Within < 0 {
		bad("settle and within must not be negative")
	}
	for i, s := range sc.Steps {
		n := 0
		if s.Set != nil {
			n++
		}
		if s.Play != nil {
			n++
		}
		if s.Release {
			n++
		}
		if s.Comm != "" {
			n++
		}
		if s.Refuse != nil {
			n++
		}
		switch {
		case n != 1:
			bad("step[%d] (at %v): give exactly one of set, play, release, comm, refuse", i, s.At.D())
		case s.Coil != nil && (s.Set == nil || s.Device == "" || s.Point != ""):
			bad("step[%d]: coil goes with device and set (0 or 1), without point", i)
		case s.Refuse != nil && s.Device == "":
			bad("step[%d]: refuse needs device", i)
		case s.Coil != nil || s.Refuse != nil: // complete
		case s.Comm != "" && s.Comm != "lost" && s.Comm != "restored":
			bad("step[%d].comm: %q (want lost or restored)", i, s.Comm)
		case s.Comm != "" && s.Device == "":
			bad("step[%d]: comm needs device", i)
		case s.Comm == "" && s.Point == "":
			bad("step[%d]: set, play and release need point", i)
		}
		if s.At < 0 {
			bad("step[%d].at: negative", i)
		}
	}
	for i, e := range sc.Expect {
		n := 0
		for _, set := range []bool{e.Alarm != "", e.Linkage != "", e.Coil != nil} {
			if set {
				n++
			}
		}
		switch {
		case n != 1:
			bad("expect[%d]: give exactly one of alarm, linkage, coil", i)
		case e.Linkage != "":
			if !linkStates[e.State] {
				bad("expect[%d].state: unknown linkage state %q (want idle pending written confirmed failed released)", i, e.State)
			}
		case e.Coil != nil:
			if e.Device == "" || e.Value == nil || (*e.Value != 0 && *e.Value != 1) {
				bad("expect[%d]: coil needs device and value (0 or 1)", i)
			}
		default:
			point, cond, ok := strings.Cut(e.Alarm, ":")
			if !ok || point == "" || !conds[cond] {
				bad("expect[%d].alarm: %q is not POINT:COND with COND one of hihi hi lo lolo roc on fault comm stale vote dev linkage", i, e.Alarm)
			}
			if !states[e.State] {
				bad("expect[%d].state: unknown state %q", i, e.State)
			}
		}
		if !priorities[e.Priority] {
			bad("expect[%d].priority: unknown priority %q", i, e.Priority)
		}
		if e.At < 0 || e.Within < 0 {
			bad("expect[%d]: at and within must not be negative", i)
		}
	}
	if len(sc.Expect) == 0 {
		bad("no [[expect]]: a scenario that expects nothing cannot fail")
	}
	return errors.Join(errs...)
}

// Check reports every step and expectation that names a point or device
// cfg does not have, so an installer learns it before the plant moves.
func (sc *Scenario) Check(cfg *configs.Config) error {
	points, devices := map[string]*configs.Point{}, map[string]bool{}
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		devices[d.ID] = true
		for j := range d.Points {
			points[d.Points[j].ID] = &d.Points[j]
		}
	}
	var errs []error
	for i, s := range sc.Steps {
		if s.Point != "" && points[s.Point] == nil {
			errs = append(errs, fmt.Errorf("%s: step[%d].point: %q is not a point of %s", sc.File, i, s.Point, cfg.File))
		}
		if s.Device != "" && !devices[s.Device] {
			errs = append(errs, fmt.Errorf("%s: step[%d].device: %q is not a device of %s", sc.File, i, s.Device, cfg.File))
		}
	}
	rules := map[string]bool{}
	for _, v := range cfg.Votes {
		rules[v.ID+":vote"] = true
	}
	for _, d := range cfg.Deviations {
		rules[d.ID+":dev"] = true
	}
	links := map[string]bool{}
	for _, l := range cfg.Linkages {
		rules[l.ID+":linkage"], links[l.ID] = true, true
	}
	for i, e := range sc.Expect {
		if e.Linkage != "" && !links[e.Linkage] {
			errs = append(errs, fmt.Errorf("%s: expect[%d].linkage: %q is not a linkage of %s", sc.File, i, e.Linkage, cfg.File))
		}
		if e.Device != "" && !devices[e.Device] {
			errs = append(errs, fmt.Errorf("%s: expect[%d].device: %q is not a device of %s", sc.File, i, e.Device, cfg.File))
		}
		if e.Alarm == "" {
			continue
		}
		id, cond, _ := strings.Cut(e.Alarm, ":")
		if cond == "vote" || cond == "dev" || cond == "linkage" {
			if !rules[e.Alarm] {
				errs = append(errs, fmt.Errorf("%s: expect[%d].alarm: %s is not a [[%s]] of %s", sc.File, i, e.Alarm, map[string]string{"vote": "vote", "dev": "deviation", "linkage": "linkage"}[cond], cfg.File))
			}
			continue
		}
		p := points[id]
		if p == nil {
			errs = append(errs, fmt.Errorf("%s: expect[%d].alarm: %q is not a point of %s", sc.File, i, id, cfg.File))
			continue
		}
		if why := cannotRaise(p, cond); why != "" {
			errs = append(errs, fmt.Errorf("%s: expect[%d].alarm: %s can never be raised: %s in %s", sc.File, i, e.Alarm, why, cfg.File))
		}
	}
	return errors.Join(errs...)
}

// cannotRaise says why point p has no alarm cond, or "" when it may have
// one: an expectation on an alarm that cannot exist would pass (none) or
// fail for the wrong reason.
func cannotRaise(p *configs.Point, cond string) string {
	limit := map[string]*float64{"hi": p.Hi, "hihi": p.HiHi, "lo": p.Lo, "lolo": p.LoLo}
	switch cond {
	case "hi", "hihi", "lo", "lolo":
		if limit[cond] == nil {
			return "the point has no " + cond + " limit"
		}
	case "on":
		if p.AlarmOn == nil {
			return "the point has no alarm_on"
		}
	case "roc":
		if p.ROC == 0 {
			return "the point has no roc"
		}
	case "fault":
		if len(p.Range) != 2 {
			return "the point has no range"
		}
	}
	return ""
}

// End is when the scenario is over: its last step or the end of its last
// expectation window.
func (sc *Scenario) End() time.Duration {
	var end time.Duration
	for _, s := range sc.Steps {
		end = max(end, s.At.D())
	}
	for _, e := range sc.Expect {
		end = max(end, e.At.D()+e.Within.D())
	}
	return end
}

// String describes an expectation on one line.
func (e *Expect) String() string {
	var b strings.Builder
	if e.None {
		b.WriteString("no event of ")
	}
	switch {
	case e.Linkage != "":
		b.WriteString("linkage " + e.Linkage)
	case e.Coil != nil:
		fmt.Fprintf(&b, "coil %s:%d = %g", e.Device, *e.Coil, deref(e.Value))
	}
	b.WriteString(e.Alarm)
	if e.State != "" {
		b.WriteString(" " + e.State)
	}
	if e.Active != nil {
		fmt.Fprintf(&b, " active=%v", *e.Active)
	}
	if e.Tier != nil {
		fmt.Fprintf(&b, " tier %d", *e.Tier)
	}
	if e.Priority != "" {
		b.WriteString(" " + e.Priority)
	}
	if e.Stage != nil {
		fmt.Fprintf(&b, " stage %d", *e.Stage)
	}
	fmt.Fprintf(&b, " within %v of %v", e.Within.D(), e.At.D())
	return b.String()
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
