package configs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads the config at path and returns it decoded, with secrets
// resolved, defaults filled in, the built-in devices added (builtin.go),
// every rule of SPEC §3 checked and its warnings in Config.Warnings. An invalid
// config yields Errors (every problem, in file order); a file that cannot be
// read yields the wrapped *os.PathError.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; name is the file name used in error
// messages. `env:NAME` values are read from the process environment.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, os.LookupEnv)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// maxRetries bounds how many key-values with a wrong type are set aside
// (each costs one more decode) before the rest of the file is given up.
const maxRetries = 64

// parse runs the four steps: strict decode, env: secrets, defaults,
// validation. lookupEnv is injected for tests.
func parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if bytes.HasPrefix(data, utf8BOM) {
		// Windows editors write one; three spaces keep every column.
		data = append([]byte("   "), data[len(utf8BOM):]...)
	}
	ix, err := buildIndex(data, false)
	if err != nil {
		// Not TOML at all: the decoder positions the syntax error.
		var de *toml.DecodeError
		if errors.As(toml.Unmarshal(data, new(map[string]any)), &de) {
			line, col := de.Position()
			return nil, Errors{{File: name, Line: line, Col: col, Msg: decodeMsg(de.Error())}}
		}
		return nil, Errors{{File: name, Line: 1, Col: 1, Msg: err.Error()}}
	}

	var errs Errors
	v := &validator{file: name, ix: ix, skip: map[string]bool{}}
	// add reports a decoder error at the key it concerns; validation
	// stays quiet about that key (it was not decoded).
	add := func(p pos, path, msg string, table bool) {
		if kp, ok := ix.valKey[p]; ok {
			p = kp // a value of the wrong type: at its key
		} else if hp, ok := ix.headAt[p]; ok {
			p = hp // a table header: at its '['
		} else if table {
			p = ix.lookup(path) // an unknown table: at its '['
		}
		v.skip[path] = true
		errs = append(errs, &Error{File: name, Line: p.line, Col: p.col, Path: path, Msg: msg})
	}
	// Strict decode. A key-value of the wrong type stops go-toml's decoder;
	// it is reported, blanked out (newlines kept, so positions hold) and
	// the document decoded again, so one run reports every error.
	var c Config
	doc := data
	blanked := map[int]bool{} // start offsets already set aside
	for try := 0; ; try++ {
		c = Config{}
		dec := toml.NewDecoder(bytes.NewReader(doc))
		dec.DisallowUnknownFields()
		err := dec.Decode(&c)
		if err == nil {
			break
		}
		if !ix.reverse {
			// The decoder found something: map positions back to paths.
			if full, err := buildIndex(data, true); err == nil {
				ix, v.ix = full, full
			}
		}
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			for i := range strict.Errors {
				e := &strict.Errors[i]
				line, col := e.Position()
				p := pos{line, col}
				path, ok := ix.byKey[p]
				if !ok {
					path = strings.Join(e.Key(), ".")
				}
				what := "key"
				if strings.Contains(e.Error(), "table") {
					what = "table"
				}
				add(p, path, fmt.Sprintf("unknown %s %q%s", what, lastKey(e.Key()), suggest(path)), ok && what == "table")
			}
			break // the decode itself went to the end
		}
		var de *toml.DecodeError
		if !errors.As(err, &de) {
			add(pos{1, 1}, "", err.Error(), false)
			return nil, errs
		}
		line, col := de.Position()
		p := pos{line, col}
		path, ok := ix.byVal[p]
		if !ok {
			path, ok = ix.byKey[p]
		}
		if !ok {
			path = strings.Join(de.Key(), ".")
		}
		add(p, path, decodeMsg(de.Error()), false)
		// Blank what the decoder rejected and go again.
		start, end, ok := ix.span(ix.offset(p), len(data))
		if !ok || blanked[start] || try >= maxRetries {
			return nil, errs.sortDedup()
		}
		blanked[start] = true
		if try == 0 {
			doc = bytes.Clone(data)
		}
		for k := start; k < end; k++ {
			if doc[k] != '\n' && doc[k] != '\r' {
				doc[k] = ' '
			}
		}
	}
	c.File = name

	v.resolve(&c, lookupEnv)
	v.noteZeros(&c)
	c.SetDefaults()
	c.addBuiltin() // before validation: `check` sees what `run` runs
	v.validate(&c)
	errs = append(errs, v.errs...)
	if len(errs) > 0 {
		return nil, errs.sortDedup()
	}
	v.warnings(&c)
	return &c, nil
}

// Validate checks every rule of SPEC §3 on a Config built in code (defaults
// already set). Its errors carry key paths but no positions.
func (c *Config) Validate() error {
	v := &validator{file: c.File}
	v.validate(c)
	if len(v.errs) > 0 {
		return v.errs.sortDedup()
	}
	return nil
}

func lastKey(k toml.Key) string {
	if len(k) == 0 {
		return ""
	}
	return k[len(k)-1]
}

var cannotDecode = regexp.MustCompile(`^cannot decode TOML (\w+(?: \w+)?) into (?:struct field \S+ of type |a Go value of type )?(\S+)$`)

// decodeMsg turns go-toml's messages into an installer's words.
func decodeMsg(msg string) string {
	msg = strings.TrimPrefix(msg, "toml: ")
	if m := cannotDecode.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("want %s, got %s", goTypeWord(m[2]), tomlWord(m[1]))
	}
	return msg
}

func goTypeWord(t string) string {
	t = strings.TrimPrefix(t, "*")
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "configs.Duration":
		return `a duration string such as "500ms"`
	case t == "configs.Size":
		return `a size such as "512MiB"`
	case t == "[]float64":
		return "an array of numbers"
	case t == "[]string":
		return "an array of strings"
	case strings.HasPrefix(t, "[]"):
		return "an array of tables"
	case strings.HasPrefix(t, "configs."):
		return "a table"
	}
	return t
}

func tomlWord(k string) string {
	switch k {
	case "integer", "array":
		return "an " + k
	case "inline table":
		return "an inline table"
	}
	return "a " + k
}
