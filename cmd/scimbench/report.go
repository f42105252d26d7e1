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
		if rep.b.rows[i].res.name == name {
			return &rep.b.rows[i]
		}
	}
	return nil
}

func (rep *report) add(name string, pass bool, format string, args ...any) {
	rep.targets = append(rep.targets, target{name: name, pass: pass, measured: fmt.Sprintf(format, args...)})
}

// ratioTarget checks that a scenario reaches at least frac of its raw baseline's rate.
func (rep *report) ratioTarget(name, scenario string, frac float64) {
	rw := rep.find(scenario)
	switch {
	case rw == nil:
		rep.add(name, false, "not run")
	case rw.base == nil || rw.base.rate() == 0:
		rep.add(name, false, "%.0f req/s; no raw baseline to compare with", rw.res.rate())
	default:
		ratio := rw.res.rate() / rw.base.rate()
		rep.add(name, ratio >= frac, "%.0f req/s vs raw %.0f req/s = %.0f%%", rw.res.rate(), rw.base.rate(), 100*ratio)
	}
}

func (rep *report) p99Target(name string, limit time.Duration, scenarios ...string) {
	var parts []string
	pass := true
	for _, s := range scenarios {
		rw := rep.find(s)
		if rw == nil {
			pass = false
			parts = append(parts, s+": not run")
			continue
		}
		p := rw.res.pct(.99)
		pass = pass && p <= limit && rw.res.n > 0
		parts = append(parts, fmt.Sprintf("%s: %s ms", s, ms(p)))
	}
	rep.add(name, pass, "%s", strings.Join(parts, "; "))
}

func (rep *report) checkTargets() {
	b := rep.b
	n := len(b.ids)
	rep.ratioTarget("create user ≥ 50% of raw insert rate", "create user (POST /Users)", .5)
	rep.ratioTarget("userName eq (existing) ≥ 50% of raw indexed select rate", "filter userName eq (existing)", .5)
	rep.ratioTarget("userName eq (missing) ≥ 50% of raw indexed select rate", "filter userName eq (missing)", .5)
	rep.p99Target("userName eq p99 ≤ 10 ms", 10*time.Millisecond, "filter userName eq (existing)", "filter userName eq (missing)")
	small := []string{"group add member (10-member group)", "group remove member (10-member group)"}
	big := []string{fmt.Sprintf("group add member (%d-member group)", n), fmt.Sprintf("group remove member (%d-member group)", n)}
	rep.p99Target("group member add/remove p99 ≤ 10 ms", 10*time.Millisecond, append(append([]string{}, small...), big...)...)

	// The large group must cost what the small one does: p99 and throughput within 1.5×.
	var parts []string
	pass := true
	for i := range small {
		s, l := rep.find(small[i]), rep.find(big[i])
		if s == nil || l == nil || s.res.n == 0 || l.res.n == 0 {
			pass = false
			parts = append(parts, "not run")
			continue
		}
		p99 := float64(l.res.pct(.99)) / float64(s.res.pct(.99))
		rate := s.res.rate() / l.res.rate()
		pass = pass && p99 <= 1.5 && rate <= 1.5
		verb := []string{"add", "remove"}[i]
		parts = append(parts, fmt.Sprintf("%s: p99 %s vs %s ms (%.2f×), %.0f vs %.0f req/s (%.2f×)",
			verb, ms(l.res.pct(.99)), ms(s.res.pct(.99)), p99, l.res.rate(), s.res.rate(), rate))
	}
	rep.add(fmt.Sprintf("group add/remove on the %d-member group within 1.5× of the 10-member group", n), pass, "%s", strings.Join(parts, "; "))

	d := b.delta
	switch {
	case !d.ran:
		rep.add("delta sync with flat memory (scimd peak RSS < 200 MB throughout)", false, "not run")
	case !d.memoryKnown || !rep.peakKnown:
		rep.add("delta sync with flat memory (scimd peak RSS < 200 MB throughout)", false,
			"scimd's memory is unknown (give -pid with -url)")
	default:
		ok := d.completed && rep.peak < 200*mb && d.rssMax < 200*mb
		rep.add("delta sync with flat memory (scimd peak RSS < 200 MB throughout)", ok,
			"%s %d of %d users; RSS during the sync %d–%d MB (%d samples); scimd peak RSS over the whole run %d MB",
			map[bool]string{true: "read", false: "INCOMPLETE:"}[d.completed], d.users, d.total,
			d.rssMin/mb, d.rssMax/mb, d.samples, rep.peak/mb)
	}

	total := 0
	var bad []string
	for _, rw := range b.rows {
		if e := rw.res.errors(); e > 0 {
			total += e
			bad = append(bad, fmt.Sprintf("%s: %d", rw.res.name, e))
		}
	}
	if e := d.pageLat.errors(); e > 0 {
		total += e
		bad = append(bad, fmt.Sprintf("delta sync: %d", e))
	}
	if len(bad) == 0 {
		bad = []string{"0 errors in every scenario"}
	}
	rep.add("no error responses during any scenario", total == 0, "%s", strings.Join(bad, "; "))
}

