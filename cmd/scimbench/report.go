package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

const mb = 1 << 20

type target struct {
	name     string
	measured string
	pass     bool
}

type report struct {
	b         *bench
	date      time.Time
	machine   [][2]string
	peak      int64 // scimd VmHWM at the end of the run
	peakKnown bool
	targets   []target
}

// report gathers the machine's description and checks the targets.
func (b *bench) report(ctx context.Context) *report {
	rep := &report{b: b, date: time.Now()}
	if b.env.pid > 0 {
		if p, _, err := memory(b.env.pid); err == nil {
			rep.peak, rep.peakKnown = p, true
		}
	}
	pg, settings := "unknown", "unknown"
	if b.env.db != nil {
		_ = b.env.db.QueryRow(ctx, "SELECT version()").Scan(&pg)
		_ = b.env.db.QueryRow(ctx, `SELECT 'shared_buffers=' || current_setting('shared_buffers') ||
			', synchronous_commit=' || current_setting('synchronous_commit') || ', fsync=' || current_setting('fsync') ||
			', autovacuum=' || current_setting('autovacuum') || ', jit=' || current_setting('jit')`).Scan(&settings)
	}
	rep.machine = [][2]string{
		{"CPU", cpuModel()},
		{"cores (nproc)", fmt.Sprint(runtime.NumCPU())},
		{"memory", memTotal()},
		{"kernel", strings.TrimSpace(readFile("/proc/sys/kernel/osrelease"))},
		{"PostgreSQL", pg},
		{"PostgreSQL settings", settings},
		{"Go", runtime.Version()},
		{"scimd source", sourceVersion()},
	}
	rep.checkTargets()
	return rep
}

func (rep *report) find(name string) *row {
	for i := range rep.b.rows {
		if rep.b.rows[i].name == name {
			return &rep.b.rows[i]
		}
	}
	return nil
}

func (rep *report) add(name string, pass bool, format string, args ...any) {
	rep.targets = append(rep.targets, target{name: name, pass: pass, measured: fmt.Sprintf(format, args...)})
}

// ratio is rps divided by the baseline's rate; false when there is no baseline to divide by.
func ratio(rps float64, base *result) (float64, bool) {
	if base == nil || base.rate() <= 0 {
		return 0, false
	}
	return rps / base.rate(), true
}

// ceilingTarget checks that a scenario reaches at least frac of its ceiling's rate.
func (rep *report) ceilingTarget(scenario, ceiling string, frac float64) {
	rw := rep.find(scenario)
	name := fmt.Sprintf("`%s` ≥ %.2f× the %s", scenario, frac, ceiling)
	switch v, ok := rw.ratio(); {
	case rw == nil:
		rep.add(name, false, "not run")
	case !ok:
		rep.add(name, false, "%.0f req/s; no ceiling to compare with", rw.res.rate())
	default:
		rep.add(name, v >= frac, "%.0f req/s vs ceiling %.0f req/s = %.2f×", rw.res.rate(), rw.ceil.rate(), v)
	}
}

// latencyTarget checks that scenario a's q-quantile latency is at most limit times b's.
func (rep *report) latencyTarget(a, b string, q, limit float64) {
	qs := fmt.Sprintf("p%.0f", 100*q)
	name := fmt.Sprintf("`%s` %s ≤ %g × `%s` %s", a, qs, limit, b, qs)
	ra, rb := rep.find(a), rep.find(b)
	if ra == nil || rb == nil || ra.res.n == 0 || rb.res.n == 0 {
		rep.add(name, false, "not run")
		return
	}
	la, lb := ra.res.pct(q), rb.res.pct(q)
	rel := float64(la) / float64(lb)
	rep.add(name, rel <= limit, "%s vs %s ms = %.2f×", ms(la), ms(lb), rel)
}

