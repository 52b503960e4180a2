//go:build linux

package main

import (
	"context"
	"fmt"
	"time"
)

// Faults is the incident's fault sequence, in this order: the center
// killed (SIGKILL) and started again, the first NATS node (the center's,
// which connects to the first url that answers) killed and started again,
// the Cut site's broker link cut and restored. Each fault lasts its
// duration and, beyond it, until every site it holds back has journaled
// MinEvents more events: the faults always happen during an incident.
type Faults struct {
	CenterDown time.Duration
	NodeDown   time.Duration
	Cut        time.Duration
	MinEvents  uint64
}

// Window is one fault: when it began and ended, the events emitted
// meanwhile by the sites it held back, and when the last of them reached
// the district websocket.
type Window struct {
	Name       string
	Begin, End time.Time
	Held       int       // events emitted in [Begin, End) by the sites held back
	Delivered  time.Time // the last of them on the websocket (zero: none)
	// Flowing is the first live event of a site not held back, emitted
	// after Begin, on the websocket (the node: how long the district is
	// blind; zero when there was none).
	Flowing time.Time
}

func (w Window) String() string {
	s := fmt.Sprintf("%s: %v, %d events held back", w.Name, w.End.Sub(w.Begin).Round(100*time.Millisecond), w.Held)
	if !w.Delivered.IsZero() {
		s += fmt.Sprintf(", all on the websocket %v after the fault ended", w.Delivered.Sub(w.End).Round(100*time.Millisecond))
	}
	if !w.Flowing.IsZero() {
		s += fmt.Sprintf(", the other sites' events flowing again %v after it began", w.Flowing.Sub(w.Begin).Round(100*time.Millisecond))
	}
	return s
}

// lastSeq is the site's latest journaled seq (0 before its first event).
func (s *Site) lastSeq(ctx context.Context) (uint64, error) {
	evs, err := events(ctx, s.Console+"/api/events", s.seen)
	if err != nil {
		return 0, err
	}
	if n := len(evs); n > 0 {
		s.seen = evs[n-1].Seq
	}
	return s.seen, nil
}

// hold waits d, then until each of sites journaled min events more than
// when hold began (two minutes at most).
func (d *District) hold(ctx context.Context, dur time.Duration, min uint64, sites []*Site) error {
	from := make([]uint64, len(sites))
	for i, s := range sites {
		n, err := s.lastSeq(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.ID, err)
		}
		from[i] = n
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(dur):
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return waitUntil(wctx, fmt.Sprintf("%d events at each site held back", min), func() (bool, error) {
		for i, s := range sites {
			n, err := s.lastSeq(wctx)
			if err != nil {
				return false, fmt.Errorf("%s: %w", s.ID, err)
			}
			if n < from[i]+min {
				return false, nil
			}
		}
		return true, nil
	})
}

// Run runs the fault sequence during the incident and returns its
// windows once each fault has ended (the center, node and site back).
// The websocket figures of the windows are filled in by Measure, after
// the district caught up.
func (f Faults) Run(ctx context.Context, d *District) ([]Window, error) {
	var out []Window

	d.logf("fault 1: the center killed (SIGKILL) for %v", f.CenterDown)
	w := Window{Name: "center killed and restarted", Begin: time.Now()}
	d.Center.Kill()
	if err := d.hold(ctx, f.CenterDown, f.MinEvents, d.Sites); err != nil {
		return nil, err
	}
	w.End = time.Now()
	if err := d.StartCenter(ctx); err != nil {
		return nil, err
	}
	d.logf("center restarted")
	out = append(out, w)

	node := d.Nodes[0]
	var on []*Site
	for _, s := range d.Sites {
		if s.Node == 0 {
			on = append(on, s)
		}
	}
	d.logf("fault 2: %s killed (SIGKILL) for %v; %d sites use it and wait for it, the center moves to another node", node.Name, f.NodeDown, len(on))
	w = Window{Name: node.Name + " killed and restarted", Begin: time.Now()}
	node.Kill()
	if err := d.hold(ctx, f.NodeDown, f.MinEvents, on); err != nil {
		return nil, err
	}
	w.End = time.Now()
	if err := node.Start(); err != nil {
		return nil, err
	}
	if err := node.WaitReady(ctx); err != nil {
		return nil, err
	}
	d.logf("%s back", node.Name)
	out = append(out, w)

	cut := d.Sites[Cut]
	d.logf("fault 3: %s cut off from its broker for %v", cut.ID, f.Cut)
	w = Window{Name: cut.ID + " cut off and back", Begin: time.Now()}
	cut.Gate.SetOpen(false)
	if err := d.hold(ctx, f.Cut, f.MinEvents, []*Site{cut}); err != nil {
		return nil, err
	}
	w.End = time.Now()
	cut.Gate.SetOpen(true)
	d.logf("%s reconnected", cut.ID)
	out = append(out, w)
	return out, nil
}

// heldBack names the sites each fault window holds back, by window
// index as Run returns them.
func (d *District) heldBack(i int) func(*Site) bool {
	switch i {
	case 0:
		return func(*Site) bool { return true }
	case 1:
		return func(s *Site) bool { return s.Node == 0 }
	}
	return func(s *Site) bool { return s == d.Sites[Cut] }
}

// Measure fills each window's websocket figures from what w saw
// (Flowing for the node's window only: the other faults hold back every
// site or one).
func (d *District) Measure(ws []Window, w *Watch) {
	as := w.Arrivals()
	for i := range ws {
		held := d.heldBack(i)
		win := &ws[i]
		for _, a := range as {
			s := d.site(a.Site)
			if s == nil || a.Emitted.Before(win.Begin) {
				continue
			}
			if held(s) {
				if a.Emitted.Before(win.End) {
					win.Held++
					if a.Received.After(win.Delivered) {
						win.Delivered = a.Received
					}
				}
			} else if i == 1 && !a.Resumed && (win.Flowing.IsZero() || a.Received.Before(win.Flowing)) {
				win.Flowing = a.Received
			}
		}
	}
}

func (d *District) site(id string) *Site {
	for _, s := range d.Sites {
		if s.ID == id {
			return s
		}
	}
	return nil
}