// markdown renders the report; full adds the title, the method and how to reproduce.
func (rep *report) markdown(full bool) string {
	b := rep.b
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
	p("| run | %d users, %d concurrent clients, %s per scenario (raw baseline: %s before and %s after each) |\n\n",
		len(b.ids), b.cfg.concurrency, b.cfg.duration, b.cfg.duration/2, b.cfg.duration/2)

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
		p(" After the load scimbench runs `VACUUM ANALYZE` on the users, groups and membership tables (%.1f s)", ls.analyzeTime.Seconds())
		if ls.autovacuumOff {
			p(": this PostgreSQL runs with `autovacuum = off`, so nothing else would; without it the planner would keep planning for empty tables and index-only scans would read the heap")
		} else {
			p(", as autovacuum would soon after such a load")
		}
		p(".")
	}
	p("\n\n")

	p("## Scenarios\n\n")
	p("Each scenario runs %s with %d clients; its raw PostgreSQL baseline runs with as many connections ", b.cfg.duration, b.cfg.concurrency)
	p("for %s just before and %s just after it. Latencies in ms.\n\n", b.cfg.duration/2, b.cfg.duration/2)
	p("| scenario | requests | req/s | p50 | p95 | p99 | errors | raw baseline | raw req/s | raw p99 | scimd / raw |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n")
	for _, rw := range b.rows {
		r := rw.res
		name := r.name
		if rw.note != "" {
			name += " (" + rw.note + ")"
		}
		p("| %s | %d | %.0f | %s | %s | %s | %d |", name, r.n, r.rate(), ms(r.pct(.5)), ms(r.pct(.95)), ms(r.pct(.99)), r.errors())
		if rw.base != nil {
			p(" %s | %.0f | %s | %.0f%% |\n", rw.baseName, rw.base.rate(), ms(rw.base.pct(.99)), 100*r.rate()/rw.base.rate())
		} else {
			p(" – | – | – | – |\n")
		}
	}
	p("\n")

	rep.cpuTable(&w)

	d := b.delta
	if d.ran {
		p("## Delta sync\n\n")
		p("One client pages through `GET /Users?filter=meta.lastModified gt \"T\"&count=1000&startIndex=…` until every user ")
		p("modified since the load began is read (runs to completion, not for a fixed time).\n\n")
		p("| users read | pages | total time | pages/s | users/s | page p50 | page p99 | first page | last page | errors |\n")
		p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		p("| %d of %d | %d | %.1f s | %.1f | **%.0f** | %s | %s | %s | %s | %d |\n\n", d.users, d.total, d.pages, d.elapsed.Seconds(),
			float64(d.pages)/d.elapsed.Seconds(), float64(d.users)/d.elapsed.Seconds(), ms(d.pageLat.pct(.5)), ms(d.pageLat.pct(.99)),
			ms(d.firstPage), ms(d.lastPage), d.pageLat.errors())
		if d.rawElapsed > 0 {
			p("Raw baseline: the same users and email rows read directly, 1,000 per query with keyset paging on ")
			p("`users_last_modified`: %d users in %d pages in %.1f s = %.0f users/s; scimd reaches %.0f%% of it.\n\n",
				d.rawUsers, d.rawPages, d.rawElapsed.Seconds(), float64(d.rawUsers)/d.rawElapsed.Seconds(),
				100*(float64(d.users)/d.elapsed.Seconds())/(float64(d.rawUsers)/d.rawElapsed.Seconds()))
		}
		if d.rawErr != nil {
			p("Raw baseline failed: %v\n\n", d.rawErr)
		}
	}

	p("## Memory\n\n")
	if rep.peakKnown {
		p("scimd peak resident memory (VmHWM) over the whole run: **%d MB**.", rep.peak/mb)
		if d.memoryKnown {
			p(" During the delta sync, VmRSS sampled every 100 ms stayed between %d and %d MB (%d samples).",
				d.rssMin/mb, d.rssMax/mb, d.samples)
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
		p("## Observations\n\nDerived from the numbers above:\n\n")
		for _, o := range obs {
			p("- %s\n", o)
		}
		p("\n")
	}

	var errLines []string
	for _, rw := range append(b.rows, row{res: d.pageLat}) {
		for k, v := range rw.res.fails {
			errLines = append(errLines, fmt.Sprintf("- %s: %d × %s", rw.res.name, v, k))
		}
		if rw.base != nil {
			for k, v := range rw.base.fails {
				errLines = append(errLines, fmt.Sprintf("- baseline %s: %d × %s", rw.baseName, v, k))
			}
		}
	}
	if len(errLines) > 0 {
		sort.Strings(errLines)
		p("## Errors\n\n%s\n\n", strings.Join(errLines, "\n"))
	}

	if full {
		p("## Method\n\n")
		p("- scimbench starts `bin/scimd serve` on 127.0.0.1 with a fresh database `scimbench_<pid>` (dropped at the end) ")
		p("and creates an organization with `scimd org create`. Client, scimd and PostgreSQL share the machine's cores.\n")
		p("- The directory is loaded through `POST /Users` (every user validated as in production; above %d users the ", bulkThreshold)
		p("first %d, and the rest through `POST /Bulk`, which runs the same validation and writes in batches), then a ", apiSample)
		p("10-member group and a group holding every directory user, filled by `PATCH` adding %d members per request.\n", memberBatch)
		p("- Users look like Entra ID's: core and enterprise attributes and one work email, no password.\n")
		p("- Lookups pick a random directory user. PATCH and suspension walk the directory so that every request changes ")
		p("a different user. Group scenarios add a user who is not a member and then remove it, so the group keeps its size; ")
		p("all clients work on the same group. DELETE removes users created by the create scenario.\n")
		p("- Raw baselines use pgx on the same database with one connection per client, writing only to an organization ")
		p("of their own, seeded with as many users as the directory (and a group). Each is one prepared statement (pgx's statement cache), the user ")
		p("insert being the users row and its email row in one implicit transaction, as scimd writes them.\n")
		p("- The group scenarios run once more with a single client (rows marked \"1 client\"), not a target: the ")
		p("difference from the concurrent run is the time spent queueing for the group's row, which every membership ")
		p("change updates.\n")
		p("- A failed request (transport error, non-2xx status, or a list with the wrong totalResults) is counted as an ")
		p("error of its scenario and still timed.\n")
	}
	return w.String()
}

