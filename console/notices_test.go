package console

import (
	"encoding/json"
	"testing"
	"time"
)

// noticeOf decodes the notice of a `notice` frame.
func noticeOf(t *testing.T, f frame) map[string]any {
	t.Helper()
	var x struct {
		Notice map[string]any `json:"notice"`
	}
	if err := json.Unmarshal(f.raw, &x); err != nil {
		t.Fatal(err)
	}
	return x.Notice
}

// TestNotices: a notice from the district is shown (frame, API) until an
// operator acknowledges it; roles, unknown and repeated acknowledgements;
// both are records; the acknowledgement is offered for publishing; a
// notice delivered twice is kept once; after a restart the open notice is
// still open (snapshot) and the acknowledged one still acknowledged.
func TestNotices(t *testing.T) {
	dir := t.TempDir()
	rec, err := OpenRecords(dir, RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ns := OpenNotices(rec, "SQ-TEST")
	acked := make(chan struct{}, 10)
	ns.WatchAcks(func() { acked <- struct{}{} })
	e := start(t, testConfig(true), Deps{Records: rec, Notices: ns}, Options{})
	c, _, snap := e.dial(tokOperator)
	var s struct{ Notices []map[string]any }
	if err := json.Unmarshal(snap.raw, &s); err != nil || s.Notices == nil || len(s.Notices) != 0 {
		t.Fatalf("snapshot notices %v (%v), want []", s.Notices, err)
	}

	sent := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	for range 2 { // QoS 1 may deliver it twice
		if err := ns.Receive("D-1", "SQ-TEST", "检查氨压缩机房", "chen", sent); err != nil {
			t.Fatal(err)
		}
	}
	n := noticeOf(t, c.next("notice"))
	if n["id"] != "D-1" || n["site"] != "SQ-TEST" || n["text"] != "检查氨压缩机房" || n["by"] != "chen" ||
		n["time"] != "2026-11-28T08:00:00.000Z" || n["acked"] != false || n["acked_time"] != nil {
		t.Fatalf("notice frame %v", n)
	}
	if err := ns.Receive("D-2", "SQ-TEST", "report the tank levels", "chen", sent.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c.next("notice")
	var list []map[string]any
	if resp, b := e.get("/api/notices", tokViewer); resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil ||
		len(list) != 2 || list[0]["id"] != "D-2" || list[1]["id"] != "D-1" {
		t.Fatalf("GET /api/notices: %d %s, want D-2 then D-1", resp.StatusCode, b)
	}

	for _, tc := range []struct {
		name, path, token string
		code              int
	}{
		{"viewer", "/api/notices/D-1/ack", tokViewer, 403},
		{"unknown", "/api/notices/D-9/ack", tokOperator, 404},
		{"operator", "/api/notices/D-1/ack", tokOperator, 200},
		{"again", "/api/notices/D-1/ack", tokCommander, 409},
	} {
		resp, b := e.req("POST", tc.path, tc.token, `{"comment":"已处理"}`)
		if resp.StatusCode != tc.code {
			t.Fatalf("%s: %d %s, want %d", tc.name, resp.StatusCode, b, tc.code)
		}
		if tc.code == 200 {
			var got map[string]any
			_ = json.Unmarshal(b, &got)
			if got["id"] != "D-1" || got["acked"] != true || got["acked_by"] != "zhang" || got["comment"] != "已处理" || got["acked_time"] == nil {
				t.Fatalf("ack answered %s", b)
			}
		}
	}
	if n := noticeOf(t, c.next("notice")); n["id"] != "D-1" || n["acked"] != true {
		t.Fatalf("notice frame after the ack %v", n)
	}
	select {
	case <-acked:
	default:
		t.Fatal("the acknowledgement did not wake the publisher")
	}
	if a := ns.Acks(0, 10); len(a) != 1 || a[0].ID != "D-1" || a[0].AckNum() == 0 || len(ns.Acks(a[0].AckNum(), 10)) != 0 {
		t.Fatalf("Acks: %+v", a)
	}

	var recs []Record
	if resp, b := e.get("/api/records?kind=notice,notice_ack", tokViewer); resp.StatusCode != 200 || json.Unmarshal(b, &recs) != nil || len(recs) != 3 {
		t.Fatalf("records: %d %s, want 3", resp.StatusCode, b)
	}
	if r := recs[0]; r.Kind != "notice" || r.Notice != "D-1" || r.By != "chen" || r.Comment != "检查氨压缩机房" || !r.Time.Equal(sent) {
		t.Errorf("notice record %+v", r)
	}
	if r := recs[2]; r.Kind != "notice_ack" || r.Notice != "D-1" || r.By != "zhang" || r.Role != "operator" || r.Comment != "已处理" {
		t.Errorf("notice_ack record %+v", r)
	}

	// Restart: the records log is all there is.
	e.stop()
	rec.Close()
	rec2, err := OpenRecords(dir, RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rec2.Close()
	ns2 := OpenNotices(rec2, "SQ-TEST")
	e2 := start(t, testConfig(true), Deps{Records: rec2, Notices: ns2}, Options{})
	_, _, snap = e2.dial(tokViewer)
	if err := json.Unmarshal(snap.raw, &s); err != nil || len(s.Notices) != 1 || s.Notices[0]["id"] != "D-2" || s.Notices[0]["acked"] != false {
		t.Fatalf("snapshot notices after a restart %v, want D-2 open", s.Notices)
	}
	if a := ns2.Acks(0, 10); len(a) != 1 || a[0].ID != "D-1" || a[0].AckedBy != "zhang" {
		t.Fatalf("acknowledgements after a restart %+v", a)
	}
	if resp, b := e2.req("POST", "/api/notices/D-1/ack", tokOperator, `{}`); resp.StatusCode != 409 {
		t.Fatalf("ack of D-1 after a restart: %d %s, want 409", resp.StatusCode, b)
	}
}
