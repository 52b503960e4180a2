package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"hazardgw/alarms"
	"hazardgw/configs"
)

// Plant is what a scenario drives: *sim.Plant implements it.
type Plant interface {
	Set(point string, v float64) error
	Play(point string, b configs.SimPoint) error
	Release(point string) error
	CommLoss(device string, lost bool) error
	SetCoil(device string, addr int, on bool) error
	Coil(device string, addr int) (bool, error)
	RefuseWrites(device string, refuse bool) error
}

// Options are Run's inputs besides the scenario.
type Options struct {
	Against string    // the gateway's websocket, ws://HOST:PORT/ws
	Token   string    // console token (viewer is enough); empty: none
	Plant   Plant     // the simulated plant serving the gateway's devices
	Out     io.Writer // PASS/FAIL lines for the installer; nil: discarded
	Log     *slog.Logger
}

// Received is one alarm event as the console delivered it, stamped with
// the time since the scenario's t = 0; or (Link set) one linkage frame;
// or (Coil set) a simulated coil read from the plant with a new value.
type Received struct {
	Elapsed time.Duration
	Event   alarms.Event
	Link    *alarms.LinkView
	Coil    *CoilRead
}

// CoilRead is one reading of a simulated coil.
type CoilRead struct {
	Device string
	Addr   int
	On     bool
}

