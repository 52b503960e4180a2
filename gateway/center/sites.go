package center

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// Site status values (the `status` of a site summary).
const (
	Online  = "online"
	Offline = "offline"
	Unknown = "unknown" // known from the journal only, nothing heard since the center started
)

// site is what the center knows of one site. Owned by Center, under its mu.
type site struct {
	id, prefix string

	// De-duplication and gaps, in the site's seq: every seq <= hwm is
	// stored or lost; pending holds the seqs above hwm already stored
	// (they arrived ahead of a gap). maxSeen is the highest seq stored.
	hwm, maxSeen uint64
	pending      map[uint64]bool
	lost         uint64 // seqs the site no longer had when asked (permanent gaps)
	gaps         uint64 // gaps detected
	replays      uint64 // replay requests published
	dups         uint64 // duplicates dropped

	// The replay wanted: asked for seqs after replayAfter, at replayAt,
	// again after replayBackoff.
	replayOpen    bool
	replayAfter   uint64
	replayAt      time.Time
	replayBackoff time.Duration
	// Reading the answers (answer): ansWait is set when a request is
	// published (the next message above hwm that does not continue the
	// current run starts its answer); ansNext continues the current run
	// of consecutive seqs; cand is where the last answer started when
	// that was beyond hwm+1 (lost only if the next answer agrees).
	ansWait bool
	ansNext uint64
	cand    uint64

	// events is the recent window: the latest recentEvents stored, in
	// site seq order. Every stored event with a seq above floor is in it;
	// older ones are read from the journal. count is every event stored.
	events []stored
	floor  uint64
	count  int
	// fed: every stored seq up to it was handed to the site's InfluxDB
	// store (feedStore), in order.
	fed     uint64
	alarms  map[string]alarms.Event       // alarms not normal, by id
	latest  map[string]uint64             // every alarm's latest seq (normal ones too: a replayed older event must not revive it)
	samples map[string]drivers.SampleJSON // latest sample per point

	status   string    // online | offline | unknown
	stated   string    // the last PREFIX/status payload's status
	since    time.Time // of status
	lastSeen time.Time // any message

	notices []*notice
}

// recentEvents is the size of a site's window of recent events (memory
// per site: about 700 bytes an event).
const recentEvents = 256

// stored is one event of the journal: center seq, site seq, the event as
// published.
type stored struct {
	CSeq, Seq uint64
	Raw       json.RawMessage
}

// siteState is a site at the head of a journal segment (kindSite): what
// rebuilding it needs when older segments are gone.
type siteState struct {
	Prefix  string                        `json:"prefix"`
	HWM     uint64                        `json:"hwm"`
	MaxSeen uint64                        `json:"max_seen"`
	Pending []uint64                      `json:"pending,omitempty"`
	Lost    uint64                        `json:"lost,omitempty"`
	Gaps    uint64                        `json:"gaps,omitempty"`
	Replays uint64                        `json:"replays,omitempty"`
	Dups    uint64                        `json:"dups,omitempty"`
	Count   int                           `json:"count"`
	Alarms  []alarms.Event                `json:"alarms,omitempty"`
	Latest  map[string]uint64             `json:"latest,omitempty"`
	Samples map[string]drivers.SampleJSON `json:"samples,omitempty"`
	Notices []*notice                     `json:"notices,omitempty"`
}

// state is the site's siteState.
func (s *site) state() siteState {
	st := siteState{Prefix: s.prefix, HWM: s.hwm, MaxSeen: s.maxSeen, Lost: s.lost, Gaps: s.gaps, Replays: s.replays,
		Dups: s.dups, Count: s.count, Latest: s.latest, Samples: s.samples, Notices: s.notices}
	for q := range s.pending {
		st.Pending = append(st.Pending, q)
	}
	slices.Sort(st.Pending)
	for _, ev := range s.alarms {
		st.Alarms = append(st.Alarms, ev)
	}
	slices.SortFunc(st.Alarms, func(a, b alarms.Event) int { return strings.Compare(a.ID, b.ID) })
	return st
}

// restore sets the site to st (journal rebuild). The window keeps what the
// rebuild put in it; events up to st.MaxSeen that are not there are read
// from the journal.
func (s *site) restore(st siteState) {
	if st.Prefix != "" {
		s.prefix = st.Prefix
	}
	s.hwm, s.maxSeen, s.lost, s.gaps, s.replays, s.dups, s.count = st.HWM, st.MaxSeen, st.Lost, st.Gaps, st.Replays, st.Dups, st.Count
	s.pending = map[uint64]bool{}
	for _, q := range st.Pending {
		s.pending[q] = true
	}
	s.alarms = map[string]alarms.Event{}
	for _, ev := range st.Alarms {
		s.alarms[ev.ID] = ev
	}
	s.latest, s.samples = st.Latest, st.Samples
	if s.latest == nil {
		s.latest = map[string]uint64{}
	}
	if s.samples == nil {
		s.samples = map[string]drivers.SampleJSON{}
	}
	s.notices = st.Notices
	if len(s.events) == 0 {
		s.floor = max(s.floor, st.MaxSeen)
	}
}

