package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

func newUser(name string, products ...string) *directory.Resource {
	g := grants.Default()
	g.Products = products
	return &directory.Resource{Doc: map[string]any{"userName": name, "active": true, "locale": "en-US"}, Direct: g}
}

// TestCreateUsersBatch covers what the server tests cannot reach: a constraint that fails
// inside a chunk (a product withdrawn after validation) sends the rest of the run one by one
// through CreateUser, so only the user that caused it fails, and the error budget still holds.
func TestCreateUsersBatch(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	s.create(t, map[string]any{"userName": "taken@example.com"})

	users := []*directory.Resource{
		newUser("a@example.com"), nil, newUser("TAKEN@example.com"), newUser("b@example.com", "withdrawn"),
		newUser("c@example.com"), newUser("A@example.com"),
	}
	errs := s.users.CreateUsers(ctx, s.org, users, 0)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1], "a nil entry failed before the store: the store leaves its error to the caller")
	require.Equal(t, scimerr.Uniqueness, scimerr.As(errs[2]).ScimType)
	require.Contains(t, scimerr.As(errs[3]).Detail, "not licensed")
	require.NoError(t, errs[4])
	require.Equal(t, scimerr.Uniqueness, scimerr.As(errs[5]).ScimType, "taken by an earlier user of the list")
	for _, i := range []int{0, 4} {
		got, err := s.users.GetUser(ctx, s.org, users[i].ID, schema.Projection{})
		require.NoError(t, err)
		require.Equal(t, users[i].Doc["userName"], got.Doc["userName"])
		require.Equal(t, int64(1), users[i].Version)
	}

	// With a budget of two failures, the nil entry and the first duplicate use it up.
	users = []*directory.Resource{nil, newUser("d@example.com"), newUser("taken@example.com"), newUser("e@example.com")}
	errs = s.users.CreateUsers(ctx, s.org, users, 2)
	require.NoError(t, errs[1])
	require.Error(t, errs[2])
	require.Equal(t, directory.ErrSkipped, errs[3])
	_, err := s.users.GetUser(ctx, s.org, users[1].ID, schema.Projection{})
	require.NoError(t, err)

	// The same when the failure shows only on writing.
	users = []*directory.Resource{newUser("f@example.com", "withdrawn"), newUser("g@example.com")}
	errs = s.users.CreateUsers(ctx, s.org, users, 1)
	require.Error(t, errs[0])
	require.Equal(t, directory.ErrSkipped, errs[1])
	for _, u := range users {
		if u.ID != "" {
			_, err := s.users.GetUser(ctx, s.org, u.ID, schema.Projection{})
			require.Equal(t, scimerr.KindNotFound, scimerr.As(err).Kind, "nothing of the failed chunk is stored")
		}
	}
}
