package main

import (
	"bytes"
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
	cfg     config
	env     *environment
	api     *api
	ceiling *api // the ceiling server; nil without a database
	raw     *raw // nil without a database

	prefix               string   // userName prefix of this run's directory
	ids                  []string // ids[i] is directory user i
	since                time.Time
	smallGroup, bigGroup string
	loadStats            loadStats
	ceilingOrg           string // the organization the write ceiling inserts into
	ceilingSeq           atomic.Int64

	createSeq atomic.Int64 // users created by the create scenario
	next      atomic.Int64 // cursor through the directory for scenarios that need distinct users
	mu        sync.Mutex
	created   []string // users created by the create scenario, not in any group
	deletedN  atomic.Int64

	rows      []row
	delta     deltaResult
	vacuums   int           // VACUUM ANALYZE runs after scenarios that change rows
	vacuumDur time.Duration // their total time
	elapsed   time.Duration // the whole run until the report
}

// series is one kind of request a scenario's op records: its name in the JSON report, what it
// is, and the raw baseline series it is compared with.
type series struct {
	name, label, raw string
}

// scenario is one measured workload. Its op runs for the duration with conc clients, between
// two runs of its ceiling (half the duration each) and two of its raw baseline (a quarter each).
type scenario struct {
	series  []series
	conc    int
	op      op
	ceiling ceilingKind
	raw     op     // nil: no raw baseline
	writes  bool   // changes rows: the database is vacuumed and analyzed afterwards
	note    string // shown after the label
}

