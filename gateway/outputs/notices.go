package outputs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"hazardgw/alarms"
)

// Notice is a notice (督办通知) from the district console as it arrives on
// PREFIX/notices (the district wire contract, SPEC §13).
type Notice struct {
	ID   string
	Site string
	Text string
	By   string
	Time time.Time
}

// NoticeAck is an operator's acknowledgement of a notice, published on
// PREFIX/notices/ack. Num orders the acknowledgements durably (the
// console's record number of it): the ack publisher's cursor.
type NoticeAck struct {
	Num     uint64
	ID      string
	Site    string
	By      string
	Comment string
	Time    time.Time
}

// Notices keeps the notices the uplink receives and the operators'
// acknowledgements it publishes (the console's notice store, wired by the
// gateway). Required when [uplink] notices = true.
type Notices interface {
	// Receive keeps n durably before it returns (the broker's PUBACK
	// follows it). A notice whose id is known already changes nothing and
	// is not an error (QoS 1 may deliver it again).
	Receive(n Notice) error
	// Acks returns the acknowledgements numbered after after, oldest first,
	// at most limit.
	Acks(after uint64, limit int) ([]NoticeAck, error)
	// WatchAcks registers f, called after every new acknowledgement; f does
	// not block. Called once, from New.
	WatchAcks(f func())
}

// Bounds of a notice's fields; a longer one makes the notice malformed.
const (
	MaxNoticeText = 4000 // bytes
	MaxNoticeID   = 200  // bytes, also of by
)

// noticeMsg is PREFIX/notices' payload.
type noticeMsg struct {
	ID   string `json:"id"`
	Site string `json:"site"`
	Text string `json:"text"`
	By   string `json:"by"`
	Time string `json:"time"`
}

// errForeignSite marks a notice addressed to another site.
var errForeignSite = errors.New("notice for another site")

// parseNotice decodes and checks a notice for site: every field present
// (other keys are ignored),
// id and by short and printable, text non-empty and bounded, time RFC 3339.
// A notice naming another site fails with errForeignSite.
func parseNotice(b []byte, site string) (Notice, error) {
	var m noticeMsg
	if err := strictJSON(b, &m); err != nil {
		return Notice{}, err
	}
	switch {
	case m.ID == "" || len(m.ID) > MaxNoticeID || !printable(m.ID):
		return Notice{}, fmt.Errorf("id %q: want 1..%d printable bytes", m.ID, MaxNoticeID)
	case m.Site == "":
		return Notice{}, errors.New("missing site")
	case m.Site != site:
		return Notice{}, fmt.Errorf("%w %q (this is %q)", errForeignSite, m.Site, site)
	case strings.TrimSpace(m.Text) == "" || len(m.Text) > MaxNoticeText || !utf8.ValidString(m.Text):
		return Notice{}, fmt.Errorf("text: want 1..%d bytes of UTF-8", MaxNoticeText)
	case len(m.By) > MaxNoticeID || !printable(m.By):
		return Notice{}, fmt.Errorf("by %q: want at most %d printable bytes", m.By, MaxNoticeID)
	}
	t, err := time.Parse(time.RFC3339Nano, m.Time)
	if err != nil {
		return Notice{}, fmt.Errorf("time: %w", err)
	}
	if t.IsZero() {
		return Notice{}, errors.New("time: zero")
	}
	return Notice{ID: m.ID, Site: m.Site, Text: m.Text, By: m.By, Time: t.UTC()}, nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// ackMsg is PREFIX/notices/ack's payload.
type ackMsg struct {
	ID      string `json:"id"`
	Site    string `json:"site"`
	By      string `json:"by"`
	Time    string `json:"time"`
	Comment string `json:"comment"`
}

// ackSource reads the acknowledgements for the ack publisher.
func ackSource(n Notices) source {
	return func(after uint64, limit int) ([]entry, error) {
		acks, err := n.Acks(after, limit)
		if err != nil {
			return nil, fmt.Errorf("read notice acknowledgements after %d: %w", after, err)
		}
		out := make([]entry, len(acks))
		for i, a := range acks {
			out[i].seq = a.Num
			if out[i].payload, err = json.Marshal(ackMsg{ID: a.ID, Site: a.Site, By: a.By,
				Time: alarms.FormatTime(a.Time), Comment: a.Comment}); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

// onReplay is paho's handler of PREFIX/replay (never blocks): a valid
// request starts or extends the replay, a malformed one is counted and
// dropped.
func (u *Uplink) onReplay(_ string, payload []byte) {
	r, err := parseReplay(payload)
	if err != nil {
		u.m.refused.WithLabelValues("replay").Inc()
		u.log.Warn("mqtt replay request malformed; dropped", "topic", u.prefix+"/replay", "err", err)
		return
	}
	u.m.replays.Inc()
	u.log.Info("mqtt replay requested", "after", *r.After, "by", r.By)
	u.replay.request(*r.After)
}

// onNotice is paho's handler of PREFIX/notices: a valid notice for this
// site is kept durably (Notices.Receive, an fsync) before the handler
// returns and paho acknowledges it, so a notice the broker counts as
// delivered survives a power cut. Notices are rare (people type them).
// A malformed one or one for another site is counted and dropped.
func (u *Uplink) onNotice(_ string, payload []byte) {
	n, err := parseNotice(payload, u.site)
	if err != nil {
		kind := "notice"
		if errors.Is(err, errForeignSite) {
			kind = "notice_site"
		}
		u.m.refused.WithLabelValues(kind).Inc()
		u.log.Warn("mqtt notice refused", "topic", u.prefix+"/notices", "err", err)
		return
	}
	if err := u.notices.Receive(n); err != nil {
		u.m.refused.WithLabelValues("notice_store").Inc()
		u.log.Error("mqtt notice not kept: the district must send it again", "id", n.ID, "err", err)
		return
	}
	u.m.notices.Inc()
}
