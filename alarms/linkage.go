package alarms

import (
	"errors"
	"fmt"
	"math"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// A linkage output (SPEC §11): an alarm forces a fan on, a valve shut.
// Link is its pure state: every method takes `now`, does no I/O, and
// returns what the runner must do. The runner (Linkages) owns the Links,
// performs the writes, journals every change and raises ID:linkage.
//
//	         when alarm activates (auto)         write accepted
//	idle ──────────────────────────────> firing ───────────────> written ──feedback==expect──> confirmed
//	 │ when alarm activates (manual)       ^  │ refused/timeout    │ confirm elapsed
//	 v                                     │  v                    v
//	pending ──── run (commander) ──────────┘ failed <──────────────┘   (retried every 2 s
//	                                                                     while a when alarm is active)
//	any fired state ── release (commander) ──> released   (fires again only on a new activation)
//
// "firing" is not a SPEC state: the write is under way; the Link shows
// the state it had before (idle, pending or failed) until the answer.

// LinkState is a linkage's SPEC §11 state.
type LinkState string

const (
	LinkIdle      LinkState = "idle"
	LinkPending   LinkState = "pending"
	LinkWritten   LinkState = "written"
	LinkConfirmed LinkState = "confirmed"
	LinkFailed    LinkState = "failed"
	LinkReleased  LinkState = "released"
)

// RetryEvery is how often a failed write is retried while a when alarm is
// active (SPEC §11).
const RetryEvery = 2 * time.Second

// LinkView is a linkage's state as JSON (SPEC §11; the `linkage` frame and
// GET /api/linkages).
type LinkView struct {
	ID       string    `json:"id"`
	State    LinkState `json:"state"`
	Mode     string    `json:"mode"`
	Cause    string    `json:"cause"`
	Since    time.Time `json:"since"`
	By       string    `json:"by"`
	Device   string    `json:"device"`
	Register string    `json:"register"`
	Address  int       `json:"address"`
	Value    int       `json:"value"`
	Error    string    `json:"error"`
	// Additions: what fired it and why it changed, the feedback point.
	Why      string `json:"why"`
	Feedback string `json:"feedback,omitempty"`
}

// Write is one write the runner must issue: value to the linkage's
// register; release tells a release from a firing.
type Write struct {
	Value   uint16
	Release bool
}

// ErrConflict: the command does not apply in the linkage's state (409).
var ErrConflict = errors.New("not possible in this state")

// Link is one linkage's state machine.
type Link struct {
	cfg      configs.Linkage
	view     LinkView
	active   map[string]bool // when alarms now active
	writing  *Write          // a write is under way
	confirm  time.Time       // written: feedback due by then
	retry    time.Time       // failed: next retry
	changed  bool            // view changed since the last Take
	fired    bool            // fired and not released: the value must hold
	feedback float64         // last feedback value (NaN: none yet)

	pendingBy, pendingWhy string // who and why of the write under way
}

// NewLink builds linkage l (defaults applied) in state idle.
func NewLink(l configs.Linkage, now time.Time) *Link {
	k := &Link{cfg: l, active: map[string]bool{}, feedback: math.NaN()}
	k.view = LinkView{ID: l.ID, State: LinkIdle, Mode: l.Mode, Since: now.UTC(), Device: l.Device,
		Register: l.Register, Address: deref(l.Address), Value: deref(l.Value), Feedback: l.Feedback}
	return k
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// View returns the current state.
func (k *Link) View() LinkView { return k.view }

// Fired reports whether the linkage holds its value (written, confirmed
// or failed after firing): it is written again after a restart.
func (k *Link) Fired() bool { return k.fired }

func (k *Link) set(s LinkState, now time.Time, by, why, errText string) {
	k.view.State, k.view.Since, k.view.By, k.view.Why, k.view.Error = s, now.UTC(), by, why, errText
	k.changed = true
}

// TakeChanged reports (once) whether the state changed since the last call.
func (k *Link) TakeChanged() bool {
	c := k.changed
	k.changed = false
	return c
}

func (k *Link) anyActive() bool {
	for _, a := range k.active {
		if a {
			return true
		}
	}
	return false
}

func (k *Link) fire(now time.Time) *Write {
	if k.writing != nil {
		return nil
	}
	k.writing = &Write{Value: uint16(deref(k.cfg.Value))}
	return k.writing
}

// Alarm takes an alarm event. A new activation of a when alarm fires an
// auto linkage (the write is returned) or makes a manual one pending.
func (k *Link) Alarm(ev Event, now time.Time) *Write {
	if !k.when(ev.ID) {
		return nil
	}
	was := k.active[ev.ID]
	k.active[ev.ID] = ev.Active
	if !ev.Active || was {
		return nil
	}
	if k.fired && k.view.State != LinkFailed {
		return nil // already holding its value
	}
	k.view.Cause = ev.ID
	if k.cfg.Mode == "manual" && !k.fired {
		if k.view.State != LinkPending {
			k.set(LinkPending, now, "", "alarm "+ev.ID+" active: waiting for a commander's run", "")
		}
		return nil
	}
	k.fired = true
	return k.fire(now)
}

func (k *Link) when(id string) bool {
	for _, w := range k.cfg.When {
		if w == id {
			return true
		}
	}
	return false
}

// Run is a commander's run: a manual linkage that is pending (or any
// linkage not fired) writes its value. An auto linkage that is not
// pending is refused (SPEC §8: 409).
func (k *Link) Run(by, comment string, now time.Time) (*Write, error) {
	switch {
	case k.cfg.Mode == "auto" && k.view.State != LinkPending:
		return nil, fmt.Errorf("run %s: an auto linkage runs by itself (state %s): %w", k.cfg.ID, k.view.State, ErrConflict)
	case k.fired && k.view.State != LinkFailed:
		return nil, fmt.Errorf("run %s: already fired (state %s): %w", k.cfg.ID, k.view.State, ErrConflict)
	}
	k.fired = true
	k.view.By = by
	w := k.fire(now)
	if w == nil {
		return nil, fmt.Errorf("run %s: a write is under way: %w", k.cfg.ID, ErrConflict)
	}
	k.pendingBy, k.pendingWhy = by, "run: "+comment
	return w, nil
}

// Release is a commander's release: writes `release`. Refused when the
// linkage is not fired (nothing to release).
func (k *Link) Release(by, comment string, now time.Time) (*Write, error) {
	if !k.fired && k.view.State != LinkPending {
		return nil, fmt.Errorf("release %s: not fired (state %s): %w", k.cfg.ID, k.view.State, ErrConflict)
	}
	if k.writing != nil && !k.writing.Release {
		// The release goes after the write under way; its answer is
		// then ignored.
		k.writing = nil
	} else if k.writing != nil {
		return nil, fmt.Errorf("release %s: a release is under way: %w", k.cfg.ID, ErrConflict)
	}
	k.writing = &Write{Value: uint16(deref(k.cfg.Release)), Release: true}
	k.pendingBy, k.pendingWhy = by, "release: "+comment
	return k.writing, nil
}

// Wrote takes the answer to the write w (nil error: the device accepted).
// It returns whether the ID:linkage alarm must now hold (raise) or not.
func (k *Link) Wrote(w *Write, err error, now time.Time) {
	if k.writing != w {
		return // superseded by a release
	}
	k.writing = nil
	by, why := k.pendingBy, k.pendingWhy
	k.pendingBy, k.pendingWhy = "", ""
	if why == "" {
		why = "alarm " + k.view.Cause + " active"
	}
	switch {
	case err != nil:
		k.retry = now.Add(RetryEvery)
		k.set(LinkFailed, now, by, why+": write refused or not answered", err.Error())
	case w.Release:
		k.fired = false
		k.set(LinkReleased, now, by, why, "")
	case k.cfg.Feedback == "":
		k.set(LinkConfirmed, now, by, why+": written (no feedback configured)", "")
	case k.feedbackOK():
		k.set(LinkConfirmed, now, by, why+": written, feedback "+k.cfg.Feedback+" already follows", "")
	default:
		k.confirm = now.Add(k.cfg.Confirm.D())
		k.set(LinkWritten, now, by, why+": written, waiting for "+k.cfg.Feedback, "")
	}
}

func (k *Link) feedbackOK() bool {
	return k.cfg.Expect != nil && k.feedback == *k.cfg.Expect
}

// Sample takes a sample of the feedback point: the feedback following
// confirms a written (or a failed-by-feedback) linkage.
func (k *Link) Sample(s drivers.Sample, now time.Time) {
	if string(s.Point) != k.cfg.Feedback || s.Quality == drivers.Bad {
		return
	}
	k.feedback = s.Value
	if k.feedbackOK() && k.fired && k.writing == nil &&
		(k.view.State == LinkWritten || (k.view.State == LinkFailed && k.view.Error == errNoFeedback)) {
		k.set(LinkConfirmed, now, "", "feedback "+k.cfg.Feedback+" follows", "")
	}
}

const errNoFeedback = "feedback did not follow"

// Tick handles time: a feedback not following within confirm fails the
// linkage; a failed one is written again every RetryEvery while a when
// alarm is active.
func (k *Link) Tick(now time.Time) *Write {
	switch {
	case k.view.State == LinkWritten && !now.Before(k.confirm):
		k.retry = now.Add(RetryEvery)
		k.set(LinkFailed, now, "", fmt.Sprintf("%s did not read %g within %s", k.cfg.Feedback, deref2(k.cfg.Expect), k.cfg.Confirm.D()), errNoFeedback)
	case k.view.State == LinkFailed && k.fired && k.writing == nil && k.anyActive() && !now.Before(k.retry):
		k.retry = now.Add(RetryEvery)
		return k.fire(now)
	}
	return nil
}

func deref2(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// Next is when Tick next has something to do (zero: nothing).
func (k *Link) Next() time.Time {
	switch k.view.State {
	case LinkWritten:
		return k.confirm
	case LinkFailed:
		if k.fired && k.anyActive() {
			return k.retry
		}
	}
	return time.Time{}
}

// Restore puts back a journaled state at start. A fired linkage (written,
// confirmed, or failed after firing) is written again: the returned write.
func (k *Link) Restore(v LinkView, fired bool, now time.Time) *Write {
	k.view.State, k.view.Cause, k.view.Since, k.view.By, k.view.Why, k.view.Error = v.State, v.Cause, v.Since, v.By, v.Why, v.Error
	k.fired = fired
	if !fired {
		return nil
	}
	k.pendingWhy = "re-asserted after a gateway restart"
	return k.fire(now)
}