func (rep *report) checkTargets() {
	b := rep.b
	rep.ceilingTarget("username-eq", "read ceiling", .75)
	rep.ceilingTarget("get-by-id", "read ceiling", .75)
	rep.ceilingTarget("create", "write ceiling", .6)
	rep.latencyTarget("list-last-page", "list-first-page", .5, 2)
	rep.latencyTarget("member-add-large", "member-add-small", .99, 1.5)

	d := b.delta
	const memName = "delta sync with flat memory (scimd peak RSS < 200 MB throughout)"
	switch {
	case !d.ran:
		rep.add(memName, false, "not run")
	case !d.memoryKnown || !rep.peakKnown:
		rep.add(memName, false, "scimd's memory is unknown (give -pid with -url)")
	default:
		ok := d.completed && rep.peak < 200*mb && d.rssMax < 200*mb
		rep.add(memName, ok, "%s %d of %d users; RSS during the sync %d–%d MB (%d samples); scimd peak RSS over the whole run %d MB",
			map[bool]string{true: "read", false: "INCOMPLETE:"}[d.completed], d.users, d.total,
			d.rssMin/mb, d.rssMax/mb, d.samples, rep.peak/mb)
	}

	var bad []string
	for _, rw := range b.rows {
		if e := rw.res.errors(); e > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d", rw.name, e))
		}
	}
	pass := len(bad) == 0
	if pass {
		bad = []string{"0 errors in every scenario"}
	}
	rep.add("no error responses during any scenario", pass, "%s", strings.Join(bad, "; "))
}

// ratio is the row's rate over its ceiling's.
func (rw *row) ratio() (float64, bool) {
	if rw == nil {
		return 0, false
	}
	return ratio(rw.res.rate(), rw.ceil)
}

// ceilingName says which ceiling the row is compared with, "none" if it ran without one.
func (rw *row) ceilingName() string {
	if rw == nil || rw.ceil == nil {
		return "none"
	}
	return rw.ceiling.String()
}

