package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestErrorFormat(t *testing.T) {
	errs := Errors{
		{File: "plant.toml", Line: 42, Col: 1, Path: "device[1].point[0].hihi", Msg: "hihi (50) must be greater than hi (60)"},
		{File: "plant.toml", Line: 3, Col: 7, Msg: "expected ']]' to close array table name"},
		{File: "plant.toml", Path: "site.id", Msg: "site id is required"},
	}
	want := "plant.toml:42:1: device[1].point[0].hihi: hihi (50) must be greater than hi (60)\n" +
		"plant.toml:3:7: expected ']]' to close array table name\n" +
		"plant.toml: site.id: site id is required"
	if got := errs.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var one *Error
	if !errors.As(error(errs), &one) || one.Line != 42 {
		t.Errorf("errors.As did not reach the first *Error: %v", one)
	}
}

// TestGoldenLineFormat checks every expected error line has the SPEC §2
// shape FILE:LINE:COL: KEY.PATH: message (syntax errors have no path).
func TestGoldenLineFormat(t *testing.T) {
	line := regexp.MustCompile(`^[a-z0-9-]+\.(bad|warn)\.toml:[1-9][0-9]*:[1-9][0-9]*: [a-z_]+(\[[0-9]+\])?(\.[a-z_]+(\[[0-9]+\])?)*: \S.*$`)
	files, _ := filepath.Glob("testdata/*.bad.txt")
	warns, _ := filepath.Glob("testdata/*.warn.txt")
	files = append(files, warns...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if !line.MatchString(l) && !strings.HasPrefix(filepath.Base(f), "syntax") {
				t.Errorf("%s: line not in FILE:LINE:COL: KEY.PATH: message form: %q", f, l)
			}
		}
	}
}

func TestEnvResolved(t *testing.T) {
	doc := `
[site]
id = "env:SITE"
[[console.user]]
name = "zhang"
role = "operator"
token = "env:ZHANG_TOKEN"
[[device]]
id = "GC-1"
driver = "modbus"
address = "127.0.0.1:1502"
`
	env := map[string]string{"SITE": "SQ-COLD-01", "ZHANG_TOKEN": "s3cret"}
	c, err := parse("env.toml", []byte(doc), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Site.ID != "SQ-COLD-01" || c.Console.Users[0].Token != "s3cret" {
		t.Errorf("env not resolved: site %q token %q", c.Site.ID, c.Console.Users[0].Token)
	}
	// The secret never appears in an error message.
	delete(env, "SITE")
	_, err = parse("env.toml", []byte(doc+"[[console.user]]\nname = \"li\"\nrole = \"viewer\"\ntoken = \"env:ZHANG_TOKEN\"\n"),
		func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("want errors without the secret, got %v", err)
	}
	if want := "env.toml:3:1: site.id: environment variable SITE is not set"; !strings.Contains(err.Error(), want) {
		t.Errorf("missing %q in\n%v", want, err)
	}
}

func TestDefaults(t *testing.T) {
	doc, err := os.ReadFile("testdata/defaults.good.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parse("defaults.toml", doc, lookupTestEnv)
	if err != nil {
		t.Fatal(err)
	}
	mb, rtu, mq := c.Devices[0], c.Devices[1], c.Devices[2]
	checks := []struct {
		name      string
		got, want any
	}{
		{"console.listen", c.Console.Listen, "127.0.0.1:8080"},
		{"console.max_shelve", c.Console.MaxShelve.D(), 60 * time.Minute},
		{"store.dir", c.Store.Dir, "var"},
		{"store.history", c.Store.History.D(), 24 * time.Hour},
		{"store.outbox.max_bytes", c.Store.Outbox.MaxBytes, Size(1 << 30)},
		{"broker.listen", c.Brokers[0].Listen, "127.0.0.1:1883"},
		{"broker.client_id", c.Brokers[0].ClientID, "gw-DEF-01"},
		{"device.transport", mb.Transport, "tcp"},
		{"device.unit", *mb.Unit, 1},
		{"device.interval", mb.Interval.D(), time.Second},
		{"device.timeout", mb.Timeout.D(), 300 * time.Millisecond},
		{"device.comm_after", mb.CommAfter, 3},
		{"device.gap", *mb.Gap, 10},
		{"point.scale", *mb.Points[0].Scale, 1.0},
		{"point.order", mb.Points[0].Order, "ABCD"},
		{"point.stale (1s poll)", mb.Points[0].Stale.D(), 3 * time.Second},
		{"point.tier (alarm_on)", mb.Points[1].Tier, 2},
		{"rtu.baud", rtu.Baud, 9600},
		{"rtu.data_bits", rtu.DataBits, 8},
		{"rtu.parity", rtu.Parity, "E"},
		{"rtu.stop_bits", rtu.StopBits, 1},
		{"point.stale (2s poll)", rtu.Points[0].Stale.D(), 6 * time.Second},
		{"mqtt comm_after", mq.CommAfter, 1},
		{"mqtt stale", mq.Points[0].Stale.D(), 30 * time.Second},
		{"mqtt unit", mq.Unit == nil, true},
		{"notify.kind", c.Notify[0].Kind, "mqtt"},
		{"escalation.min_priority", c.Escalation.MinPriority, "medium"},
		{"uplink.samples_every", c.Uplink.SamplesEvery.D(), 5 * time.Second},
		{"uplink.prefix", c.Uplink.Prefix, "hazard/DEF-01"},
	}
	for _, k := range checks {
		if fmt.Sprint(k.got) != fmt.Sprint(k.want) {
			t.Errorf("%s = %v, want %v", k.name, k.got, k.want)
		}
	}
	// SetDefaults is idempotent.
	before := fmt.Sprintf("%+v", *c)
	c.SetDefaults()
	if after := fmt.Sprintf("%+v", *c); after != before {
		t.Errorf("SetDefaults changed a defaulted config")
	}
}

func TestLoad(t *testing.T) {
	c, err := Load("testdata/minimal.good.toml")
	if err != nil || c.File != "testdata/minimal.good.toml" {
		t.Fatalf("Load: %v", err)
	}
	_, err = Load("testdata/no-such-file.toml")
	var errs Errors
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &errs) {
		t.Errorf("missing file: want a wrapped fs.ErrNotExist, got %T %v", err, err)
	}
	_, err = Load("testdata/limits.bad.toml")
	if !errors.As(err, &errs) || len(errs) < 10 || errs[0].File != "testdata/limits.bad.toml" {
		t.Errorf("bad file: want every error as Errors, got %v", err)
	}
}

// TestValidate covers a Config built in code: key paths without positions.
func TestValidate(t *testing.T) {
	hi, hihi := 60.0, 50.0
	c := &Config{Site: Site{ID: "CODE-01"}, Devices: []Device{{
		ID: "GC-1", Driver: "modbus", Address: "127.0.0.1:1502",
		Points: []Point{{ID: "P1", Register: "holding", Type: "uint16", Hi: &hi, HiHi: &hihi}},
	}}}
	c.SetDefaults()
	err := c.Validate()
	want := "device[0].point[0].address: address is required (zero-based)\n" +
		"device[0].point[0].hihi: hihi (50) must be greater than hi (60)"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestRegisterCount(t *testing.T) {
	for typ, n := range map[string]int{"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "int64": 4, "uint64": 4, "float64": 4} {
		if got := RegisterCount(typ); got != n {
			t.Errorf("RegisterCount(%s) = %d, want %d", typ, got, n)
		}
	}
}
