package alarms

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// State is the derived ISA-18.2 state of an alarm (SPEC §5).
type State uint8

const (
	Normal State = iota
	Unack
	Acked
	RtnUnack
	Latched
	Shelved
	OOS
)

var stateNames = [...]string{"normal", "unack", "acked", "rtn_unack", "latched", "shelved", "oos"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unknown state %q", b)
}

// Priority is the ISA-18.2 urgency. Higher values are more urgent.
type Priority uint8

const (
	Low Priority = iota + 1
	Medium
	High
	Urgent
)

var priorityNames = [...]string{"", "low", "medium", "high", "urgent"}

func (p Priority) String() string {
	if int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return fmt.Sprintf("priority(%d)", uint8(p))
}

func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func (p *Priority) UnmarshalText(b []byte) error {
	q, err := ParsePriority(string(b))
	*p = q
	return err
}

// ParsePriority reads "urgent", "high", "medium" or "low".
func ParsePriority(s string) (Priority, error) {
	for i, n := range priorityNames {
		if i > 0 && n == s {
			return Priority(i), nil
		}
	}
	return 0, fmt.Errorf("unknown priority %q (want urgent, high, medium or low)", s)
}

// Event is one change of one alarm (SPEC §6): the same JSON everywhere
// (websocket, HTTP, MQTT notify and uplink, journal). Times are UTC with
// milliseconds.
type Event struct {
	Seq          uint64     `json:"seq"`
	ID           string     `json:"id"` // POINT:COND
	Point        string     `json:"point"`
	Cond         string     `json:"cond"` // hihi hi lo lolo roc on vote dev linkage fault comm stale
	Tier         int        `json:"tier"`
	Priority     Priority   `json:"priority"`
	State        State      `json:"state"`
	Active       bool       `json:"active"`
	Acked        bool       `json:"acked"`
	Latched      bool       `json:"latched"`
	ShelvedUntil *time.Time `json:"shelved_until"`
	OOS          bool       `json:"oos"`
	Stage        int        `json:"stage"`
	Value        float64    `json:"value"`
	Limit        float64    `json:"limit"`
	Unit         string     `json:"unit"`
	Quality      string     `json:"quality"`
	Time         time.Time  `json:"time"`
	Emitted      time.Time  `json:"emitted"`
	Activated    *time.Time `json:"activated"`
	By           string     `json:"by"`
	Comment      string     `json:"comment"`
	Site         string     `json:"site"`
	Device       string     `json:"device"`
	Name         string     `json:"name"`
	// Flood is true while the site is in an alarm flood (DOMAIN §5: more
	// than 10 activations in 10 minutes). An addition to SPEC §6.
	Flood bool `json:"flood,omitempty"`
	// Notify lists the escalation targets (roles and [[notify]] names)
	// this event must reach; empty when it goes to the console only.
	Notify []string `json:"notify,omitempty"`
}

// TimeFormat is the SPEC's time format: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// FormatTime writes t as SPEC §6 wants it.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

func fptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func tptr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := FormatTime(*t)
	return &s
}

func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	j := struct {
		plain
		ShelvedUntil *string  `json:"shelved_until"`
		Value        *float64 `json:"value"`
		Limit        *float64 `json:"limit"`
		Time         string   `json:"time"`
		Emitted      string   `json:"emitted"`
		Activated    *string  `json:"activated"`
	}{plain: plain(e), ShelvedUntil: tptr(e.ShelvedUntil), Value: fptr(e.Value), Limit: fptr(e.Limit),
		Time: FormatTime(e.Time), Emitted: FormatTime(e.Emitted), Activated: tptr(e.Activated)}
	return json.Marshal(j)
}

func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	j := struct {
		*plain
		Value *float64 `json:"value"`
		Limit *float64 `json:"limit"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	e.Value, e.Limit = math.NaN(), math.NaN()
	if j.Value != nil {
		e.Value = *j.Value
	}
	if j.Limit != nil {
		e.Limit = *j.Limit
	}
	return nil
}

// Op is an operator command on an alarm or a point (SPEC §7).
type Op string

const (
	OpAck      Op = "ack"
	OpReset    Op = "reset"
	OpShelve   Op = "shelve"
	OpUnshelve Op = "unshelve"
	OpOOS      Op = "oos" // point out of service
	OpIOS      Op = "ios" // point back in service
	// OpRaise and OpClear set the condition of an ID:linkage alarm (the
	// linkage runner's, never a console client's: the console accepts only
	// the ops of SPEC §7).
	OpRaise Op = "raise"
	OpClear Op = "clear"
)

// Command is an operator action. Alarm names the alarm (ack, reset, shelve,
// unshelve); Point names the point (oos, ios).
type Command struct {
	Op      Op
	Alarm   string
	Point   string
	For     time.Duration // shelve
	By      string
	Comment string // ack comment, shelve or oos reason
}

// Errors a command can be refused with. The console maps them to HTTP codes:
// ErrUnknown 404, ErrRefused 409, ErrInvalid 400.
var (
	ErrUnknown = errors.New("unknown alarm or point")
	ErrRefused = errors.New("refused")
	ErrInvalid = errors.New("invalid command")
)
