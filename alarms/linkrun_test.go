package alarms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus"
	"hazardgw/drivers/modbus/modbustest"
)

// linkRig is a linkage runner against a real Modbus TCP slave (simonvetter)
// through the real modbus driver, with a real Machine taking ID:linkage.
type linkRig struct {
	t     *testing.T
	slave *modbustest.TCPServer
	unit  *modbustest.Unit
	cfg   *configs.Config
	dir   string
	views chan alarms.LinkView
	mu    sync.Mutex
	m     *alarms.Machine
	l     *alarms.Linkages
	stop  context.CancelFunc
	done  chan struct{}
}

func linkConfig(t *testing.T, addr, feedback string) *configs.Config {
	doc := fmt.Sprintf(`
[site]
id = "S"
[[device]]
id = "PLC"
driver = "modbus"
address = %q
interval = "50ms"
timeout = "200ms"
  [[device.point]]
  id = "NH3-1"
  register = "holding"
  address = 0
  type = "uint16"
  hihi = 150.0
  [[device.point]]
  id = "FAN.RUN"
  register = "discrete"
  address = 0
  type = "bool"
[[linkage]]
id = "FAN"
when = ["NH3-1:hihi"]
device = "PLC"
register = "coil"
address = 10
%s
confirm = "300ms"
priority = "urgent"
`, addr, feedback)
	cfg, err := configs.Parse("link.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newLinkRig(t *testing.T, feedback string) *linkRig {
	s := modbustest.StartTCP(t)
	r := &linkRig{t: t, slave: s, unit: s.Unit(1), dir: t.TempDir()}
	r.cfg = linkConfig(t, s.Addr(), feedback)
	m, err := alarms.NewMachine(r.cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	r.start()
	return r
}

// start runs the driver and a runner over r.dir (again after stop: a
// gateway restart).
func (r *linkRig) start() {
	t := r.t
	drv, err := modbus.New(r.cfg, modbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	do := func(_ context.Context, c alarms.Command) (alarms.Event, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		ev, err := r.m.Command(time.Now(), c)
		r.m.Take()
		return ev, err
	}
	l, err := alarms.NewLinkages(r.cfg, r.dir, drv.WriteRegister, do, alarms.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.l = l
	r.views = make(chan alarms.LinkView, 100)
	l.Watch(func(v alarms.LinkView) { r.views <- v })
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); drv.Run(ctx, func(b []drivers.Sample) { l.Samples(b) }) }()
		go func() { defer wg.Done(); l.Run(ctx) }()
		wg.Wait()
	}()
	t.Cleanup(r.shutdown)
}

func (r *linkRig) shutdown() {
	r.stop()
	<-r.done
}

// fire delivers the activation of NH3-1:hihi.
func (r *linkRig) fire() {
	r.l.Event(alarms.Event{ID: "NH3-1:hihi", Active: true, State: alarms.Unack})
}

// await waits for the linkage to reach state, failing on a deadline.
func (r *linkRig) await(state alarms.LinkState) alarms.LinkView {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case v := <-r.views:
			if v.State == state {
				return v
			}
		case <-deadline:
			r.t.Fatalf("linkage never reached %s; now %+v", state, r.l.Views())
		}
	}
}

func (r *linkRig) alarmActive() bool {
	ev, ok := r.alarm("FAN:linkage")
	return ok && ev.Active
}

// alarm is alarm id's current event, if it is not normal.
func (r *linkRig) alarm(id string) (alarms.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.m.Current(time.Now()) {
		if ev.ID == id {
			return ev, true
		}
	}
	return alarms.Event{}, false
}

const withFeedback = "feedback = \"FAN.RUN\"\nexpect = 1"

// TestLinkageFeedback: the coil is written ahead of the polls; the run
// feedback following confirms it; late feedback (after confirm) fails it
// and raises FAN:linkage, and the feedback arriving then confirms and
// clears it; feedback that never comes leaves it failed.
func TestLinkageFeedback(t *testing.T) {
	r := newLinkRig(t, withFeedback)
	r.fire()
	v := r.await(alarms.LinkWritten)
	if !r.unit.Coil(10) || v.Cause != "NH3-1:hihi" || v.By != "" {
		t.Fatalf("written: coil %v, view %+v", r.unit.Coil(10), v)
	}
	// Late: the fan starts after confirm (300ms).
	v = r.await(alarms.LinkFailed)
	if v.Error != "feedback did not follow" || !r.alarmActive() {
		t.Fatalf("late feedback: %+v, alarm %v", v, r.alarmActive())
	}
	r.unit.SetDiscrete(0, true)
	r.await(alarms.LinkConfirmed)
	if r.alarmActive() {
		t.Error("FAN:linkage still active after confirmation")
	}
}

