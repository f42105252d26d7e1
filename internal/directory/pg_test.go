package directory_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/scimerr"
)

// pgFixture is the directory over PostgreSQL on a database of the test's own, with two
// organizations: org (verified domain example.com) and other (globex.example).
type pgFixture struct {
	t          *testing.T
	ctx        context.Context
	pool       *pgxpool.Pool
	store      *postgres.Store
	dir        *directory.Service
	org, other string
}

func newPGFixture(t *testing.T) *pgFixture {
	t.Helper()
	pool := dbtest.New(t)
	store, dir := newPGDirectory(t, pool)
	f := &pgFixture{t: t, ctx: context.Background(), pool: pool, store: store, dir: dir}
	orgs := postgres.NewOrgs(pool)
	tok, err := orgs.CreateOrg(f.ctx, "", "Acme", []string{"example.com"})
	require.NoError(t, err)
	f.org = tok.OrgID
	tok, err = orgs.CreateOrg(f.ctx, "", "Globex", []string{"globex.example"})
	require.NoError(t, err)
	f.other = tok.OrgID
	return f
}

// newPGDirectory is the directory over its own store on pool: what one scimd process has.
func newPGDirectory(t *testing.T, pool *pgxpool.Pool) (*postgres.Store, *directory.Service) {
	t.Helper()
	_, store, dir := dbtest.Directory(t, pool)
	return store, dir
}

// refused runs fn, which must fail with kind, and requires that nothing stored changed.
func (f *pgFixture) refused(kind scimerr.Kind, fn func() error, fragments ...string) {
	f.t.Helper()
	before := orgstest.Snapshot(f.t, f.pool)
	requireErr(f.t, fn(), kind, fragments...)
	require.Equal(f.t, before, orgstest.Snapshot(f.t, f.pool), "a refused request must change nothing")
}

// requireErr checks an error's kind and that its detail contains every fragment.
func requireErr(t *testing.T, err error, kind scimerr.Kind, fragments ...string) {
	t.Helper()
	require.Error(t, err)
	e := scimerr.As(err)
	require.NotNil(t, e, "not a *scimerr.Error: %v", err)
	require.Equal(t, kind, e.Kind, "detail: %s", e.Detail)
	for _, frag := range fragments {
		require.True(t, strings.Contains(e.Detail, frag), "detail %q lacks %q", e.Detail, frag)
	}
}
