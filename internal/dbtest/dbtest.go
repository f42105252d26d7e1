// Package dbtest gives each test its own migrated PostgreSQL schema in the database named by
// TEST_DATABASE_URL, so tests run in parallel against a real server and leave nothing behind.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/postgres"
)

// DefaultURL is used when TEST_DATABASE_URL is unset: the local server's "test" database.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func baseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates an empty schema for the test, dropped when the test ends, and returns a database
// URL whose connections use it (search_path), for code under test that opens its own pool.
func URL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, baseURL())
	require.NoError(t, err, "connect to TEST_DATABASE_URL (is PostgreSQL running?)")
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, baseURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(baseURL())
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", name+",public")
	u.RawQuery = q.Encode()
	return u.String()
}

// New returns a pool on a fresh, migrated schema of the test's own.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, URL(t))
	require.NoError(t, err)
	// Registered after URL's cleanup, so it runs first: the pool closes before the drop.
	t.Cleanup(pool.Close)
	require.NoError(t, postgres.Migrate(ctx, pool))
	return pool
}
