package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
)

// newStoreOnOneConnection is newStore over a pool of a single connection, so that a test can
// break the connection the next request will use.
func newStoreOnOneConnection(t *testing.T) *store {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return orgStore(t, pool, "Acme", "example.com")
}

// After PostgreSQL restarts or fails over, the pool holds connections whose sockets are dead,
// and writing a statement to one fails before anything reaches the server
// (pgconn.SafeToRetry). A change that failed that way never ran, so the store runs it once
// more on a new connection and the client never sees the loss.
func TestUpdateSurvivesALostConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStoreOnOneConnection(t)
	pool, dir, actor := s.pool, s.dir, s.actor

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

// A read on a pooled connection that died, whether its socket is gone or PostgreSQL terminated
// its backend (as a restart or failover does), runs again on a new connection: reads change
// nothing, so repeating one is safe even when the server may have seen it.
func TestReadsSurviveALostConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStoreOnOneConnection(t)
	pool, dir, actor := s.pool, s.dir, s.actor
	admin, err := pgxpool.New(ctx, dbtest.URL(t))
	require.NoError(t, err)
	defer admin.Close()
	u, err := dir.CreateUser(ctx, actor, map[string]any{"userName": "ada@example.com"})
	require.NoError(t, err)
	f, err := filter.Parse(registry(t).User, `userName eq "ada@example.com"`)
	require.NoError(t, err)

	losses := map[string]func(c *pgxpool.Conn){
		"socket closed": func(c *pgxpool.Conn) { require.NoError(t, c.Conn().PgConn().Conn().Close()) },
		"backend terminated": func(c *pgxpool.Conn) {
			_, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", c.Conn().PgConn().PID())
			require.NoError(t, err)
			time.Sleep(50 * time.Millisecond) // the backend is gone
		},
	}
	g, err := dir.CreateGroup(ctx, actor, map[string]any{"displayName": "Engineers",
		"members": []any{map[string]any{"value": u.ID}}})
	require.NoError(t, err)
	sw, err := filter.Parse(registry(t).User, `userName sw "ada"`)
	require.NoError(t, err)
	_, err = dir.CreateUser(ctx, actor, map[string]any{"userName": "bob@example.com"})
	require.NoError(t, err)
	page := func(q directory.Query, total, n int) func() error {
		return func() error {
			p, err := dir.ListUsers(ctx, actor, q)
			if err == nil && (p.Total != total || len(p.Resources) != n) {
				err = fmt.Errorf("total %d, %d resources", p.Total, len(p.Resources))
			}
			return err
		}
	}
	reads := map[string]func() error{
		"user by id":          func() error { _, err := dir.GetUser(ctx, actor, u.ID, schema.Projection{}); return err },
		"first page":          page(directory.Query{StartIndex: 1, Count: 10}, 2, 2),
		"page past the first": page(directory.Query{StartIndex: 2, Count: 10}, 2, 1),
		"filtered page":       page(directory.Query{Filter: sw, StartIndex: 1, Count: 10}, 1, 1),
		"cursor page":         page(directory.Query{ByCursor: true, Count: 10}, 2, 2),
		"group members": func() error {
			n := 0
			err := dir.EachMember(ctx, actor, []string{g.ID}, func(string, directory.Member) error { n++; return nil })
			if err == nil && n != 1 {
				err = fmt.Errorf("%d members", n)
			}
			return err
		},
		"userName eq": func() error {
			p, err := dir.ListUsers(ctx, actor, directory.Query{Filter: f, StartIndex: 1, Count: 10})
			if err == nil && p.Total != 1 {
				err = fmt.Errorf("total %d", p.Total)
			}
			return err
		},
	}
	for loss, lose := range losses {
		for read, run := range reads {
			// The pool's one connection, used a moment ago (so not pinged before reuse), dies.
			c, err := pool.Acquire(ctx)
			require.NoError(t, err)
			lose(c)
			c.Release()
			require.NoError(t, run(), "%s, then %s", loss, read)
		}
	}
}

// A change sent whole in one round trip, without BEGIN and COMMIT (tx.commit), is still one
// transaction: when a later statement fails, the earlier ones are undone.
func TestOneRoundTripChangeIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	st, err := postgres.NewStore(pool, registry(t))
	require.NoError(t, err)
	tok, err := postgres.NewOrgs(pool).CreateOrg(ctx, "", "Acme", []string{"example.com"})
	require.NoError(t, err)
	user := func(name string) *directory.User {
		id, err := uuid.NewV7()
		require.NoError(t, err)
		return &directory.User{Resource: directory.Resource{ID: id.String(), Doc: map[string]any{"userName": name}},
			Direct: grants.Default(), Effective: grants.Default()}
	}
	for range 2 { // the second time on kept settings
		err = st.Update(ctx, tok.OrgID, func(tx directory.Tx) error {
			if _, err := tx.Org(); err != nil {
				return err
			}
			require.NoError(t, tx.InsertUser(user("ada@example.com")))
			return tx.InsertUser(user("ADA@example.com")) // users_user_name_key, once sent
		})
		require.ErrorIs(t, err, directory.ErrUserNameTaken)
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE org_id = $1`, tok.OrgID).Scan(&n))
		require.Zero(t, n, "the first insert was undone with the second")
	}
}
