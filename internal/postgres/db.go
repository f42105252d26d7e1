// Package postgres is scimd's storage: organizations, tokens, users and groups in PostgreSQL,
// accessed through pgx. It owns every SQL statement, the schema migrations, and the translation
// of SCIM filters into parameterised SQL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/migrations"
)

// Connect opens a pool on url and checks the connection. A database that does not exist is
// created when create is set (what "scimd serve --demo" and --create-database ask for, so that
// a fresh machine needs no manual step); otherwise it is an error that names the database, so a
// mistyped DATABASE_URL never quietly starts an empty directory.
func Connect(ctx context.Context, url string, create bool) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
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
