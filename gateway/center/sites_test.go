package center

import (
	"encoding/json"
	"testing"
	"time"

	"hazardgw/alarms"
)

// TestSiteSeqs drives a site's de-duplication, gaps and replay requests as
// data: seqs arriving, lost ranges, and what the site then holds.
func TestSiteSeqs(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	type step struct {
		at      time.Duration
		arrive  uint64 // a new event (0: none)
		lost    [2]uint64
		hwm     uint64
		replay  bool   // a replay request is due at this step
		after   uint64 // ... asking after this seq
		missing bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			{arrive: 1, hwm: 1}, {arrive: 2, hwm: 2}, {arrive: 3, hwm: 3},
		}},
		{"a gap asked at once, again with backoff, filled", []step{
			{arrive: 1, hwm: 1},
			{arrive: 4, hwm: 1, replay: true, after: 1, missing: true},
			{at: 500 * time.Millisecond, hwm: 1, missing: true},                             // not yet: 1 s backoff
			{at: time.Second, hwm: 1, replay: true, after: 1, missing: true},                // again after 1 s
			{at: 2 * time.Second, hwm: 1, missing: true},                                    // now 2 s
			{at: 3 * time.Second, hwm: 1, replay: true, after: 1, missing: true},            // again
			{at: 3 * time.Second, arrive: 2, hwm: 2, replay: true, after: 2, missing: true}, // progress: asked at once from there
			{at: 3 * time.Second, arrive: 3, hwm: 4},
			{at: 10 * time.Second, hwm: 4},
		}},
		{"first contact above 1", []step{
			{arrive: 7, hwm: 0, replay: true, after: 0, missing: true},
			{lost: [2]uint64{1, 5}, hwm: 5, replay: true, after: 5, missing: true}, // progress: asked again from there
			{arrive: 6, hwm: 7},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite("S", "hazard/S")
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				if st.lost[1] > 0 {
					s.markLost(st.lost[0], st.lost[1])
				}
				if st.arrive > 0 {
					if s.has(st.arrive) {
						t.Fatalf("step %d: %d already held", i, st.arrive)
					}
					s.store(uint64(i+1), alarms.Event{Seq: st.arrive, ID: "P:hi", State: alarms.Unack, Priority: alarms.High}, json.RawMessage(`{}`))
				}
				after, due := s.replayDue(now)
				if s.hwm != st.hwm || due != st.replay || (due && after != st.after) || s.missing() != st.missing {
					t.Fatalf("step %d (%+v): hwm %d, replay %v after %d, missing %v", i, st, s.hwm, due, after, s.missing())
				}
			}
			for i := 1; i < len(s.events); i++ {
				if s.events[i-1].Seq >= s.events[i].Seq {
					t.Fatalf("events out of site seq order: %d then %d", s.events[i-1].Seq, s.events[i].Seq)
				}
			}
		})
	}
}

// TestSiteAlarmTable: a replayed older event does not undo a later one.
func TestSiteAlarmTable(t *testing.T) {
	s := newSite("S", "hazard/S")
	s.store(1, alarms.Event{Seq: 3, ID: "P:hi", State: alarms.Normal, Priority: alarms.High}, nil)
	s.store(2, alarms.Event{Seq: 2, ID: "P:hi", State: alarms.Unack, Active: true, Priority: alarms.High}, nil)
	if _, ok := s.alarms["P:hi"]; ok {
		t.Error("the replayed activation (seq 2) came back over its return to normal (seq 3)")
	}
	s.store(3, alarms.Event{Seq: 4, ID: "Q:hihi", State: alarms.Unack, Active: true, Priority: alarms.Urgent, Notify: []string{"commander"}}, nil)
	s.store(4, alarms.Event{Seq: 5, ID: "R:lo", State: alarms.Unack, Active: true, Priority: alarms.Low}, nil)
	sum := s.summary()
	if sum.Worst == nil || sum.Worst.ID != "Q:hihi" || sum.Active["urgent"] != 1 || sum.Active["low"] != 1 ||
		len(sum.Escalated) != 1 || sum.Escalated[0] != "Q:hihi" {
		t.Errorf("summary %+v", sum)
	}
}

