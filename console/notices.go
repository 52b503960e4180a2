package console

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"hazardgw/alarms"
)

// Notice is a notice (督办通知) from the district console (SPEC §13) and
// its acknowledgement: GET /api/notices, the `notice` frame and the
// snapshot's `notices`. AckedTime is null while the notice is open.
type Notice struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Text      string    `json:"text"`
	By        string    `json:"by"`
	Time      time.Time `json:"time"`
	Acked     bool      `json:"acked"`
	AckedBy   string    `json:"acked_by"`
	AckedTime time.Time `json:"acked_time"`
	Comment   string    `json:"comment"`

	ackNum uint64 // the notice_ack record's number: the order acks are published in
}

// MarshalJSON writes the times in the SPEC's format (acked_time null while
// open).
func (n Notice) MarshalJSON() ([]byte, error) {
	type plain Notice
	var acked *string
	if n.Acked {
		t := alarms.FormatTime(n.AckedTime)
		acked = &t
	}
	return json.Marshal(struct {
		plain
		Time      string  `json:"time"`
		AckedTime *string `json:"acked_time"`
	}{plain(n), alarms.FormatTime(n.Time), acked})
}

// AckNum is the number ordering the notice's acknowledgement (0 while
// open): the cursor of its publishing on PREFIX/notices/ack.
func (n Notice) AckNum() uint64 { return n.ackNum }

// Notices are the site's notices: every one received is shown (the
// `notice` frame, the snapshot) until an operator acknowledges it.
//
// Durability: both the arrival and the acknowledgement are records of the
// operator records log (kinds notice and notice_ack, Record.Notice the
// id), appended and fsynced before Receive or Ack returns; OpenNotices
// rebuilds the notices from it, so an open notice stays open across a
// restart and an acknowledgement not yet published is published after it
// (Acks, by record number).
//
// Safe for concurrent use: the uplink calls Receive from its MQTT
// delivery goroutine, HTTP handlers call Ack, the hub reads Open.
type Notices struct {
	rec  *Records
	site string

	mu      sync.Mutex
	byID    map[string]*Notice
	order   []*Notice // arrival order
	watch   []func(Notice)
	ackWake []func()
}

// ErrNoticeAcked is Ack's answer for a notice already acknowledged (409).
var ErrNoticeAcked = errors.New("notice already acknowledged")

// MaxNotices bounds GET /api/notices (the newest first).
const MaxNotices = 200

// OpenNotices rebuilds the notices of site from the records log.
func OpenNotices(rec *Records, site string) *Notices {
	n := &Notices{rec: rec, site: site, byID: map[string]*Notice{}}
	for _, r := range rec.Between(time.Time{}, time.Time{}) {
		switch r.Kind {
		case "notice":
			if n.byID[r.Notice] == nil {
				x := &Notice{ID: r.Notice, Site: site, Text: r.Comment, By: r.By, Time: r.Time}
				n.byID[x.ID] = x
				n.order = append(n.order, x)
			}
		case "notice_ack":
			if x := n.byID[r.Notice]; x != nil && !x.Acked {
				x.Acked, x.AckedBy, x.AckedTime, x.Comment, x.ackNum = true, r.By, r.Time, r.Comment, r.num
			}
		}
	}
	return n
}

// Watch registers f, called after every change of a notice (arrival,
// acknowledgement) with its new state; f must not block. Call before use.
func (n *Notices) Watch(f func(Notice)) { n.watch = append(n.watch, f) }

// WatchAcks registers f, called after every acknowledgement; f must not
// block (the ack publisher's wake-up). Call before use.
func (n *Notices) WatchAcks(f func()) { n.ackWake = append(n.ackWake, f) }

// Receive keeps a notice from the district: recorded durably, then shown.
// A known id changes nothing (QoS 1 may deliver a notice twice). The
// caller has checked that site is this site.
func (n *Notices) Receive(id, site, text, by string, t time.Time) error {
	n.mu.Lock()
	if n.byID[id] != nil {
		n.mu.Unlock()
		return nil
	}
	// Under mu: a second delivery racing with this one waits for it.
	if _, err := n.rec.appendNum(Record{Time: t, By: by, Role: Commander.String(), Kind: "notice", Notice: id, Comment: text}); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("notice %s: %w", id, err)
	}
	x := &Notice{ID: id, Site: site, Text: text, By: by, Time: t}
	n.byID[id] = x
	n.order = append(n.order, x)
	v := *x
	n.mu.Unlock()
	for _, f := range n.watch {
		f(v)
	}
	return nil
}