// TestLinkageFeedbackNever: a fan that does not start (the run feedback
// never comes, the slave's discrete input stays 0). FAN:linkage is raised
// once confirm (300ms) has passed after the write, not before; the write
// is retried while NH3-1:hihi is active, and each retry fails again with
// the alarm still active: never confirmed.
func TestLinkageFeedbackNever(t *testing.T) {
	r := newLinkRig(t, withFeedback)
	r.fire()
	written := r.await(alarms.LinkWritten)
	if !r.unit.Coil(10) {
		t.Fatal("coil 10 not written")
	}
	failed := r.await(alarms.LinkFailed)
	if failed.Error != "feedback did not follow" {
		t.Fatalf("failed: %+v, want feedback did not follow", failed)
	}
	confirm := r.cfg.Linkages[0].Confirm.D()
	if failed.Since.Before(written.Since.Add(confirm)) {
		t.Errorf("failed at %v, before confirm (%v) after the write at %v", failed.Since, confirm, written.Since)
	}
	ev, ok := r.alarm("FAN:linkage")
	if !ok || !ev.Active || ev.Activated == nil || ev.Priority != alarms.Urgent || ev.Tier != 2 {
		t.Fatalf("FAN:linkage = %+v (found %v), want active, urgent, tier 2", ev, ok)
	}
	if ev.Activated.Before(written.Since.Add(confirm)) {
		t.Errorf("FAN:linkage activated at %v, before confirm (%v) after the write at %v", ev.Activated, confirm, written.Since)
	}
	// The retry (every 2 s while the when alarm is active) writes again
	// and fails again; nothing confirms it in between.
	var seen []alarms.LinkState
	deadline := time.After(10 * time.Second)
	for len(seen) < 2 || seen[len(seen)-1] != alarms.LinkFailed {
		select {
		case v := <-r.views:
			if v.State == alarms.LinkConfirmed {
				t.Fatalf("confirmed without feedback: %+v", v)
			}
			seen = append(seen, v.State)
		case <-deadline:
			t.Fatalf("no retry that failed again; saw %v, now %+v", seen, r.l.Views())
		}
	}
	if seen[0] != alarms.LinkWritten {
		t.Errorf("after the failure: %v, want written (the retry) then failed", seen)
	}
	if ev, ok := r.alarm("FAN:linkage"); !ok || !ev.Active || !r.unit.Coil(10) {
		t.Errorf("after the retry: FAN:linkage %+v (found %v), coil %v; want active and on", ev, ok, r.unit.Coil(10))
	}
}

// TestLinkageRefused: exceptions 01, 02 and 04 fail the write with the
// exception named, raise FAN:linkage, and the write is retried while the
// when alarm is active; once the device accepts, it is confirmed.
func TestLinkageRefused(t *testing.T) {
	for _, code := range []byte{1, 2, 4} {
		t.Run(fmt.Sprintf("exception %d", code), func(t *testing.T) {
			r := newLinkRig(t, "")
			r.unit.SetException(code)
			r.fire()
			v := r.await(alarms.LinkFailed)
			if !strings.Contains(v.Error, fmt.Sprintf("exception %d", code)) || !strings.Contains(v.Error, "PLC") || !r.alarmActive() {
				t.Fatalf("refused: %+v alarm %v", v, r.alarmActive())
			}
			r.unit.SetException(0)
			r.await(alarms.LinkConfirmed) // a retry (every 2 s) is accepted
			if !r.unit.Coil(10) || r.alarmActive() {
				t.Fatalf("after retry: coil %v alarm %v", r.unit.Coil(10), r.alarmActive())
			}
		})
	}
}

// TestLinkageDeviceDown: a device that does not answer fails the write
// (timeout), and the retries reach it once it is back.
func TestLinkageDeviceDown(t *testing.T) {
	r := newLinkRig(t, "")
	if err := r.slave.Stop(); err != nil {
		t.Fatal(err)
	}
	r.fire()
	v := r.await(alarms.LinkFailed)
	if v.Error == "" || !r.alarmActive() {
		t.Fatalf("down: %+v", v)
	}
	if err := r.slave.Start(); err != nil {
		t.Fatal(err)
	}
	r.await(alarms.LinkConfirmed)
	if !r.unit.Coil(10) {
		t.Fatal("coil not written after the device returned")
	}
}

// TestLinkageTimeout: a device answering slower than the timeout fails.
func TestLinkageTimeout(t *testing.T) {
	r := newLinkRig(t, "")
	r.unit.SetDelay(time.Second)
	r.fire()
	v := r.await(alarms.LinkFailed)
	if v.Error == "" {
		t.Fatalf("timeout: %+v", v)
	}
	r.unit.SetDelay(0)
	r.await(alarms.LinkConfirmed)
}

// TestLinkageRestartRelease: a fired linkage is written again after a
// restart; only a commander's release writes `release`, and run of an
// auto linkage that is not pending is refused.
func TestLinkageRestartRelease(t *testing.T) {
	r := newLinkRig(t, "")
	r.fire()
	r.await(alarms.LinkConfirmed)
	if _, err := r.l.Command(context.Background(), "FAN", "run", "li", ""); !errorsIs(err, alarms.ErrConflict) {
		t.Fatalf("run of a confirmed auto linkage: %v", err)
	}
	r.shutdown()
	r.unit.SetCoil(10, false) // the PLC lost it while the gateway was down
	r.start()
	v := r.await(alarms.LinkConfirmed)
	if !r.unit.Coil(10) || !strings.Contains(v.Why, "restart") {
		t.Fatalf("after restart: coil %v view %+v", r.unit.Coil(10), v)
	}
	v, err := r.l.Command(context.Background(), "FAN", "release", "li", "gas cleared")
	if err != nil {
		t.Fatal(err)
	}
	v = r.await(alarms.LinkReleased)
	if r.unit.Coil(10) || v.By != "li" || !strings.Contains(v.Why, "gas cleared") {
		t.Fatalf("released: coil %v view %+v", r.unit.Coil(10), v)
	}
	if _, err := r.l.Command(context.Background(), "NOPE", "run", "li", ""); !errorsIs(err, alarms.ErrUnknown) {
		t.Fatalf("unknown linkage: %v", err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
