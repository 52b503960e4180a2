package alarms

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Scenario files (testdata/scenarios/*.txt) are alarm tests as data, meant
// to be read by a process-safety engineer:
//
//	config ... end                 the gateway config (TOML) of the test
//	t=3s NH3-101 61.5 good         a sample at 3 s after the start
//	t=4s NH3-101 0 bad comm        a sample with its cause
//	t=5s NH3-101 70 good at=-1h    a sample stamped by a clock 1 h behind
//	t=5s                           time passes (timers, stale checks)
//	t=6s ack NH3-101:hihi by=zhang comment=seen
//	t=7s reset NH3-101:hihi => refused      a command and its expected error
//	t=8s shelve NH3-101:hi for=10m reason=maintenance
//	t=9s oos NH3-101 reason=calibration     (ios likewise)
//	t=10s raise FAN:linkage comment=refused (clear likewise: the linkage runner)
//	expect NH3-101:hihi unack tier=2 stage=0   the next event, and fields
//	expect none                    no further event so far
//
// Every event must be expected: at the end of the file none may be left.
// Times in `time=`, `activated=` and `shelved=` are offsets from the start.
var scenarioStart = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScenario(t, f) })
	}
}

func parseScenarioConfig(t testing.TB, text string) *configs.Config {
	var cfg configs.Config
	dec := toml.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("scenario config: %v", err)
	}
	cfg.SetDefaults()
	return &cfg
}

// pointsConfig is parseScenarioConfig of site S with one Modbus device D
// holding the given [[device.point]] tables.
func pointsConfig(t testing.TB, points string) *configs.Config {
	return parseScenarioConfig(t, "[site]\nid = \"S\"\n[[device]]\nid = \"D\"\ndriver = \"modbus\"\n"+points)
}

func runScenario(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var (
		m      *Machine
		queue  []Event
		cfgTxt strings.Builder
		inCfg  bool
		seq    uint64
	)
	line := 0
	fail := func(format string, a ...any) {
		t.Helper()
		t.Fatalf("%s:%d: %s", path, line, fmt.Sprintf(format, a...))
	}
	collect := func() {
		for _, ev := range m.Take() {
			if ev.Seq != seq+1 {
				fail("event seq %d after %d", ev.Seq, seq)
			}
			seq = ev.Seq
			queue = append(queue, ev)
		}
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if inCfg {
			if text == "end" {
				inCfg = false
				cfg := parseScenarioConfig(t, cfgTxt.String())
				if m, err = NewMachine(cfg, scenarioStart); err != nil {
					fail("%v", err)
				}
				continue
			}
			cfgTxt.WriteString(sc.Text() + "\n")
			continue
		}
		if i := strings.Index(text, "#"); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		f := strings.Fields(text)
		switch {
		case f[0] == "config":
			inCfg = true
		case f[0] == "expect":
			if m == nil {
				fail("expect before config")
			}
			if len(f) == 2 && f[1] == "none" {
				if len(queue) > 0 {
					fail("expected no event, got %s", describe(queue[0]))
				}
				continue
			}
			if len(queue) == 0 {
				fail("expected %s, got no event", strings.Join(f[1:], " "))
			}
			ev := queue[0]
			queue = queue[1:]
			if err := checkEvent(ev, f[1:]); err != nil {
				fail("%v\n\tgot %s", err, describe(ev))
			}
		case strings.HasPrefix(f[0], "t="):
			if m == nil {
				fail("time before config")
			}
			d, err := time.ParseDuration(strings.TrimPrefix(f[0], "t="))
			if err != nil {
				fail("%v", err)
			}
			now := scenarioStart.Add(d)
			m.Advance(now)
			collect()
			if len(f) > 1 {
				if err := scenarioInput(m, now, f[1:]); err != nil {
					fail("%v", err)
				}
				collect()
			}
		default:
			fail("cannot read %q", text)
		}
	}
	if len(queue) > 0 {
		line++
		fail("%d unexpected events at the end, first %s", len(queue), describe(queue[0]))
	}
}

func describe(ev Event) string {
	return fmt.Sprintf("#%d %s %s active=%v acked=%v latched=%v stage=%d tier=%d prio=%s value=%g time=%s notify=%v flood=%v",
		ev.Seq, ev.ID, ev.State, ev.Active, ev.Acked, ev.Latched, ev.Stage, ev.Tier, ev.Priority, ev.Value,
		ev.Time.Sub(scenarioStart), ev.Notify, ev.Flood)
}

// scenarioInput applies a sample or a command line (without its time).
func scenarioInput(m *Machine, now time.Time, f []string) error {
	var want string
	if i := slices.Index(f, "=>"); i >= 0 {
		if i+1 >= len(f) {
			return errors.New("=> needs an error: unknown, refused or invalid")
		}
		want, f = f[i+1], f[:i]
	}
	kv := map[string]string{}
	var args []string
	for _, a := range f[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = strings.ReplaceAll(v, "_", " ")
		} else {
			args = append(args, a)
		}
	}
	op := Op(f[0])
	switch op {
	case OpAck, OpReset, OpShelve, OpUnshelve, OpOOS, OpIOS, OpRaise, OpClear:
		if len(args) != 1 {
			return fmt.Errorf("%s needs one alarm or point", op)
		}
		c := Command{Op: op, By: kv["by"], Comment: kv["comment"]}
		if r, ok := kv["reason"]; ok {
			c.Comment = r
		}
		if op == OpOOS || op == OpIOS {
			c.Point = args[0]
		} else {
			c.Alarm = args[0]
		}
		if v, ok := kv["for"]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			c.For = d
		}
		_, err := m.Command(now, c)
		switch {
		case want == "" && err != nil:
			return fmt.Errorf("command failed: %v", err)
		case want == "":
			return nil
		case err == nil:
			return fmt.Errorf("command succeeded, want %s", want)
		case want == "unknown" && errors.Is(err, ErrUnknown),
			want == "refused" && errors.Is(err, ErrRefused),
			want == "invalid" && errors.Is(err, ErrInvalid):
			return nil
		}
		return fmt.Errorf("command error %v, want %s", err, want)
	}
	// A sample: POINT VALUE QUALITY [CAUSE] [at=OFFSET]; `at` is the
	// acquisition time (offset from the start; default: the line's time),
	// for devices whose clock is off.
	var at *time.Time
	if i := slices.IndexFunc(f, func(s string) bool { return strings.HasPrefix(s, "at=") }); i >= 0 {
		d, err := time.ParseDuration(strings.TrimPrefix(f[i], "at="))
		if err != nil {
			return err
		}
		a := scenarioStart.Add(d)
		at = &a
		f = slices.Delete(slices.Clone(f), i, i+1)
	}
	if len(f) < 3 {
		return fmt.Errorf("sample needs POINT VALUE QUALITY [CAUSE]")
	}
	s := drivers.Sample{Point: drivers.PointID(f[0]), Time: now}
	if f[1] == "-" {
		s.Value = math.NaN()
	} else {
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return err
		}
		s.Value = v
	}
	if err := s.Quality.UnmarshalText([]byte(f[2])); err != nil {
		return err
	}
	if len(f) > 3 {
		if err := s.Cause.UnmarshalText([]byte(f[3])); err != nil {
			return err
		}
	}
	if at != nil {
		s.Time = *at
	}
	m.Sample(now, s)
	return nil
}

// checkEvent compares ev with `ID STATE key=value...`.
func checkEvent(ev Event, f []string) error {
	if len(f) < 2 {
		return errors.New("expect needs ID and STATE")
	}
	var errs []string
	bad := func(k, want, got string) { errs = append(errs, fmt.Sprintf("%s: want %s, got %s", k, want, got)) }
	if ev.ID != f[0] {
		bad("id", f[0], ev.ID)
	}
	if ev.State.String() != f[1] {
		bad("state", f[1], ev.State.String())
	}
	offset := func(t *time.Time) string {
		if t == nil {
			return "null"
		}
		return t.Sub(scenarioStart).String()
	}
	for _, a := range f[2:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("cannot read %q (want key=value)", a)
		}
		var got string
		switch k {
		case "tier":
			got = strconv.Itoa(ev.Tier)
		case "stage":
			got = strconv.Itoa(ev.Stage)
		case "prio":
			got = ev.Priority.String()
		case "active":
			got = strconv.FormatBool(ev.Active)
		case "acked":
			got = strconv.FormatBool(ev.Acked)
		case "latched":
			got = strconv.FormatBool(ev.Latched)
		case "oos":
			got = strconv.FormatBool(ev.OOS)
		case "flood":
			got = strconv.FormatBool(ev.Flood)
		case "value":
			got = strconv.FormatFloat(ev.Value, 'g', -1, 64)
		case "limit":
			got = strconv.FormatFloat(ev.Limit, 'g', -1, 64)
		case "quality":
			got = ev.Quality
		case "time":
			got = offset(&ev.Time)
		case "activated":
			got = offset(ev.Activated)
		case "shelved":
			got = offset(ev.ShelvedUntil)
		case "by":
			got = ev.By
		case "comment":
			got = strings.ReplaceAll(ev.Comment, " ", "_")
		case "notify":
			got = strings.Join(ev.Notify, ",")
		default:
			return fmt.Errorf("unknown key %q", k)
		}
		if k == "time" || k == "activated" || k == "shelved" {
			if d, err := time.ParseDuration(v); err == nil {
				v = d.String()
			}
		}
		if got != v {
			bad(k, v, got)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
