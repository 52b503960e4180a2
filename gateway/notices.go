package main

import (
	"hazardgw/console"
	"hazardgw/gateway/outputs"
)

// noticeStore hands the uplink's notices to the console's notice store
// and the operators' acknowledgements back to the uplink (SPEC §13, site
// side): the console keeps and shows them, the uplink speaks MQTT.
type noticeStore struct{ n *console.Notices }

// noticesFor is the uplink's view of n; nil without notices.
func noticesFor(n *console.Notices) outputs.Notices {
	if n == nil {
		return nil
	}
	return noticeStore{n}
}

func (s noticeStore) Receive(n outputs.Notice) error {
	return s.n.Receive(n.ID, n.Site, n.Text, n.By, n.Time)
}

func (s noticeStore) Acks(after uint64, limit int) ([]outputs.NoticeAck, error) {
	var out []outputs.NoticeAck
	for _, n := range s.n.Acks(after, limit) {
		out = append(out, outputs.NoticeAck{Num: n.AckNum(), ID: n.ID, Site: n.Site, By: n.AckedBy,
			Comment: n.Comment, Time: n.AckedTime})
	}
	return out, nil
}

func (s noticeStore) WatchAcks(f func()) { s.n.WatchAcks(f) }
