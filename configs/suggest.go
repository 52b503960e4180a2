package configs

import (
	"fmt"
	"reflect"
	"strings"
)

// suggest returns `; did you mean "x"?` when the last key of path is a
// small misspelling of a key the table at its parent accepts.
func suggest(path string) string {
	t := reflect.TypeFor[Config]()
	parts := strings.Split(path, ".")
	for _, part := range parts[:len(parts)-1] {
		if i := strings.IndexByte(part, '['); i >= 0 {
			part = part[:i]
		}
		f, ok := fieldByTag(t, part)
		if !ok {
			return ""
		}
		t = f
	}
	last := parts[len(parts)-1]
	if i := strings.IndexByte(last, '['); i >= 0 {
		last = last[:i]
	}
	// At most one edit for short keys, two for longer ones.
	best, bestD := "", 2
	if len(last) > 5 {
		bestD = 3
	}
	for _, k := range tags(t) {
		if d := distance(last, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// deref strips pointers and slices down to the element struct type.
func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t
}

func fieldByTag(t reflect.Type, tag string) (reflect.Type, bool) {
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("toml") == tag {
			return f.Type, true
		}
	}
	return nil, false
}

func tags(t reflect.Type) []string {
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

// distance is the optimal-string-alignment distance of two short keys:
// insertions, deletions, substitutions and swaps of neighbours cost 1.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
