package configs

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// envPrefix marks a string value read from the environment: "env:NAME".
const envPrefix = "env:"

var (
	durationType = reflect.TypeFor[Duration]()
	stringType   = reflect.TypeFor[string]()
)

// resolve walks every field of c by its TOML key path. It replaces each
// "env:NAME" string with the variable's value (an unset variable is an error
// at that key) and rejects a duration written as a bare number, which
// go-toml would take as nanoseconds.
func (v *validator) resolve(c *Config, lookupEnv func(string) (string, bool)) {
	v.walk(reflect.ValueOf(c).Elem(), "", lookupEnv)
}

func (v *validator) walk(rv reflect.Value, path string, lookupEnv func(string) (string, bool)) {
	switch rv.Kind() {
	case reflect.Pointer:
		if !rv.IsNil() {
			v.walk(rv.Elem(), path, lookupEnv)
		}
	case reflect.Struct:
		t := rv.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fv := rv.Field(i)
			switch {
			case f.Type == durationType:
				if v.ix == nil {
					continue
				}
				p := join(path, tag)
				if k, ok := v.ix.kind[p]; ok && k != unstable.String {
					v.errorf(p, `want a duration string such as "500ms" or "2m", got %s (a bare number would be nanoseconds)`, kindWord(k))
				}
			case fv.Kind() == reflect.String && !strings.HasPrefix(fv.String(), envPrefix),
				fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() != reflect.Struct,
				fv.Kind() >= reflect.Bool && fv.Kind() <= reflect.Complex128:
				// Nothing to resolve: skip building the path.
			default:
				v.walk(fv, join(path, tag), lookupEnv)
			}
		}
	case reflect.Slice:
		for i := range rv.Len() {
			v.walk(rv.Index(i), path+"["+strconv.Itoa(i)+"]", lookupEnv)
		}
	case reflect.String:
		s := rv.String()
		if !strings.HasPrefix(s, envPrefix) || rv.Type() != stringType || !rv.CanSet() {
			return
		}
		name := strings.TrimPrefix(s, envPrefix)
		if !envName.MatchString(name) {
			v.errorf(path, "%q: an environment variable name must follow env: (letters, digits, _)", s)
			v.skip[path] = true
			return
		}
		val, ok := lookupEnv(name)
		if !ok {
			v.errorf(path, "environment variable %s is not set", name)
			v.skip[path] = true
			return
		}
		rv.SetString(val)
	}
}

func kindWord(k unstable.Kind) string {
	switch k {
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "an inline table"
	}
	return fmt.Sprintf("a %s", strings.ToLower(k.String()))
}
