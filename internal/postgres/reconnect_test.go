package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
)

// After PostgreSQL restarts or fails over, the pool holds connections whose sockets are dead,
// and writing a statement to one fails before anything reaches the server
// (pgconn.SafeToRetry). A change that failed that way never ran, so the store runs it once
// more on a new connection and the client never sees the loss.
func TestUpdateSurvivesALostConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	reg := registry(t)
	st, err := postgres.NewStore(pool, reg)
	require.NoError(t, err)
	dir, err := directory.New(st, reg)
	require.NoError(t, err)
	tok, err := postgres.NewOrgs(pool).CreateOrg(ctx, "", "Acme", []string{"example.com"})
	require.NoError(t, err)
	actor := directory.Operator(tok.OrgID)

	for i, name := range []string{"ada@example.com", "grace@example.com"} {
		// The pool's one connection, used a moment ago (so not pinged before reuse), has a
		// dead socket.
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		require.NoError(t, c.Conn().PgConn().Conn().Close())
		c.Release()

		u, err := dir.CreateUser(ctx, actor, map[string]any{"userName": name})
		require.NoError(t, err, "attempt %d", i)
		got, err := dir.GetUser(ctx, actor, u.ID, schema.Projection{})
		require.NoError(t, err)
		require.Equal(t, name, got.Doc["userName"])
	}
}