// notice is a notice the center sent, and its acknowledgement.
type notice struct {
	ID    string          `json:"id"`
	Site  string          `json:"site"`
	Text  string          `json:"text"`
	By    string          `json:"by"`
	Time  string          `json:"time"`
	Acked bool            `json:"acked"`
	Ack   json.RawMessage `json:"ack,omitempty"` // {"id","site","by","time","comment"} as the site sent it
}

func newSite(id, prefix string) *site {
	return &site{id: id, prefix: prefix, pending: map[uint64]bool{}, alarms: map[string]alarms.Event{}, latest: map[string]uint64{},
		samples: map[string]drivers.SampleJSON{}, status: Unknown}
}

// has reports whether seq is stored (or lost) already.
func (s *site) has(seq uint64) bool { return seq <= s.hwm || s.pending[seq] }

// store takes a new event (not a duplicate: the caller checked has).
// It keeps events in site seq order and the alarm table at each alarm's
// latest event, whatever order the replay delivers them in.
func (s *site) store(cseq uint64, ev alarms.Event, raw json.RawMessage) {
	i, _ := slices.BinarySearchFunc(s.events, ev.Seq, func(x stored, seq uint64) int { return cmp.Compare(x.Seq, seq) })
	s.events = slices.Insert(s.events, i, stored{CSeq: cseq, Seq: ev.Seq, Raw: raw})
	if len(s.events) > recentEvents {
		s.floor = max(s.floor, s.events[0].Seq)
		s.events[0] = stored{}
		s.events = s.events[1:]
	}
	s.count++
	if ev.Seq > s.maxSeen {
		s.maxSeen = ev.Seq
	}
	if ev.Seq == s.hwm+1 {
		s.hwm = ev.Seq
		s.advance()
	} else {
		s.pending[ev.Seq] = true
	}
	if s.latest[ev.ID] > ev.Seq {
		return // a replayed older event: the table has a later one
	}
	s.latest[ev.ID] = ev.Seq
	if ev.State == alarms.Normal {
		delete(s.alarms, ev.ID)
		return
	}
	s.alarms[ev.ID] = ev
}

// markLost records seqs from..to as never to come (those stored ahead of
// the gap are not counted).
func (s *site) markLost(from, to uint64) {
	if to < from || to <= s.hwm {
		return
	}
	from = max(from, s.hwm+1)
	s.lost += to - from + 1
	for q := range s.pending {
		if q >= from && q <= to {
			s.lost--
			delete(s.pending, q)
		}
	}
	s.hwm = to
	s.advance()
}

// forceReplay is a replayAfter no hwm equals: the next replayDue asks at once.
const forceReplay = ^uint64(0)

// answer reads an alarm message of seq while a replay is open, before it
// is stored, and reports the seqs the site's answers show lost for good.
//
// A site answers a request {"after": hwm} with its journal's events after
// hwm, in order (one run of consecutive seqs), from its oldest event when
// it no longer holds hwm+1. A single message above hwm+1 is no proof of
// that: the broker may redeliver an old message while the request is out.
// So an answer starting at F > hwm+1 makes F a candidate and asks again at
// once; the seqs hwm+1..F-1 are lost only when the next answer starts at F
// too. An answer starting at hwm+1 clears the candidate.
func (s *site) answer(seq uint64) (from, to uint64, lost bool) {
	if seq == s.ansNext {
		s.ansNext++ // the current run goes on
		return 0, 0, false
	}
	s.ansNext = seq + 1
	if !s.replayOpen {
		s.cand = 0
		return 0, 0, false
	}
	if !s.ansWait || seq <= s.hwm {
		return 0, 0, false
	}
	s.ansWait = false
	switch {
	case seq == s.hwm+1:
		s.cand = 0
	case seq == s.cand:
		s.cand = 0
		return s.hwm + 1, seq - 1, true
	default:
		s.cand = seq
		s.replayAfter = forceReplay // ask again at once: does the next answer agree?
	}
	return 0, 0, false
}

// advance moves hwm over the pending seqs that follow it.
func (s *site) advance() {
	for s.pending[s.hwm+1] {
		delete(s.pending, s.hwm+1)
		s.hwm++
	}
	if len(s.pending) == 0 && s.hwm >= s.maxSeen {
		s.replayOpen = false
	}
}

// missing reports whether the site has a gap: seqs below maxSeen not
// stored, or (first contact) seqs before the first one heard.
func (s *site) missing() bool { return s.hwm < s.maxSeen }