// TestOffline: silence for offline_after, and an offline status, make a
// site offline; a message brings it back unless its status said offline.
func TestOffline(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	s := newSite("S", "hazard/S")
	s.seen(t0)
	if s.status != Online || s.tick(t0.Add(29*time.Second), 30*time.Second) {
		t.Fatalf("status %s before offline_after", s.status)
	}
	if !s.tick(t0.Add(30*time.Second), 30*time.Second) || s.status != Offline || !s.since.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("status %s since %v after offline_after", s.status, s.since)
	}
	s.seen(t0.Add(31 * time.Second))
	if s.status != Online {
		t.Fatalf("status %s after a message", s.status)
	}
	s.setStatus(Offline, t0.Add(32*time.Second))
	s.seen(t0.Add(33 * time.Second)) // a late sample: the will said offline
	if s.status != Offline {
		t.Fatalf("status %s after the offline status and a late message", s.status)
	}
	s.setStatus(Online, t0.Add(34*time.Second))
	if s.status != Online {
		t.Fatalf("status %s after online", s.status)
	}
}

// TestReplayAnswers drives the reading of replay answers as data: the
// messages of a site's alarm topic (new, replayed or redelivered) and the
// requests the center publishes, then what the site is found to have lost.
// A seq is lost only when two answers in a row start beyond it.
func TestReplayAnswers(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	const ask = 0 // a step that publishes the due replay request
	for _, tc := range []struct {
		name     string
		steps    []uint64 // a seq arriving, or ask
		lost     uint64
		hwm      uint64
		requests int
	}{
		{"gap filled by the answer", []uint64{1, 2, 3, 10, ask, 4, 5, 6, 7, 8, 9, 10}, 0, 10, 1},
		{"a redelivered old message while the request is out is not an answer",
			// 10 again (the broker redelivers it): asked again at once; the
			// site still holds 4..9 and answers them.
			[]uint64{1, 2, 3, 10, ask, 10, ask, 4, 5, 6, 7, 8, 9, 10, 4, 5, 6, 7, 8, 9, 10}, 0, 10, 2},
		{"two answers from the site's oldest: lost for good",
			[]uint64{1, 2, 3, 10, ask, 7, 8, 9, 10, ask, 7, 8, 9, 10}, 3, 10, 2},
		{"first contact above 1, the site's journal starts at 4",
			[]uint64{6, 7, ask, 4, 5, 6, 7, ask, 4, 5, 6, 7}, 3, 7, 2},
		{"live events during the request do not start an answer",
			[]uint64{1, 2, 3, 10, ask, 11, 12, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 0, 12, 1},
		{"answers that disagree: asked until two agree",
			[]uint64{1, 2, 3, 10, ask, 8, 9, 10, ask, 6, 7, 8, 9, 10, ask, 6, 7, 8, 9, 10}, 2, 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite("S", "hazard/S")
			requests := 0
			for i, seq := range tc.steps {
				now := t0.Add(time.Duration(i) * time.Millisecond) // within the 1 s backoff: only a forced re-ask is due
				if seq == ask {
					after, due := s.replayDue(now)
					if !due || after != s.hwm {
						t.Fatalf("step %d: no request due (due %v after %d, hwm %d)", i, due, after, s.hwm)
					}
					requests++
					continue
				}
				if from, to, lost := s.answer(seq); lost {
					s.markLost(from, to)
				}
				if !s.has(seq) {
					s.store(uint64(i+1), alarms.Event{Seq: seq, ID: "P:hi", State: alarms.Unack, Priority: alarms.High}, json.RawMessage(`{}`))
				}
			}
			if _, due := s.replayDue(t0.Add(time.Duration(len(tc.steps)) * time.Millisecond)); due {
				requests++
			}
			if s.lost != tc.lost || s.hwm != tc.hwm || requests != tc.requests {
				t.Fatalf("lost %d hwm %d requests %d, want lost %d hwm %d requests %d",
					s.lost, s.hwm, requests, tc.lost, tc.hwm, tc.requests)
			}
		})
	}
}
