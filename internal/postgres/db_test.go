package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/postgres"
)

func TestPoolOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)

	t.Run("defaults", func(t *testing.T) {
		pool, err := postgres.Connect(ctx, url, false, postgres.Options{})
		require.NoError(t, err)
		defer pool.Close()
		require.Equal(t, postgres.DefaultMaxConns(), pool.Config().MaxConns)
		require.GreaterOrEqual(t, pool.Config().MaxConns, int32(8))
		require.LessOrEqual(t, pool.Config().MaxConns, int32(32))
		var st string
		require.NoError(t, pool.QueryRow(ctx, "SHOW statement_timeout").Scan(&st))
		require.Equal(t, "10s", st, "set when the connection starts, not per statement")
	})

	t.Run("statement timeout", func(t *testing.T) {
		pool, err := postgres.Connect(ctx, url, false, postgres.Options{MaxConns: 2, StatementTimeout: 100 * time.Millisecond})
		require.NoError(t, err)
		defer pool.Close()
		require.Equal(t, int32(2), pool.Config().MaxConns)
		_, err = pool.Exec(ctx, "SELECT pg_sleep(2)")
		require.Error(t, err)
		require.True(t, postgres.Unavailable(err), "%v", err)

		// Migrations are not held to it: here another process holds the migration lock for
		// longer than the timeout.
		other, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer other.Close(ctx)
		const migrationLock = 0x5c1_3d // postgres.migrationLock
		_, err = other.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock)
		require.NoError(t, err)
		unlocked := make(chan struct{})
		go func() {
			defer close(unlocked)
			time.Sleep(400 * time.Millisecond)
			_, _ = other.Exec(ctx, "SELECT pg_advisory_unlock($1)", migrationLock)
		}()
		start := time.Now()
		err = postgres.Migrate(ctx, pool)
		<-unlocked
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "Migrate waited for the lock")
		var st string
		require.NoError(t, pool.QueryRow(ctx, "SHOW statement_timeout").Scan(&st))
		require.Equal(t, "100ms", st, "and the migration's connection gets it back")
	})

	t.Run("no statement timeout", func(t *testing.T) {
		pool, err := postgres.Connect(ctx, url, false, postgres.Options{StatementTimeout: -1})
		require.NoError(t, err)
		defer pool.Close()
		var st string
		require.NoError(t, pool.QueryRow(ctx, "SHOW statement_timeout").Scan(&st))
		require.Equal(t, "0", st)
	})

	t.Run("acquire timeout", func(t *testing.T) {
		pool, err := postgres.Connect(ctx, url, false, postgres.Options{MaxConns: 1, AcquireTimeout: 200 * time.Millisecond})
		require.NoError(t, err)
		defer pool.Close()
		held, err := pool.Acquire(ctx)
		require.NoError(t, err)
		start := time.Now()
		_, err = pool.Exec(ctx, "SELECT 1")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 2*time.Second)
		held.Release()
		// The limit covers the wait for a connection, not the statements run on it.
		_, err = pool.Exec(ctx, "SELECT pg_sleep(0.4)")
		require.NoError(t, err)
	})
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	_, err := postgres.Connect(ctx, "postgres://postgres@127.0.0.1:1/none?connect_timeout=2", false, postgres.Options{})
	require.Error(t, err)
	require.True(t, postgres.Unavailable(err), "a server that cannot be reached: %v", err)

	url := dbtest.URL(t)
	pool, err := postgres.Connect(ctx, url, false, postgres.Options{MaxConns: 1})
	require.NoError(t, err)
	var pid int
	require.NoError(t, pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	_, err = tx.Exec(ctx, "SELECT 1")
	require.Error(t, err)
	require.True(t, postgres.Unavailable(err), "a connection terminated by an administrator: %v", err)
	_ = tx.Rollback(ctx)

	pool.Close()
	_, err = pool.Exec(ctx, "SELECT 1")
	require.True(t, postgres.Unavailable(err), "a closed pool: %v", err)

	require.False(t, postgres.Unavailable(errors.New("anything else")))
	require.False(t, postgres.Unavailable(pgx.ErrNoRows))
}

// TestIDListsGoAsBinaryUUIDs: a []string for a uuid[] parameter is encoded in binary on the
// pool's connections (encodeUUIDText), not after a failed attempt, and means the same; a string
// that is not a uuid is still PostgreSQL's error to give.
func TestIDListsGoAsBinaryUUIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, dbtest.URL(t), false, postgres.Options{})
	require.NoError(t, err)
	defer pool.Close()
	ids := []string{"01a23237-1a0c-7ed7-9a78-88e8ad9499f7", "00000000-0000-4000-8000-000000000000"}
	c, err := pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = c.Conn().TypeMap().Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, nil)
	c.Release()
	require.NoError(t, err)

	var got []string
	require.NoError(t, pool.QueryRow(ctx, "SELECT $1::uuid[]::text[]", ids).Scan(&got))
	require.Equal(t, ids, got)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM unnest($1::uuid[]) u WHERE u = $2", ids, ids[1]).Scan(&n))
	require.Equal(t, 1, n)

	err = pool.QueryRow(ctx, "SELECT $1::uuid[]::text[]", []string{"not-a-uuid"}).Scan(&got)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "22P02", pgErr.Code) // invalid_text_representation
}
