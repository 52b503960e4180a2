package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Trends reads a point's trend back from InfluxDB for the console, so a
// trend reaches back past a restart of the gateway. It speaks InfluxQL on
// /query: InfluxDB 1.8 natively, 2.x through its 1.x compatibility API
// (a DBRP mapping for the bucket). Both layouts of SPEC §9 are read:
// `point` (measurement sample, field value) and `device` (measurement
// device_sample, one field per point).
//
// Each bucket of the answer (at most maxTrendBuckets over the span) gives
// two samples, its minimum and its maximum, so a peak never disappears
// from a long trend; a bucket whose samples carry no value (NaN, decode
// errors) gives one bad sample, which the page draws as a gap.
//
// Safe for concurrent use; each call is one HTTP request bounded by its
// context and a 10 s timeout.
type Trends struct {
	base, token, db, rp string
	site, layout        string
	// device layout only: points numbered by names, their device by
	// index into devs (pointer-free but for devs: 2 MB at 100,000
	// points where a map of strings took 8.8)
	points *names
	devOf  []int32
	devs   []string
	client *http.Client
}

const maxTrendBuckets = 720

// NewTrends builds the reader of cfg's [store.influxdb]; nil without one.
// layout is "point" or "device" (SPEC §3 store.influxdb.layout).
func NewTrends(cfg *configs.Config) (*Trends, error) {
	db := cfg.Store.InfluxDB
	if db == nil {
		return nil, nil
	}
	layout := db.Layout
	if layout == "" {
		layout = "point"
	}
	if layout != "point" && layout != "device" {
		return nil, fmt.Errorf("trends: layout %q (want point or device)", layout)
	}
	name, rp, _ := strings.Cut(db.Bucket, "/")
	t := &Trends{base: strings.TrimRight(db.URL, "/"), token: db.Token, db: name, rp: rp, site: cfg.Site.ID,
		layout: layout, client: &http.Client{Timeout: 10 * time.Second}}
	// Only the device layout names the device in its query: the point
	// layout needs no table.
	if layout != "device" {
		return t, nil
	}
	n, bytes := 0, 0
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			n, bytes = n+1, bytes+len(p.ID)
		}
	}
	t.points, t.devOf = newNames(n, bytes), make([]int32, 0, n)
	for _, d := range cfg.Devices {
		t.devs = append(t.devs, d.ID)
		for _, p := range d.Points {
			if i := t.points.Add(drivers.PointID(p.ID)); int(i) == len(t.devOf) {
				t.devOf = append(t.devOf, int32(len(t.devs)-1))
			}
		}
	}
	return t, nil
}

// device returns point's device (device layout only). Read-only after
// NewTrends, so safe for concurrent use.
func (t *Trends) device(point drivers.PointID) (string, bool) {
	if t.points == nil {
		return "", false
	}
	i := t.points.Find(point)
	if i < 0 {
		return "", false
	}
	return t.devs[t.devOf[i]], true
}

// ident quotes an InfluxQL identifier; lit a string literal.
func ident(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
func lit(s string) string   { return `'` + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + `'` }

// query builds the InfluxQL for point over [from, to) and its bucket width.
func (t *Trends) query(point drivers.PointID, from, to time.Time) (string, time.Duration, error) {
	w := max(time.Second, (to.Sub(from) / maxTrendBuckets).Truncate(time.Second))
	when := fmt.Sprintf("time >= %d AND time < %d", from.UnixNano(), to.UnixNano())
	if t.layout == "point" {
		return fmt.Sprintf(`SELECT min("value") AS lo, max("value") AS hi, count("quality") AS n FROM "sample" WHERE "site" = %s AND "point" = %s AND %s GROUP BY time(%ds)`,
			lit(t.site), lit(string(point)), when, int64(w/time.Second)), w, nil
	}
	dev, ok := t.device(point)
	if !ok {
		return "", 0, fmt.Errorf("trends: unknown point %s", point)
	}
	f := ident(string(point))
	return fmt.Sprintf(`SELECT min(%s) AS lo, max(%s) AS hi, count(%s) AS bad FROM "device_sample" WHERE "site" = %s AND "device" = %s AND %s GROUP BY time(%ds)`,
		f, f, ident(string(point)+".quality"), lit(t.site), lit(dev), when, int64(w/time.Second)), w, nil
}

// History returns point's trend over [from, to), oldest first: per bucket
// its minimum then its maximum (a bad sample for a bucket with samples but
// no value). Buckets without samples give nothing.
func (t *Trends) History(ctx context.Context, point drivers.PointID, from, to time.Time) ([]drivers.Sample, error) {
	q, w, err := t.query(point, from, to)
	if err != nil {
		return nil, err
	}
	v := url.Values{"db": {t.db}, "q": {q}, "epoch": {"ms"}}
	if t.rp != "" {
		v.Set("rp", t.rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/query?"+v.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("trends %s: %w", point, err)
	}
	if t.token != "" {
		req.Header.Set("Authorization", "Token "+t.token)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("trends %s: %w", point, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("trends %s: %w", point, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("trends %s: influxdb %s: %.200s", point, resp.Status, body)
	}
	var r struct {
		Results []struct {
			Series []struct {
				Columns []string     `json:"columns"`
				Values  [][]*float64 `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("trends %s: decode: %w", point, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("trends %s: %s", point, r.Error)
	}
	var out []drivers.Sample
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, fmt.Errorf("trends %s: %s", point, res.Error)
		}
		for _, s := range res.Series {
			col := map[string]int{}
			for i, c := range s.Columns {
				col[c] = i
			}
			get := func(row []*float64, c string) *float64 {
				if i, ok := col[c]; ok && i < len(row) {
					return row[i]
				}
				return nil
			}
			for _, row := range s.Values {
				ts := get(row, "time")
				if ts == nil {
					continue
				}
				at := time.UnixMilli(int64(*ts)).UTC()
				// bad: device layout, samples not good in the bucket;
				// n: point layout, samples in the bucket.
				lo, hi, bad, n := get(row, "lo"), get(row, "hi"), get(row, "bad"), get(row, "n")
				q := drivers.Good
				if bad != nil && *bad > 0 {
					q = drivers.Uncertain // some samples of the bucket were not good
				}
				switch {
				case lo == nil || hi == nil:
					if (bad != nil && *bad > 0) || (n != nil && *n > 0) {
						out = append(out, drivers.Sample{Point: point, Value: math.NaN(), Quality: drivers.Bad, Time: at})
					}
				case *lo == *hi:
					out = append(out, drivers.Sample{Point: point, Value: *lo, Quality: q, Time: at.Add(w / 2)})
				default:
					out = append(out, drivers.Sample{Point: point, Value: *lo, Quality: q, Time: at.Add(w / 3)},
						drivers.Sample{Point: point, Value: *hi, Quality: q, Time: at.Add(2 * w / 3)})
				}
			}
		}
	}
	return out, nil
}
