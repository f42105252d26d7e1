package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimd/scimd/internal/console"
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
  org list|show|set|delete, domain, product, token, group-mapping, webhook, user, oidc
               administer organizations and their users (scimd help admin lists them)
  console link print a single-use sign-in link to the Organization Center for an admin
  version      print scimd's version

Run "scimd <command> -h" for a command's flags.`

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/scimd?sslmode=disable"

// defaultAddr is the address "scimd serve" listens on by default.
const defaultAddr = "127.0.0.1:8080"

// defaultGCPercent is the garbage collector's target of serve unless GOGC is set (see serve).
const defaultGCPercent = 200

// demoOrgID is fixed so that "scimd serve --demo" finds the demo organization it created on an
// earlier run instead of creating another.
const demoOrgID = "00000000-0000-4000-8000-00000000de30"

// run is scimd's whole program; main only supplies the process's context, arguments,
// environment and output, so tests can run scimd in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // "-h" asked for the flags, which the flag set has printed
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "version":
		fmt.Fprintln(stdout, readBuild())
		return nil
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "worker":
		return worker(ctx, rest, getenv, stdout, stderr)
	case "org", "domain", "product", "token", "group-mapping", "webhook", "user", "oidc", "console":
		if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help") {
			fmt.Fprintln(stdout, adminUsage) // "scimd token -h": the commands, before any verb
			return nil
		}
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

// openDB connects to the database with the default pool options, creating it first when
// create is set, and applies migrations.
func openDB(ctx context.Context, url string, create bool) (*pgxpool.Pool, error) {
	return openPool(ctx, url, create, postgres.Options{})
}

