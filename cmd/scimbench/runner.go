package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// errStop, returned by an operation, ends that client's loop: its supply of work is used up.
var errStop = errors.New("no more work")

// op is one iteration of a scenario for one client. It records its requests with c.observe.
type op func(ctx context.Context, c *client) error

// client is one concurrent caller. Its statistics are its own, so recording needs no lock.
type client struct {
	id    int
	rng   *rand.Rand
	lat   [][]time.Duration
	fails []map[string]int
}

// observe records one request of series s that started at start; failure is "" on success.
func (c *client) observe(s int, start time.Time, failure string) {
	c.lat[s] = append(c.lat[s], time.Since(start))
	if failure != "" {
		c.fails[s][failure]++
	}
}

// call times one SCIM request as series s. check, if given, inspects a 2xx reply and returns
// what is wrong with it ("" if nothing).
func (c *client) call(ctx context.Context, s int, a *api, method, path string, body []byte, check func(reply) string) reply {
	start := time.Now()
	r, err := a.do(ctx, method, path, body)
	failure := ""
	switch {
	case err != nil && ctx.Err() != nil:
		failure = "cancelled"
	case err != nil:
		failure = "transport error"
	case !r.ok():
		failure = "HTTP " + strconv.Itoa(r.status)
	case check != nil:
		failure = check(r)
	}
	c.observe(s, start, failure)
	return r
}

// exec times one database operation as series s.
func (c *client) exec(s int, f func() error) error {
	start := time.Now()
	err := f()
	failure := ""
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			failure = "SQLSTATE " + pgErr.Code
		} else {
			failure = "db error"
		}
	}
	c.observe(s, start, failure)
	return err
}

// result is the outcome of one series of requests.
type result struct {
	name    string
	n       int
	fails   map[string]int
	elapsed time.Duration
	lat     []time.Duration // sorted
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

func (r result) errors() int {
	n := 0
	for _, v := range r.fails {
		n += v
	}
	return n
}

// pct is the q-quantile latency (nearest rank).
func (r result) pct(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.lat)))) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

// merge combines two runs of the same series (the baseline before and after a scenario).
func merge(a, b result) result {
	out := result{name: a.name, n: a.n + b.n, elapsed: a.elapsed + b.elapsed, fails: map[string]int{}}
	for k, v := range a.fails {
		out.fails[k] += v
	}
	for k, v := range b.fails {
		out.fails[k] += v
	}
	out.lat = append(slices.Clone(a.lat), b.lat...)
	slices.Sort(out.lat)
	return out
}

// runFor runs f on conc clients until dur has passed (each client finishes the iteration it is
// in) or every client has run out of work, and returns one result per series name. Throughput
// is measured over the wall time until the last client stopped.
func runFor(ctx context.Context, names []string, conc int, dur time.Duration, f op) ([]result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clients := make([]*client, conc)
	seed := rand.Uint64()
	for i := range clients {
		c := &client{id: i, rng: rand.New(rand.NewPCG(seed, uint64(i))), lat: make([][]time.Duration, len(names)),
			fails: make([]map[string]int, len(names))}
		for s := range names {
			c.fails[s] = map[string]int{}
		}
		clients[i] = c
	}
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded by time, and by a count far above any rate this machine reaches.
			for i := 0; i < 100_000_000 && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				if err := f(ctx, c); errors.Is(err, errStop) {
					return
				} else if err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]result, len(names))
	for s, name := range names {
		r := result{name: name, elapsed: elapsed, fails: map[string]int{}}
		for _, c := range clients {
			r.n += len(c.lat[s])
			r.lat = append(r.lat, c.lat[s]...)
			for k, v := range c.fails[s] {
				r.fails[k] += v
			}
		}
		slices.Sort(r.lat)
		out[s] = r
	}
	return out, nil
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}
