package outputs

import "testing"

// TestReplayExtends: one replay at a time; a request during a replay
// extends it to the lower after and to the live cursor of the request,
// never shortens it; a chunk published while a request went further back
// does not skip that request's events.
func TestReplayExtends(t *testing.T) {
	wakes := 0
	r := &replay{wake: func() { wakes++ }}
	type want struct {
		pos, end uint64
		ok       bool
	}
	check := func(name string, cursor uint64, w want) {
		t.Helper()
		pos, end, ok := r.next(cursor)
		if (want{pos, end, ok}) != w {
			t.Errorf("%s: next(%d) = %d, %d, %v; want %+v", name, cursor, pos, end, ok, w)
		}
	}
	check("idle", 50, want{0, 0, false})
	r.request(10)
	check("started: ends at the live cursor", 50, want{10, 50, true})
	r.request(20)
	check("a later after extends only the end", 60, want{10, 60, true})
	r.request(5)
	check("an earlier after extends it", 60, want{5, 60, true})
	r.advance(10, 30, false) // a chunk read before the extension
	check("the extension is kept", 60, want{5, 60, true})
	r.advance(5, 40, false)
	check("advanced", 60, want{40, 60, true})
	r.advance(40, 60, true)
	check("done", 60, want{60, 60, false})
	r.request(55)
	check("a new replay ends at the new cursor", 70, want{55, 70, true})
	r.request(60) // while the last chunk is under way
	r.advance(55, 70, true)
	check("the last chunk does not end a replay extended meanwhile", 80, want{70, 80, true})
	if wakes != 5 {
		t.Errorf("%d wake-ups, want one per request (5)", wakes)
	}
}
