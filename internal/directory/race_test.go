package directory_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/scimerr"
)

// Mapping changes race membership changes of the mapped group and of a group nested in it, on
// PostgreSQL; afterwards every user's stored effective grants are what recomputing them gives.
func TestMappingsRaceMembershipChanges(t *testing.T) {
	t.Parallel()
	f := newPGFixture(t)
	op := directory.Operator(f.org)
	require.NoError(t, f.dir.SetNestedGroups(f.ctx, op, true))
	orgstest.InsertUser(t, f.pool, f.org, "root@example.com", "admin", true)
	parent, err := f.dir.CreateGroup(f.ctx, op, map[string]any{"displayName": "Parent"})
	require.NoError(t, err)
	child, err := f.dir.CreateGroup(f.ctx, op, map[string]any{"displayName": "Child"})
	require.NoError(t, err)
	const n = 24
	users := make([]string, n)
	for i := range users {
		users[i] = orgstest.InsertUser(t, f.pool, f.org, fmt.Sprintf("u%d@example.com", i), "user", true)
	}
	members := func(kind, id string) []patch.Operation {
		return []patch.Operation{{Op: kind, Path: "members", Value: []any{map[string]any{"value": id}}}}
	}
	change := func(group, kind, id string) error {
		_, err := f.dir.PatchGroup(f.ctx, op, group, members(kind, id), directory.Precondition{})
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i, u := range users {
		wg.Go(func() {
			g := child.ID
			if i%3 == 0 {
				g = parent.ID
			}
			errs <- change(g, patch.OpAdd, u)
			if i%4 == 1 {
				errs <- change(g, patch.OpRemove, u)
			}
		})
	}
	wg.Go(func() {
		for i := range n / 2 {
			kind := patch.OpRemove
			if i%2 == 1 {
				kind = patch.OpAdd
			}
			errs <- change(parent.ID, kind, child.ID)
		}
	})
	wg.Go(func() {
		for i := range n {
			var err error
			if i%3 == 2 {
				_, err = f.dir.RemoveGroupMapping(f.ctx, op, parent.ID)
				if e := scimerr.As(err); e != nil && e.Kind == scimerr.KindNotFound {
					err = nil
				}
			} else {
				_, err = f.dir.SetGroupMapping(f.ctx, op, parent.ID, directory.MappingInput{OrgRole: "admin-readonly",
					Products: []string{[]string{"meeting", "webinar"}[i%2]}})
			}
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Recompute every user's effective grants from what they follow from.
	var stale []string
	err = f.store.Update(f.ctx, f.org, func(tx directory.Tx) error {
		inputs, err := tx.GrantInputs(append(users, orgstest.InsertUser(t, f.pool, f.org, "late@example.com", "user", true)))
		if err != nil {
			return err
		}
		for _, in := range inputs {
			if !grants.Effective(in.Direct, in.Active, in.Mapped).Equal(in.Effective) {
				stale = append(stale, in.UserID)
			}
		}
		return errors.New("read only")
	})
	require.EqualError(t, err, "read only")
	require.Empty(t, stale, "effective grants that differ from a recomputation")
	require.Positive(t, orgstest.Count(t, f.pool, `SELECT count(*) FROM group_members WHERE org_id = $1`, f.org))
}
