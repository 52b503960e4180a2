package configs

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// pos is a 1-based line and byte column in the source.
type pos struct{ line, col int }

// index maps every key path of a TOML document to where it is written, so
// validation can position its errors. Paths are written as validation names
// them: "device[1].point[0].hihi", "escalation.stage[0].notify[2]".
type index struct {
	at      map[string]pos           // path -> position shown in errors (key start; table header '[')
	kind    map[string]unstable.Kind // path of a key-value -> kind of its value
	byKey   map[pos]string           // position of a key's first part -> path
	byVal   map[pos]string           // position of a value -> path
	valKey  map[pos]pos              // position of a key-value's value -> of its key
	exprs   []unstable.Range         // top-level key-value expressions, in order
	heads   []int                    // offsets of the table headers' '[', in order
	headAt  map[pos]pos              // position of a header's first key -> of its '['
	reverse bool                     // byKey, byVal, valKey, headAt are filled
	lines   []int                    // byte offset of the start of each line
}

// newIndex sizes the maps for a document of about n key-values. The
// reverse maps (position -> path) are only built when reverse is set: they
// serve decoder errors, and a valid file has none.
func newIndex(n int, reverse bool) *index {
	ix := &index{
		at:   make(map[string]pos, n),
		kind: make(map[string]unstable.Kind, n),
	}
	if reverse {
		ix.reverse = true
		ix.byKey = make(map[pos]string, n)
		ix.byVal = make(map[pos]string, n)
		ix.valKey = make(map[pos]pos, n)
		ix.headAt = map[pos]pos{}
	}
	return ix
}

// buildIndex walks data with go-toml's unstable parser. It returns the
// parser's error for a document that is not valid TOML syntax.
func buildIndex(data []byte, reverse bool) (*index, error) {
	lines := []int{0}
	for i, c := range data {
		if c == '\n' {
			lines = append(lines, i+1)
		}
	}
	ix := newIndex(len(lines), reverse)
	ix.lines = lines
	arrays := map[string]int{} // array-of-tables path -> elements so far
	table := ""                // path of the current table
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			start := headerStart(data, int(n.Child().Raw.Offset))
			ix.heads = append(ix.heads, start)
			at := ix.pos(start)
			keyAt := ix.pos(int(n.Child().Raw.Offset))
			if reverse {
				ix.headAt[keyAt] = at
			}
			parts := keyParts(n)
			path := ""
			for i, part := range parts {
				path = join(path, part)
				last := i == len(parts)-1
				if last && n.Kind == unstable.ArrayTable {
					ix.record(path, at)
					k := arrays[path]
					arrays[path] = k + 1
					path += "[" + strconv.Itoa(k) + "]"
				} else if k, ok := arrays[path]; ok && k > 0 {
					path += "[" + strconv.Itoa(k-1) + "]"
				}
				ix.record(path, at)
			}
			if _, ok := ix.byKey[keyAt]; !ok && reverse {
				ix.byKey[keyAt] = path
			}
			table = path
		case unstable.KeyValue:
			ix.exprs = append(ix.exprs, n.Raw)
			ix.keyValue(table, n)
		}
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	return ix, nil
}

// keyValue records a key-value (and, for inline tables and arrays, what is
// inside it) under the table path prefix.
func (ix *index) keyValue(prefix string, n *unstable.Node) {
	keyAt := ix.pos(int(n.Child().Next().Raw.Offset))
	path := prefix
	for _, part := range keyParts(n) {
		path = join(path, part)
		ix.record(path, keyAt)
	}
	if ix.reverse {
		ix.byKey[keyAt] = path
		if v := n.Value(); v.Raw.Length > 0 {
			ix.valKey[ix.pos(int(v.Raw.Offset))] = keyAt
		}
	}
	ix.value(path, n.Value())
}

func (ix *index) value(path string, v *unstable.Node) {
	ix.kind[path] = v.Kind
	if ix.reverse && v.Raw.Length > 0 {
		ix.byVal[ix.pos(int(v.Raw.Offset))] = path
	}
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				ix.keyValue(path, c)
			}
		}
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			el := path + "[" + strconv.Itoa(i) + "]"
			i++
			if c.Raw.Length > 0 {
				ix.record(el, ix.pos(int(c.Raw.Offset)))
			}
			ix.value(el, c)
		}
	}
}

// record keeps the first position seen for path.
func (ix *index) record(path string, p pos) {
	if _, ok := ix.at[path]; !ok {
		ix.at[path] = p
	}
}

// lookup is the position of path, or of its nearest written ancestor (a key
// that is absent is reported at its table), or 1:1.
func (ix *index) lookup(path string) pos {
	for path != "" {
		if p, ok := ix.at[path]; ok {
			return p
		}
		path = parent(path)
	}
	return pos{1, 1}
}

// pos converts a byte offset to a position.
func (ix *index) pos(off int) pos {
	i, found := slices.BinarySearch(ix.lines, off)
	if !found {
		i--
	}
	return pos{i + 1, off - ix.lines[i] + 1}
}

// offset converts a position back to a byte offset (-1 when outside).
func (ix *index) offset(p pos) int {
	if p.line < 1 || p.line > len(ix.lines) {
		return -1
	}
	return ix.lines[p.line-1] + p.col - 1
}

// parent strips the last ".key" or "[i]" of a path.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func keyParts(n *unstable.Node) []string {
	var parts []string
	it := n.Key()
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// headerStart walks back from a table header's first key to its '['.
func headerStart(data []byte, off int) int {
	i := off
	for i > 0 && (data[i-1] == '[' || data[i-1] == ' ' || data[i-1] == '\t') {
		i--
	}
	for i < off && data[i] != '[' {
		i++
	}
	return i
}

// span returns the byte range to set aside when the decoder rejects what
// is at off: the top-level key-value holding it or, for a table header,
// the whole table up to the next header. ok is false when off is in neither.
func (ix *index) span(off, size int) (start, end int, ok bool) {
	for _, r := range ix.exprs {
		if int(r.Offset) <= off && off < int(r.Offset+r.Length) {
			return int(r.Offset), int(r.Offset + r.Length), true
		}
	}
	for i, h := range ix.heads {
		if h <= off && off < ix.lineEnd(h) {
			end := size
			if i+1 < len(ix.heads) {
				end = ix.heads[i+1]
			}
			return h, end, true
		}
	}
	return 0, 0, false
}

// lineEnd is the offset of the end of the line holding off.
func (ix *index) lineEnd(off int) int {
	p := ix.pos(off)
	if p.line < len(ix.lines) {
		return ix.lines[p.line]
	}
	return int(^uint(0) >> 1)
}
