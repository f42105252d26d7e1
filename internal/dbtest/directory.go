package dbtest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/schemas"
)

// Directory is what one scimd process has over pool, a migrated database: the schemas, the
// store and the directory service over it.
func Directory(t testing.TB, pool *pgxpool.Pool) (*schema.Registry, *postgres.Store, *directory.Service) {
	t.Helper()
	reg, err := schema.Load(schemas.Files)
	require.NoError(t, err)
	store, err := postgres.NewStore(pool, reg)
	require.NoError(t, err)
	dir, err := directory.New(store, reg)
	require.NoError(t, err)
	return reg, store, dir
}