// markdown renders the report; full adds the title, the method and how to reproduce.
func (rep *report) markdown(full bool) string {
	b := rep.b
	d := b.cfg.duration
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	if full {
		p("# scimd benchmarks\n\n")
		p("Generated by `cmd/scimbench` on %s. Reproduce with:\n\n", rep.date.Format("2006-01-02 15:04 MST"))
		p("```sh\nmake bench BENCH_FLAGS='%s'\n```\n\n", strings.Join(os.Args[1:], " "))
		p("(`make bench` builds `bin/scimd` and `bin/scimbench`, then runs `bin/scimbench $(BENCH_FLAGS)`; ")
		p("`bin/scimbench -h` lists the flags.)\n\n")
	}
	p("## Machine\n\n| | |\n| --- | --- |\n")
	for _, m := range rep.machine {
		p("| %s | %s |\n", m[0], m[1])
	}
	p("| date | %s |\n", rep.date.Format(time.RFC3339))
	p("| run | %d users, %d concurrent clients, %s per scenario (its ceiling %s before and after it, its raw baseline %s before and after) |\n",
		len(b.ids), b.cfg.concurrency, d, d/2, d/4)
	p("| run time | %s from start to report, directory load included |\n\n", b.elapsed.Round(time.Second))

	ls := b.loadStats
	p("## Directory load\n\n| what | count | time | rate |\n| --- | ---: | ---: | ---: |\n")
	rate := func(n int, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	if ls.apiUsers > 0 {
		p("| users, one POST /Users each (%d concurrent clients) | %d | %.1f s | **%.0f users/s** |\n", b.cfg.loadConc,
			ls.apiUsers, ls.apiTime.Seconds(), rate(ls.apiUsers, ls.apiTime))
	}
	if ls.bulkUsers > 0 {
		p("| users, POST /Bulk (%d requests, 2 concurrent) | %d | %.1f s | **%.0f users/s** |\n", ls.bulkRequests,
			ls.bulkUsers, ls.bulkTime.Seconds(), rate(ls.bulkUsers, ls.bulkTime))
	}
	p("| large group members, PATCH add %d per request | %d | %.1f s | %.0f members/s (%.1f PATCH/s) |\n", memberBatch,
		ls.members, ls.membersTime.Seconds(), rate(ls.members, ls.membersTime), rate(ls.memberPATCHs, ls.membersTime))
	p("\nLoad path: %s. Every user is validated by scimd as in production.", ls.bulkNote)
	if ls.analyzeTime > 0 {
		p(" After the load scimbench runs `VACUUM (ANALYZE)` on the database (%.1f s)", ls.analyzeTime.Seconds())
		if ls.autovacuumOff {
			p(": this PostgreSQL runs with `autovacuum = off`, so nothing else would")
		}
		p(".")
	}
	if b.vacuums > 0 {
		p(" After each of the %d scenarios that change rows it deletes the write ceiling's rows and runs `VACUUM (ANALYZE)` again (%.1f s in all, untimed).",
			b.vacuums, b.vacuumDur.Seconds())
	}
	p("\n\n")

	p("## Scenarios\n\n")
	p("Each scenario runs %s with the clients shown (the delta sync: once, to completion). Its **ceiling**, the minimal ", d)
	p("server of `cmd/scimbench/ceiling.go` driven by the same load generator with as many clients, runs %s just before ", d/2)
	p("and %s just after it; its **raw** baseline, the same database work done with pgx without HTTP, %s before the ", d/2, d/4)
	p("first ceiling run and %s after the second. Latencies in ms; **× ceiling** and **× raw** are scimd's req/s divided ", d/4)
	p("by theirs.\n\n")
	p("| scenario | request | clients | requests | req/s | p50 | p99 | errors | ceiling | ceiling req/s | **× ceiling** | raw baseline | raw req/s | × raw |\n")
	p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: |\n")
	for _, rw := range b.rows {
		r := rw.res
		label := rw.label
		if rw.note != "" {
			label += " (" + rw.note + ")"
		}
		p("| `%s` | %s | %d | %d | %.0f | %s | %s | %d |", rw.name, label, rw.conc, r.n, r.rate(), ms(r.pct(.5)), ms(r.pct(.99)), r.errors())
		if v, ok := rw.ratio(); ok {
			p(" %s | %.0f | **%.2f** |", rw.ceilingName(), rw.ceil.rate(), v)
		} else {
			p(" – | – | – |")
		}
		if v, ok := ratio(r.rate(), rw.raw); ok {
			p(" %s | %.0f | %.2f |\n", rw.rawLabel, rw.raw.rate(), v)
		} else {
			p(" – | – | – |\n")
		}
	}
	p("\n")

	rep.cpuTable(&w)

	dl := b.delta
	if dl.ran {
		p("## Delta sync\n\n")
		p("One client pages through `GET /Users?filter=meta.lastModified gt \"T\"&count=1000&startIndex=…` until every user ")
		p("modified since the load began is read (runs to completion, not for a fixed time).\n\n")
		early, late := pageTrend(dl.pageOrder)
		p("| users read | pages | total time | pages/s | users/s | page p50 | page p99 | first tenth of pages, median | last tenth, median | errors |\n")
		p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		p("| %d of %d | %d | %.1f s | %.1f | **%.0f** | %s | %s | %s | %s | %d |\n\n", dl.users, dl.total, dl.pages, dl.elapsed.Seconds(),
			float64(dl.pages)/dl.elapsed.Seconds(), float64(dl.users)/dl.elapsed.Seconds(), ms(dl.pageLat.pct(.5)), ms(dl.pageLat.pct(.99)),
			ms(early), ms(late), dl.pageLat.errors())
		if dl.rawElapsed > 0 {
			p("Raw baseline: the same users and email rows read directly, 1,000 per query with keyset paging on ")
			p("`users_last_modified`: %d users in %d pages in %.1f s = %.0f users/s; scimd reaches %.2f× of it.\n\n",
				dl.rawUsers, dl.rawPages, dl.rawElapsed.Seconds(), float64(dl.rawUsers)/dl.rawElapsed.Seconds(),
				(float64(dl.users)/dl.elapsed.Seconds())/(float64(dl.rawUsers)/dl.rawElapsed.Seconds()))
		}
		if dl.rawErr != nil {
			p("Raw baseline failed: %v\n\n", dl.rawErr)
		}
	}

	p("## Memory\n\n")
	if rep.peakKnown {
		p("scimd peak resident memory (VmHWM) over the whole run: **%d MB**.", rep.peak/mb)
		if dl.memoryKnown {
			p(" During the delta sync, VmRSS sampled every 100 ms stayed between %d and %d MB (%d samples).",
				dl.rssMin/mb, dl.rssMax/mb, dl.samples)
		}
		p("\n\n")
	} else {
		p("Unknown: scimd's process id was not given (-pid).\n\n")
	}

	p("## Targets\n\n| target | result | measured |\n| --- | --- | --- |\n")
	for _, t := range rep.targets {
		res := "**MISS**"
		if t.pass {
			res = "PASS"
		}
		p("| %s | %s | %s |\n", t.name, res, t.measured)
	}
	p("\n")

	if obs := rep.observations(); len(obs) > 0 {
		p("## Observations\n\nComputed from the figures above:\n\n")
		for _, o := range obs {
			p("- %s\n", o)
		}
		p("\n")
	}

	var errLines []string
	for _, rw := range b.rows {
		for k, v := range rw.res.fails {
			errLines = append(errLines, fmt.Sprintf("- %s: %d × %s", rw.name, v, k))
		}
		if rw.ceil != nil {
			for k, v := range rw.ceil.fails {
				errLines = append(errLines, fmt.Sprintf("- ceiling of %s: %d × %s", rw.name, v, k))
			}
		}
		if rw.raw != nil {
			for k, v := range rw.raw.fails {
				errLines = append(errLines, fmt.Sprintf("- raw baseline of %s: %d × %s", rw.name, v, k))
			}
		}
	}
	if len(errLines) > 0 {
		sort.Strings(errLines)
		p("## Errors\n\n%s\n\n", strings.Join(errLines, "\n"))
	}

	if full {
		rep.method(&w)
	}
	return w.String()
}

// method describes how the figures were made.
func (rep *report) method(w *strings.Builder) {
	b := rep.b
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Method\n\n")
	p("- scimbench starts `bin/scimd serve --create-database` on 127.0.0.1 with a fresh database `scimbench_<pid>` (dropped at ")
	p("the end) and creates an organization with `scimd org create`. The load generator (scimbench), scimd, the ceiling server ")
	p("and PostgreSQL share the machine's cores.\n")
	p("- **The ceiling** is `scimbench ceiling`, a separate process like scimd, whose whole source is `cmd/scimbench/ceiling.go`: ")
	p("net/http, a pgxpool with one connection per client, one prepared statement per request, encoding/json into a fixed ")
	p("struct; no authentication, no logging, no other work. The read ceiling answers `GET` of one users row of the ")
	p("benchmarked organization by id, or by `(org_id, lower(user_name))` through the unique index, for a random directory ")
	p("user picked as the scimd scenario picks them. The write ceiling decodes the same User body the `create` scenario sends ")
	p("and inserts one users row into an organization of its own (emptied after every write scenario). A scenario without a ")
	p("ceiling of its own is compared with the closest one, named in its row: lookups, lists and the delta sync with the read ")
	p("ceiling, every write (PATCH, suspend, member changes, DELETE) with the write ceiling. The ceiling is what a Go service ")
	p("reaches on this machine for the simplest form of the request; **× ceiling** is how much of it scimd keeps while doing ")
	p("everything else a SCIM request needs.\n")
	p("- scimd and the ceiling are driven by the same code: one HTTP client with a kept-alive connection per client, the ")
	p("same headers, the same choice of users, the same clock.\n")
	p("- Users look like Entra ID's: core and enterprise attributes and one work email, no password. The directory is loaded ")
	p("through `POST /Users` (above %d users the first %d, and the rest through `POST /Bulk`, which runs the same ", bulkThreshold, apiSample)
	p("validation and writes in batches), then a 10-member group and a group holding every directory user, filled by `PATCH` ")
	p("adding %d members per request.\n", memberBatch)
	p("- Lookups pick a random directory user. `list-first-page` and `list-last-page` ask for `startIndex=1` and ")
	p("`startIndex=N-99` with `count=100`, N being the organization's totalResults, each request on its own (the last page ")
	p("is asked for directly, never reached by paging); every response must carry totalResults N and 100 users. PATCH and ")
	p("suspension walk the directory so that every request changes a different user. DELETE removes users the create ")
	p("scenario made.\n")
	p("- Member scenarios add a user who is not a member (one the create scenario made: active and in no group, for both ")
	p("groups) and then remove it, so the group keeps its size: the adds are half ")
	p("of the scenario's requests, and `member-add-*` req/s counts only them. All clients work on the same group. They run ")
	p("once more with a single client (`-1-client`): the difference from the concurrent run is the time requests wait for ")
	p("one another.\n")
	p("- Raw baselines use pgx on the same database with one connection per client, writing only to an organization of their ")
	p("own, seeded with as many users as the directory (and a group). Each is one prepared statement (pgx's statement cache), ")
	p("the user insert being the users row and its email row in one implicit transaction.\n")
	p("- Every scenario that changes rows is followed, untimed, by `VACUUM (ANALYZE)` of the database, as autovacuum would ")
	p("do in production")
	if b.loadStats.autovacuumOff {
		p(" (autovacuum is off on this PostgreSQL)")
	}
	p(", so that dead rows of one scenario do not slow the next.\n")
	p("- CPU per request is read from `/proc` (user+system time of scimbench, scimd, the ceiling server and the PostgreSQL ")
	p("backends serving the benchmark's database) over each run and divided by that run's requests.\n")
	p("- A failed request (transport error, non-2xx status, or a list with the wrong totalResults or page size) is counted as ")
	p("an error of its scenario and still timed.\n")
}

// cpuTable shows where each run's CPU went, per request: the load generator, the server
// (scimd or the ceiling) and PostgreSQL, which tells a slow scimd from a slow database and
// from a busy machine.
func (rep *report) cpuTable(w *strings.Builder) {
	cores := runtime.NumCPU()
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("### CPU per request\n\n")
	p("CPU time (user+system, from /proc) over each run divided by its requests, in µs: scimbench is the load generator, ")
	p("PostgreSQL the backends of the benchmark's database. \"Others\" is the share of the machine's %d cores used by every ", cores)
	p("other process during the scimd run and during the ceiling runs (other builds and tests on a shared machine): where ")
	p("they differ much, so may the conditions the scenario and its ceiling met.\n\n")
	p("| scenario run | clients | scimbench | scimd | PostgreSQL | all | ceiling run: scimbench | ceiling | PostgreSQL | all | raw: scimbench | raw: PostgreSQL | others: scimd run / ceiling runs |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, rw := range rep.b.rows {
		if !rw.first {
			continue
		}
		name := "`" + rw.name + "`"
		if rw.cpuN != rw.res.n {
			name += " (and its other series)"
		}
		c, k, r := rw.cpu, rw.ceilCPU, rw.rawCPU
		others := fmt.Sprintf("%.0f%%", 100*c.others(cores))
		if rw.ceilN > 0 {
			others += fmt.Sprintf(" / %.0f%%", 100*k.others(cores))
		}
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, rw.conc,
			perReq(c.self, rw.cpuN), perReq(c.scimd, rw.cpuN), perReq(c.pg, rw.cpuN), perReq(c.self+c.scimd+c.pg, rw.cpuN),
			perReq(k.self, rw.ceilN), perReq(k.ceiling, rw.ceilN), perReq(k.pg, rw.ceilN), perReq(k.self+k.ceiling+k.pg, rw.ceilN),
			perReq(r.self, rw.rawN), perReq(r.pg, rw.rawN), others)
	}
	p("\n")
}

