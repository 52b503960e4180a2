package configs

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// keyAliases maps the key names installers bring from Telegraf's modbus and
// mqtt_consumer inputs and from Kepware's Modbus driver (lower case, spaces
// as underscores) to ours, with what differs.
var keyAliases = map[string]struct{ key, note string }{
	"slave_id":          {"unit", "Telegraf's slave_id is our unit"},
	"slave":             {"unit", "the Modbus slave id is our unit"},
	"unit_id":           {"unit", "the Modbus unit id is our unit"},
	"device_id":         {"unit", "Kepware's Device ID is our unit"},
	"station":           {"unit", "the Modbus station is our unit"},
	"byte_order":        {"order", "Telegraf's byte_order is our order: ABCD CDAB BADC DCBA"},
	"word_order":        {"order", "the word order is part of our order: ABCD CDAB BADC DCBA"},
	"endianness":        {"order", "our order: ABCD CDAB BADC DCBA"},
	"data_type":         {"type", "Telegraf's data_type is our type"},
	"datatype":          {"type", "Kepware's Data Type is our type"},
	"register_type":     {"register", "holding | input | coil | discrete"},
	"function":          {"register", "holding (FC03) | input (FC04) | coil (FC01) | discrete (FC02)"},
	"controller":        {"address", "Telegraf's controller is our device address"},
	"baud_rate":         {"baud", "Telegraf's and Kepware's baud rate is our baud"},
	"baudrate":          {"baud", "our baud"},
	"transmission_mode": {"transport", "Telegraf's transmission_mode is our transport: tcp | rtu | rtu-over-tcp"},
	"scan_rate":         {"interval", "Kepware's Scan Rate is our poll interval"},
	"poll_interval":     {"interval", "our poll interval"},
	"tag_name":          {"id", "a Kepware tag name is our point id"},
	"measurement":       {"id", "a Telegraf measurement or field name is our point id"},
	"description":       {"name", "our name"},
	"scaled_units":      {"unit", "Kepware's Scaled Units is our unit"},
	"units":             {"unit", "our unit"},
	"topics":            {"topic", "one topic per point"},
	"servers":           {"url", "one url per [[broker]]"},
	"server":            {"url", "our broker url"},
	"json_query":        {"path", "a dot path such as \"data.value\""},
	"json_time_key":     {"time_path", "our time_path"},
	"factor":            {"scale", "value = raw * scale + offset"},
	"multiplier":        {"scale", "value = raw * scale + offset"},
	"bit_offset":        {"bit", "our bit (0..15)"},
	"high_alarm":        {"hi", "tier 1 high limit"},
	"high_high_alarm":   {"hihi", "tier 2 high limit"},
}

// valueAliases maps enumeration values of other tools (lower case) to ours.
var valueAliases = map[string]string{
	"holding_register": "holding", "holding_registers": "holding", "hr": "holding", "4x": "holding",
	"input_register": "input", "input_registers": "input", "ir": "input", "3x": "input",
	"coils": "coil", "0x": "coil",
	"discrete_input": "discrete", "discrete_inputs": "discrete", "di": "discrete", "1x": "discrete",
	"float32-ieee": "float32", "float": "float32", "real": "float32", "float64-ieee": "float64", "double": "float64",
	"word": "uint16", "short": "int16", "dword": "uint32", "long": "int32", "boolean": "bool", "int": "int16",
	"rtu_over_tcp": "rtu-over-tcp", "rtuovertcp": "rtu-over-tcp",
	"none": "N", "even": "E", "odd": "O",
	"big": "ABCD", "big-endian": "ABCD", "little": "DCBA", "little-endian": "DCBA",
}

// suggestValue returns `; did you mean "x"?` when s is a value of list in
// the wrong case or another tool's name for one.
func suggestValue(s string, list []string) string {
	for _, w := range list {
		if strings.EqualFold(s, w) {
			return fmt.Sprintf("; did you mean %q?", w)
		}
	}
	if w, ok := valueAliases[strings.ToLower(s)]; ok && slices.Contains(list, w) {
		return fmt.Sprintf("; did you mean %q?", w)
	}
	return ""
}

// suggestPath proposes our dot path for a JSONPath or jq one:
// "$.data[0].t" and ".data[0].t" become "data.0.t".
func suggestPath(p string) string {
	q := strings.TrimPrefix(strings.TrimPrefix(p, "$"), ".")
	q = strings.NewReplacer("['", ".", "']", "", `["`, ".", `"]`, "", "[", ".", "]", "").Replace(q)
	q = strings.Trim(q, ".")
	for _, el := range strings.Split(q, ".") {
		if el == "" || strings.ContainsAny(el, "$*?@'\"") {
			return ""
		}
	}
	return fmt.Sprintf("; did you mean %q?", q)
}

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
	keys := tags(t)
	if a, ok := keyAliases[strings.ToLower(last)]; ok && slices.Contains(keys, a.key) {
		return fmt.Sprintf("; did you mean %q? (%s)", a.key, a.note)
	}
	if lower := strings.ToLower(last); lower != last && slices.Contains(keys, lower) {
		return fmt.Sprintf("; did you mean %q?", lower)
	}
	// At most one edit for short keys, two for longer ones.
	best, bestD := "", 2
	if len(last) > 5 {
		bestD = 3
	}
	for _, k := range keys {
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