// row is one series of a scenario with its ceiling and raw baseline, and the CPU that each of
// the three kinds of runs used.
type row struct {
	name, label string
	conc        int
	res         result
	cpu         cpuUse // of the scenario's run, all its series
	cpuN        int    // requests of the scenario's run, all its series
	first       bool   // the first series of its run, which the CPU table lists
	note        string // e.g. that the run ended early

	ceiling ceilingKind
	ceil    *result // nil: no ceiling was run
	ceilCPU cpuUse
	ceilN   int

	rawLabel string
	raw      *result // nil: no raw baseline was run
	rawCPU   cpuUse
	rawN     int
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

// bracket is a baseline measured in two halves around a scenario.
type bracket struct {
	before, after []result
	cpu           cpuUse
	n             int
}

func (b *bench) runHalf(ctx context.Context, br *bracket, after bool, names []string, conc int, d time.Duration, f op) error {
	if f == nil {
		return nil
	}
	res, u, n, err := b.measure(ctx, names, conc, d, f)
	if err != nil {
		return err
	}
	if after {
		br.after = res
	} else {
		br.before = res
	}
	br.cpu, br.n = br.cpu.add(u), br.n+n
	return nil
}

// merged is series i of both halves, or nil if the bracket did not run.
func (br *bracket) merged(i int) *result {
	if br.before == nil || br.after == nil {
		return nil
	}
	m := merge(br.before[i], br.after[i])
	return &m
}

// run measures one scenario: raw baseline, ceiling, the scenario, ceiling, raw baseline. The
// baselines run right before and after it so that they meet the database and the machine as
// the scenario does (table sizes, cache, other load on the shared cores), and the ceiling
// nearest to it, since it is the figure the scenario is judged by.
func (b *bench) run(ctx context.Context, sc scenario) error {
	d := b.cfg.duration
	names, rawNames := make([]string, len(sc.series)), make([]string, len(sc.series))
	for i, s := range sc.series {
		names[i], rawNames[i] = s.name, s.raw
	}
	var rawOp op
	if b.raw != nil {
		rawOp = sc.raw
	}
	ceilOp := b.ceilingOp(sc.ceiling)
	var rawB, ceilB bracket
	if err := b.runHalf(ctx, &rawB, false, rawNames, sc.conc, d/4, rawOp); err != nil {
		return err
	}
	if err := b.runHalf(ctx, &ceilB, false, []string{"ceiling"}, sc.conc, d/2, ceilOp); err != nil {
		return err
	}
	res, u, n, err := b.measure(ctx, names, sc.conc, d, sc.op)
	if err != nil {
		return err
	}
	if err := b.runHalf(ctx, &ceilB, true, []string{"ceiling"}, sc.conc, d/2, ceilOp); err != nil {
		return err
	}
	if err := b.runHalf(ctx, &rawB, true, rawNames, sc.conc, d/4, rawOp); err != nil {
		return err
	}
	for i, r := range res {
		rw := row{name: sc.series[i].name, label: sc.series[i].label, conc: sc.conc, res: r, cpu: u, cpuN: n, first: i == 0,
			note: sc.note, ceiling: sc.ceiling, ceil: ceilB.merged(0), ceilCPU: ceilB.cpu, ceilN: ceilB.n,
			raw: rawB.merged(i), rawCPU: rawB.cpu, rawN: rawB.n}
		if rw.raw != nil {
			rw.rawLabel = sc.series[i].raw
		}
		if r.elapsed < d*95/100 {
			rw.note = fmt.Sprintf("ran %.1f s of %s: no more users to work on", r.elapsed.Seconds(), d)
		}
		b.rows = append(b.rows, rw)
		b.logRow(rw)
	}
	if sc.writes {
		return b.afterWrites(ctx)
	}
	return nil
}

func (b *bench) logRow(rw row) {
	r := rw.res
	line := fmt.Sprintf("%-22s %7.0f req/s  p50 %s  p99 %s ms  errors %d", rw.name, r.rate(), ms(r.pct(.5)), ms(r.pct(.99)), r.errors())
	if v, ok := ratio(r.rate(), rw.ceil); ok {
		line += fmt.Sprintf("  | ceiling %.0f/s: %.2f×", rw.ceil.rate(), v)
	}
	if v, ok := ratio(r.rate(), rw.raw); ok {
		line += fmt.Sprintf("  | raw %.0f/s: %.2f×", rw.raw.rate(), v)
	}
	logf("%s  [others %.0f%% of CPU]", line, 100*rw.cpu.others(runtime.NumCPU()))
}

// scenarios runs every scenario in turn: reads first, on the directory as loaded; then the
// delta sync; then writes. Creates come before the group and delete scenarios, which need
// users that are in no group.
func (b *bench) scenarios(ctx context.Context) error {
	n, conc := len(b.ids), b.cfg.concurrency
	r := b.raw // its ops are method values, only called when it is not nil (see run)
	total, err := b.directorySize(ctx)
	if err != nil {
		return err
	}
	reads := []scenario{
		{series: []series{{"get-by-id", "GET /Users/{id}", "raw SELECT users row by primary key"}},
			op: func(ctx context.Context, c *client) error {
				c.call(ctx, 0, b.api, "GET", "/Users/"+b.ids[c.rng.IntN(n)], nil, nil)
				return nil
			}, ceiling: readByID, raw: r.selectByID},
		{series: []series{{"username-eq", "filter userName eq (existing user)", "raw SELECT users row by lower(user_name)"}},
			op:      b.filter(func(i int) string { return fmt.Sprintf("userName eq %q", b.userName(i)) }, 1),
			ceiling: readByName, raw: r.selectByUserName},
		{series: []series{{"username-eq-missing", "filter userName eq (no such user)", "raw SELECT by lower(user_name), no row"}},
			op: b.filter(func(i int) string {
				return fmt.Sprintf("userName eq %q", fmt.Sprintf("missing-%07d@example.com", i))
			}, 0), ceiling: readByName, raw: r.selectByUserNameMissing},
		{series: []series{{"externalid-eq", "filter externalId eq", "raw SELECT users row by external_id"}},
			op:      b.filter(func(i int) string { return fmt.Sprintf("externalId eq %q", b.externalID(i)) }, 1),
			ceiling: readByName, raw: r.selectByExternalID},
		{series: []series{{"emails-co", "filter emails.value co", "raw trigram LIKE on user_values + join"}},
			op: b.filter(func(i int) string {
				return fmt.Sprintf("emails.value co %q", fmt.Sprintf("%s%07d@", b.prefix, i))
			}, 1), ceiling: readByName, raw: r.selectByEmailContains},
		{series: []series{{"list-first-page", "GET /Users?startIndex=1&count=100", "raw SELECT 100 users + emails, first in creation order"}},
			op: b.listPage(1, total), ceiling: readByID, raw: r.listPage(0)},
		{series: []series{{"list-last-page", fmt.Sprintf("GET /Users?startIndex=%d&count=100 (the last page, asked for directly)", total-99),
			"raw SELECT 100 users + emails, OFFSET to the last in creation order"}},
			op: b.listPage(total-99, total), ceiling: readByID, raw: r.listPage(total - 100)},
	}
	for _, sc := range reads {
		sc.conc = conc
		if err := b.run(ctx, sc); err != nil {
			return err
		}
	}
	if err := b.deltaSync(ctx); err != nil {
		return err
	}

	writes := []scenario{
		{series: []series{{"create", "POST /Users", "raw INSERT users + email row"}}, op: b.createUser, ceiling: writeCeiling, raw: r.insertUser},
		{series: []series{{"patch", "PATCH replace title + displayName", "raw UPDATE two columns by primary key"}},
			op: func(ctx context.Context, c *client) error {
				k := int(b.next.Add(1))
				body := fmt.Appendf(nil, `{"schemas":%s,"Operations":[{"op":"replace","path":"title","value":"Title %d"},`+
					`{"op":"replace","path":"displayName","value":"Name %d"}]}`, patchSchemas, k, k)
				c.call(ctx, 0, b.api, "PATCH", "/Users/"+b.ids[k%n], body, nil)
				return nil
			}, ceiling: writeCeiling, raw: r.updateTwo},
		// Walks the directory from the end, so each request suspends a user still active.
		{series: []series{{"suspend", "PATCH active=false", "raw UPDATE active by primary key"}},
			op: func(ctx context.Context, c *client) error {
				k := int(b.next.Add(1))
				body := []byte(`{"schemas":` + patchSchemas + `,"Operations":[{"op":"replace","path":"active","value":false}]}`)
				c.call(ctx, 0, b.api, "PATCH", "/Users/"+b.ids[n-1-k%n], body, nil)
				return nil
			}, ceiling: writeCeiling, raw: r.suspend},
	}
	for _, sc := range writes {
		sc.conc, sc.writes = conc, true
		if err := b.run(ctx, sc); err != nil {
			return err
		}
	}
	if err := b.groupScenarios(ctx, conc); err != nil {
		return err
	}
	// The users the create scenario made are deleted; if deletes outrun them, the scenario
	// ends early and says so (its rate is over the time it ran).
	if err := b.ensureCreated(ctx, 4*conc); err != nil {
		return err
	}
	if r != nil {
		if err := r.ensureDeletable(ctx, int(3*float64(r.inserts.Load()))+10_000); err != nil {
			return err
		}
	}
	return b.run(ctx, scenario{series: []series{{"delete", "DELETE /Users/{id}", "raw DELETE users row (cascade)"}},
		conc: conc, op: b.deleteUser, ceiling: writeCeiling, raw: r.deleteUser, writes: true})
}

// groupScenarios adds and removes one member on the 10-member group and on the group of all
// N directory users, at the configured concurrency (all clients on the same group), then once
// more with a single client: the difference between the two shows how much of the latency is
// waiting for the other clients' requests on the same group.
func (b *bench) groupScenarios(ctx context.Context, conc int) error {
	n := len(b.ids)
	// Both groups get the same kind of new member: a user the create scenario made, active and
	// in no group (every directory user is in the large group already, and some are suspended
	// by now), so that the two differ only in the group's size.
	if err := b.ensureCreated(ctx, 4*conc); err != nil {
		return err
	}
	b.mu.Lock()
	outside := append([]string(nil), b.created...)
	b.mu.Unlock()
	var rawOp op
	if b.raw != nil {
		rawOp = b.raw.memberAddRemove
	}
	groups := []struct {
		size string
		desc string
		f    op
	}{
		{"small", "10-member group", b.memberAddRemove(b.smallGroup, func(k int) string { return outside[k%len(outside)] })},
		{"large", fmt.Sprintf("%d-member group", n), b.memberAddRemove(b.bigGroup, func(k int) string { return outside[k%len(outside)] })},
	}
	clients := []int{conc}
	if conc > 1 {
		clients = append(clients, 1)
	}
	for _, c := range clients {
		suffix, note := "", ""
		if c != conc {
			suffix, note = "-1-client", "1 client"
		}
		for _, g := range groups {
			sc := scenario{series: []series{
				{"member-add-" + g.size + suffix, "PATCH add 1 member to the " + g.desc, "raw INSERT group_members row"},
				{"member-remove-" + g.size + suffix, "PATCH remove 1 member from the " + g.desc, "raw DELETE group_members row"},
			}, conc: c, op: g.f, ceiling: writeCeiling, raw: rawOp, writes: true, note: note}
			if err := b.run(ctx, sc); err != nil {
				return err
			}
		}
	}
	return nil
}

// afterWrites removes the write ceiling's rows and then vacuums and analyzes the database, as
// autovacuum would in production (this machine's PostgreSQL runs with autovacuum = off): dead
// rows left by one write scenario must not slow the next one down. Untimed.
func (b *bench) afterWrites(ctx context.Context) error {
	if b.env.db == nil {
		return nil
	}
	start := time.Now()
	if b.ceilingOrg != "" {
		if _, err := b.env.db.Exec(ctx, "DELETE FROM users WHERE org_id = $1", b.ceilingOrg); err != nil {
			return fmt.Errorf("removing the write ceiling's users: %w", err)
		}
	}
	if _, err := b.vacuum(ctx); err != nil {
		return err
	}
	b.vacuums++
	b.vacuumDur += time.Since(start)
	return nil
}

// directorySize is the organization's totalResults, which the list scenarios page through.
func (b *bench) directorySize(ctx context.Context) (int, error) {
	r, err := b.api.do(ctx, "GET", "/Users?startIndex=1&count=1", nil)
	if err != nil {
		return 0, err
	}
	var lr struct {
		TotalResults int `json:"totalResults"`
	}
	if !r.ok() || json.Unmarshal(r.body, &lr) != nil {
		return 0, fmt.Errorf("GET /Users: HTTP %d: %.300s", r.status, r.body)
	}
	if lr.TotalResults < 100 {
		return 0, fmt.Errorf("the organization holds %d users; the list scenarios need 100", lr.TotalResults)
	}
	return lr.TotalResults, nil
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
		c.call(ctx, 0, b.api, "GET", q, nil, func(r reply) string { return checkList(r.body, want, -1) })
		return nil
	}
}

