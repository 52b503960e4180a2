package alarms

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// slot is one (state, input, latch) cell of the state table.
type slot struct {
	from  State
	in    input
	latch latch
}

func (s slot) String() string {
	l := "no latch"
	if s.latch == latching {
		l = "latch"
	}
	return fmt.Sprintf("%s + %s (%s)", s.from, s.in, l)
}

// cores are the states alarm.st takes; shelved and oos are overlays.
var cores = []State{Normal, Unack, Acked, RtnUnack, Latched}

// specSays is SPEC §5 and the diagram in docs/ALARMS.md ("States"), written
// out cell by cell independently of the table: the state each input leads
// to, refused (an operator command SPEC §5 refuses), or impossible (the
// input cannot reach an alarm in that state).
//
//	SPEC §5: "normal→unack on activation; unack→acked on ack; unack→rtn_unack
//	on clearing; acked→normal on clearing (or acked→latched when latch);
//	rtn_unack→normal on ack (or →latched when latch); latched→normal on
//	reset; reset is refused while the condition still holds. A new activation
//	of a rtn_unack alarm makes it unack again."
//	ALARMS.md: latched → unack on a new activation; ack is refused when the
//	alarm is already acknowledged (or normal); reset is refused unless
//	latched, and a latch alarm still rtn_unack must be acknowledged first;
//	shelve keeps the state underneath; unshelve/expiry: still active → unack
//	(re-annunciated), not active → normal (or latched); oos: flags cleared;
//	ios → normal. SPEC §5 chatter: a chattering alarm's clearing is held.
func specSays(s slot) (to State, refused, impossible bool) {
	latch := s.latch == latching
	active := s.from == Unack || s.from == Acked
	switch s.in {
	case inActivate:
		if active {
			return 0, false, true
		}
		return Unack, false, false
	case inClear:
		switch {
		case !active:
			return 0, false, true
		case s.from == Unack:
			return RtnUnack, false, false
		case latch:
			return Latched, false, false
		}
		return Normal, false, false
	case inAck:
		switch {
		case s.from == Unack:
			return Acked, false, false
		case s.from == RtnUnack && latch:
			return Latched, false, false
		case s.from == RtnUnack:
			return Normal, false, false
		}
		return 0, true, false
	case inReset:
		if s.from == Latched {
			return Normal, false, false
		}
		return 0, true, false
	case inShelve:
		return s.from, false, false
	case inUnshelve:
		switch {
		case active:
			return Unack, false, false
		case s.from == RtnUnack && latch:
			return Latched, false, false
		case s.from == RtnUnack:
			return Normal, false, false
		}
		return s.from, false, false
	case inOOS:
		return Normal, false, false
	case inIOS:
		if s.from == Normal {
			return Normal, false, false
		}
		return 0, false, true // out of service is normal underneath
	case inHold:
		// SPEC §5 chatter: "held active (no clearing events) until its
		// condition has stayed gone for 60 s".
		if active {
			return s.from, false, false
		}
		return 0, false, true
	}
	panic("unknown input")
}

// TestTransitionTable checks the table itself: every (state, input, latch)
// has exactly one row, and every row says what SPEC §5 says.
func TestTransitionTable(t *testing.T) {
	for _, from := range cores {
		for in := range nInputs {
			for _, l := range []latch{noLatch, latching} {
				s := slot{from, in, l}
				var rows []transition
				for _, r := range table {
					if r.from == from && r.in == in && (r.latch == either || r.latch == l) {
						rows = append(rows, r)
					}
				}
				if len(rows) != 1 {
					t.Errorf("%s: %d rows, want exactly 1", s, len(rows))
					continue
				}
				r := rows[0]
				if steps[from][in][l] == nil || *steps[from][in][l] != r {
					t.Errorf("%s: the index does not hold the row", s)
				}
				to, refused, impossible := specSays(s)
				switch {
				case impossible != (r.do&never != 0):
					t.Errorf("%s: table never=%v, SPEC says impossible=%v", s, r.do&never != 0, impossible)
				case refused != (r.do&refuse != 0):
					t.Errorf("%s: table refuses=%v (%q), SPEC says refused=%v", s, r.do&refuse != 0, r.why, refused)
				case refused && r.why == "":
					t.Errorf("%s: refused without a reason", s)
				case !refused && !impossible && r.to != to:
					t.Errorf("%s: table -> %s, SPEC -> %s", s, r.to, to)
				case r.to > Latched:
					t.Errorf("%s: -> %s, not a state of the annunciation sequence", s, r.to)
				}
			}
		}
	}
	for _, r := range table {
		if !r.from.core() {
			t.Errorf("row from %s: shelved and oos are overlays, not table states", r.from)
		}
	}
}

// walkConfig has a point N (hi 50, no latch) and L (hi 50, latch).
func walkConfig() *configs.Config {
	hi := 50.0
	cfg := &configs.Config{Site: configs.Site{ID: "WALK"}, Devices: []configs.Device{{ID: "D", Driver: "modbus",
		Interval: configs.Duration(time.Second), Points: []configs.Point{
			{ID: "N", Hi: &hi, Stale: configs.Duration(time.Hour)},
			{ID: "L", Hi: &hi, Latch: true, Stale: configs.Duration(time.Hour)},
		}}}}
	cfg.SetDefaults()
	return cfg
}

