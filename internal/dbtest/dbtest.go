// Package dbtest gives each test a database of its own on the PostgreSQL server named by
// TEST_DATABASE_URL, so tests run in parallel against a real server and leave nothing behind.
//
// Migrating a database takes longer than copying one, and migrations serialise on an advisory
// lock, so the migrations run once per migration set, into a template database named after a
// hash of the migration files; every test gets a copy of it (CREATE DATABASE ... TEMPLATE). The
// template is shared by every test package and every run until a migration changes.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/migrations"
)

// DefaultURL is used when TEST_DATABASE_URL is unset: the local server's "test" database.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// New returns a pool on a fresh migrated database of the test's own, dropped when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), URL(t))
	require.NoError(t, err)
	// Registered after URL's cleanup, so it runs first: the pool closes before the drop.
	t.Cleanup(pool.Close)
	return pool
}

// URL creates a fresh migrated database for the test, dropped when the test ends, and returns
// its URL, for code under test that opens its own pool.
func URL(t testing.TB) string {
	t.Helper()
	s := connect(t)
	for attempt := 1; ; attempt++ {
		tmpl, err := s.template()
		require.NoError(t, err, "making the template database")
		u, err := s.create(t, tmpl)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" && attempt < 5 { // invalid_catalog_name
			// Tests of another migration set (another branch) replaced the template meanwhile.
			s.forget(tmpl)
			continue
		}
		require.NoError(t, err)
		return u
	}
}

// EmptyURL creates an empty database for the test, dropped when the test ends, and returns its
// URL: for tests of the migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	u, err := connect(t).create(t, "template0")
	require.NoError(t, err)
	return u
}

// server is the PostgreSQL server of TEST_DATABASE_URL, reached through a pool on that database.
// Every database dbtest makes is named after that database: "test_<random>" for a test's,
// "test_template_<hash>" for a template.
type server struct {
	base *url.URL
	db   string // the database of base
	pool *pgxpool.Pool

	mu    sync.Mutex
	ready string // the template this process made or found migrated
}

// The server is connected to once per test binary; the pool stays open until the process exits.
var (
	srv     *server
	srvErr  error
	srvOnce sync.Once
)

func connect(t testing.TB) *server {
	t.Helper()
	srvOnce.Do(func() {
		raw := os.Getenv("TEST_DATABASE_URL")
		if raw == "" {
			raw = DefaultURL
		}
		base, err := url.Parse(raw)
		if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
			srvErr = fmt.Errorf("TEST_DATABASE_URL %q is not a postgres:// URL", raw)
			return
		}
		// The database of TEST_DATABASE_URL is created when missing, so that a fresh machine
		// needs nothing but a running server. Copying templates on a machine busy with many
		// tests may take longer than a request's limits allow: this pool has none.
		pool, err := postgres.Connect(context.Background(), raw, true,
			postgres.Options{StatementTimeout: -1, AcquireTimeout: -1})
		if err != nil {
			srvErr = fmt.Errorf("TEST_DATABASE_URL (is PostgreSQL running?): %w", err)
			return
		}
		// PostgreSQL would silently truncate longer names.
		db := pool.Config().ConnConfig.Database
		if len(db+"_template_")+hashLen > 63 {
			pool.Close()
			srvErr = fmt.Errorf("TEST_DATABASE_URL: database name %q is too long to name test databases after", db)
			return
		}
		srv = &server{base: base, db: db, pool: pool}
	})
	require.NoError(t, srvErr)
	return srv
}

// name is a database name made of the base database's name and suffix.
func (s *server) name(suffix string) string {
	return s.db + "_" + suffix
}

// url is the URL of the database name, on the server and with the options of TEST_DATABASE_URL.
func (s *server) url(name string) string {
	u := *s.base
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// create creates a database for the test as a copy of template, dropped when the test ends, and
// returns its URL.
func (s *server) create(t testing.TB, template string) (string, error) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := s.name(hex.EncodeToString(b))
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		return "", err
	}
	t.Cleanup(func() {
		// FORCE: connections the test left open must not keep its database alive.
		if _, err := s.pool.Exec(ctx, "DROP DATABASE "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	return s.url(name), nil
}

// templateLock is the advisory lock key, on the database of TEST_DATABASE_URL, that serialises
// making templates across the test binaries that go test runs in parallel.
const templateLock = 0x5c1_3d_7e

// template returns the name of the migrated template database of the current migration files,
// making it first if no process has made it yet.
func (s *server) template() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	prefix := s.name("template_")
	name := prefix + sum
	if s.ready == name {
		return name, nil
	}
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLock); err != nil {
		return "", err
	}
	defer func() { _, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", templateLock) }()

	// A template is marked as one only once migrated, so an unmarked one is the remains of an
	// interrupted run.
	var ready bool
	err = conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&ready)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	if !ready {
		if err := makeTemplate(ctx, conn.Conn(), s.url(name), name, prefix); err != nil {
			return "", fmt.Errorf("template %s: %w", name, err)
		}
	}
	s.ready = name
	return name, nil
}

// keptTemplates is how many templates of other migration sets stay on the server: those of the
// branches being tested side by side on one machine, which would otherwise drop each other's
// template on every run. Older ones go, so that they do not pile up.
const keptTemplates = 3

// makeTemplate drops an unfinished template of this set and the templates of other migration
// sets but the keptTemplates newest, then creates name, migrates it through its URL u and
// marks it as a template that accepts no connections, since a database being copied must have
// none.
func makeTemplate(ctx context.Context, conn *pgx.Conn, u, name, prefix string) error {
	// Databases are numbered as they are created: the newest have the highest oids.
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname = $2
		UNION ALL (SELECT datname FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2
			ORDER BY oid DESC OFFSET $3)`, prefix, name, keptTemplates)
	if err != nil {
		return err
	}
	old, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, db := range old {
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(db)+" IS_TEMPLATE false"); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident(db)+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE template0"); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		return err
	}
	err = postgres.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true")
	return err
}

// forget makes the next template call look for tmpl in the server again.
func (s *server) forget(tmpl string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready == tmpl {
		s.ready = ""
	}
}

// hashLen is the length of a template name's hash: 64 bits tell migration sets apart.
const hashLen = 16

// migrationsHash identifies the migration files: their names and contents.
func migrationsHash() (string, error) {
	names, err := fs.Glob(migrations.Files, "*.sql")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, name := range names { // sorted by fs.Glob
		b, err := fs.ReadFile(migrations.Files, name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:hashLen], nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
