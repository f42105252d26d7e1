package dbtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// exists says whether the server has a database called name.
func exists(t *testing.T, name string) bool {
	t.Helper()
	var n int
	require.NoError(t, connect(t).pool.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
	return n == 1
}

func TestNewIsMigratedAndDroppedAfterTheTest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var name string
	t.Run("test", func(t *testing.T) {
		pool := New(t)
		var applied int
		require.NoError(t, pool.QueryRow(ctx, "SELECT current_database(), (SELECT count(*) FROM schema_migrations)").
			Scan(&name, &applied))
		require.Positive(t, applied)
		// Writes stay in the test's own copy.
		_, err := pool.Exec(ctx, "INSERT INTO organizations (id, name) VALUES (gen_random_uuid(), 'Acme')")
		require.NoError(t, err)
		other := New(t)
		var orgs int
		require.NoError(t, other.QueryRow(ctx, "SELECT count(*) FROM organizations").Scan(&orgs))
		require.Zero(t, orgs)
	})
	require.NotEmpty(t, name)
	require.False(t, exists(t, name), "the test's database is dropped when it ends")
}

func TestEmptyURLHasNoTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, EmptyURL(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var tables int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables))
	require.Zero(t, tables)
}

// Tests of another migration set (another branch, against the same server) drop this set's
// template when they make theirs; a test that then finds it gone makes it again.
func TestTemplateReplacedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := connect(t)
	tmpl, err := s.template()
	require.NoError(t, err)
	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	// What makeTemplate does to other migration sets' templates, under the same lock.
	_, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLock)
	require.NoError(t, err)
	for _, sql := range []string{"ALTER DATABASE " + ident(tmpl) + " IS_TEMPLATE false", "DROP DATABASE " + ident(tmpl) + " WITH (FORCE)"} {
		_, err = conn.Exec(ctx, sql)
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", templateLock)
	require.NoError(t, err)
	conn.Release()

	var applied int
	require.NoError(t, New(t).QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&applied))
	require.Positive(t, applied)
	require.True(t, exists(t, tmpl))
}