// perReq is sec seconds of CPU over n requests in µs, "–" when nothing ran.
func perReq(sec float64, n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", 1e6*sec/float64(n))
}

// observations point at what the numbers imply. Each is computed from this run's figures,
// and says what they show, whichever way they come out.
func (rep *report) observations() []string {
	b := rep.b
	var out []string
	for _, name := range []string{"get-by-id", "username-eq", "create"} {
		rw := rep.find(name)
		if rw == nil || rw.cpuN == 0 || rw.ceilN == 0 {
			continue
		}
		out = append(out, cpuSentence(name,
			1e6*rw.cpu.scimd/float64(rw.cpuN), 1e6*rw.cpu.pg/float64(rw.cpuN),
			1e6*rw.ceilCPU.ceiling/float64(rw.ceilN), 1e6*rw.ceilCPU.pg/float64(rw.ceilN)))
	}
	if d := b.delta; d.ran && d.pages > 1 {
		early, late := pageTrend(d.pageOrder)
		s := "Delta sync: " + trendSentence(early, late)
		if d.rawElapsed > 0 {
			s += fmt.Sprintf(" The %d users took %.1f s through scimd and %.1f s read directly.", d.users, d.elapsed.Seconds(), d.rawElapsed.Seconds())
		}
		out = append(out, s)
	}
	for _, g := range []string{"small", "large"} {
		many, one := rep.find("member-add-"+g), rep.find("member-add-"+g+"-1-client")
		if many == nil || one == nil || one.res.n == 0 || many.res.n == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("`member-add-%s`: ", g)+scalingSentence(many.conc, many.res.rate(), one.res.rate(),
			many.res.pct(.5), one.res.pct(.5)))
	}
	var worst *row
	rel := func(rw *row) float64 { return rw.cpu.pg / float64(rw.cpuN) / (rw.rawCPU.pg / float64(rw.rawN)) }
	for i := range b.rows {
		rw := &b.rows[i]
		if rw.first && rw.cpuN > 0 && rw.rawN > 0 && rw.rawCPU.pg > 0 && (worst == nil || rel(rw) > rel(worst)) {
			worst = rw
		}
	}
	if worst != nil {
		out = append(out, fmt.Sprintf("PostgreSQL CPU per request is highest relative to its raw baseline for `%s`: %.0f µs vs %.0f µs (%.1f×).",
			worst.name, 1e6*worst.cpu.pg/float64(worst.cpuN), 1e6*worst.rawCPU.pg/float64(worst.rawN), rel(worst)))
	}
	return out
}

