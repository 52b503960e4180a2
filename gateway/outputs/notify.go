package outputs

import (
	"slices"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// Notify is one [[notify]] target of kind mqtt: it publishes the events
// whose Notify names it, at its qos, in seq order, replaying from the
// journal after an outage like the uplink.
type Notify struct{ publisher }

var _ alarms.Output = (*Notify)(nil)

// Name is the [[notify]] name.
func (n *Notify) Name() string { return n.target }

// Samples does nothing: notify targets receive alarm events only.
func (n *Notify) Samples([]drivers.Sample) {}

// notifyFilter selects the events whose Notify names the target.
func notifyFilter(name string) func(*alarms.Event) bool {
	return func(ev *alarms.Event) bool { return slices.Contains(ev.Notify, name) }
}
