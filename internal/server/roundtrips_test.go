package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/server"
)

// roundTrips counts the round trips to PostgreSQL: each query sent alone, each batch (sent as
// one pipeline), and each statement preparation.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (c *roundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// Writes are a few round trips, whatever they change: a profile PATCH at most 4, a suspension
// at most 6 and a create 2, the token's check included (no token cache here: every request
// reads its token).
func TestRoundTripsOfWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting")
	ctx := context.Background()
	cfg := e.pool.Config().Copy()
	counter := &roundTrips{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	reg, _, dir := dbtest.Directory(t, pool)
	srv := httptest.NewServer(server.NewServer(server.Deps{Directory: dir, Schemas: reg, Ready: pool.Ping,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	traced := *e
	traced.srv = srv

	e.createUser(adminBody("keeper"))
	body := func(name string) map[string]any {
		return map[string]any{"userName": name + "@example.com", "emails": []any{map[string]any{"value": name + "@example.com", "type": "work", "primary": true}},
			extURN: map[string]any{"orgRole": "admin-readonly", "products": []any{"meeting"}}}
	}
	measure := func(name string, max int64, method, path string, payload any, status int) {
		t.Helper()
		counter.n.Store(0)
		traced.must(status, method, path, payload, nil)
		got := counter.n.Load()
		t.Logf("%s: %d round trips", name, got)
		require.LessOrEqual(t, got, max, name)
	}
	for i, who := range []string{"warm", "measured"} {
		a := e.createUser(body(who + "-a"))["id"].(string)
		b := e.createUser(body(who + "-b"))["id"].(string)
		limit := int64(100) // the first round prepares every statement
		if i == 1 {
			limit = 4
		}
		measure("profile PATCH", limit, http.MethodPatch, "/Users/"+a, patchBody(op("replace", "title", "Engineer")), http.StatusOK)
		if i == 1 {
			limit = 6
		}
		measure("suspension", limit, http.MethodPatch, "/Users/"+b, patchBody(op("replace", "active", false)), http.StatusOK)
		if i == 1 {
			limit = 2 // the token, then BEGIN, the settings check, the inserts and COMMIT
		}
		measure("create", limit, http.MethodPost, "/Users", map[string]any{"userName": who + "-c@example.com"}, http.StatusCreated)
	}
}