// Replay backoff: first re-ask after replayFirst, doubling to replayMax.
const (
	replayFirst = time.Second
	replayMax   = 30 * time.Second
)

// replayDue reports whether a replay request (after hwm) is due at now, and
// notes it as sent.
func (s *site) replayDue(now time.Time) (after uint64, due bool) {
	if !s.missing() {
		s.replayOpen = false
		return 0, false
	}
	switch {
	case !s.replayOpen || s.replayAfter != s.hwm:
		// A new gap, or progress since the last request: ask at once.
		s.replayOpen, s.replayBackoff = true, replayFirst
	case now.Before(s.replayAt.Add(s.replayBackoff)):
		return 0, false
	default:
		s.replayBackoff = min(2*s.replayBackoff, replayMax)
	}
	s.replayAfter, s.replayAt = s.hwm, now
	s.ansWait = true
	s.replays++
	return s.hwm, true
}

// seen notes a message from the site at now.
func (s *site) seen(now time.Time) {
	s.lastSeen = now
	if s.stated != Offline && s.status != Online {
		s.status, s.since = Online, now
	}
}

// tick applies offline_after at now; it reports whether the status changed.
func (s *site) tick(now time.Time, offlineAfter time.Duration) bool {
	if s.status == Online && now.Sub(s.lastSeen) >= offlineAfter {
		s.status, s.since = Offline, now
		return true
	}
	return false
}

// setStatus applies a PREFIX/status message.
func (s *site) setStatus(status string, now time.Time) {
	s.stated = status
	s.lastSeen = now
	if s.status != status {
		s.status, s.since = status, now
	}
}

// priorityRank orders priorities, worst first.
func priorityRank(p alarms.Priority) int {
	return int(alarms.Urgent - p) // urgent 0 ... low 3
}

// Summary is a site at a glance: the `site` frame and GET /api/sites.
type Summary struct {
	Site        string         `json:"site"`
	Prefix      string         `json:"prefix"`
	Status      string         `json:"status"`
	Since       *string        `json:"since"`
	LastSeen    *string        `json:"last_seen"`
	Seq         uint64         `json:"seq"`       // every seq up to this is stored or lost
	MaxSeq      uint64         `json:"max_seq"`   // highest seq stored
	Missing     uint64         `json:"missing"`   // seqs below max_seq not (yet) stored
	Lost        uint64         `json:"lost"`      // seqs the site no longer had
	Gaps        uint64         `json:"gaps"`      // gaps detected
	Replays     uint64         `json:"replays"`   // replay requests sent
	Events      int            `json:"events"`    // events stored
	Active      map[string]int `json:"active"`    // active alarms by priority
	Unacked     int            `json:"unacked"`   // alarms not acknowledged
	Worst       *alarms.Event  `json:"worst"`     // the worst alarm not normal
	Escalated   []string       `json:"escalated"` // alarms whose escalation names commander
	NoticesOpen int            `json:"notices_open"`
}

func tstr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := alarms.FormatTime(t)
	return &s
}

// summary builds the site's Summary.
func (s *site) summary() Summary {
	sum := Summary{Site: s.id, Prefix: s.prefix, Status: s.status, Since: tstr(s.since), LastSeen: tstr(s.lastSeen),
		Seq: s.hwm, MaxSeq: s.maxSeen, Missing: s.maxSeen - s.hwm - uint64(len(s.pending)), Lost: s.lost,
		Gaps: s.gaps, Replays: s.replays, Events: s.count,
		Active: map[string]int{"urgent": 0, "high": 0, "medium": 0, "low": 0}, Escalated: []string{}}
	var worst *alarms.Event
	for _, ev := range s.alarms {
		if ev.Active {
			sum.Active[ev.Priority.String()]++
		}
		if !ev.Acked {
			sum.Unacked++
		}
		if slices.Contains(ev.Notify, "commander") {
			sum.Escalated = append(sum.Escalated, ev.ID)
		}
		if worst == nil || worse(ev, *worst) {
			e := ev
			worst = &e
		}
	}
	slices.Sort(sum.Escalated)
	sum.Worst = worst
	for _, n := range s.notices {
		if !n.Acked {
			sum.NoticesOpen++
		}
	}
	return sum
}

// worse orders alarms for "the worst one": active before cleared, then by
// priority, then unacknowledged first, then the higher stage, then the
// older activation, then by id (a stable answer).
func worse(a, b alarms.Event) bool {
	if a.Active != b.Active {
		return a.Active
	}
	if ra, rb := priorityRank(a.Priority), priorityRank(b.Priority); ra != rb {
		return ra < rb
	}
	if a.Acked != b.Acked {
		return !a.Acked
	}
	if a.Stage != b.Stage {
		return a.Stage > b.Stage
	}
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.ID < b.ID
}