// coreOf is the state underneath an event's overlays, from its flags as
// docs/ALARMS.md derives it.
func coreOf(ev Event) State {
	switch {
	case ev.Active && ev.Acked:
		return Acked
	case ev.Active:
		return Unack
	case !ev.Acked:
		return RtnUnack
	case ev.Latched:
		return Latched
	}
	return Normal
}

// TestTransitionWalk drives a real Machine through every cell of the table:
// an alarm is put in the state (as a journal replay would), the input is
// applied the way production applies it (a sample, a command, the shelf's
// expiry), and the result must be the row's: the new state in one event, a
// refusal with the row's reason and no event, or nothing at all.
func TestTransitionWalk(t *testing.T) {
	t0 := scenarioStart
	for _, from := range cores {
		for in := range nInputs {
			for _, l := range []latch{noLatch, latching} {
				s := slot{from, in, l}
				t.Run(strings.ReplaceAll(s.String(), " ", "_"), func(t *testing.T) {
					m, err := NewMachine(walkConfig(), t0)
					if err != nil {
						t.Fatal(err)
					}
					pt := "N"
					if l == latching {
						pt = "L"
					}
					id := pt + ":hi"
					ev := Event{Seq: 1, ID: id, State: from, Active: from.active(), Acked: !from.unacked(),
						Latched: from == Latched || (from == RtnUnack && l == latching), Value: 0, Quality: "good"}
					if in == inUnshelve {
						until := t0.Add(time.Hour)
						ev.ShelvedUntil, ev.State = &until, Shelved
					}
					if in == inIOS && from == Normal {
						ev.OOS, ev.State = true, OOS
					}
					m.Restore(ev, t0)
					now := t0.Add(time.Second)
					var cerr error
					switch in {
					case inActivate:
						m.Sample(now, drivers.Sample{Point: drivers.PointID(pt), Value: 60, Time: now})
					case inClear:
						m.Sample(now, drivers.Sample{Point: drivers.PointID(pt), Value: 40, Time: now})
					case inAck:
						_, cerr = m.Command(now, Command{Op: OpAck, Alarm: id, By: "op"})
					case inReset:
						_, cerr = m.Command(now, Command{Op: OpReset, Alarm: id, By: "op"})
					case inShelve:
						_, cerr = m.Command(now, Command{Op: OpShelve, Alarm: id, For: 10 * time.Minute, Comment: "walk"})
					case inUnshelve:
						m.Advance(t0.Add(time.Hour)) // the shelf expires
					case inOOS:
						_, cerr = m.Command(now, Command{Op: OpOOS, Point: pt, Comment: "walk"})
					case inIOS:
						_, cerr = m.Command(now, Command{Op: OpIOS, Point: pt})
					case inHold:
						// The alarm has just activated 6 times (chatter),
						// then its condition goes.
						ai, _ := m.find(id)
						for range chatterActs {
							m.chatterOf(ai).activated(now.UnixNano())
						}
						m.Sample(now, drivers.Sample{Point: drivers.PointID(pt), Value: 40, Time: now})
					}
					var mine []Event
					for _, e := range m.Take() {
						if e.ID == id {
							mine = append(mine, e)
						}
					}
					r := steps[from][in][l]
					switch {
					case r.do&never != 0:
						if len(mine) != 0 {
							t.Fatalf("impossible input produced %+v", mine)
						}
					case r.do&doHold != 0:
						if cerr != nil || len(mine) != 0 {
							t.Fatalf("got error %v and events %+v, want the clearing held", cerr, mine)
						}
						// Gone for 60 s: it clears as an unheld clearing would.
						m.Advance(now.Add(time.Minute))
						var later []Event
						for _, e := range m.Take() {
							if e.ID == id {
								later = append(later, e)
							}
						}
						if want := steps[from][inClear][l].to; len(later) != 1 || coreOf(later[0]) != want {
							t.Fatalf("after 60 s gone: %+v, want one event -> %s", later, want)
						}
					case r.do&refuse != 0:
						if !errors.Is(cerr, ErrRefused) || !strings.Contains(cerr.Error(), r.why) || len(mine) != 0 {
							t.Fatalf("got error %v and events %+v, want refused (%s) and no event", cerr, mine, r.why)
						}
					default:
						if cerr != nil || len(mine) != 1 {
							t.Fatalf("got error %v and %d events, want one event", cerr, len(mine))
						}
						if got := coreOf(mine[0]); got != r.to {
							t.Fatalf("-> %s (event %s active=%v acked=%v latched=%v), table says %s",
								got, mine[0].State, mine[0].Active, mine[0].Acked, mine[0].Latched, r.to)
						}
						// A latch alarm's rtn_unack says it will latch on ack.
						if want := r.to == Latched || (r.to == RtnUnack && l == latching); mine[0].Latched != want {
							t.Fatalf("-> %s with latched=%v, want %v", r.to, mine[0].Latched, want)
						}
					}
				})
			}
		}
	}
}