// listPage returns an op that reads the page of 100 users at startIndex and checks that the
// list holds total users and the page 100 of them.
func (b *bench) listPage(startIndex, total int) op {
	q := "/Users?startIndex=" + strconv.Itoa(startIndex) + "&count=100"
	return func(ctx context.Context, c *client) error {
		c.call(ctx, 0, b.api, "GET", q, nil, func(r reply) string { return checkList(r.body, total, 100) })
		return nil
	}
}

// checkList says what is wrong with a ListResponse whose totalResults should be total and,
// unless items < 0, whose itemsPerPage should be items; "" if nothing. A page of 100 users is
// 70 KB: decoding it would cost the load generator a millisecond of the CPU it shares with
// scimd, so compact members found verbatim are taken as the answer, and the body is decoded
// only when they are not there.
func checkList(body []byte, total, items int) string {
	if bytes.Contains(body, []byte(`"totalResults":`+strconv.Itoa(total)+`,`)) &&
		(items < 0 || bytes.Contains(body, []byte(`"itemsPerPage":`+strconv.Itoa(items)+`,`))) {
		return ""
	}
	var lr struct {
		TotalResults *int `json:"totalResults"`
		ItemsPerPage *int `json:"itemsPerPage"`
	}
	switch {
	case json.Unmarshal(body, &lr) != nil:
		return "invalid JSON"
	case lr.TotalResults == nil || *lr.TotalResults != total:
		return "totalResults " + fmtInt(lr.TotalResults) + ", want " + strconv.Itoa(total)
	case items >= 0 && (lr.ItemsPerPage == nil || *lr.ItemsPerPage != items):
		return "itemsPerPage " + fmtInt(lr.ItemsPerPage) + ", want " + strconv.Itoa(items)
	}
	return ""
}

func fmtInt(p *int) string {
	if p == nil {
		return "missing"
	}
	return strconv.Itoa(*p)
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
