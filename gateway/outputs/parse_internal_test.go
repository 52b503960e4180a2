package outputs

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestParseNotice: what a notice must be to be shown (the district wire
// contract), as data.
func TestParseNotice(t *testing.T) {
	const ok = `{"id": "D-1", "site": "S1", "text": "检查", "by": "chen", "time": "2026-11-28T08:00:00.000Z"}`
	for _, tc := range []struct {
		name, payload string
		foreign       bool // refused as another site's
		valid         bool
	}{
		{"valid", ok, false, true},
		{"another site", strings.Replace(ok, `"S1"`, `"S2"`, 1), true, false},
		{"no site", `{"id": "D-1", "text": "x", "by": "c", "time": "2026-11-28T08:00:00Z"}`, false, false},
		{"no id", strings.Replace(ok, `"D-1"`, `""`, 1), false, false},
		{"id with a newline", strings.Replace(ok, `"D-1"`, `"D\n1"`, 1), false, false},
		{"blank text", strings.Replace(ok, `"检查"`, `"  "`, 1), false, false},
		{"text too long", strings.Replace(ok, `"检查"`, `"`+strings.Repeat("x", MaxNoticeText+1)+`"`, 1), false, false},
		{"bad time", strings.Replace(ok, `2026-11-28T08:00:00.000Z`, `yesterday`, 1), false, false},
		{"as the center sends it (its own keys ignored)", strings.Replace(ok, `{`, `{"acked": false, `, 1), false, true},
		{"a field of the wrong type", strings.Replace(ok, `"chen"`, `7`, 1), false, false},
		{"two objects", ok + ok, false, false},
		{"not an object", `["D-1"]`, false, false},
		{"empty", ``, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := parseNotice([]byte(tc.payload), "S1")
			if (err == nil) != tc.valid || errors.Is(err, errForeignSite) != tc.foreign {
				t.Fatalf("parseNotice: %+v, %v; want valid %v, foreign %v", n, err, tc.valid, tc.foreign)
			}
			if tc.valid && (n.ID != "D-1" || n.Site != "S1" || n.Text != "检查" || n.By != "chen" || n.Time.IsZero()) {
				t.Fatalf("parsed %+v", n)
			}
		})
	}
}

func FuzzParseNotice(f *testing.F) {
	f.Add([]byte(`{"id": "D-1", "site": "S1", "text": "检查", "by": "chen", "time": "2026-11-28T08:00:00.000Z"}`))
	f.Add([]byte(`{"id": "D-1", "site": "S2"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseNotice(b, "S1")
		if err != nil {
			return
		}
		if n.Site != "S1" || n.ID == "" || len(n.ID) > MaxNoticeID || len(n.Text) > MaxNoticeText ||
			!utf8.ValidString(n.Text) || strings.TrimSpace(n.Text) == "" || n.Time.IsZero() {
			t.Fatalf("accepted %+v from %q", n, b)
		}
	})
}

func FuzzParseReplay(f *testing.F) {
	f.Add([]byte(`{"after": 5}`))
	f.Add([]byte(`{"after": 5, "by": "SQ-DISTRICT"}`))
	f.Add([]byte(`{"after": -1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseReplay(b)
		if err == nil && r.After == nil {
			t.Fatalf("accepted %q without after", b)
		}
	})
}
