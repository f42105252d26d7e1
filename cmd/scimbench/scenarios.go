package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bench holds the run's state: the directory it loaded and the results so far.
type bench struct {
	cfg config
	env *environment
	api *api
	raw *raw // nil without a database

	prefix               string   // userName prefix of this run's directory
	ids                  []string // ids[i] is directory user i
	since                time.Time
	smallGroup, bigGroup string
	loadStats            loadStats

	createSeq atomic.Int64 // users created by the create scenario
	next      atomic.Int64 // cursor through the directory for scenarios that need distinct users
	mu        sync.Mutex
	created   []string // users created by the create scenario, not in any group
	deletedN  atomic.Int64

	rows  []row
	delta deltaResult
}

// row is one series of a scenario with the raw baseline it is compared with, and the CPU
// that the scenario's run and the baseline's runs used.
type row struct {
	res      result
	base     *result
	baseName string
	conc     int
	cpu      cpuUse // of the scenario's run, all its series
	cpuN     int    // requests of the scenario's run, all its series
	baseCPU  cpuUse
	baseN    int
	first    bool   // the first series of its run, which the CPU table lists
	note     string // e.g. that the run ended early
}

// measure runs f like runFor and also accounts for the CPU used meanwhile.
func (b *bench) measure(ctx context.Context, names []string, conc int, d time.Duration, f op) ([]result, cpuUse, int, error) {
	s0, t0 := b.cpuNow(), time.Now()
	res, err := runFor(ctx, names, conc, d, f)
	u := b.cpuNow().since(s0, time.Since(t0).Seconds())
	n := 0
	for _, r := range res {
		n += r.n
	}
	return res, u, n, err
}

// compare runs the raw baseline for half the duration, then the scenario for the duration,
// then the baseline for another half, so that the baseline measures the database as it is at
// the moment of the scenario (table sizes, cache, autovacuum, other load on the machine).
// Series i of the scenario is compared with series i of the baseline.
func (b *bench) compare(ctx context.Context, conc int, names []string, f op, baseNames []string, base op) error {
	d := b.cfg.duration
	var before, after []result
	var bu1, bu2 cpuUse
	var bn1, bn2 int
	var err error
	if b.raw != nil && base != nil {
		if before, bu1, bn1, err = b.measure(ctx, baseNames, conc, d/2, base); err != nil {
			return err
		}
	}
	res, u, n, err := b.measure(ctx, names, conc, d, f)
	if err != nil {
		return err
	}
	if before != nil {
		if after, bu2, bn2, err = b.measure(ctx, baseNames, conc, d/2, base); err != nil {
			return err
		}
	}
	for i, r := range res {
		rw := row{res: r, conc: conc, cpu: u, cpuN: n, first: i == 0}
		if r.elapsed < d*95/100 {
			rw.note = fmt.Sprintf("ran %.1f s of %s: no more users to work on", r.elapsed.Seconds(), d)
		}
		if before != nil {
			m := merge(before[i], after[i])
			rw.base, rw.baseName, rw.baseCPU, rw.baseN = &m, baseNames[i], bu1.add(bu2), bn1+bn2
		}
		b.rows = append(b.rows, rw)
		line := fmt.Sprintf("%-50s %7.0f req/s  p50 %s  p99 %s ms  errors %d", r.name, r.rate(), ms(r.pct(.5)), ms(r.pct(.99)), r.errors())
		if rw.base != nil {
			line += fmt.Sprintf("  | raw %.0f/s (%.0f%%)", rw.base.rate(), 100*r.rate()/rw.base.rate())
		}
		logf("%s  [others %.0f%% of CPU]", line, 100*u.others(runtime.NumCPU()))
	}
	return nil
}

