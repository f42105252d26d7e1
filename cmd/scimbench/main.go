// Command scimbench measures scimd: it loads a directory of users and groups through the SCIM
// API, runs each provisioning scenario for a fixed time at a fixed concurrency, and reports it
// as a fraction of a ceiling: a minimal Go server (ceiling.go) doing the closest single read or
// write over HTTP, driven by the same load generator with as many clients right before and
// after the scenario. The same work done directly with pgx, without HTTP, is a second baseline.
//
// By default it starts its own scimd (bin/scimd) on a fresh database and drops that database at
// the end; -url/-token point it at a running scimd instead. All traffic stays on loopback, every
// loop is bounded by a count and a time, and the program stops by itself.
//
// `scimbench ceiling -database-url URL` runs the ceiling server alone; scimbench starts it so.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

type config struct {
	users        int
	duration     time.Duration
	concurrency  int
	loadConc     int
	url          string
	token        string
	databaseURL  string
	scimdBin     string
	pid          int
	keep         bool
	out          string
	deltaTimeout time.Duration
	load         string
	jsonOut      string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		err = runCeiling(os.Args[2:])
	} else {
		err = run(ctx, os.Args[1:])
	}
	if errors.Is(err, flag.ErrHelp) {
		return // the usage is printed already
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimbench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("scimbench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: scimbench [flags]\n       scimbench ceiling -database-url URL [-addr ADDR] [-conns N]   (the ceiling server alone)\nflags:")
		fs.PrintDefaults()
	}
	fs.IntVar(&c.users, "users", 100_000, "users in the directory (also the size of the large group)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.IntVar(&c.concurrency, "concurrency", 8, "concurrent clients per scenario (and its ceiling's clients and connections, and raw baseline connections)")
	fs.IntVar(&c.loadConc, "load-concurrency", 16, "concurrent POST /Users during the directory load")
	fs.StringVar(&c.url, "url", "", "SCIM base URL of a running scimd (loopback only); default: start bin/scimd on a fresh database")
	fs.StringVar(&c.token, "token", "", "bearer token for -url")
	fs.StringVar(&c.databaseURL, "database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scimd?sslmode=disable"),
		"PostgreSQL URL: with -url, the database that scimd uses (for the raw baseline); otherwise only its server is used, "+
			"and the fresh database scimbench_<pid> is created there (DATABASE_URL)")
	fs.StringVar(&c.scimdBin, "scimd", "bin/scimd", "scimd binary to start when -url is not given")
	fs.IntVar(&c.pid, "pid", 0, "with -url, the scimd process id, to report its memory")
	fs.BoolVar(&c.keep, "keep", false, "keep the fresh database (and print its URL) instead of dropping it")
	fs.StringVar(&c.out, "out", "", "also write the report to this Markdown file (e.g. BENCHMARKS.md)")
	fs.StringVar(&c.jsonOut, "json", "", "also write every scenario's figures to this JSON file")
	fs.StringVar(&c.load, "load", "auto", "how to create the directory's users: users (POST /Users each), bulk (POST /Bulk), "+
		"or auto (POST /Users up to 200,000 users; above, the first 20,000 by POST /Users and the rest by /Bulk if scimd supports it)")
	fs.DurationVar(&c.deltaTimeout, "delta-timeout", 30*time.Minute, "upper bound on the delta sync, which otherwise runs to completion")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.users < 20:
		return c, errors.New("-users must be at least 20")
	case c.concurrency < 1 || c.loadConc < 1:
		return c, errors.New("-concurrency and -load-concurrency must be at least 1")
	case c.duration <= 0:
		return c, errors.New("-duration must be positive")
	case c.load != "auto" && c.load != "users" && c.load != "bulk":
		return c, errors.New("-load must be auto, users or bulk")
	case (c.url == "") != (c.token == ""):
		return c, errors.New("-url and -token go together")
	}
	if c.url != "" {
		u, err := url.Parse(c.url)
		if err != nil || !isLoopback(u.Hostname()) {
			return c, fmt.Errorf("-url %q: only loopback addresses may be benchmarked", c.url)
		}
		c.url = strings.TrimSuffix(c.url, "/")
	}
	cfg, err := pgxpool.ParseConfig(c.databaseURL)
	if err != nil {
		return c, fmt.Errorf("-database-url: %w", err)
	}
	if h := cfg.ConnConfig.Host; !isLoopback(h) && !strings.HasPrefix(h, "/") {
		return c, fmt.Errorf("-database-url host %q: only a local PostgreSQL may be used", h)
	}
	return c, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// run is the whole benchmark: environment, load, scenarios, report. Cleanup (stopping scimd,
// dropping the database) runs whatever happens, including on Ctrl-C.
func run(ctx context.Context, args []string) error {
	began := time.Now()
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	// Registered first, so it runs last: the time includes stopping scimd and dropping the database.
	defer func() { logf("scimbench ran %s in all", time.Since(began).Round(time.Second)) }()
	env, err := setup(ctx, cfg)
	if env != nil {
		defer env.close()
	}
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, env: env, api: newAPI(env.baseURL, env.token, max(cfg.concurrency, cfg.loadConc)), prefix: "user"}
	if !env.fresh {
		// The organization may hold an earlier run's users: this run's names must not collide.
		b.prefix = "user-" + strconv.FormatInt(time.Now().Unix(), 36) + "-"
	}
	if env.db != nil {
		raw, err := newRaw(ctx, env.db, env.orgID, cfg.users)
		if err != nil {
			return fmt.Errorf("raw baseline setup: %w", err)
		}
		b.raw = raw
		if !env.fresh {
			// A fresh database is dropped whole; an existing one loses only the baseline's rows.
			defer deleteOrg(env.db, raw.org)
		}
		if !env.fresh {
			defer func() {
				if b.ceilingOrg != "" {
					deleteOrg(env.db, b.ceilingOrg)
				}
			}()
		}
		if err := b.setupCeiling(ctx); err != nil {
			return fmt.Errorf("ceiling server: %w", err)
		}
	} else {
		logf("no database to compare with: the ceiling servers and raw baselines are skipped, ratios are null and their targets MISS")
	}
	if err := b.load(ctx); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := b.scenarios(ctx); err != nil {
		return err
	}
	b.elapsed = time.Since(began)
	rep := b.report(ctx)
	fmt.Print(rep.markdown(false))
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(rep.markdown(true)), 0o644); err != nil {
			return err
		}
		logf("wrote %s", cfg.out)
	}
	if cfg.jsonOut != "" {
		out, err := json.MarshalIndent(jsonRows(b.rows, runtime.NumCPU()), "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonOut, append(out, '\n'), 0o644); err != nil {
			return err
		}
		logf("wrote %s", cfg.jsonOut)
	}
	return nil
}

// logf reports progress on stderr, so that stdout carries only the Markdown report.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