// Ack acknowledges an open notice as user (role) at now: recorded durably,
// then shown and published. Errors wrap alarms.ErrUnknown (404) or are
// ErrNoticeAcked (409).
func (n *Notices) Ack(id, user string, role Role, comment string, now time.Time) (Notice, error) {
	n.mu.Lock()
	x := n.byID[id]
	if x == nil {
		n.mu.Unlock()
		return Notice{}, fmt.Errorf("notice %q: %w", id, alarms.ErrUnknown)
	}
	if x.Acked {
		n.mu.Unlock()
		return *x, ErrNoticeAcked
	}
	num, err := n.rec.appendNum(Record{Time: now, By: user, Role: role.String(), Kind: "notice_ack", Notice: id, Comment: comment})
	if err != nil {
		n.mu.Unlock()
		return Notice{}, fmt.Errorf("notice %s: %w", id, err)
	}
	x.Acked, x.AckedBy, x.AckedTime, x.Comment, x.ackNum = true, user, now, comment, num
	v := *x
	n.mu.Unlock()
	for _, f := range n.watch {
		f(v)
	}
	for _, f := range n.ackWake {
		f()
	}
	return v, nil
}

// List returns the newest notices first, open and acknowledged, at most
// limit.
func (n *Notices) List(limit int) []Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []Notice{}
	for i := len(n.order) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, *n.order[i])
	}
	return out
}

// Open returns the notices not acknowledged, oldest first.
func (n *Notices) Open() []Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []Notice{}
	for _, x := range n.order {
		if !x.Acked {
			out = append(out, *x)
		}
	}
	return out
}

// Acks returns the acknowledged notices whose acknowledgement is numbered
// after after, in that order, at most limit.
func (n *Notices) Acks(after uint64, limit int) []Notice {
	n.mu.Lock()
	var out []Notice
	for _, x := range n.order {
		if x.Acked && x.ackNum > after {
			out = append(out, *x)
		}
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Notice) int { return cmp.Compare(a.ackNum, b.ackNum) })
	return out[:min(len(out), limit)]
}

// noticeFrame is the `notice` frame (SPEC §13 site side): a notice's
// state at every change.
type noticeFrame struct {
	Type   string `json:"type"` // "notice"
	Notice Notice `json:"notice"`
}

// openNotices is the snapshot's `notices`: nil (the key is left out)
// without notices, so a site that takes none keeps SPEC §7's snapshot.
func (s *Server) openNotices() *[]Notice {
	if s.deps.Notices == nil {
		return nil
	}
	open := s.deps.Notices.Open()
	return &open
}

// apiNotices serves GET /api/notices?limit=N: newest first, open and
// acknowledged, at most MaxNotices.
func (s *Server) apiNotices(w http.ResponseWriter, r *http.Request, _ identity) {
	limit := MaxNotices
	if q := r.URL.Query().Get("limit"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v <= 0 {
			writeError(w, http.StatusBadRequest, "limit: want a positive integer")
			return
		}
		limit = min(v, MaxNotices)
	}
	if s.deps.Notices == nil {
		writeJSON(w, http.StatusOK, []Notice{})
		return
	}
	writeJSON(w, http.StatusOK, s.deps.Notices.List(limit))
}

// apiNoticeAck serves POST /api/notices/{id}/ack {"comment": "..."}: role
// operator; 200 with the notice, 403, 404 unknown, 409 already
// acknowledged, 400 malformed.
func (s *Server) apiNoticeAck(w http.ResponseWriter, r *http.Request, id identity) {
	var body struct {
		Comment string `json:"comment"`
	}
	if !readBody(w, r, &body) {
		return
	}
	n, err := s.noticeAck(id, r.PathValue("id"), body.Comment)
	s.metrics.commands.WithLabelValues("notice_ack", outcome(err)).Inc()
	switch {
	case errors.Is(err, ErrNoticeAcked):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeError(w, statusOf(err), err.Error())
	default:
		writeJSON(w, http.StatusOK, n)
	}
}

// noticeAck checks the role, then acknowledges.
func (s *Server) noticeAck(id identity, notice, comment string) (Notice, error) {
	if id.role < Operator {
		return Notice{}, errForbidden
	}
	if s.deps.Notices == nil {
		return Notice{}, fmt.Errorf("notice %q: %w", notice, alarms.ErrUnknown)
	}
	return s.deps.Notices.Ack(notice, id.user, id.role, comment, s.opts.Now())
}
