package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/server"
	"github.com/scimd/scimd/schemas"
)

const usage = `usage: scimd <command> [flags]

commands:
  serve        serve SCIM 2.0 (migrates the database first)
  migrate      apply database migrations and exit
  worker       deliver queued notification emails over SMTP (serve does too when SMTP_URL is set)
  org create   create an organization and print its operator token
  org list|show|set|delete, domain, product, token, group-mapping, webhook, user
               administer organizations and their users (scimd help admin lists them)

Run "scimd <command> -h" for a command's flags.`

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/scimd?sslmode=disable"

// demoOrgID is fixed so that "scimd serve --demo" finds the demo organization it created on an
// earlier run instead of creating another.
const demoOrgID = "00000000-0000-4000-8000-00000000de30"

// run is scimd's whole program; main only supplies the process's context, arguments,
// environment and output, so tests can run scimd in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "worker":
		return worker(ctx, rest, getenv, stdout, stderr)
	case "org", "domain", "product", "token", "group-mapping", "webhook", "user":
		return runAdmin(ctx, cmd, rest, getenv, stdout, stderr)
	case "-h", "--help", "help":
		if len(rest) > 0 && rest[0] == "admin" {
			fmt.Fprintln(stdout, adminUsage)
			return nil
		}
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// floatEnv reads a number from the environment, def when unset or malformed.
func floatEnv(getenv func(string) string, key string, def float64) float64 {
	if v, err := strconv.ParseFloat(getenv(key), 64); err == nil {
		return v
	}
	return def
}

// poolMetrics exposes the database pool's state at /metrics.
func poolMetrics(pool *pgxpool.Pool) []prometheus.Collector {
	gauge := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(pool.Stat()) })
	}
	return []prometheus.Collector{
		gauge("scimd_db_pool_acquired_conns", "Database connections in use.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
		gauge("scimd_db_pool_idle_conns", "Idle database connections.", func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
		gauge("scimd_db_pool_max_conns", "Maximum database connections.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
		gauge("scimd_db_pool_empty_acquire_total", "Acquires that waited for a connection.", func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// openDB connects to the database, creating it first when create is set, and applies
// migrations.
func openDB(ctx context.Context, url string, create bool) (*pgxpool.Pool, error) {
	pool, err := postgres.Connect(ctx, url, create)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", envOr(getenv, "DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (DATABASE_URL)")
	create := fs.Bool("create-database", false, "create the database if it does not exist")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pool, err := openDB(ctx, *dbURL, *create)
	if err != nil {
		return err
	}
	pool.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "SCIMD_ADDR", "127.0.0.1:8080"), "listen address (SCIMD_ADDR)")
	dbURL := fs.String("database-url", envOr(getenv, "DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (DATABASE_URL)")
	baseURL := fs.String("base-url", getenv("SCIMD_BASE_URL"), "public SCIM base URL, if not http://ADDR/scim/v2 (SCIMD_BASE_URL)")
	demo := fs.Bool("demo", false, "create the database and the demo organization (verified domain example.com) if missing and print a token for it")
	create := fs.Bool("create-database", false, "create the database if it does not exist")
	adminToken := fs.String("admin-token", getenv("SCIMD_ADMIN_TOKEN"), "bearer token of the admin API at /admin/v1, at least 16 characters; unset disables the admin API (SCIMD_ADMIN_TOKEN)")
	dnsResolver := fs.String("dns-resolver", getenv("SCIMD_DNS_RESOLVER"), "DNS server HOST:PORT for domain verification; default the system resolver (SCIMD_DNS_RESOLVER)")
	notifyOpts := notifyFlags(fs, getenv)
	rateLimit := fs.Float64("rate-limit", floatEnv(getenv, "SCIMD_RATE_LIMIT", 2000), "requests per second each provisioning token may make, 0 for no limit (SCIMD_RATE_LIMIT)")
	rateBurst := fs.Int("rate-burst", 0, "burst above the rate limit; default one second's worth")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adminToken != "" && len(*adminToken) < minAdminTokenLen {
		return fmt.Errorf("serve: --admin-token must be at least %d characters", minAdminTokenLen)
	}
	if err := notifyOpts.check("serve"); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))

	pool, err := openDB(ctx, *dbURL, *create || *demo)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Deferred after pool.Close, so it runs first: the worker stops before its pool closes.
	stopWorker, err := notifyOpts.startWorker(ctx, pool, logger)
	if err != nil {
		return err
	}
	defer stopWorker()
	// The webhook worker needs no configuration: it always runs (webhook_worker.go).
	stopWebhooks := startWebhookWorker(ctx, pool, logger)
	defer stopWebhooks()
	reg, err := schema.Load(schemas.Files)
	if err != nil {
		return err
	}
	store, err := postgres.NewStore(pool, reg)
	if err != nil {
		return err
	}
	// Listening keeps the token cache right while other processes change tokens and users.
	go store.ListenTokens(ctx, logger)
	orgs := store.Orgs()
	admin, err := orgService(orgs, *dnsResolver)
	if err != nil {
		return err
	}
	dir, err := directory.New(store, reg)
	if err != nil {
		return err
	}
	handler := server.NewServer(server.Deps{
		Directory:    dir,
		Schemas:      reg,
		Ready:        pool.Ping,
		Logger:       logger,
		BaseURL:      *baseURL,
		MaxBodyBytes: 1 << 20,
		RateLimit:    *rateLimit,
		RateBurst:    *rateBurst,
		Collectors:   poolMetrics(pool),
		Orgs:         admin,
		AdminToken:   *adminToken,
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String() + "/scim/v2"
	if *baseURL != "" {
		base = *baseURL
	}
	fmt.Fprintf(stdout, "SCIM base URL: %s\n", base)
	if *demo {
		tok, err := orgs.CreateOrg(ctx, demoOrgID, "Demo Organization", []string{"example.com"})
		if err != nil {
			ln.Close()
			return err
		}
		fmt.Fprintf(stdout, "demo organization %s, token: %s\n", tok.OrgID, tok.Token)
	}

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish in-flight requests before closing the pool they use.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	logger.Info("shutting down")
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	return nil
}
