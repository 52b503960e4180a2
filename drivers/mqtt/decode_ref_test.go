package mqtt

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// refFind is the obvious implementation of find with encoding/json: decode
// the whole document, walk it, re-encode the value found. FuzzFind holds
// find to it.
func refFind(data []byte, path []string) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, false
	}
	v := doc
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			n, ok := x[k]
			if !ok {
				return nil, false
			}
			v = n
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func canon(t *testing.T, raw []byte) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("find returned invalid JSON %q: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestFind(t *testing.T) {
	cases := []struct {
		doc, path, want string
		ok              bool
	}{
		{`{"a":1}`, "a", `1`, true},
		{` { "a" : { "b" : [ 1 , {"c": "x,}]"} ] } } `, "a.b.1.c", `"x,}]"`, true},
		{`{"a":1,"a":2}`, "a", `2`, true},
		{`{"a\u0062":3}`, "ab", `3`, true},
		{`{"a":[]}`, "a.0", ``, false},
		{`{"a":"s"}`, "a.b", ``, false},
		{`[10,20]`, "1", `20`, true},
		{`[10,20]`, "-1", ``, false},
		{`{"a":{"b":true}}`, "a", `{"b":true}`, true},
		{`{"k\"q":5}`, `k"q`, `5`, true},
	}
	for _, c := range cases {
		got, ok := find([]byte(c.doc), strings.Split(c.path, "."))
		if ok != c.ok || (ok && canon(t, got) != canon(t, []byte(c.want))) {
			t.Errorf("find(%s, %s) = %s, %v; want %s, %v", c.doc, c.path, got, ok, c.want, c.ok)
		}
	}
}

// FuzzFind: on every valid JSON document, find agrees with encoding/json.
func FuzzFind(f *testing.F) {
	for _, s := range []string{`{"a":{"b":[1,2,{"c":3}]}}`, `{"a":1,"a":{"b":2}}`, `[{"a":"x\"y"},{"b":null}]`, `{"\u0061":{"b":1}}`} {
		f.Add([]byte(s), "a.b")
	}
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		if !json.Valid(doc) || path == "" {
			return
		}
		p := strings.Split(path, ".")
		want, wok := refFind(doc, p)
		got, gok := find(doc, p)
		if wok != gok {
			t.Fatalf("find(%q, %q) found=%v, encoding/json found=%v", doc, path, gok, wok)
		}
		if !gok {
			return
		}
		wb, _ := json.Marshal(want)
		if g := canon(t, got); g != string(wb) {
			t.Fatalf("find(%q, %q) = %s, encoding/json %s", doc, path, g, wb)
		}
	})
}
