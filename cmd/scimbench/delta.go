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
	pageLat              result // one sample per page
	firstPage, lastPage  time.Duration
	rssMin, rssMax       int64 // scimd's VmRSS sampled during the sync
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
// does; scimd's memory is sampled every 100 ms meanwhile.
func (b *bench) deltaSync(ctx context.Context) error {
	d := &b.delta
	d.ran = true
	deadline := time.Now().Add(b.cfg.deltaTimeout)
	if b.raw != nil && b.raw.mainOrg != "" {
		d.rawPages, d.rawUsers, d.rawElapsed, d.rawErr = b.raw.pageAll(ctx, b.since, deadline)
		logf("raw keyset delta read: %d users in %d pages in %s", d.rawUsers, d.rawPages, d.rawElapsed.Round(time.Millisecond))
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
	close(stop)
	wg.Wait()
	if d.memoryKnown {
		d.peakRest, _, _ = memory(b.env.pid)
	}
	lat := c.lat[0]
	if len(lat) > 0 {
		d.firstPage, d.lastPage = lat[0], lat[len(lat)-1]
	}
	d.pageLat = result{name: "delta sync page", n: len(lat), elapsed: d.elapsed, fails: c.fails[0], lat: slices.Sorted(slices.Values(lat))}
	logf("delta sync: %d of %d users in %d pages in %s (first page %s ms, last %s ms), RSS %d-%d MB",
		d.users, d.total, d.pages, d.elapsed.Round(time.Millisecond), ms(d.firstPage), ms(d.lastPage), d.rssMin>>20, d.rssMax>>20)
	return ctx.Err()
}
