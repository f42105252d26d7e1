// Package postgres is scimd's storage: organizations, tokens, users and groups in PostgreSQL,
// accessed through pgx. It owns every SQL statement, the schema migrations, and the translation
// of SCIM filters into parameterised SQL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/scimd/scimd/migrations"
)

// Options configure the pool that Connect opens; a zero field takes its default.
type Options struct {
	// MaxConns bounds the pool; 0 is DefaultMaxConns().
	MaxConns int32
	// StatementTimeout is PostgreSQL's statement_timeout for every connection of the pool, set
	// as a runtime parameter of the connection (no extra round trip per statement); 0 is
	// DefaultStatementTimeout, negative leaves the server's own setting.
	StatementTimeout time.Duration
	// AcquireTimeout bounds the wait for a free connection (pgxpool has no such limit of its
	// own); 0 is DefaultAcquireTimeout, negative waits as long as the caller's context allows.
	AcquireTimeout time.Duration
}

// Defaults of Options, stated in the README.
const (
	DefaultStatementTimeout = 10 * time.Second
	DefaultAcquireTimeout   = 2 * time.Second
)

// DefaultMaxConns is the pool size when none is configured: four connections per CPU that Go
// may use, at least 8 and at most 32. Each request holds at most one connection at a time, and
// requests spend part of their life in Go (JSON, bcrypt) and on the network, so a few
// connections per core keep the database busy without queueing statements in it. The minimum
// leaves room under the per-organization limit (the pool minus two) for concurrency both
// inside one organization and across organizations; the maximum keeps three scimd processes
// within PostgreSQL's default max_connections of 100. pgxpool's own default, max(4, CPUs),
// let four slow requests of one client stall every other.
func DefaultMaxConns() int32 {
	return int32(min(max(4*runtime.GOMAXPROCS(0), 8), 32))
}

// Connect opens a pool on url, configured by opts, and checks the connection. A database that
// does not exist is created when create is set (what "scimd serve --demo" and
// --create-database ask for, so that a fresh machine needs no manual step); otherwise it is an
// error that names the database, so a mistyped DATABASE_URL never quietly starts an empty
// directory.
func Connect(ctx context.Context, url string, create bool, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	opts.apply(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	err = pool.Ping(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		if !create {
			pool.Close()
			return nil, fmt.Errorf("database %q does not exist on %s:%d; check DATABASE_URL, create the database, "+
				"or pass --create-database to create it", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
		}
		if err = createDatabase(ctx, cfg.ConnConfig); err == nil {
			err = pool.Ping(ctx)
		}
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %q: %w", cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

func (o Options) apply(cfg *pgxpool.Config) {
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		encodeUUIDText(c)
		return nil
	}
	cfg.MaxConns = o.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns()
	}
	st := o.StatementTimeout
	if st == 0 {
		st = DefaultStatementTimeout
	}
	if st > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(st.Milliseconds(), 10)
	}
	at := o.AcquireTimeout
	if at == 0 {
		at = DefaultAcquireTimeout
	}
	if at > 0 {
		cfg.ConnConfig.Tracer = acquireTimeout(at)
	}
}

// acquireTimeout limits how long pgxpool waits for a connection: pgxpool calls
// TraceAcquireStart before it waits and uses the context returned for the wait alone, so the
// limit applies to every acquisition (Query, Exec, Begin, Acquire) and never to the statements
// that follow. Running out of it is a context.DeadlineExceeded while the caller's own context
// is still live, which the HTTP layer answers 503.
type acquireTimeout time.Duration

type acquireCancelKey struct{}

// TraceQueryStart and TraceQueryEnd do nothing: pgx finds the acquire tracer through the
// connection's query tracer.
func (acquireTimeout) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (acquireTimeout) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (d acquireTimeout) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d))
	return context.WithValue(ctx, acquireCancelKey{}, cancel)
}

func (acquireTimeout) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	if cancel, ok := ctx.Value(acquireCancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

// Unavailable reports whether err means that the database could not be used, as opposed to a
// statement that failed: it could not be reached or refused the connection, the connection
// was lost or closed (including while COMMIT was in flight, whose outcome is then unknown: the
// caller must not retry it), the server is shutting down, starting or out of connections, the
// pool is closed, the server is a standby that cannot write (a failover in progress), or a
// statement ran into the server's statement_timeout. pgconn.SafeToRetry tells, among these,
// which never reached the server.
func Unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			"53300", // too_many_connections
			"25006", // read_only_sql_transaction: a standby, while a failover promotes another
			"57014": // query_canceled: statement_timeout (scimd sends no cancel requests)
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection_exception
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, puddle.ErrClosedPool) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func createDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: another process won
		return nil
	}
	return err
}

// migrationLock is the advisory lock key that serialises migrations across processes.
const migrationLock = 0x5c1_3d

// Migrate applies every embedded migration not yet applied to the current schema, in order,
// each in its own transaction. Concurrent callers (several scimd processes starting at once)
// wait on an advisory lock, so each migration runs exactly once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// Waiting for another process's migrations and building indexes on large tables take
	// longer than the pool's statement_timeout, which is meant for requests.
	if _, err := conn.Exec(ctx, "SET statement_timeout = 0"); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "RESET statement_timeout")
	}()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	for _, m := range files {
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.version).Scan(&done); err != nil {
			return err
		}
		if done {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", m.version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrationFiles() ([]migration, error) {
	names, err := fs.Glob(migrations.Files, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s is not named NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(migrations.Files, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}