// openPool is openDB with pool options.
func openPool(ctx context.Context, url string, create bool, opts postgres.Options) (*pgxpool.Pool, error) {
	pool, err := postgres.Connect(ctx, url, create, opts)
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
	addr := fs.String("addr", envOr(getenv, "SCIMD_ADDR", defaultAddr), "listen address (SCIMD_ADDR)")
	dbURL := fs.String("database-url", envOr(getenv, "DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (DATABASE_URL)")
	baseURL := fs.String("base-url", getenv("SCIMD_BASE_URL"), "public SCIM base URL, if not http://ADDR/scim/v2 (SCIMD_BASE_URL)")
	demo := fs.Bool("demo", false, "create the database and the demo organization (verified domain example.com) if missing and print a token for it")
	create := fs.Bool("create-database", false, "create the database if it does not exist")
	adminToken := fs.String("admin-token", getenv("SCIMD_ADMIN_TOKEN"), "bearer token of the admin API at /admin/v1, at least 16 characters; unset disables the admin API (SCIMD_ADMIN_TOKEN)")
	dnsResolver := fs.String("dns-resolver", getenv("SCIMD_DNS_RESOLVER"), "DNS server HOST:PORT for domain verification; default the system resolver (SCIMD_DNS_RESOLVER)")
	notifyOpts := notifyFlags(fs, getenv)
	ef := newEnvFlags(fs)
	// No per-token rate by default: a fixed rate would cap one identity provider below what the
	// machine serves (reads ran at 4-9k/s on 2 cores), and --org-concurrency already keeps one
	// organization from taking the database from the others.
	rateLimit := ef.Float64("rate-limit", "SCIMD_RATE_LIMIT", 0, "requests per second each provisioning token may make; 0 (the default) for no limit")
	rateBurst := fs.Int("rate-burst", 0, "burst above the rate limit; default one second's worth")
	adminAddr := ef.String("admin-addr", "SCIMD_ADMIN_ADDR", "", "listen address of a second listener that alone serves the admin API and /metrics; default: both on --addr")
	tlsCert := ef.String("tls-cert", "SCIMD_TLS_CERT", "", "PEM certificate (chain) file: serve HTTPS, reloading the files on SIGHUP; needs --tls-key")
	tlsKey := ef.String("tls-key", "SCIMD_TLS_KEY", "", "PEM private key file of --tls-cert")
	readHeaderTimeout := ef.Duration("read-header-timeout", "SCIMD_READ_HEADER_TIMEOUT", 10*time.Second, "time to read a request's headers")
	readTimeout := ef.Duration("read-timeout", "SCIMD_READ_TIMEOUT", 30*time.Second, "time to read a whole request, body included; 0 for none")
	writeTimeout := ef.Duration("write-timeout", "SCIMD_WRITE_TIMEOUT", 60*time.Second, "time to write a response from its first byte (a client that stops reading is disconnected); 0 for none")
	idleTimeout := ef.Duration("idle-timeout", "SCIMD_IDLE_TIMEOUT", 2*time.Minute, "how long a kept-alive connection may wait for its next request")
	discardBytes := ef.Int64("discard-bytes", "SCIMD_DISCARD_BYTES", 64<<20, "how much of a request body left unread (a 413) is read and discarded after the answer, so that clients that send before reading see it")
	discardTime := ef.Duration("discard-time", "SCIMD_DISCARD_TIME", 10*time.Second, "the longest such discarding lasts")
	drain := ef.Duration("drain", "SCIMD_DRAIN", 5*time.Second, "on SIGTERM, how long /readyz answers 503 while requests are still served, before the listeners close")
	grace := ef.Duration("grace", "SCIMD_GRACE", 30*time.Second, "after the drain, how long in-flight requests have to finish before they are cancelled")
	authFailureRate := ef.Float64("auth-failure-rate", "SCIMD_AUTH_FAILURE_RATE", 10, "failed authentications per second allowed per client address before they are answered 429; 0 for no limit")
	authFailureBurst := ef.Int("auth-failure-burst", "SCIMD_AUTH_FAILURE_BURST", 50, "burst of failed authentications above --auth-failure-rate")
	trustedProxies := ef.String("trusted-proxies", "SCIMD_TRUSTED_PROXIES", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client")
	dbMaxConns := ef.Int("db-max-conns", "SCIMD_DB_MAX_CONNS", int(postgres.DefaultMaxConns()), "database connections in the pool (default: 4 per CPU, 8 to 32)")
	dbStatementTimeout := ef.Duration("db-statement-timeout", "SCIMD_DB_STATEMENT_TIMEOUT", postgres.DefaultStatementTimeout, "PostgreSQL statement_timeout of the pool's connections; 0 for the server's setting")
	dbAcquireTimeout := ef.Duration("db-acquire-timeout", "SCIMD_DB_ACQUIRE_TIMEOUT", postgres.DefaultAcquireTimeout, "how long a request waits for a free database connection before it is answered 503; 0 for no limit")
	orgConcurrency := ef.Int("org-concurrency", "SCIMD_ORG_CONCURRENCY", -1, "requests of one organization served at once; -1: --db-max-conns minus 2, 0: no limit")
	orgWait := ef.Duration("org-wait", "SCIMD_ORG_WAIT", time.Second, "how long a request waits for one of its organization's slots before it is answered 503")
	keep := retentionFlags(ef)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := ef.apply(getenv); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	proxies, err := parsePrefixes(*trustedProxies)
	if err != nil {
		return fmt.Errorf("serve: --trusted-proxies: %w", err)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	for name, d := range map[string]time.Duration{"drain": *drain, "grace": *grace, "read-timeout": *readTimeout,
		"write-timeout": *writeTimeout, "db-statement-timeout": *dbStatementTimeout, "db-acquire-timeout": *dbAcquireTimeout} {
		if d < 0 {
			return fmt.Errorf("serve: --%s must not be negative", name)
		}
	}
	if *dbMaxConns < 1 {
		return errors.New("serve: --db-max-conns must be at least 1")
	}
	if *orgConcurrency < 0 {
		*orgConcurrency = max(*dbMaxConns-2, 1)
	}
	var cert *certificate
	if *tlsCert != "" {
		if cert, err = loadCertificate(*tlsCert, *tlsKey); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	if *adminToken != "" && len(*adminToken) < minAdminTokenLen {
		return fmt.Errorf("serve: --admin-token must be at least %d characters", minAdminTokenLen)
	}
	if err := notifyOpts.check("serve"); err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// A request allocates tens of kilobytes on a live heap of a few megabytes, so at
		// Go's default (100) collections ran many times a second and took about a sixth of
		// a read's CPU; at 200 they take half as many, for a heap up to three times the live
		// one instead of twice. GOGC (and GOMEMLIMIT) set by the operator win.
		debug.SetGCPercent(defaultGCPercent)
	}
	logOut, closeLog := batchLogs(stderr)
	defer closeLog()
	logger := slog.New(slog.NewJSONHandler(logOut, nil))

	pool, err := openPool(ctx, *dbURL, *create || *demo, postgres.Options{MaxConns: int32(*dbMaxConns),
		StatementTimeout: offIfZero(*dbStatementTimeout), AcquireTimeout: offIfZero(*dbAcquireTimeout)})
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
	stopRetention := startRetention(ctx, pool, *keep, logger)
	defer stopRetention()
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
	lifecycle := server.NewLifecycle()
	bld := readBuild()
	handler := server.NewServer(server.Deps{
		Directory:    dir,
		Schemas:      reg,
		Ready:        pool.Ping,
		Logger:       logger,
		BaseURL:      *baseURL,
		MaxBodyBytes: 1 << 20,
		RateLimit:    *rateLimit,
		RateBurst:    *rateBurst,
		Collectors:   append(poolMetrics(pool), queueMetrics(pool, logger), bld.metric()),
		Orgs:         admin,
		AdminToken:   *adminToken,

		Lifecycle:        lifecycle,
		SeparateAdmin:    *adminAddr != "",
		WriteTimeout:     *writeTimeout,
		DiscardBytes:     offIfZero(*discardBytes),
		DiscardTime:      offIfZero(*discardTime),
		AuthFailureRate:  *authFailureRate,
		AuthFailureBurst: *authFailureBurst,
		TrustedProxies:   proxies,
		OrgConcurrency:   *orgConcurrency,
		OrgWait:          *orgWait,
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	listeners := []net.Listener{ln}
	if *adminAddr != "" {
		aln, err := net.Listen("tcp", *adminAddr)
		if err != nil {
			ln.Close()
			return err
		}
		listeners = append(listeners, aln)
	}
	scheme := "http"
	if cert != nil {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String() + "/scim/v2"
	if *baseURL != "" {
		base = *baseURL
	}
	fmt.Fprintf(stdout, "SCIM base URL: %s\n", base)
	if len(listeners) > 1 {
		fmt.Fprintf(stdout, "admin API and metrics: %s://%s\n", scheme, listeners[1].Addr())
	}
	if *demo {
		tok, err := orgs.CreateOrg(ctx, demoOrgID, "Demo Organization", []string{"example.com"})
		if err != nil {
			closeAll(listeners)
			return err
		}
		fmt.Fprintf(stdout, "demo organization %s, token: %s\n", tok.OrgID, tok.Token)
		link, err := demoLink(ctx, dir, console.PublicRoot(base))
		if err != nil {
			// The demo admin may have been suspended or demoted by whoever tried the demo.
			fmt.Fprintf(stdout, "no console sign-in link for %s: %v\n", demoAdminName, err)
		} else {
			fmt.Fprintf(stdout, "console sign-in link for %s (single use, %s): %s\n", demoAdminName, directory.LinkLifetime, link)
		}
	}

	// Requests do not end with ctx (SIGTERM): they run on requestsCtx, which is cancelled only
	// when the grace period is over.
	requestsCtx, cancelRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRequests(nil)
	servers := make([]*http.Server, len(listeners))
	errc := make(chan error, len(listeners))
	for i, l := range listeners {
		base := requestsCtx
		if i == 1 {
			base = server.AdminListener(base)
		}
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: *readHeaderTimeout, ReadTimeout: *readTimeout,
			IdleTimeout: *idleTimeout, BaseContext: func(net.Listener) context.Context { return base },
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		servers[i] = srv
		if cert != nil {
			srv.TLSConfig = cert.config()
		}
		go func() {
			if cert != nil {
				errc <- srv.ServeTLS(l, "", "")
				return
			}
			errc <- srv.Serve(l)
		}()
	}
	if cert != nil {
		stopReload := reloadOnSIGHUP(ctx, cert, logger)
		defer stopReload()
	}
	attrs := []any{"addr", ln.Addr().String(), "version", bld.Version, "revision", bld.Revision, "tls", cert != nil}
	if len(listeners) > 1 {
		attrs = append(attrs, "admin_addr", listeners[1].Addr().String())
	}
	logger.Info("serving", attrs...)
	select {
	case err := <-errc:
		for _, srv := range servers {
			srv.Close()
		}
		return err
	case <-ctx.Done():
	}
	return shutdown(servers, lifecycle, *drain, *grace, cancelRequests, logger)
}

// shutdown stops serving in the order load balancers need: /readyz answers 503 at once while
// requests are still served for the drain period (each response then closes its connection,
// so clients reconnect elsewhere); then the listeners close and in-flight requests have the
// grace period to finish; those still running after it are cancelled (they answer 503) and
// their connections closed. The process exits 0 either way: it stopped as asked.
func shutdown(servers []*http.Server, lifecycle *server.Lifecycle, drain, grace time.Duration,
	cancelRequests context.CancelCauseFunc, logger *slog.Logger) error {
	deadline := time.Now().Add(drain + grace)
	lifecycle.Drain(deadline)
	logger.Info("shutting down: /readyz answers 503; serving for the drain period", "drain", drain.String(), "grace", grace.String())
	time.Sleep(drain)
	logger.Info("closing the listeners; waiting for requests in flight", "grace", grace.String())
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	var late atomic.Bool
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				late.Store(true)
			}
		})
	}
	wg.Wait()
	if late.Load() {
		logger.Warn("grace period over: cancelling the requests still running", "grace", grace.String())
		cancelRequests(server.ErrStopped)
		for _, srv := range servers {
			srv.Close()
		}
	}
	logger.Info("stopped")
	return nil
}

func closeAll(listeners []net.Listener) {
	for _, l := range listeners {
		l.Close()
	}
}

// reloadOnSIGHUP reloads the TLS certificate from its files on every SIGHUP until ctx ends.
func reloadOnSIGHUP(ctx context.Context, cert *certificate, logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-hup:
				if err := cert.reload(); err != nil {
					logger.Error("reloading the TLS certificate; still serving the one loaded before", "err", err.Error())
					continue
				}
				logger.Info("reloaded the TLS certificate", "cert", cert.certFile)
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		<-done
	}
}

// parsePrefixes reads comma-separated addresses and CIDRs; an address is a prefix of its own.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// offIfZero maps a flag's 0, which turns a limit off, to the negative value that does so in
// options where 0 takes the default.
func offIfZero[T time.Duration | int64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}
