package center

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
	"hazardgw/store/wal"
)

// offline is a center whose journal is open and whose messages are fed
// by hand (handle, then flush as the syncer would): no broker, no server.
type offline struct {
	*Center
	logs *testenv.Buffer
}

// retention sets store.journal_max_bytes and store.journal_keep (0: the
// defaults).
func retention(maxBytes int64, keep time.Duration) func(*configs.Config) {
	return func(cfg *configs.Config) {
		if maxBytes > 0 {
			cfg.Store.JournalMaxBytes = configs.Size(maxBytes)
		}
		if keep > 0 {
			cfg.Store.JournalKeep = configs.Duration(keep)
		}
	}
}

func openOffline(t testing.TB, dir string, set func(*configs.Config), now func() time.Time) *offline {
	t.Helper()
	cfg := centerConfig(t, []string{"tcp://127.0.0.1:1"}, dir, "")
	if set != nil {
		set(cfg)
	}
	logs := &testenv.Buffer{}
	c, err := New(cfg, Options{Registry: prometheus.NewRegistry(), Now: now, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.open(); err != nil {
		t.Fatal(err)
	}
	return &offline{c, logs}
}

func (o *offline) close(t testing.TB) {
	t.Helper()
	o.flush(false)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.j.close(); err != nil {
		t.Fatal(err)
	}
}

// feed publishes events from..to of every site, round robin, as the
// broker would deliver them, with a group commit every 500 messages.
func (o *offline) feed(t testing.TB, sites int, from, to uint64) {
	t.Helper()
	n := 0
	for seq := from; seq <= to; seq++ {
		for i := range sites {
			id := fmt.Sprintf("S%03d", i)
			o.handle("hazard/"+id+"/alarms", eventJSON(t, id, seq), nil)
			if n++; n%500 == 0 {
				o.flush(false)
			}
		}
	}
	o.flush(false)
}

// TestEventsBeyondTheWindow: a site's events older than its recent window
// come from the journal (GET /api/sites/{id}/events, ws resume), complete
// and in order, before and after a restart.
func TestEventsBeyondTheWindow(t *testing.T) {
	dir := t.TempDir()
	o := openOffline(t, dir, nil, nil)
	const sites, per = 3, 3000
	o.feed(t, sites, 1, per)
	check := func(o *offline) {
		t.Helper()
		srv := httptest.NewServer(o.Handler())
		defer srv.Close()
		for _, after := range []uint64{0, 10, per - recentEvents - 5, per - 10, per} {
			var evs []alarms.Event
			tcGet(t, strings.TrimPrefix(srv.URL, "http://"), fmt.Sprintf("/api/sites/S001/events?after=%d&limit=10000", after), &evs)
			if len(evs) != int(per-after) {
				t.Fatalf("after %d: %d events, want %d", after, len(evs), per-after)
			}
			for i, ev := range evs {
				if ev.Seq != after+uint64(i)+1 || ev.Site != "S001" {
					t.Fatalf("after %d: event %d is %s/%d", after, i, ev.Site, ev.Seq)
				}
			}
		}
		var evs []alarms.Event
		tcGet(t, strings.TrimPrefix(srv.URL, "http://"), "/api/sites/S002/events?after=5&limit=7", &evs)
		if len(evs) != 7 || evs[0].Seq != 6 || evs[6].Seq != 12 {
			t.Fatalf("limit 7 after 5: %v", evs)
		}
		// Resume from the start: every event, in center seq order.
		o.mu.Lock()
		cl := &client{out: make(chan []byte, clientQueue*4), done: make(chan struct{})}
		o.clients[cl] = true
		o.resumeLocked(cl, 0)
		delete(o.clients, cl)
		o.mu.Unlock()
		var last uint64
		n := len(cl.out)
		for range n {
			var f frame
			if err := json.Unmarshal(<-cl.out, &f); err != nil || f.Type != "alarm" || f.Seq <= last {
				t.Fatalf("resume frame %+v after %d: %v", f, last, err)
			}
			last = f.Seq
		}
		if n != sites*per {
			t.Fatalf("resume from 0: %d alarms, want %d", n, sites*per)
		}
	}
	check(o)
	before := o.Sites()
	o.close(t)

	o = openOffline(t, dir, nil, nil)
	defer o.close(t)
	if after := o.Sites(); fmt.Sprint(counts(after)) != fmt.Sprint(counts(before)) {
		t.Fatalf("after a restart:\n%+v\nwant\n%+v", counts(after), counts(before))
	}
	check(o)
}

// TestJournalRetention: store.journal_max_bytes deletes the oldest
// segments (logged and counted when they were younger than journal_keep);
// journal_keep deletes old ones quietly. Every site's state survives its
// segments: after a restart the counts, the alarm table and the
// de-duplication are those before (a redelivered old event is dropped).
func TestJournalRetention(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dir := t.TempDir()
	o := openOffline(t, dir, retention(1<<20, time.Hour), clock)
	o.feed(t, 4, 1, 1000) // about 2.8 MB of events
	o.mu.Lock()
	total, segs := o.j.total, len(o.j.segs)
	o.mu.Unlock()
	if total > 1<<20+(1<<20)/8+(64<<10) {
		t.Fatalf("journal holds %d bytes in %d segments, bound 1 MiB", total, segs)
	}
	if got := counter(o.m.evicted); got == 0 {
		t.Fatal("journal_max_bytes deleted young records without counting them")
	}
	if !strings.Contains(o.logs.String(), "journal_max_bytes reached") {
		t.Fatal("forced deletion not logged")
	}
	before := o.Sites()

	// Two hours later, past journal_keep: the next roll deletes every
	// older segment, quietly (nothing forced).
	evicted := counter(o.m.evicted)
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	o.feed(t, 4, 1001, 1300)
	o.mu.Lock()
	first := o.j.segs[0].first
	o.mu.Unlock()
	if got := counter(o.m.evicted); got != evicted {
		t.Errorf("records past journal_keep counted as forced: %v, before %v", got, evicted)
	}
	names, _ := listSegments(dir)
	if len(names) == 0 || !strings.HasPrefix(names[0], segmentName(first)[:7]) {
		t.Fatalf("segments %v", names)
	}
	o.close(t)

	o = openOffline(t, dir, retention(1<<20, time.Hour), clock)
	defer o.close(t)
	for i, s := range counts(o.Sites()) {
		b := counts(before)[i]
		b.Seq, b.MaxSeq, b.Events = 1300, 1300, 1300
		b.Worst = s.Worst // later events: another worst alarm
		if s != b || s.Worst == "" {
			t.Fatalf("after retention and a restart: %+v, want %+v", s, b)
		}
	}
	dups := counter(o.m.duplicates)
	o.handle("hazard/S000/alarms", eventJSON(t, "S000", 1), nil)
	if counter(o.m.duplicates) != dups+1 {
		t.Fatal("an event whose segment is gone was stored again")
	}
	if got := mqtttest.Gathered(t, o.reg, "hazardgw_center_journal_evicted_total", "", ""); got != 0 {
		t.Errorf("evicted counter after restart %v (a new process counts anew)", got)
	}
}

// TestMemoryBounded: the center's heap does not grow with the events it
// has stored (100 sites; HAZARDGW_CENTER_EVENTS events in all, default
// 100,000; docs/DISTRICT.md has a 1M run). Before the recent windows it
// kept every event, parsed and raw, and grew with each.
func TestMemoryBounded(t *testing.T) {
	total := 100_000
	if v, err := strconv.Atoi(os.Getenv("HAZARDGW_CENTER_EVENTS")); err == nil && v > 0 {
		total = v
	}
	const sites = 100
	per := uint64(total / sites)
	o := openOffline(t, t.TempDir(), retention(64<<20, 0), nil)
	defer o.close(t)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	o.feed(t, sites, 1, per/2)
	mid := heap()
	o.feed(t, sites, per/2+1, per)
	end := heap()
	t.Logf("%d events at %d sites: heap %.1f MiB at half, %.1f MiB at the end", total, sites, float64(mid)/(1<<20), float64(end)/(1<<20))
	if s := o.Sites(); len(s) != sites || s[0].Events != int(per) {
		t.Fatalf("sites %d, events %d; want %d, %d", len(s), s[0].Events, sites, per)
	}
	if end > mid && end-mid > 8<<20 {
		t.Fatalf("heap grew %.1f MiB over the second half of %d events: not bounded", float64(end-mid)/(1<<20), total)
	}
}

// siteCounts is what of a Summary survives a restart (the status is
// unknown until the site is heard again).
type siteCounts struct {
	Site                             string
	Seq, MaxSeq, Missing, Lost, Gaps uint64
	Events, Urgent, High, Unacked    int
	Worst                            string
	Escalated                        string
}

func counts(sums []Summary) []siteCounts {
	out := make([]siteCounts, len(sums))
	for i, s := range sums {
		out[i] = siteCounts{s.Site, s.Seq, s.MaxSeq, s.Missing, s.Lost, s.Gaps, s.Events, s.Active["urgent"], s.Active["high"],
			s.Unacked, "", strings.Join(s.Escalated, ",")}
		if s.Worst != nil {
			out[i].Worst = fmt.Sprintf("%s@%d", s.Worst.ID, s.Worst.Seq)
		}
	}
	return out
}

// TestLegacyJournal: a center.log written before segments is read first
// and continued; the next roll starts center-SEQ.log, and a restart reads
// both in order.
func TestLegacyJournal(t *testing.T) {
	dir := t.TempDir()
	b := wal.AppendHeader(nil)
	for seq := uint64(1); seq <= 3; seq++ {
		p, _ := json.Marshal(record{Kind: kindEvent, Site: "OLD", Prefix: "hazard/OLD", Seq: seq, Raw: eventJSON(t, "OLD", seq)})
		b = wal.AppendRecord(b, seq, p)
	}
	if err := os.WriteFile(filepath.Join(dir, journalFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	o := openOffline(t, dir, retention(1<<20, 0), nil) // segments of 128 KiB
	if s := o.Sites(); len(s) != 1 || s[0].Seq != 3 {
		t.Fatalf("legacy journal read: %+v", s)
	}
	o.feed(t, 1, 4, 400) // site S000 (4..400: a gap before, no matter here); rolls at least once
	o.close(t)
	names, _ := listSegments(dir)
	if len(names) < 2 || names[0] != journalFile || !strings.HasPrefix(names[1], segmentPrefix) {
		t.Fatalf("segments %v: want center.log, then center-SEQ.log", names)
	}
	o = openOffline(t, dir, retention(1<<20, 0), nil)
	defer o.close(t)
	got := counts(o.Sites())
	if len(got) != 2 || got[0].Site != "OLD" || got[0].Seq != 3 || got[1].MaxSeq != 400 || got[1].Events != 397 {
		t.Fatalf("after a restart: %+v", got)
	}
}
