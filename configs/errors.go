package configs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a config file, positioned in the file.
//
// Line and Col are 1-based; Col counts bytes. Path is the key path with
// array-of-tables indexes, e.g. "device[1].point[0].hihi"; it is empty for a
// TOML syntax error. Line is 0 when the config has no source text (a Config
// built in code and checked with Validate).
type Error struct {
	File string
	Line int
	Col  int
	Path string
	Msg  string
}

// Error formats the error as FILE:LINE:COL: KEY.PATH: message (SPEC §2).
// The path is left out when there is none (syntax errors), and the position
// when there is no source text.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Col)
	} else if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one config, in file order. Load and Parse
// return it (as error) whenever the config is invalid.
type Errors []*Error

// Error is one line per error, each formatted as (*Error).Error.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As reach each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortDedup orders errors by position (then path, then message) and drops
// exact repeats.
func (es Errors) sortDedup() Errors {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Path, b.Path), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(es, func(a, b *Error) bool { return *a == *b })
}
