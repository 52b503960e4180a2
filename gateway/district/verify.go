//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"hazardgw/alarms"
	"hazardgw/gateway/center"
)

var httpc = &http.Client{Timeout: 10 * time.Second}

// getJSON decodes url's 200 answer into v.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// events pages through base+path?after=&limit=1000 from after to the end.
func events(ctx context.Context, url string, after uint64) ([]alarms.Event, error) {
	var out []alarms.Event
	for {
		var page []alarms.Event
		if err := getJSON(ctx, fmt.Sprintf("%s?after=%d&limit=1000", url, after), &page); err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) == 0 {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
}

// SiteEvents is every event of the site's own journal (GET /api/events).
func (s *Site) Events(ctx context.Context) ([]alarms.Event, error) {
	return events(ctx, s.Console+"/api/events", 0)
}

// Sites is the center's /api/sites by site id.
func (d *District) Summaries(ctx context.Context) (map[string]center.Summary, error) {
	var list []center.Summary
	if err := getJSON(ctx, d.CenterURL+"/api/sites", &list); err != nil {
		return nil, err
	}
	out := make(map[string]center.Summary, len(list))
	for _, s := range list {
		out[s.Site] = s
	}
	return out, nil
}

// waitUntil polls cond every 200 ms until it holds, fails, or ctx ends.
func waitUntil(ctx context.Context, what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Verify checks the district against every site's own journal: each
// site's events up to what it had journaled when the check began are at
// the center (the center given up to within to catch up), with seqs
// continuous from 1, equal to the site's (id, state, time, emitted),
// none lost or missing, every one of them seen on the websocket, in seq
// order. (A replay after a gap would show older seqs after newer ones:
// the broker cluster's persistent sessions and the sites' outboxes are
// meant to need none in these faults. The center's gap counter restarts
// with the process, so the watcher's own order is the check.) It returns every problem found
// (none: nothing lost, order kept) and how many events it compared.
func (d *District) Verify(ctx context.Context, w *Watch, within time.Duration) (problems []string, compared int, err error) {
	want := map[string][]alarms.Event{}
	for _, s := range d.Sites {
		evs, err := s.Events(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", s.ID, err)
		}
		want[s.ID] = evs
	}
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var sum map[string]center.Summary
	err = waitUntil(wctx, "the center catching up with every site's journal", func() (bool, error) {
		var err error
		if sum, err = d.Summaries(wctx); err != nil {
			return false, nil // the center may be restarting
		}
		for id, evs := range want {
			if n := uint64(len(evs)); n > 0 && (sum[id].Seq < evs[n-1].Seq || w.Last(id) < evs[n-1].Seq) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		for id, evs := range want {
			if n := len(evs); n > 0 && sum[id].Seq < evs[n-1].Seq {
				problems = append(problems, fmt.Sprintf("%s: the center holds up to seq %d, the site journaled %d", id, sum[id].Seq, evs[n-1].Seq))
			} else if n > 0 && w.Last(id) < evs[n-1].Seq {
				problems = append(problems, fmt.Sprintf("%s: the websocket showed up to seq %d, the site journaled %d", id, w.Last(id), evs[n-1].Seq))
			}
		}
		return problems, 0, err
	}
	seen := map[string]map[uint64]bool{}
	for _, a := range w.Arrivals() {
		if seen[a.Site] == nil {
			seen[a.Site] = map[uint64]bool{}
		}
		seen[a.Site][a.Seq] = true
	}
	disorder := w.Disorder()
	for _, s := range d.Sites {
		site := want[s.ID]
		if len(site) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no alarm events at the site", s.ID))
			continue
		}
		got, err := events(ctx, d.CenterURL+"/api/sites/"+s.ID+"/events", 0)
		if err != nil {
			return nil, 0, fmt.Errorf("center events of %s: %w", s.ID, err)
		}
		for i, e := range got {
			if e.Seq != uint64(i+1) {
				problems = append(problems, fmt.Sprintf("%s: the center's events are not continuous from 1: #%d has seq %d", s.ID, i, e.Seq))
				break
			}
		}
		for i, e := range site {
			switch {
			case e.Seq != uint64(i+1):
				problems = append(problems, fmt.Sprintf("%s: the site's own journal is not continuous from 1: #%d has seq %d", s.ID, i, e.Seq))
			case i >= len(got):
				problems = append(problems, fmt.Sprintf("%s: seq %d not at the center", s.ID, e.Seq))
			case got[i].ID != e.ID || got[i].State != e.State || !got[i].Time.Equal(e.Time) || !got[i].Emitted.Equal(e.Emitted):
				problems = append(problems, fmt.Sprintf("%s: seq %d differs: site %s %s %s, center %s %s %s", s.ID, e.Seq,
					e.ID, e.State, alarms.FormatTime(e.Emitted), got[i].ID, got[i].State, alarms.FormatTime(got[i].Emitted)))
			case !seen[s.ID][e.Seq]:
				problems = append(problems, fmt.Sprintf("%s: seq %d never on the district websocket", s.ID, e.Seq))
			default:
				compared++
				continue
			}
			break
		}
		sm := sum[s.ID]
		if sm.Lost != 0 || sm.Missing != 0 {
			problems = append(problems, fmt.Sprintf("%s: the center counts %d lost, %d missing", s.ID, sm.Lost, sm.Missing))
		}
		if n := disorder[s.ID]; n > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d websocket frames out of seq order", s.ID, n))
		}
	}
	if len(problems) > 0 {
		for _, e := range w.DisorderExamples() {
			problems = append(problems, "out of order: "+e)
		}
	}
	return problems, compared, nil
}

// WaitFlowing waits until w is connected to the center and the center
// holds at least one event of every site: the incident is under way.
// It gives up after within, naming the sites the center has not heard.
func (d *District) WaitFlowing(ctx context.Context, w *Watch, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var silent []string
	err := waitUntil(ctx, "every site's first event at the center", func() (bool, error) {
		sum, err := d.Summaries(ctx)
		if err != nil {
			return false, err
		}
		silent = silent[:0]
		for _, s := range d.Sites {
			if sum[s.ID].Seq == 0 {
				silent = append(silent, s.ID)
			}
		}
		return len(silent) == 0 && w.Conns() > 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w (websocket connections %d; no event of %v)", err, w.Conns(), silent)
	}
	return nil
}