// what names a received item for the report.
func (rv *Received) what() string {
	switch {
	case rv.Link != nil:
		return fmt.Sprintf("linkage %s %s", rv.Link.ID, rv.Link.State)
	case rv.Coil != nil:
		return fmt.Sprintf("coil %s:%d = %v", rv.Coil.Device, rv.Coil.Addr, b2i(rv.Coil.On))
	}
	return fmt.Sprintf("seq %d", rv.Event.Seq)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// match reports whether rv satisfies e: an alarm event (Matches), a
// linkage frame or a coil reading, as e names one.
func (e *Expect) match(rv *Received) bool {
	switch {
	case e.Linkage != "":
		return rv.Link != nil && rv.Link.ID == e.Linkage && (e.State == "" || string(rv.Link.State) == e.State)
	case e.Coil != nil:
		return rv.Coil != nil && rv.Coil.Device == e.Device && rv.Coil.Addr == *e.Coil &&
			(e.Value == nil || float64(b2i(rv.Coil.On)) == *e.Value)
	}
	return rv.Link == nil && rv.Coil == nil && e.Matches(rv.Event)
}

// Result is the outcome of one expectation.
type Result struct {
	Expect Expect
	Pass   bool
	// Latency is from the plant change (the step applied at the
	// expectation's At, or At itself) to the console event; set when a
	// positive expectation matched.
	Latency time.Duration
	Event   *alarms.Event // the matching event (or, for None, the offending one)
	Got     *Received     // the matching item, whatever its kind
	Detail  string
}

// Report is a whole run's outcome.
type Report struct {
	Scenario string
	Against  string
	Results  []Result
	Passed   int
	Failed   int
	Events   []Received // every alarm event seen after t = 0
	Warnings []string
}

// Matches reports whether ev satisfies every field e sets.
func (e *Expect) Matches(ev alarms.Event) bool {
	switch {
	case ev.ID != e.Alarm:
		return false
	case e.State != "" && ev.State.String() != e.State:
		return false
	case e.Active != nil && ev.Active != *e.Active:
		return false
	case e.Tier != nil && ev.Tier != *e.Tier:
		return false
	case e.Priority != "" && ev.Priority.String() != e.Priority:
		return false
	case e.Stage != nil && ev.Stage != *e.Stage:
		return false
	}
	return true
}

// Evaluate judges every expectation of sc against the events received
// until now (time since t = 0). applied maps a step time to when it was
// actually applied (latencies count from there). An expectation whose
// window is still open and unmet is returned as pending (pass false,
// Detail "pending"). It is a pure function.
func Evaluate(sc *Scenario, events []Received, applied map[time.Duration]time.Duration, now time.Duration) (results []Result, pending int) {
	for _, e := range sc.Expect {
		ref := e.At.D()
		if a, ok := applied[ref]; ok {
			ref = a
		}
		end := ref + e.Within.D()
		r := Result{Expect: e}
		var early, late *Received
		for i := range events {
			rv := &events[i]
			if !e.match(rv) {
				continue
			}
			switch {
			case rv.Elapsed < ref:
				early = rv
				continue
			case rv.Elapsed > end:
				if late == nil {
					late = rv
				}
				continue
			}
			r.Got = rv
			if rv.Link == nil && rv.Coil == nil {
				r.Event = &rv.Event
			}
			r.Latency = rv.Elapsed - ref
			break
		}
		switch {
		case e.None && r.Got != nil:
			r.Detail = fmt.Sprintf("%s arrived at %s", r.Got.what(), fmtDur(r.Latency+ref))
		case e.None && now < end:
			r.Detail, r.Event, r.Got = "pending", nil, nil
			pending++
		case e.None:
			r.Pass, r.Event, r.Got = true, nil, nil
		case r.Got != nil:
			r.Pass = true
			r.Detail = fmt.Sprintf("%s at %s, latency %s", r.Got.what(), fmtDur(ref+r.Latency), fmtDur(r.Latency))
		case now <= end:
			r.Detail = "pending"
			pending++
		default:
			r.Detail = "no matching event"
			if early != nil {
				r.Detail += fmt.Sprintf("; one came too early, at %s", fmtDur(early.Elapsed))
			}
			if late != nil {
				r.Detail += fmt.Sprintf("; one came too late, at %s (latency %s)", fmtDur(late.Elapsed), fmtDur(late.Elapsed-ref))
			}
			if seen := seenOf(events, &e, ref); seen != "" {
				r.Detail += "; seen: " + seen
			}
		}
		results = append(results, r)
	}
	return results, pending
}

// seenOf lists what the console did show of an alarm, to help diagnose.
func seenOf(events []Received, e *Expect, from time.Duration) string {
	var s []string
	for _, rv := range events {
		if len(s) >= 4 {
			break
		}
		switch {
		case e.Linkage != "" && rv.Link != nil && rv.Link.ID == e.Linkage,
			e.Coil != nil && rv.Coil != nil && rv.Coil.Device == e.Device && rv.Coil.Addr == *e.Coil:
			s = append(s, fmt.Sprintf("%s at %s", rv.what(), fmtDur(rv.Elapsed)))
		case e.Alarm != "" && rv.Link == nil && rv.Coil == nil && rv.Event.ID == e.Alarm:
			s = append(s, fmt.Sprintf("%s tier %d stage %d at %s", rv.Event.State, rv.Event.Tier, rv.Event.Stage, fmtDur(rv.Elapsed)))
		}
	}
	return strings.Join(s, ", ")
}

func fmtDur(d time.Duration) string {
	if d < time.Second && d > -time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// frame is one websocket message of SPEC §7 (only what a scenario reads).
type frame struct {
	Type    string            `json:"type"`
	Site    string            `json:"site"`
	Role    string            `json:"role"`
	Seq     uint64            `json:"seq"`
	Alarm   json.RawMessage   `json:"alarm"`
	Linkage *alarms.LinkView  `json:"linkage"`
	Alarms  []json.RawMessage `json:"alarms"`
}

type stamped struct {
	at   time.Time
	ev   alarms.Event
	link *alarms.LinkView
}

// Run plays sc on o.Plant while it watches the gateway's console at
// o.Against: it connects (hello, snapshot), waits Settle, plays the steps
// at their times, collects alarm frames and checks every expectation,
// writing one PASS or FAIL line per expectation with the measured latency
// to o.Out. It returns an error when an expectation failed, the console
// could not be reached or closed the connection, or ctx ended first.
func Run(ctx context.Context, sc *Scenario, o Options) (Report, error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := Report{Scenario: sc.Name, Against: o.Against}
	if o.Plant == nil {
		return rep, errors.New("scenario: no plant to drive")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	h := http.Header{}
	if o.Token != "" {
		h.Set("Authorization", "Bearer "+o.Token)
	}
	dialCtx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	conn, resp, err := websocket.DefaultDialer.DialContext(dialCtx, o.Against, h)
	dcancel()
	if err != nil {
		if resp != nil {
			return rep, fmt.Errorf("scenario: connect %s: %s: %w", o.Against, resp.Status, err)
		}
		return rep, fmt.Errorf("scenario: connect %s: %w", o.Against, err)
	}
	defer conn.Close()
	go func() { <-ctx.Done(); conn.Close() }()

	// hello, then snapshot.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello, snap frame
	if err := conn.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		return rep, fmt.Errorf("scenario: %s: want hello first (got %q): %v", o.Against, hello.Type, err)
	}
	if err := conn.ReadJSON(&snap); err != nil || snap.Type != "snapshot" {
		return rep, fmt.Errorf("scenario: %s: want snapshot after hello (got %q): %v", o.Against, snap.Type, err)
	}
	conn.SetReadDeadline(time.Time{})
	fmt.Fprintf(out, "scenario %q against %s (site %s, role %s)\n", sc.Name, o.Against, hello.Site, hello.Role)
	for _, raw := range snap.Alarms {
		var ev alarms.Event
		if json.Unmarshal(raw, &ev) != nil {
			continue
		}
		for _, e := range sc.Expect {
			if e.Alarm == ev.ID && !e.None {
				w := fmt.Sprintf("%s is already %s before the scenario: acknowledge or reset it first, or its expectations may fail", ev.ID, ev.State)
				rep.Warnings = append(rep.Warnings, w)
				fmt.Fprintf(out, "  WARN  %s\n", w)
				break
			}
		}
	}

	// One reader goroutine (gorilla allows one reader) stamps every alarm
	// frame on arrival.
	frames := make(chan stamped, 4096)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			at := time.Now()
			if err != nil {
				readErr <- err
				return
			}
			var f frame
			if json.Unmarshal(b, &f) != nil || (f.Type != "alarm" && f.Type != "linkage") {
				continue
			}
			if f.Type == "linkage" {
				if f.Linkage != nil {
					select {
					case frames <- stamped{at: at, link: f.Linkage}:
					case <-ctx.Done():
						return
					}
				}
				continue
			}
			var ev alarms.Event
			if err := json.Unmarshal(f.Alarm, &ev); err != nil {
				log.Warn("scenario: undecodable alarm frame", "err", err)
				continue
			}
			select {
			case frames <- stamped{at: at, ev: ev}:
			case <-ctx.Done():
				return
			}
		}
	}()

	// Settle: events before t = 0 are the gateway's start-up, not ours.
	settle := time.NewTimer(sc.Settle.D())
settling:
	for {
		select {
		case <-frames:
		case <-settle.C:
			break settling
		case err := <-readErr:
			return rep, fmt.Errorf("scenario: console connection lost while settling: %w", err)
		case <-ctx.Done():
			return rep, ctx.Err()
		}
	}

	t0 := time.Now()
	coils := watchCoils(sc)
	var coilTick <-chan time.Time
	if len(coils) > 0 {
		tk := time.NewTicker(coilEvery)
		defer tk.Stop()
		coilTick = tk.C
	}
	readCoils := func() error {
		at := time.Since(t0)
		for i := range coils {
			c := &coils[i]
			on, err := o.Plant.Coil(c.Device, c.Addr)
			if err != nil {
				return fmt.Errorf("scenario: %w", err)
			}
			if !c.seen || on != c.On {
				c.seen, c.On = true, on
				rep.Events = append(rep.Events, Received{Elapsed: at, Coil: &CoilRead{c.Device, c.Addr, on}})
			}
		}
		return nil
	}
	if err := readCoils(); err != nil {
		return rep, err
	}
	applied := map[time.Duration]time.Duration{}
	next := 0
	end := sc.End()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var results []Result
	for {
		now := time.Since(t0)
		for next < len(sc.Steps) && sc.Steps[next].At.D() <= now {
			s := sc.Steps[next]
			if err := apply(o.Plant, s); err != nil {
				return rep, fmt.Errorf("scenario: step[%d] at %v: %w", next, s.At.D(), err)
			}
			at := time.Since(t0)
			if _, ok := applied[s.At.D()]; !ok {
				applied[s.At.D()] = at
			}
			fmt.Fprintf(out, "  %8s  %s\n", fmtDur(at), describe(s))
			next++
		}
		var pending int
		results, pending = Evaluate(sc, rep.Events, applied, now)
		if next == len(sc.Steps) && (pending == 0 || now > end) {
			break
		}
		// Wake at the next step, or to close a window.
		wait := end - now + time.Millisecond
		if next < len(sc.Steps) {
			wait = min(wait, sc.Steps[next].At.D()-now)
		}
		timer.Reset(max(wait, 0))
		select {
		case <-coilTick:
			if err := readCoils(); err != nil {
				return rep, err
			}
		case f := <-frames:
			rep.Events = append(rep.Events, Received{Elapsed: f.at.Sub(t0), Event: f.ev, Link: f.link})
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		case err := <-readErr:
			return rep, fmt.Errorf("scenario: console connection lost: %w", err)
		case <-ctx.Done():
			return rep, ctx.Err()
		}
	}
	results, _ = Evaluate(sc, rep.Events, applied, time.Since(t0)+end+time.Hour) // close every window
	rep.Results = results
	for _, r := range results {
		verdict := "PASS"
		if r.Pass {
			rep.Passed++
		} else {
			rep.Failed++
			verdict = "FAIL"
		}
		line := fmt.Sprintf("  %s  %s", verdict, r.Expect.String())
		if r.Detail != "" {
			line += ": " + r.Detail
		}
		if r.Expect.Note != "" {
			line += " (" + r.Expect.Note + ")"
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintf(out, "%d expectations: %d passed, %d failed\n", len(results), rep.Passed, rep.Failed)
	if rep.Failed > 0 {
		return rep, fmt.Errorf("scenario %q: %d of %d expectations failed", sc.Name, rep.Failed, len(results))
	}
	return rep, nil
}

// coilEvery is how often the runner reads the coils a scenario expects.
const coilEvery = 100 * time.Millisecond

type watchedCoil struct {
	CoilRead
	seen bool
}

// watchCoils lists the distinct coils sc expects, in order.
func watchCoils(sc *Scenario) []watchedCoil {
	var out []watchedCoil
	seen := map[CoilRead]bool{}
	for _, e := range sc.Expect {
		if e.Coil == nil {
			continue
		}
		k := CoilRead{Device: e.Device, Addr: *e.Coil}
		if !seen[k] {
			seen[k] = true
			out = append(out, watchedCoil{CoilRead: k})
		}
	}
	return out
}

func apply(p Plant, s Step) error {
	switch {
	case s.Coil != nil:
		return p.SetCoil(s.Device, *s.Coil, *s.Set != 0)
	case s.Refuse != nil:
		return p.RefuseWrites(s.Device, *s.Refuse)
	case s.Set != nil:
		return p.Set(s.Point, *s.Set)
	case s.Play != nil:
		return p.Play(s.Point, *s.Play)
	case s.Release:
		return p.Release(s.Point)
	case s.Comm == "lost":
		return p.CommLoss(s.Device, true)
	case s.Comm == "restored":
		return p.CommLoss(s.Device, false)
	}
	return errors.New("step without action")
}

func describe(s Step) string {
	var d string
	switch {
	case s.Coil != nil:
		d = fmt.Sprintf("set coil %s:%d = %g", s.Device, *s.Coil, *s.Set)
	case s.Refuse != nil && *s.Refuse:
		d = fmt.Sprintf("%s refuses writes", s.Device)
	case s.Refuse != nil:
		d = fmt.Sprintf("%s accepts writes again", s.Device)
	case s.Set != nil:
		d = fmt.Sprintf("set %s = %g", s.Point, *s.Set)
	case s.Play != nil:
		kind := s.Play.Kind
		if kind == "" {
			kind = "constant"
		}
		d = fmt.Sprintf("play %s %s", s.Point, kind)
		if s.Play.HasFault() {
			ma := 2.0
			if s.Play.FaultMA != nil {
				ma = *s.Play.FaultMA
			}
			d += fmt.Sprintf(", loop fault %g mA from %v", ma, s.Play.FaultAt.D())
		}
	case s.Release:
		d = fmt.Sprintf("release %s", s.Point)
	default:
		d = fmt.Sprintf("comm %s %s", s.Device, s.Comm)
	}
	if s.Note != "" {
		d += " (" + s.Note + ")"
	}
	return d
}