// cpuSentence compares the CPU per request (µs) that scimd and its database backends spend
// with what the ceiling and its backends spend, and names the larger excess.
func cpuSentence(scenario string, scimd, pg, ceil, ceilPG float64) string {
	s := fmt.Sprintf("`%s`: scimd and PostgreSQL spend %.0f µs of CPU per request (scimd %.0f, PostgreSQL %.0f), the ceiling %.0f (server %.0f, PostgreSQL %.0f)",
		scenario, scimd+pg, scimd, pg, ceil+ceilPG, ceil, ceilPG)
	extraApp, extraPG := scimd-ceil, pg-ceilPG
	switch {
	case extraApp <= 0 && extraPG <= 0:
		return s + ": scimd spends no more than the ceiling."
	case extraApp >= extraPG:
		return s + fmt.Sprintf(": most of the difference is in scimd's own process (%+.0f µs, PostgreSQL %+.0f µs).", extraApp, extraPG)
	default:
		return s + fmt.Sprintf(": most of the difference is in PostgreSQL (%+.0f µs, scimd's own process %+.0f µs).", extraPG, extraApp)
	}
}

// trendSentence says how the last pages of a sync compare with the first (median latencies).
// Within 1.5× either way is called flat: single pages vary that much from noise alone.
func trendSentence(early, late time.Duration) string {
	if early <= 0 || late <= 0 {
		return "too few pages to compare the first with the last."
	}
	r := float64(late) / float64(early)
	s := fmt.Sprintf("the last tenth of the pages took %.2f× as long as the first tenth (median %s vs %s ms)", r, ms(late), ms(early))
	switch {
	case r > 1.5:
		return s + ": a page costs more the larger its startIndex."
	case r < 1/1.5:
		return s + ": later pages were cheaper."
	default:
		return s + ": a page's cost does not grow with its startIndex."
	}
}

// scalingSentence says what going from one client to conc did to throughput and latency.
// Throughput that barely grows (under 1.25×) while the median latency more than doubles
// means the requests waited for one another.
func scalingSentence(conc int, rateMany, rateOne float64, p50Many, p50One time.Duration) string {
	tput, lat := rateMany/rateOne, float64(p50Many)/float64(p50One)
	s := fmt.Sprintf("%.0f req/s with %d clients and %.0f with 1 (%.2f×); p50 %s vs %s ms (%.2f×)",
		rateMany, conc, rateOne, tput, ms(p50Many), ms(p50One), lat)
	if tput < 1.25 && lat > 2 {
		return s + ": the concurrent requests mostly wait for one another."
	}
	return s + "."
}

// sourceVersion names the commit scimd was built from, and whether the work tree differed
// from it, since a benchmark describes the code it ran.
func sourceVersion() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (not a git work tree)"
	}
	v := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

func cpuModel() string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	for _, line := range strings.Split(readFile("/proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(v), &kb)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}
