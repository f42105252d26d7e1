package main

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// deltaResult is one full delta sync, as a connector does it after an outage: every user
// modified since a time, 1,000 per page.
type deltaResult struct {
	ran                  bool
	pages, users, total  int
	elapsed              time.Duration
	pageLat              result          // one sample per page
	pageOrder            []time.Duration // the same, in the order the pages were read
	rssMin, rssMax       int64           // scimd's VmRSS sampled during the sync
	samples              int
	completed            bool
	rawPages, rawUsers   int
	rawElapsed           time.Duration
	rawErr               error
	memoryKnown          bool
	peakBefore, peakRest int64 // scimd VmHWM before and after the sync
}

// deltaSync pages through GET /Users?filter=meta.lastModified gt "T"&count=1000 with
// startIndex, as RFC 7644 gives a client no other way to page, until every user is read. It
// runs once, to completion (bounded by -delta-timeout), on one client, as a sync connector
// does; scimd's memory is sampled every 100 ms meanwhile. Its row in the report counts pages:
// its rate is pages per second, compared with the read ceiling at one client (run for half
// the duration before and after it) and with the raw keyset read of the same users.
func (b *bench) deltaSync(ctx context.Context) error {
	d := &b.delta
	d.ran = true
	deadline := time.Now().Add(b.cfg.deltaTimeout)
	rw := row{name: "delta-sync", label: "GET /Users?filter=meta.lastModified gt T&count=1000&startIndex=…, every page",
		conc: 1, first: true, ceiling: readByID}
	if b.raw != nil && b.raw.mainOrg != "" {
		s0, t0 := b.cpuNow(), time.Now()
		d.rawPages, d.rawUsers, d.rawElapsed, d.rawErr = b.raw.pageAll(ctx, b.since, deadline)
		rw.rawCPU, rw.rawN = b.cpuNow().since(s0, time.Since(t0).Seconds()), d.rawPages
		logf("raw keyset delta read: %d users in %d pages in %s", d.rawUsers, d.rawPages, d.rawElapsed.Round(time.Millisecond))
		if d.rawErr == nil {
			rw.raw = &result{name: "raw", n: d.rawPages, elapsed: d.rawElapsed, fails: map[string]int{}}
			rw.rawLabel = "raw keyset read of the same users + emails, 1,000 per query"
		}
	}
	var ceilB bracket
	ceilOp := b.ceilingOp(readByID)
	if err := b.runHalf(ctx, &ceilB, false, []string{"ceiling"}, 1, b.cfg.duration/2, ceilOp); err != nil {
		return err
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	if b.env.pid > 0 {
		d.memoryKnown = true
		d.peakBefore, _, _ = memory(b.env.pid)
		d.rssMin = 1 << 62
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				if _, rss, err := memory(b.env.pid); err == nil {
					d.rssMin, d.rssMax = min(d.rssMin, rss), max(d.rssMax, rss)
					d.samples++
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}

	filter := url.QueryEscape(`meta.lastModified gt "` + b.since.Format(time.RFC3339Nano) + `"`)
	c := &client{lat: make([][]time.Duration, 1), fails: []map[string]int{{}}}
	s0 := b.cpuNow()
	start := time.Now()
	maxPages := 10_000_000
	for startIndex := 1; d.pages < maxPages && time.Now().Before(deadline); {
		r := c.call(ctx, 0, b.api, "GET", "/Users?filter="+filter+"&count=1000&startIndex="+strconv.Itoa(startIndex), nil, nil)
		if ctx.Err() != nil {
			break
		}
		if !r.ok() {
			break // the failure is recorded; paging on would skip users
		}
		var lr struct {
			TotalResults int `json:"totalResults"`
			ItemsPerPage int `json:"itemsPerPage"`
		}
		if err := json.Unmarshal(r.body, &lr); err != nil {
			c.fails[0]["invalid JSON"]++
			break
		}
		if d.pages == 0 {
			d.total = lr.TotalResults
			maxPages = lr.TotalResults/1000 + 100
		}
		if lr.ItemsPerPage == 0 {
			d.completed = true
			break
		}
		d.pages++
		d.users += lr.ItemsPerPage
		startIndex += lr.ItemsPerPage
		if startIndex > lr.TotalResults {
			d.completed = true
			break
		}
	}
	d.elapsed = time.Since(start)
	rw.cpu = b.cpuNow().since(s0, d.elapsed.Seconds())
	close(stop)
	wg.Wait()
	if d.memoryKnown {
		d.peakRest, _, _ = memory(b.env.pid)
	}
	d.pageOrder = c.lat[0]
	d.pageLat = result{name: "delta-sync", n: len(d.pageOrder), elapsed: d.elapsed, fails: c.fails[0],
		lat: slices.Sorted(slices.Values(d.pageOrder))}
	logf("delta sync: %d of %d users in %d pages in %s, RSS %d-%d MB",
		d.users, d.total, d.pages, d.elapsed.Round(time.Millisecond), d.rssMin>>20, d.rssMax>>20)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.runHalf(ctx, &ceilB, true, []string{"ceiling"}, 1, b.cfg.duration/2, ceilOp); err != nil {
		return err
	}
	rw.res, rw.cpuN = d.pageLat, d.pageLat.n
	rw.ceil, rw.ceilCPU, rw.ceilN = ceilB.merged(0), ceilB.cpu, ceilB.n
	b.rows = append(b.rows, rw)
	b.logRow(rw)
	return nil
}

// pageTrend is the median latency of the first and of the last tenth of the pages (at least
// one page each), in the order they were read: whether a page costs more the further it is.
func pageTrend(pages []time.Duration) (early, late time.Duration) {
	if len(pages) == 0 {
		return 0, 0
	}
	k := max(1, len(pages)/10)
	median := func(s []time.Duration) time.Duration {
		s = slices.Sorted(slices.Values(s))
		return s[(len(s)-1)/2]
	}
	return median(pages[:k]), median(pages[len(pages)-k:])
}