// cpuTable shows where each scenario's CPU went, per request, which tells a slow scimd (its
// own CPU) from a slow database (the backends' CPU) and from a busy machine.
func (rep *report) cpuTable(w *strings.Builder) {
	cores := runtime.NumCPU()
	fmt.Fprintf(w, "### CPU per request\n\n")
	fmt.Fprintf(w, "CPU time (user+system, from /proc) over each run divided by its requests, in µs; PostgreSQL counts the ")
	fmt.Fprintf(w, "backends of the benchmark's database. \"Others\" is the share of the machine's %d cores used by every other ", cores)
	fmt.Fprintf(w, "process meanwhile (other builds and tests on a shared machine).\n\n")
	fmt.Fprintf(w, "| scenario run | scimd | PostgreSQL | scimbench | raw: PostgreSQL | raw: scimbench | others during scenario |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	per := func(sec float64, n int) string {
		if n == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f", 1e6*sec/float64(n))
	}
	for _, rw := range rep.b.rows {
		if !rw.first {
			continue
		}
		name := rw.res.name
		if rw.cpuN != rw.res.n {
			name += " (all its requests)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.0f%% |\n", name, per(rw.cpu.scimd, rw.cpuN), per(rw.cpu.pg, rw.cpuN),
			per(rw.cpu.self, rw.cpuN), per(rw.baseCPU.pg, rw.baseN), per(rw.baseCPU.self, rw.baseN), 100*rw.cpu.others(cores))
	}
	fmt.Fprintf(w, "\n")
}

// observations point at what the numbers imply, computed so that they stay true on a rerun.
func (rep *report) observations() []string {
	b := rep.b
	var out []string
	if d := b.delta; d.ran && d.pages > 1 && d.firstPage > 0 {
		out = append(out, fmt.Sprintf("Delta sync: the last page took %.1f× as long as the first (%s vs %s ms): a page's cost "+
			"grows with startIndex, so a full sync costs O(N²) and %d users took %.0f s where reading them directly took %.1f s.",
			float64(d.lastPage)/float64(d.firstPage), ms(d.lastPage), ms(d.firstPage), d.users, d.elapsed.Seconds(), d.rawElapsed.Seconds()))
	}
	n := len(b.ids)
	for _, g := range []string{"10-member group", fmt.Sprintf("%d-member group", n)} {
		many, one := rep.find("group add member ("+g+")"), rep.find("group add member ("+g+", 1 client)")
		if many == nil || one == nil || one.res.n == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("Group add on the %s: %.0f req/s with %d clients and %.0f req/s with 1; p50 %s vs %s ms. "+
			"Throughput that does not grow with clients while latency does means the requests queue on one lock "+
			"(each membership change updates the group's row and holds it until commit).",
			g, many.res.rate(), many.conc, one.res.rate(), ms(many.res.pct(.5)), ms(one.res.pct(.5))))
	}
	var worst *row
	for i := range b.rows {
		rw := &b.rows[i]
		if rw.first && rw.cpuN > 0 && rw.baseN > 0 && (worst == nil ||
			rw.cpu.pg/float64(rw.cpuN)/(rw.baseCPU.pg/float64(rw.baseN)) > worst.cpu.pg/float64(worst.cpuN)/(worst.baseCPU.pg/float64(worst.baseN))) {
			worst = rw
		}
	}
	if worst != nil {
		out = append(out, fmt.Sprintf("PostgreSQL CPU per request is highest relative to its raw baseline for \"%s\": %.0f µs vs %.0f µs.",
			worst.res.name, 1e6*worst.cpu.pg/float64(worst.cpuN), 1e6*worst.baseCPU.pg/float64(worst.baseN)))
	}
	return out
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