// scenarios runs every scenario in turn. The order matters: creates come first so that the
// later group and delete scenarios have users that are in no group.
func (b *bench) scenarios(ctx context.Context) error {
	n, conc := len(b.ids), b.cfg.concurrency
	r := b.raw
	var rawOp = func(f op) op {
		if r == nil {
			return nil
		}
		return f
	}
	steps := []func() error{
		func() error {
			return b.compare(ctx, conc, []string{"create user (POST /Users)"}, b.createUser,
				[]string{"raw INSERT users + email row"}, rawOp(r.insertUser))
		},
		func() error {
			return b.compare(ctx, conc, []string{"get user by id"}, func(ctx context.Context, c *client) error {
				id := b.ids[c.rng.IntN(n)]
				c.call(ctx, 0, b.api, "GET", "/Users/"+id, nil, nil)
				return nil
			}, []string{"raw SELECT by primary key"}, rawOp(r.selectByID))
		},
		func() error {
			return b.compare(ctx, conc, []string{"filter userName eq (existing)"}, b.filter(func(i int) string {
				return fmt.Sprintf("userName eq %q", b.userName(i))
			}, 1), []string{"raw SELECT by lower(user_name)"}, rawOp(r.selectByUserName))
		},
		func() error {
			return b.compare(ctx, conc, []string{"filter userName eq (missing)"}, b.filter(func(i int) string {
				return fmt.Sprintf("userName eq %q", fmt.Sprintf("missing-%07d@example.com", i))
			}, 0), []string{"raw SELECT by lower(user_name), no row"}, rawOp(r.selectByUserNameMissing))
		},
		func() error {
			return b.compare(ctx, conc, []string{"filter emails.value co"}, b.filter(func(i int) string {
				return fmt.Sprintf("emails.value co %q", fmt.Sprintf("%s%07d@", b.prefix, i))
			}, 1), []string{"raw trigram LIKE on user_values + join"}, rawOp(r.selectByEmailContains))
		},
		func() error {
			return b.compare(ctx, conc, []string{"filter externalId eq"}, b.filter(func(i int) string {
				return fmt.Sprintf("externalId eq %q", b.externalID(i))
			}, 1), []string{"raw SELECT by external_id"}, rawOp(r.selectByExternalID))
		},
		func() error { return b.deltaSync(ctx) },
		func() error {
			return b.compare(ctx, conc, []string{"PATCH replace title + displayName"}, func(ctx context.Context, c *client) error {
				k := int(b.next.Add(1))
				body := fmt.Appendf(nil, `{"schemas":%s,"Operations":[{"op":"replace","path":"title","value":"Title %d"},`+
					`{"op":"replace","path":"displayName","value":"Name %d"}]}`, patchSchemas, k, k)
				c.call(ctx, 0, b.api, "PATCH", "/Users/"+b.ids[k%n], body, nil)
				return nil
			}, []string{"raw UPDATE two columns by primary key"}, rawOp(r.updateTwo))
		},
		func() error {
			// Walks the directory from the end, so each request suspends a user still active.
			return b.compare(ctx, conc, []string{"PATCH active=false (suspend)"}, func(ctx context.Context, c *client) error {
				k := int(b.next.Add(1))
				body := []byte(`{"schemas":` + patchSchemas + `,"Operations":[{"op":"replace","path":"active","value":false}]}`)
				c.call(ctx, 0, b.api, "PATCH", "/Users/"+b.ids[n-1-k%n], body, nil)
				return nil
			}, []string{"raw UPDATE active by primary key"}, rawOp(r.suspend))
		},
		func() error { return b.groupScenarios(ctx, conc) },
		func() error {
			// The users the create scenario made are deleted; if deletes outrun them, the
			// scenario ends early and says so (its rate is over the time it ran).
			if err := b.ensureCreated(ctx, 4*conc); err != nil {
				return err
			}
			if r != nil {
				if err := r.ensureDeletable(ctx, int(3*float64(r.inserts.Load()))+10_000); err != nil {
					return err
				}
			}
			return b.compare(ctx, conc, []string{"DELETE user"}, b.deleteUser,
				[]string{"raw DELETE users row (cascade)"}, rawOp(r.deleteUser))
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// groupScenarios adds and removes one member on the 10-member group and on the group of all
// N directory users, at the configured concurrency (all clients on the same group), then once
// more with a single client. The single-client runs are a diagnostic: every membership change
// updates the group's row (its version and lastModified) and so holds that row's lock until
// commit, and the difference between the two shows how much of the latency is that queue.
func (b *bench) groupScenarios(ctx context.Context, conc int) error {
	n := len(b.ids)
	// Every directory user is in the large group; the users created earlier are in none.
	if err := b.ensureCreated(ctx, 4*conc); err != nil {
		return err
	}
	b.mu.Lock()
	outside := append([]string(nil), b.created...)
	b.mu.Unlock()
	var base op
	if b.raw != nil {
		base = b.raw.memberAddRemove
	}
	baseNames := []string{"raw INSERT group_members row", "raw DELETE group_members row"}
	small := b.memberAddRemove(b.smallGroup, func(k int) string { return b.ids[10+k%(n-10)] })
	big := b.memberAddRemove(b.bigGroup, func(k int) string { return outside[k%len(outside)] })
	clients := []int{conc}
	if conc > 1 {
		clients = append(clients, 1)
	}
	for _, c := range clients {
		suffix := ""
		if c != conc {
			suffix = fmt.Sprintf(", %d client", c)
		}
		for _, g := range []struct {
			label string
			f     op
		}{{"10-member group", small}, {fmt.Sprintf("%d-member group", n), big}} {
			names := []string{"group add member (" + g.label + suffix + ")", "group remove member (" + g.label + suffix + ")"}
			if err := b.compare(ctx, c, names, g.f, baseNames, base); err != nil {
				return err
			}
		}
	}
	return nil
}

// createUser creates a new user, not in any group, kept for the group and delete scenarios.
func (b *bench) createUser(ctx context.Context, c *client) error {
	k := int(b.createSeq.Add(1))
	name := fmt.Sprintf("%snew-%07d@example.com", b.prefix, k)
	r := c.call(ctx, 0, b.api, "POST", "/Users", userDoc(name, fmt.Sprintf("%snew-ext-%07d", b.prefix, k), k), nil)
	if r.status == 201 && r.location != "" {
		b.mu.Lock()
		b.created = append(b.created, path.Base(r.location))
		b.mu.Unlock()
	}
	return nil
}

// ensureCreated creates users outside every group (untimed) until there are at least n that
// the delete scenario has not deleted yet.
func (b *bench) ensureCreated(ctx context.Context, n int) error {
	b.mu.Lock()
	missing := n - (len(b.created) - int(b.deletedN.Load()))
	b.mu.Unlock()
	if missing <= 0 {
		return nil
	}
	logf("creating %d more users outside every group", missing)
	return parallel(ctx, b.cfg.loadConc, missing, func(ctx context.Context, _ int) error {
		k := int(b.createSeq.Add(1))
		name := fmt.Sprintf("%snew-%07d@example.com", b.prefix, k)
		r, err := b.api.do(ctx, "POST", "/Users", userDoc(name, fmt.Sprintf("%snew-ext-%07d", b.prefix, k), k))
		if err != nil {
			return err
		}
		if r.status != 201 {
			return fmt.Errorf("POST /Users: HTTP %d: %.300s", r.status, r.body)
		}
		b.mu.Lock()
		b.created = append(b.created, path.Base(r.location))
		b.mu.Unlock()
		return nil
	})
}

func (b *bench) deleteUser(ctx context.Context, c *client) error {
	k := int(b.deletedN.Add(1) - 1)
	b.mu.Lock()
	if k >= len(b.created) {
		b.mu.Unlock()
		return errStop
	}
	id := b.created[k]
	b.mu.Unlock()
	c.call(ctx, 0, b.api, "DELETE", "/Users/"+id, nil, nil)
	return nil
}

// filter returns an op that lists users with the filter expr(i) for a random directory user i
// and checks that the response holds want results.
func (b *bench) filter(expr func(i int) string, want int) op {
	return func(ctx context.Context, c *client) error {
		q := "/Users?filter=" + url.QueryEscape(expr(c.rng.IntN(len(b.ids))))
		c.call(ctx, 0, b.api, "GET", q, nil, func(r reply) string {
			var lr struct {
				TotalResults int `json:"totalResults"`
			}
			if err := json.Unmarshal(r.body, &lr); err != nil {
				return "invalid JSON"
			}
			if lr.TotalResults != want {
				return "totalResults " + strconv.Itoa(lr.TotalResults) + ", want " + strconv.Itoa(want)
			}
			return ""
		})
		return nil
	}
}

// memberAddRemove returns an op that adds a user who is not a member to group, then removes
// it, so that the group's size stays what it was. candidate(k) gives the k-th non-member;
// consecutive k never collide while fewer clients than candidates run.
func (b *bench) memberAddRemove(group string, candidate func(k int) string) op {
	return func(ctx context.Context, c *client) error {
		id := candidate(int(b.next.Add(1)))
		r := c.call(ctx, 0, b.api, "PATCH", "/Groups/"+group, addMembers([]string{id}), nil)
		if !r.ok() {
			return nil
		}
		c.call(ctx, 1, b.api, "PATCH", "/Groups/"+group, removeMember(id), nil)
		return nil
	}
}
